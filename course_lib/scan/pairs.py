"""(sound, symbol) pairs on a factor-grid dataset: the extended generator of SCAN's training data.

Used by exercise sheet 5 (solutions/05_scan.ipynb), on chapter 1's toy grid.
Chapter 1's datasets hold the **full** factorial grid of a preset,
so a sound is found from its factor classes by :meth:`FactorSpace.classes_to_index`. A pair is a
symbol (a :class:`~course_lib.scan.symbols.Symbol`, possibly leaving attributes unspecified) and the
row of one sound that the symbol admits; the factors the symbol leaves unspecified are drawn
uniformly at random (:func:`sample_pairs`).

* :func:`symbols_up_to` lists the training symbols (every symbol of 1..k words, minus held-out ones);
* :func:`make_pairs` draws the pairs, optionally from a **fixed pool of labelled sounds per symbol**
  (the few-label regime: each symbol is only ever shown with ``labels_per_symbol`` sounds);
* :class:`Pairs` holds the rows, the k-hot symbols and which symbol each pair shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from course_lib.factors import FactorSpace
from course_lib.scan.symbols import Symbol, as_symbol
from course_lib.scan.vocabulary import Vocabulary


def sample_pairs(
    symbols: Symbol | Sequence[Symbol],
    vocabulary: Vocabulary,
    rng: np.random.Generator,
    n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (sound, symbol) pairs: factor classes consistent with a symbol, and which symbol.

    Each row picks one of ``symbols`` uniformly at random (``which[i]`` is its position); the factors
    the symbol specifies take a class of its word, uniformly; every other factor is uniform over all
    its classes. Returns ``(classes [n, K] int64, which [n] int64)``; the caller renders or looks up
    the sounds of ``classes`` and k-hot encodes ``symbols[which]``.
    """
    if not isinstance(vocabulary, Vocabulary):
        raise ValueError("vocabulary must be a Vocabulary (see build_vocabulary).")
    if isinstance(symbols, Symbol):
        symbols = [symbols]
    symbols = [vocabulary.check(as_symbol(s, "each symbol")) for s in symbols]
    if not symbols:
        raise ValueError("give at least one symbol to sample pairs for.")
    space = vocabulary.factor_space
    classes = space.sample_classes(n, rng)  # checks n and rng; unspecified factors stay uniform
    which = rng.integers(len(symbols), size=int(n)).astype(np.int64)
    for position, symbol in enumerate(symbols):
        rows = np.flatnonzero(which == position)
        for attribute_name, word in symbol.items():
            attribute = vocabulary.attribute(attribute_name)
            allowed = np.asarray(attribute.classes_of(word), dtype=np.int64)
            classes[rows, space.index_of(attribute.factor)] = rng.choice(allowed, size=len(rows))
    return classes, which


@dataclass(frozen=True)
class Pairs:
    """``n`` (sound, symbol) pairs: ``rows`` [n] of the dataset, ``khot`` [n, V] float32, ``which`` [n].

    ``symbols[which[i]]`` is the symbol of pair ``i``; ``khot[i]`` its k-hot vector.
    """

    rows: np.ndarray
    khot: np.ndarray
    which: np.ndarray
    symbols: tuple[Symbol, ...]

    def __len__(self) -> int:
        return len(self.rows)


def grid_rows(factor_space: FactorSpace, classes: np.ndarray, n_rows: int) -> np.ndarray:
    """Rows of a full-grid dataset of ``n_rows`` sounds holding the sounds of ``classes`` [n, K].

    Raises ``ValueError`` if the dataset is not the full grid of ``factor_space`` (a subset would need
    a lookup table instead).
    """
    if n_rows != factor_space.n_combinations:
        raise ValueError(
            f"the dataset has {n_rows} rows but its factor grid {factor_space.n_combinations}: "
            "pairs need the full grid (chapter 1's build_toy_dataset), not a subset."
        )
    return np.asarray(factor_space.classes_to_index(np.atleast_2d(classes)), dtype=np.int64).reshape(-1)


def symbols_up_to(
    vocabulary: Vocabulary,
    max_words: int,
    *,
    min_words: int = 1,
    exclude: Iterable[Symbol] = (),
) -> list[Symbol]:
    """Every symbol with ``min_words``..``max_words`` words, except those in ``exclude``.

    SCAN's training symbols: short ones, so that longer concepts stay new for the recombination test.
    """
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 0:
        raise ValueError(f"min_words must be a non-negative integer, got {min_words!r}.")
    if isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < min_words:
        raise ValueError(f"max_words must be an integer >= min_words ({min_words}), got {max_words!r}.")
    banned = set(exclude)
    return [s for s in vocabulary.all_symbols(max_words) if len(s) >= min_words and s not in banned]


def make_pairs(
    symbols: Sequence[Symbol],
    vocabulary: Vocabulary,
    n: int,
    rng: np.random.Generator,
    *,
    labels_per_symbol: int | None = None,
) -> Pairs:
    """``n`` pairs, each a symbol of ``symbols`` (uniformly) and a sound it admits.

    Without ``labels_per_symbol`` every pair draws a fresh sound (unspecified factors uniform). With
    it, each symbol first gets a fixed pool of that many sounds (drawn the same way), and its pairs
    only reuse those: the number of labelled examples per concept of the few-label experiment.
    """
    symbols = list(symbols)
    if not symbols:
        raise ValueError("give at least one symbol.")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    space = vocabulary.factor_space
    if labels_per_symbol is None:
        classes, which = sample_pairs(symbols, vocabulary, rng, n)
        rows = space.classes_to_index(classes)
    else:
        if (
            isinstance(labels_per_symbol, bool)
            or not isinstance(labels_per_symbol, int)
            or labels_per_symbol < 1
        ):
            raise ValueError(
                f"labels_per_symbol must be a positive integer or None, got {labels_per_symbol!r}."
            )
        pools = np.stack(
            [space.classes_to_index(sample_pairs(s, vocabulary, rng, labels_per_symbol)[0]) for s in symbols]
        )  # [S, labels_per_symbol]
        which = rng.integers(len(symbols), size=n).astype(np.int64)
        rows = pools[which, rng.integers(labels_per_symbol, size=n)]
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    khot = vocabulary.encode(symbols)[which]
    return Pairs(rows=rows, khot=khot, which=which, symbols=tuple(symbols))


def labelled_rows(pairs: Pairs) -> np.ndarray:
    """The distinct (row, symbol) labels in ``pairs``, as ``[m, 2]`` int64 (what a labeller provided)."""
    return np.unique(np.stack([pairs.rows, pairs.which], axis=1), axis=0)
