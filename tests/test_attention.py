"""Unit tests of additive attention (course_lib.models.attention) and its chapter-4 self-check."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.checks import SelfCheckFailed, ch04
from course_lib.models.attention import AdditiveAttention

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def attention() -> AdditiveAttention:
    torch.manual_seed(0)
    return AdditiveAttention(query_dim=5, key_dim=6, attn_dim=7)


def _inputs(batch: int = 3, time: int = 9, value_dim: int = 4) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(1)
    query = torch.randn(batch, 5, generator=generator)
    keys = torch.randn(batch, time, 6, generator=generator)
    values = torch.randn(batch, time, value_dim, generator=generator)
    return query, keys, values


def test_shapes_and_weights_sum_to_one(attention):
    query, keys, values = _inputs()
    context, weights = attention(query, keys, values)
    assert context.shape == (3, 4) and weights.shape == (3, 9)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
    assert bool((weights > 0).all())


def test_values_default_to_the_keys(attention):
    query, keys, _ = _inputs()
    context, weights = attention(query, keys)
    assert context.shape == (3, 6)
    torch.testing.assert_close(context, torch.einsum("bt,btd->bd", weights, keys))


def test_uniform_scores_average_the_values(attention):
    query, keys, values = _inputs()
    with torch.no_grad():
        attention.score.weight.zero_()
    context, weights = attention(query, keys, values)
    torch.testing.assert_close(weights, torch.full((3, 9), 1 / 9))
    torch.testing.assert_close(context, values.mean(dim=1))


def test_masked_positions_get_exactly_zero_weight(attention):
    query, keys, values = _inputs()
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[0, :4] = False
    mask[2, ::2] = False
    context, weights = attention(query, keys, values, mask)
    assert bool((weights[~mask] == 0).all())
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
    # Masking is the same as deleting the masked positions (row 0 keeps its last five).
    alone, alone_weights = attention(query[:1], keys[:1, 4:], values[:1, 4:])
    torch.testing.assert_close(context[:1], alone)
    torch.testing.assert_close(weights[:1, 4:], alone_weights)


def test_a_fully_masked_row_raises(attention):
    query, keys, values = _inputs()
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"hides every position of batch row\(s\) \[1\]"):
        attention(query, keys, values, mask)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda q, k, v, m: (q[0], k, v, m), "query must be"),
        (lambda q, k, v, m: (q, k[0], v, m), "keys must be"),
        (lambda q, k, v, m: (q[:2], k, v, m), "keys must be"),
        (lambda q, k, v, m: (q, k, v[:, :3], m), "values must be"),
        (lambda q, k, v, m: (q, k, v, m.float()), "bool"),
        (lambda q, k, v, m: (q, k, v, m[:, :3]), "mask must be"),
    ],
)
def test_bad_inputs_raise_value_errors(attention, change, message):
    query, keys, values = _inputs()
    mask = torch.ones(3, 9, dtype=torch.bool)
    with pytest.raises(ValueError, match=message):
        attention(*change(query, keys, values, mask))


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="attn_dim"):
        AdditiveAttention(4, 4, 0)


def test_pooling_is_invariant_to_permuting_keys_and_values(attention):
    query, keys, values = _inputs()
    mask = torch.rand(3, 9, generator=torch.Generator().manual_seed(2)) < 0.7
    mask[:, 0] = True
    order = torch.randperm(9, generator=torch.Generator().manual_seed(3))
    context, weights = attention(query, keys, values, mask)
    shuffled, shuffled_weights = attention(query, keys[:, order], values[:, order], mask[:, order])
    torch.testing.assert_close(shuffled, context)
    torch.testing.assert_close(shuffled_weights, weights[:, order])


def test_attend_on_projected_keys_equals_forward(attention):
    query, keys, values = _inputs()
    context, weights = attention(query, keys, values)
    context2, weights2 = attention.attend(query, attention.key_proj(keys), values)
    torch.testing.assert_close(context2, context)
    torch.testing.assert_close(weights2, weights)


def test_every_parameter_gets_a_gradient(attention):
    query, keys, values = _inputs()
    context, _ = attention(query, keys, values)
    (context * torch.randn_like(context)).sum().backward()
    assert {
        name for name, p in attention.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0
    } == {
        "query_proj.weight",
        "key_proj.weight",
        "key_proj.bias",
        "score.weight",
    }


# --- the self-check students run ------------------------------------------------------------------


class _AttentionWithoutMask(AdditiveAttention):
    """Forgets the mask: must fail the check."""

    def forward(self, query, keys, values=None, mask=None):
        return super().forward(query, keys, values)


class _AttentionWithOtherNames(nn.Module):
    def __init__(self, query_dim, key_dim, attn_dim):
        super().__init__()
        self.w_query = nn.Linear(query_dim, attn_dim, bias=False)


class _StubAttention(nn.Module):
    def __init__(self, query_dim, key_dim, attn_dim):
        raise NotImplementedError("Exercise 4.1: write the attention layer")


def test_check_attention_passes_the_reference(capsys):
    ch04.check_attention(AdditiveAttention)
    assert "AdditiveAttention: matches the reference" in capsys.readouterr().out


def test_check_attention_catches_an_ignored_mask():
    with pytest.raises(SelfCheckFailed, match="-inf"):
        ch04.check_attention(_AttentionWithoutMask)


def test_check_attention_lists_the_expected_parameter_names():
    with pytest.raises(SelfCheckFailed, match=r"(?s)names and shapes.*key_proj\.bias \(7,\)"):
        ch04.check_attention(_AttentionWithOtherNames)


def test_check_attention_lets_a_stub_through():
    with pytest.raises(NotImplementedError, match="Exercise 4.1"):
        ch04.check_attention(_StubAttention)
