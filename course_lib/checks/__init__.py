"""Self-check cells: compare a student's function with the course's reference on random inputs.

Taught in book/tour.ipynb (and in book/exercises.md). Each chapter has a module
``course_lib.checks.chNN`` whose functions wrap :func:`compare` for that chapter's exercises::

    from course_lib.checks import ch02
    ch02.check_kl(kl_divergence)   # prints a clear pass, or raises SelfCheckFailed with a hint
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_lib.config import seed_everything


class SelfCheckFailed(AssertionError):
    """Raised by a self-check when the student's answer differs from the reference."""


def _to_numpy(value: Any) -> Any:
    """Turn tensors (and tuples/lists of them) into NumPy arrays for comparison."""
    if isinstance(value, (tuple, list)):
        return type(value)(_to_numpy(v) for v in value)
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value) if isinstance(value, (int, float, np.number, np.ndarray)) else value


def _compare_values(got: Any, want: Any, atol: float, rtol: float) -> str | None:
    """Return ``None`` when ``got`` matches ``want``, otherwise a one-line description of the difference."""
    got, want = _to_numpy(got), _to_numpy(want)
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"expected a sequence of {len(want)} values, got {type(got).__name__}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            problem = _compare_values(g, w, atol, rtol)
            if problem:
                return f"item {i}: {problem}"
        return None
    if not isinstance(want, np.ndarray):
        return None if got == want else f"expected {want!r}, got {got!r}"
    if not isinstance(got, np.ndarray):
        return f"expected an array or tensor, got {type(got).__name__}"
    if got.shape != want.shape:
        return f"expected shape {want.shape}, got shape {got.shape}"
    if not np.allclose(got, want, atol=atol, rtol=rtol, equal_nan=False):
        worst = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        return f"values differ (largest absolute difference {worst:.3g}, tolerance {atol:g} + {rtol:g}*|x|)"
    return None


def compare(
    student_fn: Callable[..., Any],
    reference_fn: Callable[..., Any],
    make_inputs: Callable[[np.random.Generator], tuple],
    *,
    name: str,
    hint: str,
    trials: int = 5,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> None:
    """Run ``student_fn`` and ``reference_fn`` on ``trials`` random inputs and compare the outputs.

    ``make_inputs(rng)`` returns the positional arguments of one call. Prints a one-line pass, or
    raises :class:`SelfCheckFailed` with what differed and the ``hint``. A ``NotImplementedError``
    from an unfinished exercise is passed through unchanged so the stub's message stays visible.
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}.")
    rng = seed_everything(seed)
    for trial in range(trials):
        args = make_inputs(rng)
        want = reference_fn(*args)
        try:
            got = student_fn(*args)
        except NotImplementedError:
            raise
        except Exception as error:  # a crash is a failed check with its cause attached
            raise SelfCheckFailed(
                f"{name}: your function raised {error!r} on trial {trial + 1}.\nHint: {hint}"
            ) from error
        problem = _compare_values(got, want, atol, rtol)
        if problem:
            raise SelfCheckFailed(f"{name}: {problem} on trial {trial + 1} of {trials}.\nHint: {hint}")
    print(f"\N{WHITE HEAVY CHECK MARK} {name}: matches the reference on {trials} random inputs.")
