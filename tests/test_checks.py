"""Unit tests of the self-check helper (course_lib.checks.compare)."""

import numpy as np
import pytest
import torch

from course_lib.checks import SelfCheckFailed, compare, tour


def _inputs(rng):
    return (rng.normal(size=(4, 3)),)


def test_matching_function_passes_and_says_so(capsys):
    compare(lambda x: x * 2, lambda x: 2 * x, _inputs, name="double", hint="multiply by two")
    assert "double: matches the reference on 5 random inputs" in capsys.readouterr().out


def test_wrong_values_fail_with_hint():
    with pytest.raises(SelfCheckFailed, match=r"(?s)values differ.*Hint: multiply by two"):
        compare(lambda x: x * 3, lambda x: 2 * x, _inputs, name="double", hint="multiply by two")


def test_wrong_shape_is_named():
    with pytest.raises(SelfCheckFailed, match="expected shape"):
        compare(lambda x: x.sum(0), lambda x: x, _inputs, name="identity", hint="return x")


def test_tensors_and_tuples_are_compared():
    compare(
        lambda x: (torch.as_tensor(x), 1),
        lambda x: (x, 1),
        _inputs,
        name="tuple",
        hint="",
    )
    with pytest.raises(SelfCheckFailed, match="item 1"):
        compare(lambda x: (x, 2), lambda x: (x, 1), _inputs, name="tuple", hint="")


def test_a_crash_is_a_failed_check_but_a_stub_passes_through():
    def crashes(x):
        raise KeyError("oops")

    def stub(x):
        raise NotImplementedError("Exercise 0.1: write it")

    with pytest.raises(SelfCheckFailed, match="raised KeyError"):
        compare(crashes, lambda x: x, _inputs, name="f", hint="")
    with pytest.raises(NotImplementedError, match="Exercise 0.1"):
        compare(stub, lambda x: x, _inputs, name="f", hint="")


def test_trials_must_be_positive():
    with pytest.raises(ValueError, match="trials"):
        compare(np.abs, np.abs, _inputs, name="f", hint="", trials=0)


def test_tour_check_catches_the_missing_sqrt2():
    def without_sqrt2(f0, level_db, sr, duration):
        return tour.reference_tone(f0, level_db, sr, duration) / np.sqrt(2)

    tour.check_tone(tour.reference_tone)
    with pytest.raises(SelfCheckFailed, match="RMS"):
        tour.check_tone(without_sqrt2)


def test_reference_tone_has_the_requested_rms_level():
    x = tour.reference_tone(100.0, -20.0, 16000, 1.0)
    assert 20 * np.log10(np.sqrt(np.mean(x**2))) == pytest.approx(-20.0, abs=1e-6)
