"""Unit tests of course_lib.synth: the physics of the synthesizer, the presets, bad input."""

import math

import numpy as np
import pytest

from course_lib import presets, synth

SR = synth.SR


def _peak_frequency(x: np.ndarray, guess: float, sr: int = SR) -> float:
    """Frequency of the strongest peak within 10 % of ``guess`` (zero-padded FFT, parabolic fit)."""
    n = len(x)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(n), n=16 * n))
    freqs = np.fft.rfftfreq(16 * n, 1 / sr)
    band = np.flatnonzero((freqs > 0.9 * guess) & (freqs < 1.1 * guess))
    i = band[np.argmax(spectrum[band])]
    a, b, c = np.log(spectrum[i - 1 : i + 2])
    return float(freqs[i] + 0.5 * (a - c) / (a - 2 * b + c) * (freqs[1] - freqs[0]))


def _level_db(x: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2, axis=-1))


@pytest.mark.parametrize("f0", [55.0, 110.0, 246.942, 392.0, 1234.5])
def test_f0_is_within_one_cent_of_the_request(f0):
    x = synth.synthesize({"f0": f0, "tilt": -6.0, "level": -20.0})[0].astype(np.float64)
    for k in (1, 3):  # the fundamental and a harmonic
        cents = 1200 * np.log2(_peak_frequency(x, k * f0) / (k * f0))
        assert abs(cents) < 1.0, (f0, k, cents)


def test_inharmonic_partials_follow_the_stiff_string_law():
    f0, b = 110.0, 1e-3
    x = synth.synthesize({"f0": f0, "tilt": 0.0, "inharmonicity": b})[0].astype(np.float64)
    for k in (5, 10):
        expected = k * f0 * math.sqrt(1 + b * k**2)
        assert abs(1200 * np.log2(_peak_frequency(x, expected) / expected)) < 1.0


def test_level_is_within_half_a_db_for_every_preset():
    rng = np.random.default_rng(0)
    for preset in presets.PRESETS.values():
        fs = preset.factor_space
        values = fs.classes_to_values(fs.sample_classes(24, rng))
        x = preset.render(values)
        want = (
            values[:, fs.index_of("level")] if "level" in fs.names else preset.constants.get("level", -20.0)
        )
        assert np.max(np.abs(_level_db(x) - want)) < 0.5, preset.name


@pytest.mark.parametrize("hnr", [-10.0, 0.0, 12.0, 30.0])
def test_harmonic_to_noise_ratio_is_within_one_db(hnr):
    out, harmonic, noise = synth.synthesize(
        {"f0": [110.0, 311.127], "hnr": hnr, "attack": 80.0, "tilt": [-15.0, -3.0], "level": -30.0},
        return_parts=True,
    )
    np.testing.assert_allclose(out, harmonic + noise, atol=1e-6)
    np.testing.assert_allclose(_level_db(harmonic) - _level_db(noise), hnr, atol=1.0)


def test_infinite_hnr_means_no_noise():
    _, _, noise = synth.synthesize({"f0": 220.0}, return_parts=True)
    assert not np.any(noise)


def test_no_energy_above_nyquist_no_aliasing():
    f0 = 1234.5  # partial 7 (8641.5 Hz) would alias to 16000 - 8641.5 = 7358.5 Hz
    x = synth.synthesize({"f0": f0, "tilt": 0.0, "level": -20.0})[0].astype(np.float64)
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    alias = np.abs(freqs - (SR - 7 * f0)) < 5
    assert 10 * np.log10(power[alias].sum() / power.sum()) < -90
    amps = synth.partial_amplitudes(synth.check_params({"f0": f0, "vibrato_depth": 100.0}), SR, 1.0)[0, 0]
    kept = np.flatnonzero(amps)
    assert kept.max() + 1 == 6  # 6 * 1234.5 * 2**(100/1200) < 8000 < 7 * 1234.5


def test_vibrato_drops_partials_that_would_cross_nyquist():
    p = synth.check_params({"f0": 1100.0, "vibrato_depth": 0.0})
    q = synth.check_params({"f0": 1100.0, "vibrato_depth": 200.0})
    n_plain = np.count_nonzero(synth.partial_amplitudes(p, SR, 1.0))
    n_vib = np.count_nonzero(synth.partial_amplitudes(q, SR, 1.0))
    assert n_plain == 7 and n_vib == 6


def test_fast_kernel_matches_the_naive_reference_on_every_preset():
    rng = np.random.default_rng(1)
    for preset in presets.PRESETS.values():
        fs = preset.factor_space
        values = fs.classes_to_values(fs.sample_classes(3, rng))
        fast = preset.render(values, seed=4, ids=np.array([7, 8, 9]))
        slow = preset.render_naive(values, seed=4, ids=np.array([7, 8, 9]))
        error = np.sqrt(np.mean((fast - slow) ** 2, axis=1) / np.mean(slow**2, axis=1))
        assert np.all(error < 0.02), (preset.name, error)


