"""Tests of the shared argument checks (course_lib.validation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib import validation


def test_integers_come_back_as_int_and_bools_are_refused():
    assert (
        validation.positive_int(np.int64(3), "n") == 3
        and type(validation.positive_int(np.int64(3), "n")) is int
    )
    assert validation.non_negative_int(0, "n") == 0
    assert validation.integer(2, "step", 1, 2) == 2
    for bad, match in [
        (lambda: validation.positive_int(0, "z_dim"), "z_dim must be a positive integer, got 0"),
        (lambda: validation.positive_int(True, "z_dim"), "positive integer"),
        (lambda: validation.positive_int(2.0, "z_dim"), "positive integer"),
        (lambda: validation.non_negative_int(-1, "max_shift"), "max_shift must be a non-negative integer"),
        (lambda: validation.positive_int(1, "n_bins", minimum=2), "n_bins must be an integer >= 2"),
        (lambda: validation.integer(3, "step", 1, 2), "step must be an integer from 1 to 2, got 3"),
        (lambda: validation.positive_ints(hidden=4, n_slots=2.5), "n_slots must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=match):
            bad()


def test_numbers_must_be_finite_and_of_the_right_sign():
    assert validation.positive_number(np.float32(0.5), "beta") == 0.5
    assert validation.non_negative_number(0, "threshold") == 0.0
    for value in (0, -1.0, math.inf, math.nan, True, "4"):
        with pytest.raises(ValueError, match="beta must be a positive number"):
            validation.positive_number(value, "beta")
    with pytest.raises(ValueError, match="threshold must be a non-negative number"):
        validation.non_negative_number(-0.1, "threshold")
