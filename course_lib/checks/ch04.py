"""Self-checks of chapter 4 (solutions/04_recurrent_attention.ipynb): attention and the recurrent encoder.

Taught in chapters/04_recurrent_attention.ipynb. A check builds the course's reference module and
the student's class with the same arguments, copies the reference weights into the student's
module by parameter name (``load_state_dict``), then compares both on random inputs::

    from course_lib.checks import ch04
    ch04.check_attention(AdditiveAttention)           # class with __init__(query_dim, key_dim, attn_dim)
    ch04.check_encoder(RecurrentAttentionEncoder)     # class with __init__(n_mels, hidden, z_dim, attn_dim)

So the student's parameters must carry the reference names and shapes (listed in the docstrings of
:class:`~course_lib.models.attention.AdditiveAttention` and
:class:`~course_lib.models.recurrent.RecurrentAttentionEncoder`); a mismatch fails with the list of
expected names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib.checks import Hint, compare, fail
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


def _expected_parameters(module: nn.Module) -> str:
    """One line per tensor of ``module``'s state_dict: ``name shape``."""
    return "\n".join(f"  {name} {tuple(t.shape)}" for name, t in module.state_dict().items())


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
    try:
        student.load_state_dict(reference.state_dict(), strict=True)
    except RuntimeError as error:
        fail(
            name,
            f"your module's parameters do not match the reference's names and shapes.\n{error}\n"
            f"Expected exactly these (name and shape):\n{_expected_parameters(reference)}",
        )
    return student.eval()


def _attention_inputs(rng: np.random.Generator) -> tuple:
    """A random (query, keys, values or None, mask or None) for the attention check."""
    batch, time = int(rng.integers(1, 5)), int(rng.integers(1, 9))
    query = torch.as_tensor(rng.normal(size=(batch, ATTENTION_ARGS["query_dim"])), dtype=torch.float32)
    keys = torch.as_tensor(rng.normal(size=(batch, time, ATTENTION_ARGS["key_dim"])), dtype=torch.float32)
    values = None
    if rng.random() < 0.5:
        values = torch.as_tensor(rng.normal(size=(batch, time, 3)), dtype=torch.float32)
    mask = None
    if rng.random() < 0.7:
        keep = rng.random((batch, time)) < 0.6
        keep[np.arange(batch), rng.integers(0, time, size=batch)] = True  # at least one position per row
        mask = torch.as_tensor(keep)
    return query, keys, values, mask


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
            _attention_inputs,
            name="AdditiveAttention",
            hint=ATTENTION_HINT,
            trials=8,
        )


def _encoder_inputs(rng: np.random.Generator) -> tuple:
    """A random log-mel batch [B, n_mels, frames] for the encoder check."""
    shape = (int(rng.integers(1, 5)), ENCODER_ARGS["n_mels"], int(rng.integers(2, 10)))
    return (torch.as_tensor(rng.normal(size=shape), dtype=torch.float32),)


def _with_weights(encoder: nn.Module):
    """``x -> (mu, logvar, encoder.attention_weights)`` so the check also compares the weights."""

    def run(x: torch.Tensor) -> tuple:
        mu, logvar = encoder(x)
        return mu, logvar, encoder.attention_weights

    return run


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
