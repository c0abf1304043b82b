"""Unit tests of the self-checks (course_lib.checks): the comparison, the messages and hints a student
sees. The wrong answers each check must reject are in test_check_mutants.py."""

import inspect
import math

import numpy as np
import pytest
import torch
from IPython.core.interactiveshell import InteractiveShell
from torch import nn

from course_lib import checks
from course_lib.checks import Hint, SelfCheckFailed, ch01, ch02, ch03, ch04, ch05, compare, tour
from course_lib.experiments import beta_sweep
from course_lib.losses import beta_vae_loss
from course_lib.models.scan import scan_loss

SR = ch01.SR


@pytest.fixture(autouse=True)
def fresh_hints():
    """Each test starts as a student who has not failed any check yet."""
    checks.reset_hints()
    yield
    checks.reset_hints()


def _inputs(rng):
    return (rng.normal(size=(4, 3)),)


# ------------------------------------------------------------------------------------ compare()


def test_matching_function_passes_and_says_so(capsys):
    compare(lambda x: x * 2, lambda x: 2 * x, _inputs, name="double", hint="multiply by two")
    assert "double: matches the reference on 5 random inputs" in capsys.readouterr().out


def test_wrong_values_fail_with_what_was_expected_and_the_hint():
    with pytest.raises(
        SelfCheckFailed, match=r"(?s)values differ at index \(\d, \d\): expected .*, got .*Hint: x2"
    ):
        compare(lambda x: x * 3, lambda x: 2 * x, _inputs, name="double", hint="x2")


def test_wrong_shape_is_named():
    with pytest.raises(SelfCheckFailed, match="expected shape"):
        compare(lambda x: x.sum(0), lambda x: x, _inputs, name="identity", hint="return x")


def test_tensors_tuples_and_dicts_are_compared_and_a_difference_says_where():
    compare(lambda x: (torch.as_tensor(x), 1), lambda x: (x, 1), _inputs, name="tuple", hint="")
    with pytest.raises(SelfCheckFailed, match=r"returned\[1\]"):
        compare(lambda x: (x, 2), lambda x: (x, 1), _inputs, name="tuple", hint="")
    with pytest.raises(SelfCheckFailed, match=r"returned\[1\]\['b'\]: values differ"):
        compare(
            lambda x: (x, {"a": 1.0, "b": x}),
            lambda x: (x, {"a": 1.0, "b": 2 * x}),
            _inputs,
            name="d",
            hint="",
        )
    with pytest.raises(SelfCheckFailed, match=r"lacks the keys \['b'\]"):
        compare(lambda x: {"a": x}, lambda x: {"a": x, "b": x}, _inputs, name="d", hint="")


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


# --------------------------------------------------------------- what the student sees on failure


def _failure(fn) -> SelfCheckFailed:
    with pytest.raises(SelfCheckFailed) as caught:
        fn()
    return caught.value


def test_a_failure_renders_as_one_message_without_library_frames():
    error = _failure(
        lambda: tour.check_tone(lambda f0, level, sr, d: tour.reference_tone(f0, level, sr, d) / 2)
    )
    lines = error._render_traceback_()
    text = "\n".join(lines)
    assert lines[0].startswith("\N{CROSS MARK} Self-check failed")
    assert "values differ" in text and "expected" in text and "Hint:" in text
    assert "File " not in text and "course_lib" not in text and "Traceback" not in text


def test_a_crash_in_the_student_code_shows_only_the_student_frame():
    def tone(f0, level_db, sr, duration):
        return np.zeros(3) + np.zeros(4)  # broadcasting error inside the student's code

    text = "\n".join(_failure(lambda: tour.check_tone(tone))._render_traceback_())
    assert "raised ValueError" in text and "Your code raised ValueError here:" in text
    assert "np.zeros(3) + np.zeros(4)" in text
    assert "course_lib" not in text and "site-packages" not in text


def test_ipython_shows_the_message_instead_of_a_traceback(capsys):
    shell = InteractiveShell.instance()
    try:
        shell.run_cell(
            "from course_lib.checks import tour\n"
            "tour.check_tone(lambda f0, level, sr, d: tour.reference_tone(f0, level, sr, d) / 2)"
        )
    finally:
        InteractiveShell.clear_instance()
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "Self-check failed" in text and "Hint:" in text
    assert "Traceback" not in text and "compare(" not in text and "checks/__init__.py" not in text


# ----------------------------------------------------------------------------------- graded hints


