"""Factors of variation and factor spaces: names, values, units, and the index <-> factors mapping.

Taught in chapters/01_toy_dataset.ipynb. A :class:`Factor` declares one generative factor once
(name, the values it takes, unit, perceptual meaning, time scale). A :class:`FactorSpace` is the
full factorial grid of several factors, stored like dSprites: every combination exactly once, in
**row-major order with the last factor varying fastest**. With sizes ``(s_0, ..., s_{K-1})`` the
row index of the combination of classes ``(c_0, ..., c_{K-1})`` is

    index = sum_k c_k * bases_k,   bases_k = s_{k+1} * s_{k+2} * ... * s_{K-1}   (bases_{K-1} = 1)

so ``index_to_classes`` and ``classes_to_index`` are ``numpy.unravel_index`` / ``ravel_multi_index``.
A *class* is the integer position of a value in ``Factor.values`` (``latents_classes`` in dSprites);
the *value* is the physical quantity in the factor's unit (``latents_values``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TIMESCALES: dict[str, str] = {
    "period": "one period of the waveform (about 1-10 ms): pitch and the partials' frequencies",
    "frame": "one analysis frame of a few periods (about 20-100 ms): spectral shape, noise, level",
    "note": "the life of one note (about 0.1-1 s): envelopes, vibrato, tremolo",
    "phrase": "several notes (about 1 s and more): intervals, rhythm, articulation",
}
"""The time scales a factor can live at, from shortest to longest (chapter 1, Q3)."""


@dataclass(frozen=True)
class Factor:
    """One generative factor: ``values`` (strictly increasing), ``unit``, ``meaning`` and ``timescale``."""

    name: str
    values: tuple[float, ...]
    unit: str
    meaning: str
    timescale: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a factor name must be a Python identifier such as 'f0', got {self.name!r}.")
        try:
            values = tuple(float(v) for v in self.values)
        except (TypeError, ValueError) as error:
            raise ValueError(f"factor {self.name!r}: values must be a sequence of numbers.") from error
        if not values:
            raise ValueError(f"factor {self.name!r}: give at least one value.")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"factor {self.name!r}: values must be finite, got {values}.")
        if any(b <= a for a, b in zip(values, values[1:], strict=False)):
            raise ValueError(f"factor {self.name!r}: values must be strictly increasing, got {values}.")
        if self.timescale not in TIMESCALES:
            raise ValueError(
                f"factor {self.name!r}: timescale must be one of {list(TIMESCALES)}, got {self.timescale!r}."
            )
        object.__setattr__(self, "values", values)

    @property
    def size(self) -> int:
        """Number of values (classes) of the factor."""
        return len(self.values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (used in dataset metadata)."""
        return {
            "name": self.name,
            "values": list(self.values),
            "unit": self.unit,
            "meaning": self.meaning,
            "timescale": self.timescale,
        }


