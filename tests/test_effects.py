"""Tests of course_lib.effects: every effect audible and measured back, composition on the waveform."""

import numpy as np
import pytest

from course_lib import effects
from course_lib.descriptors import measure
from course_lib.judges import tail_t60, tremolo_depth_db

SR = 16000


def tone(f0: float = 220.0, tilt: float = -9.0, seconds: float = 1.0, db: float = -26.0) -> np.ndarray:
    """A harmonic tone (partials below 7 kHz, ``tilt`` dB/octave) at ``db`` dB RMS."""
    t = np.arange(int(seconds * SR)) / SR
    ks = np.arange(1, int(7000 / f0) + 1)
    x = sum(10 ** (tilt * np.log2(k) / 20) * np.sin(2 * np.pi * k * f0 * t) for k in ks)
    return x * 10 ** (db / 20) / np.sqrt(np.mean(x**2))


def note(seconds: float = 0.35, total: float = 1.0) -> np.ndarray:
    """A tone that sounds for ``seconds`` (10 ms fades) and is silent up to ``total``."""
    x = tone(seconds=total)
    n = int(seconds * SR)
    fade = np.clip(np.minimum(np.arange(len(x)), n - np.arange(len(x))) / (0.01 * SR), 0, 1)
    return x * fade


def centroid(x: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float((freqs * power).sum() / power.sum())


def test_tilt_filter_moves_the_slope_and_the_centroid_keeps_the_level():
    x = tone()
    dark = effects.tilt_filter(x, SR, -6.0)
    bright = effects.tilt_filter(x, SR, 6.0)
    assert np.allclose(effects.rms(dark), effects.rms(x)) and np.allclose(effects.rms(bright), effects.rms(x))
    # 220 Hz, -9 dB/octave: centroid 296 Hz; dark 258 Hz (-13 %), bright 944 Hz (x 3.2)
    assert centroid(dark) < 0.9 * centroid(x)
    assert centroid(bright) > 2.5 * centroid(x)
    slopes = measure(np.stack([x, dark, bright]), SR)["slope"].to_numpy()
    assert slopes[0] == pytest.approx(-9.0, abs=1.0)
    assert slopes[1] - slopes[0] == pytest.approx(-6.0, abs=1.0)
    assert slopes[2] - slopes[0] == pytest.approx(6.0, abs=1.0)


def test_tilt_filter_adds_no_delay():
    x = np.zeros(4000)
    x[2000] = 1.0
    y = effects.tilt_filter(x, SR, -6.0, keep_rms=False)
    assert int(np.argmax(np.abs(y))) == 2000


def test_gain_moves_the_level_by_exactly_its_db():
    x = tone()
    for db in (-8.0, 8.0):
        assert 20 * np.log10(effects.rms(effects.gain(x, db)) / effects.rms(x)) == pytest.approx(db)


def test_reverb_adds_a_tail_that_decays_in_t60():
    x = note()
    wet = effects.reverb(x, SR, t60=0.5, wet_db=-6.0)
    assert np.allclose(effects.rms(wet), effects.rms(x))
    after = slice(int(0.4 * SR), int(0.6 * SR))
    assert np.sqrt(np.mean(wet[after] ** 2)) > 100 * np.sqrt(np.mean(x[after] ** 2) + 1e-20)
    dry_t60, wet_t60 = tail_t60(np.stack([x, wet]), SR)
    assert dry_t60 < 0.1
    assert wet_t60 == pytest.approx(0.5, rel=0.3)


def test_impulse_response_is_a_fixed_room_per_seed():
    h = effects.impulse_response(SR, 0.5, seed=3)
    assert np.sum(h**2) == pytest.approx(1.0)
    assert np.array_equal(h, effects.impulse_response(SR, 0.5, seed=3))
    assert not np.array_equal(h, effects.impulse_response(SR, 0.5, seed=4))
    early, late = np.sum(h[:800] ** 2), np.sum(h[-800:] ** 2)
    assert 10 * np.log10(early / late) > 40  # about 60 dB between the first and last 50 ms


def test_tremolo_depth_is_measured_back():
    x = tone()
    wobbling = effects.tremolo(x, SR, depth_db=12.0, rate_hz=8.0)
    steady_depth, wobbling_depth = tremolo_depth_db(np.stack([x, wobbling]), SR)
    assert steady_depth < 1.0
    assert wobbling_depth == pytest.approx(12.0, abs=1.5)
    assert np.allclose(effects.rms(wobbling), effects.rms(x))


def test_mix_is_the_sum_and_then_starts_where_the_first_ends():
    a, b = note(), tone(330.0) * (np.arange(SR) < 0.35 * SR)
    assert np.array_equal(effects.mix(a, b), a + b)
    out = effects.then(a, b, SR, offset=0.35)
    k = int(0.35 * SR)
    assert np.array_equal(out[:k], a[:k])
    assert np.array_equal(out[k:], b[: SR - k])
    assert np.array_equal(effects.compose("THEN", a, b, SR, 0.35), out)
    assert np.array_equal(effects.compose("PLUS", a, b, SR, 0.35), a + b)


def test_named_effects_apply_their_dsp():
    x = tone()
    assert effects.rms(effects.effect("loud").apply(x, SR)) == pytest.approx(effects.rms(x) * 10 ** (8 / 20))
    assert np.array_equal(effects.effect("dry").apply(x, SR), x)
    assert centroid(effects.effect("dark").apply(x, SR)) < 0.9 * centroid(x)
    attributes = {op.attribute for op in effects.EFFECTS.values()}
    assert attributes == {"brightness", "loudness", "space", "motion"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: effects.effect("shiny"), "unknown effect 'shiny'; the effects are"),
        (
            lambda: effects.compose("OR", np.zeros(10), np.zeros(10), SR, 0.0),
            "unknown composition operator 'OR'",
        ),
        (lambda: effects.mix(np.zeros(10), np.zeros(11)), "mix needs two sounds of one shape"),
        (lambda: effects.then(np.zeros(10), np.zeros(10), SR, 1.0), "offset = 1.0 s is outside"),
        (lambda: effects.gain([np.nan], 3.0), "finite samples"),
        (lambda: effects.tilt_filter(np.zeros(100), SR, 40.0), "db_per_octave = 40.0"),
        (lambda: effects.reverb(np.zeros(100), 44, 0.5), "sr must be an integer sample rate"),
    ],
)
def test_bad_arguments_say_what_was_wrong_and_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
