"""Self-checks of chapter 4 (solutions/04_recurrent_attention.ipynb): attention and the recurrent encoder.

Taught in chapters/04_1_recurrent_attention.ipynb. A check builds the course's reference module and
the student's class with the same arguments, copies the reference weights into the student's
module by parameter name (``load_state_dict``), then compares both on random inputs::

    from course_lib.checks import ch04
    ch04.check_attention(AdditiveAttention)           # class with __init__(query_dim, key_dim, attn_dim)
    ch04.check_encoder(RecurrentAttentionEncoder)     # class with __init__(n_mels, hidden, z_dim, attn_dim)

So the student's parameters must carry the reference names and shapes (listed in the docstrings of
:class:`~course_lib.models.attention.AdditiveAttention` and
:class:`~course_lib.models.recurrent.RecurrentAttentionEncoder`); a mismatch fails naming the
parameters that are missing, extra or of the wrong shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib.checks import Hint, compare, fail, in_turn, self_check
from course_lib.config import seed_everything
from course_lib.models.attention import AdditiveAttention
from course_lib.models.recurrent import RecurrentAttentionEncoder

ATTENTION_ARGS = {"query_dim": 5, "key_dim": 6, "attn_dim": 7}
ENCODER_ARGS = {"n_mels": 6, "hidden": 5, "z_dim": 3, "attn_dim": 4}

ATTENTION_HINT = Hint(
    nudge=(
        "score every time step against the query, turn the scores into weights that sum to 1 (a masked"
        " step, mask False, gets the score -inf, hence zero weight), and average the values with those"
        " weights (values = keys when none are given)."
    ),
    formula=(
        "e_t = w^T tanh(W_q q + W_k k_t + b_k) (score, query_proj, key_proj); e_t = -inf where mask_t is"
        " False; a_t = exp(e_t) / sum_s exp(e_s); context = sum_t a_t v_t. Return (context, a)."
    ),
)
ENCODER_HINT = Hint(
    nudge=(
        "the GRU reads frames in time order, so put time before mel bands; pool its hidden states with"
        " attention against a learned query, then one linear head gives both mu and logvar."
    ),
    formula=(
        "h_1..h_T = GRU(x^T) with x^T [B, frames, n_mels]; (c, a) = attention(q, h) with the learned query"
        " q broadcast to [B, attn_dim]; keep a in the attribute attention_weights;"
        " [mu, logvar] = head(c), mu the first z_dim values and logvar the last z_dim."
    ),
)


def _parameter_mismatch(student: nn.Module, reference: nn.Module) -> str:
    """A few lines naming the parameters that differ from the reference's names and shapes."""
    mine = {name: tuple(t.shape) for name, t in student.state_dict().items()}
    want = {name: tuple(t.shape) for name, t in reference.state_dict().items()}

    def first(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" (and {len(names) - 3} more)" if len(names) > 3 else "")

    lines = []
    if missing := [name for name in want if name not in mine]:
        lines.append(f"missing: {first([f'{name} {want[name]}' for name in missing])}")
    if unexpected := [name for name in mine if name not in want]:
        lines.append(f"not in the reference: {first(unexpected)}")
    if shapes := [name for name in want if name in mine and mine[name] != want[name]]:
        lines.append(
            f"wrong shape: {first([f'{name} {mine[name]}, expected {want[name]}' for name in shapes])}"
        )
    return "\n".join(lines)


def _student_copy(student_cls: type, reference: nn.Module, kwargs: dict[str, Any], name: str) -> nn.Module:
    """Build ``student_cls(**kwargs)`` and load ``reference``'s weights into it, or fail with a hint."""
    try:
        student = student_cls(**kwargs)
    except NotImplementedError:
        raise
    except Exception as error:
        fail(
            name,
            f"{student_cls.__name__}(**{kwargs}) raised {error!r}; expected the constructor to accept"
            f" the keyword arguments {list(kwargs)}.",
            cause=error,
        )
    if not isinstance(student, nn.Module):
        fail(name, f"{student_cls.__name__} must subclass torch.nn.Module.")
    mismatch = _parameter_mismatch(student, reference)
    if mismatch:
        fail(name, f"your module's parameters do not match the reference's names and shapes:\n{mismatch}")
    student.load_state_dict(reference.state_dict(), strict=True)
    return student.eval()