class FactorSpace:
    """The full factorial grid of some factors, with the dSprites index <-> classes <-> values maps.

    Order: row-major, last factor fastest (see the module
    docstring). Every method accepts a single row or a batch (leading dimensions are kept).
    """

    def __init__(self, factors: Sequence[Factor]) -> None:
        factors = tuple(factors)
        if not factors:
            raise ValueError("a FactorSpace needs at least one Factor.")
        if not all(isinstance(f, Factor) for f in factors):
            raise ValueError("every element of a FactorSpace must be a Factor.")
        names = [f.name for f in factors]
        if len(set(names)) != len(names):
            raise ValueError(f"factor names must be unique, got {names}.")
        self.factors: tuple[Factor, ...] = factors
        self.names: tuple[str, ...] = tuple(names)
        self.sizes: tuple[int, ...] = tuple(f.size for f in factors)
        self.units: tuple[str, ...] = tuple(f.unit for f in factors)
        self.n_combinations: int = int(np.prod(self.sizes, dtype=np.int64))
        self.bases: np.ndarray = np.concatenate([np.cumprod(self.sizes[::-1])[::-1][1:], [1]]).astype(
            np.int64
        )
        self._values = [np.asarray(f.values, dtype=np.float64) for f in factors]

    # ----------------------------------------------------------------------------- basics
    def __len__(self) -> int:
        return self.n_combinations

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}[{s}]" for n, s in zip(self.names, self.sizes, strict=True))
        return f"FactorSpace({parts}; {self.n_combinations} combinations)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FactorSpace) and self.factors == other.factors

    def __hash__(self) -> int:
        return hash(self.factors)

    @property
    def n_factors(self) -> int:
        """Number of factors K."""
        return len(self.factors)

    def index_of(self, name: str) -> int:
        """Column of factor ``name`` in classes/values arrays."""
        if name not in self.names:
            raise ValueError(f"no factor named {name!r}; the factors are {list(self.names)}.")
        return self.names.index(name)

    def factor(self, name: str) -> Factor:
        """The :class:`Factor` called ``name``."""
        return self.factors[self.index_of(name)]

    # ----------------------------------------------------------------------------- mappings
    def _check_classes(self, classes: object) -> np.ndarray:
        arr = np.asarray(classes)
        if arr.ndim == 0 or arr.shape[-1] != self.n_factors:
            raise ValueError(
                f"classes must have a last dimension of {self.n_factors}, got shape {arr.shape}."
            )
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise ValueError("classes must be integers (positions in each factor's values).")
            arr = arr.astype(np.int64)
        arr = arr.astype(np.int64, copy=False)
        sizes = np.asarray(self.sizes)
        bad = (arr < 0) | (arr >= sizes)
        if np.any(bad):
            col = int(np.argwhere(bad)[0][-1])
            raise ValueError(
                f"class out of range for factor {self.names[col]!r}: allowed 0..{self.sizes[col] - 1}, "
                f"got {arr[bad][0]}."
            )
        return arr

    def index_to_classes(self, idx: int | Iterable[int] | np.ndarray) -> np.ndarray:
        """Row index (or array of indices) -> classes, int64 ``[..., K]``."""
        arr = np.asarray(idx)
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"indices must be integers, got dtype {arr.dtype}.")
        if np.any(arr < 0) or np.any(arr >= self.n_combinations):
            raise ValueError(f"index out of range: allowed 0..{self.n_combinations - 1}.")
        return np.stack(np.unravel_index(arr.astype(np.int64), self.sizes), axis=-1).astype(np.int64)

    def classes_to_index(self, classes: object) -> np.ndarray | int:
        """Classes ``[..., K]`` -> row index (an int for a single row, else an int64 array)."""
        arr = self._check_classes(classes)
        index = arr @ self.bases
        return int(index) if np.ndim(index) == 0 else index.astype(np.int64)

    def classes_to_values(self, classes: object) -> np.ndarray:
        """Classes ``[..., K]`` -> factor values in their units, float64 ``[..., K]``."""
        arr = self._check_classes(classes)
        return np.stack([v[arr[..., k]] for k, v in enumerate(self._values)], axis=-1)

    def values_to_classes(self, values: object) -> np.ndarray:
        """Factor values ``[..., K]`` (on the grid, up to 1e-9 relative) -> classes, int64 ``[..., K]``."""
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != self.n_factors:
            raise ValueError(f"values must have a last dimension of {self.n_factors}, got shape {arr.shape}.")
        out = np.empty(arr.shape, dtype=np.int64)
        for k, grid in enumerate(self._values):
            col = arr[..., k]
            pos = np.abs(col[..., None] - grid).argmin(axis=-1)
            if not np.allclose(grid[pos], col, rtol=1e-9, atol=1e-12):
                raise ValueError(f"values of factor {self.names[k]!r} are not on its grid {grid.tolist()}.")
            out[..., k] = pos
        return out

    def all_classes(self) -> np.ndarray:
        """Every combination in dataset order, int64 ``[n_combinations, K]``."""
        return self.index_to_classes(np.arange(self.n_combinations))

    def sample_classes(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` combinations drawn uniformly and independently per factor, int64 ``[n, K]``."""
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}.")
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator (use config.seed_everything(seed)).")
        return np.stack([rng.integers(0, s, size=int(n)) for s in self.sizes], axis=-1).astype(np.int64)

    def walk(self, name: str, base_classes: object | None = None) -> np.ndarray:
        """Classes ``[size, K]`` that step through every value of ``name`` with the other factors fixed.

        The other factors keep ``base_classes`` (default: the middle class of each factor).
        Used for the player grids along one factor in chapter 1.
        """
        k = self.index_of(name)
        base = self.middle_classes() if base_classes is None else self._check_classes(base_classes)
        rows = np.repeat(base[None], self.sizes[k], axis=0)
        rows[:, k] = np.arange(self.sizes[k])
        return rows

    def middle_classes(self) -> np.ndarray:
        """The middle class of every factor, int64 ``[K]``."""
        return np.asarray([(s - 1) // 2 for s in self.sizes], dtype=np.int64)

    # ----------------------------------------------------------------------------- metadata
    def to_metadata(self) -> dict[str, Any]:
        """JSON-ready description: names, sizes, values, units, meanings, time scales, order."""
        return {
            "factor_names": list(self.names),
            "factor_sizes": list(self.sizes),
            "factor_values": {f.name: list(f.values) for f in self.factors},
            "factor_units": {f.name: f.unit for f in self.factors},
            "factor_meanings": {f.name: f.meaning for f in self.factors},
            "factor_timescales": {f.name: f.timescale for f in self.factors},
            "order": "row-major, last factor fastest: index = sum_k classes[k] * bases[k]",
            "bases": self.bases.tolist(),
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> FactorSpace:
        """Rebuild the space saved by :meth:`to_metadata`."""
        try:
            return cls(
                [
                    Factor(
                        name,
                        metadata["factor_values"][name],
                        metadata["factor_units"][name],
                        metadata["factor_meanings"][name],
                        metadata["factor_timescales"][name],
                    )
                    for name in metadata["factor_names"]
                ]
            )
        except KeyError as error:
            raise ValueError(f"metadata lacks the factor description key {error}.") from error

    def describe(self) -> list[dict[str, Any]]:
        """One dict per factor (for a pandas table in the chapter)."""
        return [
            {
                "factor": f.name,
                "size": f.size,
                "values": ", ".join(f"{v:g}" for v in f.values),
                "unit": f.unit,
                "time scale": f.timescale,
                "meaning": f.meaning,
            }
            for f in self.factors
        ]
