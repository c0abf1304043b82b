r"""Additive (Bahdanau) attention: score every key against one query, softmax, average the values.

Taught in chapters/04_1_recurrent_attention.ipynb (after Bahdanau, Cho & Bengio, 2014). For a query
:math:`q`, keys :math:`k_1..k_T` and values :math:`v_1..v_T` (by default the keys),

.. math::

    e_t = w^\top \tanh(W_q q + W_k k_t + b), \qquad
    \alpha = \mathrm{softmax}(e), \qquad c = \sum_t \alpha_t v_t .

The parameter names (``query_proj``, ``key_proj``, ``score``) are part of the exercise: the
self-check of chapter 4 loads this module's weights into the student's class by name.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.validation import positive_ints


def _check_inputs(query: Tensor, keys: Tensor, values: Tensor, mask: Tensor | None) -> None:
    """Raise ``ValueError`` naming the first wrong shape or dtype."""
    if query.dim() != 2:
        raise ValueError(f"query must be [batch, query_dim], got shape {tuple(query.shape)}.")
    if keys.dim() != 3 or keys.shape[0] != query.shape[0]:
        raise ValueError(
            f"keys must be [batch, time, key_dim] with batch {query.shape[0]} (the query's), "
            f"got shape {tuple(keys.shape)}."
        )
    if values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
        raise ValueError(
            f"values must be [batch, time, value_dim] with batch and time {tuple(keys.shape[:2])} "
            f"(the keys'), got shape {tuple(values.shape)}."
        )
    if mask is None:
        return
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor (True = attend), got dtype {mask.dtype}.")
    if mask.shape != keys.shape[:2]:
        raise ValueError(f"mask must be [batch, time] = {tuple(keys.shape[:2])}, got {tuple(mask.shape)}.")
    empty = ~mask.any(dim=1)
    if bool(empty.any()):
        rows = empty.nonzero().flatten().tolist()
        raise ValueError(
            f"mask hides every position of batch row(s) {rows}: attention needs at least one "
            "position with mask True per row (a softmax over nothing is undefined)."
        )


class AdditiveAttention(nn.Module):
    """Additive attention of one query over a sequence of keys (Bahdanau et al., 2014).


    Parameters: ``query_proj`` = Linear(query_dim, attn_dim, bias=False), ``key_proj`` =
    Linear(key_dim, attn_dim) (holds the one bias), ``score`` = Linear(attn_dim, 1, bias=False)
    (the vector :math:`w`).
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__()
        positive_ints(query_dim=query_dim, key_dim=key_dim, attn_dim=attn_dim)
        self.query_proj = nn.Linear(query_dim, attn_dim, bias=False)
        self.key_proj = nn.Linear(key_dim, attn_dim)
        self.score = nn.Linear(attn_dim, 1, bias=False)

    def forward(
        self, query: Tensor, keys: Tensor, values: Tensor | None = None, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Attend from ``query`` [B, Dq] over ``keys`` [B, T, Dk].

        ``values`` [B, T, Dv] default to the keys. ``mask`` [B, T] bool is True where a position may
        be attended; False positions get exactly zero weight. Returns ``(context [B, Dv], weights
        [B, T])`` with each row of ``weights`` summing to one. A row whose mask is all False raises
        ``ValueError``.
        """
        values = keys if values is None else values
        _check_inputs(query, keys, values, mask)
        return self.attend(query, self.key_proj(keys), values, mask)

    def attend(
        self, query: Tensor, projected_keys: Tensor, values: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """:meth:`forward` with the keys already passed through ``key_proj`` ([B, T, attn_dim]).

        A decoder that queries the same memory at every step projects the keys once and calls
        this (Bahdanau et al. precompute :math:`W_k k_t` the same way).
        """
        _check_inputs(query, projected_keys, values, mask)
        energy = torch.tanh(self.query_proj(query).unsqueeze(1) + projected_keys)  # [B, T, A]
        scores = self.score(energy).squeeze(-1)  # [B, T]
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0 exactly
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # [B, Dv]
        return context, weights
