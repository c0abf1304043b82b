"""Argument checks shared by the whole library: one clear ``ValueError`` each, no silent casting.

Taught nowhere: the models, metrics and diagnosis helpers call these to refuse a bad count or weight
with the argument's name in the message. A ``bool`` is never taken for a number (``True`` is an int in
Python, but ``z_dim=True`` is a mistake). Integers may be NumPy integers and come back as ``int``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real


def integer(value: object, name: str, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an ``int``, raising ``ValueError`` unless it is an integer in ``minimum..maximum``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, Integral)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        if maximum is not None:
            expected = f"an integer from {minimum} to {maximum}"
        else:
            expected = {1: "a positive integer", 0: "a non-negative integer"}.get(
                minimum, f"an integer >= {minimum}"
            )
        raise ValueError(f"{name} must be {expected}, got {value!r}.")
    return int(value)


def positive_int(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int``, raising ``ValueError`` unless it is an integer >= ``minimum`` (default 1)."""
    return integer(value, name, minimum)


def non_negative_int(value: object, name: str) -> int:
    """``value`` as an ``int``, raising ``ValueError`` unless it is an integer >= 0."""
    return integer(value, name, 0)


def positive_ints(**values: object) -> None:
    """Raise ``ValueError`` unless every keyword's value is a positive integer (checked in order)."""
    for name, value in values.items():
        positive_int(value, name)


def _number(value: object, name: str, strict: bool) -> float:
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (strict and value == 0):
        kind = "positive" if strict else "non-negative"
        raise ValueError(f"{name} must be a {kind} number, got {value!r}.")
    return float(value)


def positive_number(value: object, name: str) -> float:
    """``value`` as a ``float``, raising ``ValueError`` unless it is a finite real number > 0."""
    return _number(value, name, strict=True)


def non_negative_number(value: object, name: str) -> float:
    """``value`` as a ``float``, raising ``ValueError`` unless it is a finite real number >= 0."""
    return _number(value, name, strict=False)
