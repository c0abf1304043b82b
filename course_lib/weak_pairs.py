"""Pairs of sounds that share a random subset of factors: the weak supervision of Ada-GVAE.

Taught in chapters/03_2_pitch_and_loudness.ipynb.

Locatello et al. (2020) train on pairs (x1, x2): x1 is drawn uniformly from the factor grid, then k
of the K factors are chosen at random and given *new* values in x2 (each a different class, drawn
uniformly among the others); the remaining K - k factors are shared. k is either fixed or drawn per
pair uniformly from 1..K-1. The model is told neither which factors are shared nor how many: the
supervision is only "these two sounds have something in common".

Factors with a single value cannot change; they are always shared and never count in k.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch

from course_lib.factors import FactorSpace


class WeakPairs(NamedTuple):
    """Grid indices of each pair's ``first`` and ``second`` sound ``[n]``; the ``shared`` mask ``[n, K]``."""

    first: np.ndarray
    second: np.ndarray
    shared: np.ndarray


def sample_weak_pairs(space: FactorSpace, n: int, k: int | None, rng: np.random.Generator) -> WeakPairs:
    """``n`` pairs of grid indices that differ in exactly k factors and share the others.

    ``k``: an integer from 1 to K' - 1 (K' = the factors with more than one value), the same for every
    pair, or ``None`` to draw k per pair uniformly from 1..K'-1 (Locatello et al.'s "k random").
    Vectorised; the same ``rng`` state gives the same pairs.
    """
    if not isinstance(space, FactorSpace):
        raise ValueError(f"space must be a FactorSpace, got {type(space).__name__}.")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)).")
    sizes = np.asarray(space.sizes, dtype=np.int64)
    variable = sizes > 1
    n_variable = int(variable.sum())
    if n_variable < 2:
        raise ValueError(
            f"need at least two factors with more than one value to share some and change others; "
            f"{space} has {n_variable}."
        )
    if k is None:
        ks = rng.integers(1, n_variable, size=int(n))  # uniform on 1..K'-1
    else:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_variable - 1:
            raise ValueError(
                f"k (the number of factors that differ) must be an integer from 1 to {n_variable - 1} "
                f"(the space has {n_variable} factors with more than one value), or None for random k; "
                f"got {k!r}."
            )
        ks = np.full(int(n), int(k))
    first = space.sample_classes(int(n), rng)
    # Choose the k changing factors: random keys, constant factors last, the k smallest ranks change.
    keys = np.where(variable, rng.random((int(n), len(sizes))), np.inf)
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    differ = ranks < ks[:, None]
    # A changed factor takes a different class: add an offset in 1..size-1, modulo size.
    offsets = rng.integers(1, np.maximum(sizes, 2), size=(int(n), len(sizes)))
    second = np.where(differ, (first + offsets) % sizes, first)
    return WeakPairs(
        np.asarray(space.classes_to_index(first), dtype=np.int64),
        np.asarray(space.classes_to_index(second), dtype=np.int64),
        ~differ,
    )


def grid_rows(ids: np.ndarray, grid_indices: np.ndarray) -> np.ndarray:
    """Positions in a dataset (whose row r holds grid index ``ids[r]``) of the given grid indices.

    For a :class:`~course_lib.datasets.ToyDataset` pass ``dataset.ids``; the full dataset has
    ``ids = arange(N)`` and rows equal grid indices. Raises if an index is not in the dataset.
    """
    ids = np.asarray(ids, dtype=np.int64)
    wanted = np.asarray(grid_indices, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    pos = np.searchsorted(ids[order], wanted)
    pos = np.minimum(pos, len(ids) - 1)
    found = ids[order][pos] == wanted
    if not np.all(found):
        missing = wanted[~found][:5].tolist()
        raise ValueError(
            f"grid indices {missing} are not rows of this dataset; sample pairs on the full grid dataset "
            "(a subset rarely holds both sounds of a pair)."
        )
    return order[pos]


class PairLoader:
    """Minibatches of weakly supervised pairs ``(x1, x2)`` for :func:`course_lib.train.train`.

    ``inputs`` holds one row per sound of the **full** grid of ``space`` (row = grid index). Each pass
    draws ``pairs_per_epoch`` fresh pairs with :func:`sample_weak_pairs` (``k`` factors differ; None: k
    random), from a NumPy generator seeded by torch's global RNG, so that ``train``'s seed fixes them.
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        space: FactorSpace,
        k: int | None = 1,
        batch_size: int = 128,
        pairs_per_epoch: int | None = None,
    ) -> None:
        if len(inputs) != space.n_combinations:
            raise ValueError(
                f"inputs must hold one row per grid point ({space.n_combinations}), got {len(inputs)}: "
                "pairs are drawn on the full grid."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.inputs, self.space, self.k, self.batch_size = inputs, space, k, batch_size
        self.pairs_per_epoch = int(pairs_per_epoch or len(inputs))
        if self.pairs_per_epoch < 1:
            raise ValueError(f"pairs_per_epoch must be positive, got {pairs_per_epoch!r}.")

    def __len__(self) -> int:
        return -(-self.pairs_per_epoch // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
        pairs = sample_weak_pairs(self.space, self.pairs_per_epoch, self.k, rng)
        for start in range(0, self.pairs_per_epoch, self.batch_size):
            stop = start + self.batch_size
            yield self.inputs[pairs.first[start:stop]], self.inputs[pairs.second[start:stop]]
