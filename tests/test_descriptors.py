"""Known-value tests of the audio descriptors (course_lib.descriptors) on signals built here with NumPy.

The test signals do not come from the course's synthesizer, so these tests check the descriptors
independently of the thing they are used to measure.
"""

import numpy as np
import pandas as pd
import pytest

from course_lib import descriptors

SR = 16000
T = np.arange(SR) / SR  # one second


def tone(f0=220.0, amps=None, stretch=0.0, attack_s=0.0):
    """Sum of partials k f0 sqrt(1 + B k^2) / sqrt(1 + B), amplitudes ``amps`` (default 1/k up to 7.6 kHz)."""
    amps = np.asarray(amps if amps is not None else 1.0 / np.arange(1, int(7600 // f0) + 1))
    k = np.arange(1, len(amps) + 1)
    freqs = k * f0 * np.sqrt((1 + stretch * k**2) / (1 + stretch))
    x = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * T)).sum(0)
    if attack_s:
        x *= np.minimum(1.0, T / attack_s)
    return 0.5 * x / np.abs(x).max()


def test_pitch_and_level_of_a_sine():
    x = 0.3 * np.sin(2 * np.pi * 330.0 * T)
    row = descriptors.measure(x, SR).iloc[0]
    assert abs(1200 * np.log2(row.f0_hz / 330.0)) < 10  # pYIN's grid has 10-cent steps
    assert row.rms_db == pytest.approx(20 * np.log10(0.3 / np.sqrt(2)), abs=0.1)


def test_spectral_slope_follows_the_partial_amplitudes():
    k = np.arange(1, 39)  # up to 7.6 kHz: the slope is fitted from 1.5 f0 to 7 kHz
    for db_per_octave in (-3.0, -9.0):
        amps = 10 ** (db_per_octave * np.log2(k) / 20)
        slope = descriptors.measure(tone(200.0, amps), SR).slope[0]
        assert slope == pytest.approx(db_per_octave, abs=0.25)


def test_even_odd_balance_and_stiffness():
    k = np.arange(1, 13)
    amps = np.where(k % 2 == 0, 10 ** (-12 / 20), 1.0)
    assert descriptors.measure(tone(200.0, amps), SR).even_odd_db[0] == pytest.approx(-12.0, abs=1.5)
    harmonic, stretched = descriptors.measure(
        np.stack([tone(200.0), tone(200.0, stretch=4e-3)]), SR
    ).stiffness
    assert abs(harmonic) < 5e-4
    assert stretched == pytest.approx(4e-3, rel=0.25)


def test_hnr_of_a_tone_in_white_noise():
    rng = np.random.default_rng(0)
    clean = tone(220.0)
    noise = rng.normal(size=SR)
    targets = np.array([30.0, 10.0, 5.0])
    clips = [clean + noise * np.sqrt(np.mean(clean**2) / 10 ** (hnr / 10)) for hnr in targets]
    hnr = descriptors.measure(np.stack(clips), SR).hnr_db.to_numpy()
    np.testing.assert_allclose(hnr, targets, atol=1.0)


def test_rise_time_of_a_linear_attack():
    rise = descriptors.measure(np.stack([tone(attack_s=0.2), tone(attack_s=0.02)]), SR).rise_ms
    assert rise[0] == pytest.approx(0.8 * 200, abs=25)  # 10 % -> 90 % of a linear ramp
    assert rise[1] < 40


def test_silence_has_no_pitch():
    row = descriptors.measure(np.zeros(SR), SR).iloc[0]
    assert np.isnan(row.f0_hz)
    assert list(descriptors.measure(np.zeros((3, SR)), SR).columns) == list(descriptors.COLUMNS)


@pytest.mark.parametrize(
    "audio, sr, kwargs, match",
    [
        (np.zeros(100), SR, {}, "at least"),
        (np.full(SR, np.nan), SR, {}, "finite"),
        (np.zeros(SR), 16000.5, {}, "sample rate"),
        (np.zeros(SR), SR, {"fmin": 500.0, "fmax": 100.0}, "fmin"),
    ],
)
def test_bad_input_is_explained(audio, sr, kwargs, match):
    with pytest.raises(ValueError, match=match):
        descriptors.measure(audio, sr, **kwargs)


def test_explained_variance_finds_the_factor_behind_each_descriptor():
    rng = np.random.default_rng(0)
    classes = pd.DataFrame({"a": rng.integers(0, 4, 2000), "b": rng.integers(0, 3, 2000)})
    measured = pd.DataFrame(
        {"follows_a": classes.a * 2.0 + 0.01 * rng.normal(size=2000), "noise": rng.normal(size=2000)}
    )
    table = descriptors.explained_variance(classes, measured)
    assert table.loc["a", "follows_a"] > 0.99
    assert table.loc["b", "follows_a"] < 0.01
    assert table["noise"].max() < 0.01
    with pytest.raises(ValueError, match="must match"):
        descriptors.explained_variance(classes.iloc[:10], measured)