def test_first_failure_nudges_and_a_later_failure_gives_the_formula():
    def wrong(f0, level_db, sr, duration):
        return tour.reference_tone(f0, level_db, sr, duration) / np.sqrt(2)

    first = str(_failure(lambda: tour.check_tone(wrong)))
    second = str(_failure(lambda: tour.check_tone(wrong)))
    assert tour.TONE_HINT.nudge in first and tour.TONE_HINT.formula not in first
    assert "fails again" in first
    assert tour.TONE_HINT.formula in second
    checks.reset_hints()
    assert tour.TONE_HINT.nudge in str(_failure(lambda: tour.check_tone(wrong)))


def _all_hints() -> list[tuple[str, Hint]]:
    found = []
    for module in (ch01, ch02, ch03, ch04, ch05, tour):
        for name, value in inspect.getmembers(module):
            if isinstance(value, Hint):
                found.append((f"{module.__name__}.{name}", value))
    return found


CODE_MARKERS = (
    "torch.",
    "np.",
    "F.",
    "sklearn",
    "randn_like",
    "reduction=",
    ".sum(",
    ".mean(",
    "def ",
    "**",
    " self.",
    "[:, None]",
)


@pytest.mark.parametrize(("where", "hint"), _all_hints(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_hint_gives_the_code(where, hint):
    for text in (hint.nudge, hint.formula):
        assert not [m for m in CODE_MARKERS if m in text], f"{where} reads like code: {text}"
    assert hint.nudge != hint.formula


def test_every_chapter_has_graded_hints():
    modules = {where.rsplit(".", 1)[0] for where, _ in _all_hints()}
    assert modules == {f"course_lib.checks.{m}" for m in ("ch01", "ch02", "ch03", "ch04", "ch05", "tour")}


# ----------------------------------------------------------------------------------- the tour


def test_reference_tone_has_the_requested_rms_level():
    x = tour.reference_tone(100.0, -20.0, 16000, 1.0)
    assert 20 * np.log10(np.sqrt(np.mean(x**2))) == pytest.approx(-20.0, abs=1e-6)


# ---------------------------------------------------------------------------------- chapter 2


def test_reference_negative_elbo_known_value():
    # logits 0 -> each pixel costs log 2; mu 0, logvar 0 -> KL 0
    x = torch.tensor([[1.0, 0.0, 1.0]])
    value = ch02.reference_negative_elbo(x, torch.zeros(1, 3), torch.zeros(1, 2), torch.zeros(1, 2))
    assert value.item() == pytest.approx(3 * math.log(2))


# ---------------------------------------------------------------- chapter 3: the beta-VAE loss


def test_beta_vae_loss_check_names_the_key_that_differs():
    def wrong_kl_log(model, x, beta=1.0, capacity=None, gamma=None):
        loss, logs = beta_vae_loss(model, x, beta, capacity, gamma)
        return loss, {**logs, "kl": logs["kl"] * 2}

    def make_model():
        return beta_sweep.make_model(beta_sweep.Settings(z_dim=2, hidden=(8,)), in_shape=(4, 3))

    example = torch.zeros(4, 4, 3)
    ch03.check_beta_vae_loss(beta_vae_loss, make_model, example)
    with pytest.raises(SelfCheckFailed, match=r"logs\['kl'\]: values differ"):
        ch03.check_beta_vae_loss(wrong_kl_log, make_model, example)


# ---------------------------------------------------------------------- chapter 5: the SCAN loss


def test_scan_loss_check_names_the_term_that_differs():
    def no_grounding_in_log(*args):
        return {**scan_loss(*args), "kl_ground": torch.tensor(0.0, dtype=torch.float64)}

    with pytest.raises(SelfCheckFailed, match=r"returned\['kl_ground'\]"):
        ch05.check_scan_loss(no_grounding_in_log)


def test_symbol_operator_check_accepts_any_k_hot_and_names_the_phrases(capsys):
    from course_lib import composed_sounds as cs

    ch05.check_symbol_operator(lambda op, a, b: torch.from_numpy(cs.apply_symbol_operator(op, a, b)).float())
    assert "symbol_operator: AND, IN_COMMON, IGNORE match" in capsys.readouterr().out
    swapped = {"AND": "IN_COMMON", "IN_COMMON": "AND", "IGNORE": "IGNORE"}
    with pytest.raises(SelfCheckFailed, match=r"\['\w+'.*\] AND \[.*\]: expected the words \[") as failure:
        ch05.check_symbol_operator(lambda op, a, b: cs.apply_symbol_operator(swapped[op], a, b))
    assert len(str(failure.value).splitlines()) == 3  # what differed, the hint and its follow-up


def test_chapter4_failures_also_render_without_library_frames():
    class Wrong(nn.Module):
        def __init__(self, query_dim, key_dim, attn_dim):
            super().__init__()
            self.proj = nn.Linear(query_dim, attn_dim)

    text = "\n".join(_failure(lambda: ch04.check_attention(Wrong))._render_traceback_())
    assert "names and shapes" in text and "File " not in text