def test_same_seed_same_sound_and_noise_does_not_depend_on_the_batch():
    preset = presets.get_preset("static")
    values = preset.factor_space.classes_to_values(preset.factor_space.all_classes()[:6])
    ids = np.arange(100, 106)
    a = preset.render(values, seed=3, ids=ids)
    np.testing.assert_array_equal(a, preset.render(values, seed=3, ids=ids))
    np.testing.assert_array_equal(a[2:4], preset.render(values[2:4], seed=3, ids=ids[2:4], batch_size=1))
    assert not np.allclose(a, preset.render(values, seed=4, ids=ids))


def test_attack_and_decay_shape_the_envelope():
    x = synth.synthesize({"f0": 220.0, "attack": 200.0, "t60": 0.5, "release": 10.0})[0].astype(np.float64)
    frames = x[: 16000 // 160 * 160].reshape(-1, 160)  # 10 ms frames
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    assert 17 <= np.argmax(level) <= 21  # peak at the end of the 200 ms attack
    slope = np.polyfit(np.arange(30, 90) * 0.01, level[30:90], 1)[0]  # dB per second during the decay
    assert slope == pytest.approx(-60 / 0.5, rel=0.05)


def test_tremolo_swings_the_level_by_its_depth():
    x = synth.synthesize({"f0": 440.0, "tremolo_rate": 4.0, "tremolo_depth": 12.0, "attack": 1.0})[0]
    frames = x.astype(np.float64)[: 16000 // 80 * 80].reshape(-1, 80)
    level = 10 * np.log10(np.mean(frames**2, axis=1))[20:-20]
    assert level.max() - level.min() == pytest.approx(12.0, abs=0.5)


def test_sequence_has_one_onset_per_note():
    preset = presets.get_preset("sequence")
    fs = preset.factor_space
    for rate in (2.0, 3.0, 6.0):
        values = np.array([[220.0, -9.0, 2.0, rate, 0.3]])
        x = preset.render(values)[0].astype(np.float64)
        frames = x.reshape(-1, 80)  # 5 ms
        active = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20) > -80
        onsets = np.count_nonzero(active[1:] & ~active[:-1]) + int(active[0])
        assert onsets == int(rate), (rate, onsets)
    assert fs.names == ("f0", "tilt", "interval", "note_rate", "gate")


def test_oscillator_bank_is_a_sum_of_sines_and_silences_partials_at_nyquist():
    n = 400
    t = np.arange(n) / SR
    out = synth.oscillator_bank(np.array([1000.0, 9000.0]), np.array([0.5, 1.0]), n, SR, np.array([0.3, 0.0]))
    np.testing.assert_allclose(out, 0.5 * np.sin(0.3 + 2 * np.pi * 1000 * t), atol=1e-9)


def test_mix_at_hnr_sets_the_power_ratio():
    rng = np.random.default_rng(0)
    h, n = np.sin(np.arange(1000) * 0.1), rng.normal(size=1000)
    mixed = synth.mix_at_hnr(h, n, 6.0)
    noise = mixed - h
    assert 10 * np.log10(np.mean(h**2) / np.mean(noise**2)) == pytest.approx(6.0)
    np.testing.assert_array_equal(synth.mix_at_hnr(h, n, math.inf), h)
    with pytest.raises(ValueError, match="silent"):
        synth.mix_at_hnr(h, np.zeros(1000), 0.0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pitch": 220.0}, "unknown synthesis parameter"),
        ({"f0": -5.0}, "'f0'"),
        ({"f0": float("nan")}, "'f0'"),
        ({"level": 3.0}, "'level'"),
        ({"hnr": -100.0}, "'hnr'"),
        ({"f0": [100.0, 200.0], "level": [-20.0, -30.0, -40.0]}, "one length"),
        ({"f0": [[100.0]]}, "1-D"),
        ({"f0": 3900.0, "interval": 12.0, "note_rate": 4.0}, "Nyquist"),
    ],
)
def test_invalid_parameters_raise_a_clear_value_error(params, message):
    with pytest.raises(ValueError, match=message):
        synth.synthesize(params)


def test_invalid_settings_raise_a_clear_value_error():
    with pytest.raises(ValueError, match="seed"):
        synth.synthesize({"f0": 220.0}, seed=-1)
    with pytest.raises(ValueError, match="ids"):
        synth.synthesize({"f0": [220.0, 330.0]}, ids=np.array([1]))
    with pytest.raises(ValueError, match="sample rate"):
        synth.synthesize({"f0": 220.0}, sr=100)
