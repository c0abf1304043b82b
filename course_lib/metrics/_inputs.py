"""Input validation shared by the disentanglement metrics (clear ValueErrors, no silent casting)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.validation import positive_int  # noqa: F401 (re-exported: older imports name it here)


def as_codes(codes: object, name: str = "codes") -> np.ndarray:
    """Return ``codes`` as a finite float64 array of shape [N, D] with N >= 2 and D >= 1."""
    array = np.asarray(codes)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(f"{name} must be a numeric array of shape [N, D], got dtype {array.dtype}.")
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape [N, D] (one row per observation), got shape {array.shape}.")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has D = 0 code dimensions: a representation needs at least one.")
    if array.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 observations, got {array.shape[0]}.")
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ValueError(f"{name} contains {bad} NaN or infinite values: metrics need finite codes.")
    return array


def as_factors(factors: object, name: str = "factors") -> np.ndarray:
    """Return ``factors`` as an int64 array of shape [N, K] (class indices; integral floats are accepted)."""
    array = np.asarray(factors)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape [N, K] (one column per factor), got shape {array.shape}.")
    if array.shape[1] == 0:
        raise ValueError(f"{name} has K = 0 factors: at least one ground-truth factor is needed.")
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int64, copy=False)
    if (
        np.issubdtype(array.dtype, np.floating)
        and np.all(np.isfinite(array))
        and np.all(array == np.round(array))
    ):
        return array.astype(np.int64)
    raise ValueError(
        f"{name} must hold integer class indices (latents_classes), got dtype {array.dtype}"
        " with non-integer values; discretise continuous factor values first."
    )


def codes_and_factors(codes: object, factors: object, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validate a (codes, factors) pair and check that both have one row per observation."""
    codes_array = as_codes(codes, "codes" + suffix)
    factors_array = as_factors(factors, "factors" + suffix)
    if codes_array.shape[0] != factors_array.shape[0]:
        raise ValueError(
            f"codes{suffix} has {codes_array.shape[0]} rows but factors{suffix} has {factors_array.shape[0]}:"
            " they must describe the same observations."
        )
    return codes_array, factors_array


def require_varying_factors(factors: np.ndarray, name: str = "factors") -> None:
    """Raise if a factor takes a single value (it has no entropy and no classes to tell apart)."""
    for k in range(factors.shape[1]):
        if np.unique(factors[:, k]).size < 2:
            raise ValueError(
                f"{name}[:, {k}] takes a single value in these observations: a metric cannot score a"
                " constant factor. Drop it (evaluate_all drops factors of size 1) or sample more points."
            )


def as_factor_sizes(factor_sizes: Sequence[int]) -> np.ndarray:
    """Return the number of classes of each factor as an int64 vector; every size must be >= 1."""
    sizes = np.asarray(factor_sizes)
    if sizes.ndim != 1 or sizes.size == 0 or not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 1):
        raise ValueError(
            f"factor_sizes must be a non-empty sequence of positive integers, got {factor_sizes!r}."
        )
    return sizes.astype(np.int64)


def as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    """Accept a NumPy Generator (from ``config.seed_everything``) or an integer seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy.random.Generator or a non-negative integer seed, got {rng!r}.")