def _attention_inputs(rng: np.random.Generator, trial: int) -> tuple:
    """A random (query, keys, values or None, mask or None) for the attention check.

    The trials take turns: values given on odd trials, a mask on all but every fourth; at least two
    sounds and three time steps, so that a softmax over the wrong axis shows.
    """
    batch, time = int(rng.integers(2, 5)), int(rng.integers(3, 9))
    query = torch.as_tensor(rng.normal(size=(batch, ATTENTION_ARGS["query_dim"])), dtype=torch.float32)
    keys = torch.as_tensor(rng.normal(size=(batch, time, ATTENTION_ARGS["key_dim"])), dtype=torch.float32)
    values = None
    if trial % 2:
        values = torch.as_tensor(rng.normal(size=(batch, time, 3)), dtype=torch.float32)
    mask = None
    if trial % 4 != 3:
        keep = rng.random((batch, time)) < 0.6
        keep[np.arange(batch), rng.integers(0, time, size=batch)] = True  # at least one position per row
        mask = torch.as_tensor(keep)
    return query, keys, values, mask


@self_check
def check_attention(student_cls: type) -> None:
    """Compare a student's ``AdditiveAttention`` class with the reference on random inputs.

    The class is built as ``student_cls(query_dim=5, key_dim=6, attn_dim=7)`` and must have the
    parameters ``query_proj.weight``, ``key_proj.weight``, ``key_proj.bias`` and ``score.weight``;
    ``forward(query, keys, values=None, mask=None)`` must return ``(context, weights)``.
    """
    seed_everything(0)
    reference = AdditiveAttention(**ATTENTION_ARGS).eval()
    student = _student_copy(student_cls, reference, ATTENTION_ARGS, "AdditiveAttention")
    with torch.no_grad():
        compare(
            student,
            reference,
            in_turn(_attention_inputs),
            name="AdditiveAttention",
            hint=ATTENTION_HINT,
            trials=8,
        )


def _encoder_inputs(rng: np.random.Generator) -> tuple:
    """A random log-mel batch [B, n_mels, frames] for the encoder check."""
    shape = (int(rng.integers(2, 5)), ENCODER_ARGS["n_mels"], int(rng.choice([3, 4, 5, 7, 9])))
    return (torch.as_tensor(rng.normal(size=shape), dtype=torch.float32),)


def _with_weights(encoder: nn.Module):
    """``x -> (mu, logvar, encoder.attention_weights)`` so the check also compares the weights."""

    def run(x: torch.Tensor) -> tuple:
        mu, logvar = encoder(x)
        return mu, logvar, encoder.attention_weights

    return run


@self_check
def check_encoder(student_cls: type) -> None:
    """Compare a student's ``RecurrentAttentionEncoder`` class with the reference on random inputs.

    The class is built as ``student_cls(n_mels=6, hidden=5, z_dim=3, attn_dim=4)`` with the
    parameters of the reference (``rnn``, ``query``, ``attention``, ``head``); ``forward(x)`` with x
    [B, n_mels, frames] returns ``(mu, logvar)`` and leaves the pooling weights [B, frames] in
    ``attention_weights``.
    """
    seed_everything(0)
    reference = RecurrentAttentionEncoder(**ENCODER_ARGS).eval()
    student = _student_copy(student_cls, reference, ENCODER_ARGS, "RecurrentAttentionEncoder")
    with torch.no_grad():
        compare(
            _with_weights(student),
            _with_weights(reference),
            _encoder_inputs,
            name="RecurrentAttentionEncoder",
            hint=ENCODER_HINT,
        )
