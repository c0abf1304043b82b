"""Mutation tests of sheet 3's level-channel check (Exercise 3.3, chapter 3.2's first remedy).

Like tests/test_check_mutants.py: each mutant is the right answer with one plausible slip, which
``ch03.check_level_channel`` must reject with one short message of its own (``message`` is a pattern
the failure must contain, so a mutant rejected for an unrelated reason still fails the test); the
right answer must pass, and an unfilled stub must pass through as the stub's one line.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from course_lib import checks
from course_lib.checks import SelfCheckFailed, ch03

MAX_LINES = 8
"""A failure shows at most this many lines: the verdict, what differed, the hint and its follow-up."""


@pytest.fixture(autouse=True)
def fresh_hints():
    checks.reset_hints()
    yield
    checks.reset_hints()


def _level_channel(logmels, relative_range=0.55, gain=4.0, *, slip=None):
    """The right answer (``slip=None``), or the same with one slip."""
    x = torch.as_tensor(logmels, dtype=torch.float64)
    if slip == "level as the mean of the log-mel values":
        level = x.mean(dim=(1, 2))
    elif slip == "power in bels, not in the log-mel's 100-dB unit":
        level = torch.log10((10.0**x).mean(dim=(1, 2)))
    elif slip == "level per band":
        level = torch.log10((10.0 ** (10 * x)).mean(dim=2)) / 10
    else:
        level = torch.log10((10.0 ** (10 * x)).mean(dim=(1, 2))) / 10
    if slip == "level not subtracted":
        shifted = x
    elif slip == "level per band":
        shifted = x - level[:, :, None]
    else:
        shifted = x - level[:, None, None]
    if slip == "floor not applied":
        relative = shifted + relative_range
    elif slip == "floor not shifted to 0":
        relative = torch.clamp(shifted, min=-relative_range)
    else:
        relative = torch.clamp(shifted, min=-relative_range) + relative_range
    spread = {
        "std over N clips": level.std(unbiased=False),
        "not divided by the std": torch.tensor(1.0),
        "std of all the log-mel values": x.std(),
    }.get(slip, level.std())
    centre = 0.0 if slip == "mean level not subtracted" else level.mean()
    standard = (1.0 if slip == "gain ignored" else gain) * (level - centre) / spread
    return relative, standard


MUTANTS = {
    "level not subtracted": "6 dB more on every clip changed the relative log-mel",
    "mean level not subtracted": "6 dB more on every clip changed the standardised level",
    "floor not applied": "values lie more than relative_range below the level",
    "floor not shifted to 0": "the floor reads -relative_range",
    "gain ignored": "standard deviation over the clips is 1, not the gain",
    "std over N clips": "divided by the standard deviation over N clips; divide by the one over N - 1",
    "not divided by the std": r"standard deviation over the clips is 0\.\d+, not the gain",
    "std of all the log-mel values": r"standard deviation over the clips is 1\.\d+, not the gain",
    "level as the mean of the log-mel values": "the relative log-mel: values differ",
    "power in bels, not in the log-mel's 100-dB unit": "the relative log-mel: values differ",
    "level per band": r"the level must hold one value per clip, shape \(\d+,\)",
}


def test_the_right_answer_passes(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ch03.check_level_channel(_level_channel)
    out = capsys.readouterr().out
    assert "\N{WHITE HEAVY CHECK MARK}" in out and "\N{CROSS MARK}" not in out


def test_numpy_and_float32_answers_pass(capsys):
    def in_numpy(logmels, relative_range, gain):
        x = np.asarray(logmels, dtype=np.float32)
        level = np.log10(np.mean(10.0 ** (10 * x), axis=(1, 2))) / 10
        relative = np.maximum(x - level[:, None, None], -relative_range) + relative_range
        return relative, gain * (level - level.mean()) / np.std(level, ddof=1)

    ch03.check_level_channel(in_numpy)
    assert "\N{WHITE HEAVY CHECK MARK}" in capsys.readouterr().out


@pytest.mark.parametrize("slip", MUTANTS, ids=lambda s: s.replace(" ", "_"))
def test_each_mutant_fails_with_one_short_message(slip):
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(SelfCheckFailed, match=f"(?s){MUTANTS[slip]}") as failure:
            ch03.check_level_channel(lambda *a: _level_channel(*a, slip=slip))
    assert not caught_warnings, f"library warnings leaked: {[str(w.message) for w in caught_warnings]}"
    lines = failure.value._render_traceback_()
    text = "\n".join(lines)
    assert len(lines) <= MAX_LINES, text
    assert "Traceback" not in text and "course_lib/" not in text and "site-packages" not in text


def test_the_mutants_fail_for_different_reasons():
    """No two behavioural slips share a message (the value comparisons are the last resort)."""
    behaviour = [m for m in MUTANTS.values() if "values differ" not in m]
    assert len(set(behaviour)) == len(behaviour) >= 4


def test_a_wrong_return_type_is_one_message():
    with pytest.raises(SelfCheckFailed, match=r"expected a pair \(relative, level\), got Tensor"):
        ch03.check_level_channel(lambda *a: _level_channel(*a)[0])


def test_a_crash_in_the_students_code_is_one_message():
    with pytest.raises(SelfCheckFailed, match="your function raised ZeroDivisionError"):
        ch03.check_level_channel(lambda *a: 1 / 0)


def test_an_unfilled_stub_passes_through_unchanged():
    def stub(*args):
        raise NotImplementedError("Exercise 3.3: write it")

    with pytest.raises(NotImplementedError) as raised:
        ch03.check_level_channel(stub)
    assert checks.stub_message(raised.value).startswith(
        "\N{HOURGLASS WITH FLOWING SAND} Exercise 3.3 is not done yet"
    )


def test_the_reference_is_the_course_level_channel():
    """The check's reference is course_lib.loudness, split into its two parts."""
    logmels, relative_range, gain = ch03.level_channel_inputs(np.random.default_rng(1), 0)
    relative, level = ch03.reference_level_channel(logmels, relative_range, gain)
    assert relative.shape == logmels.shape and level.shape == (logmels.shape[0],)
    assert float(relative.min()) == 0.0 and 0.0 < float((relative == 0).float().mean()) < 0.7
    assert abs(float(level.std()) - gain) < 1e-4 and abs(float(level.mean())) < 1e-5
