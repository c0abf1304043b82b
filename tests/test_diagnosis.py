"""Tests of course_lib.diagnosis on hand-made profiles and spectrograms (and two synthetic tones)."""

import math

import numpy as np
import pytest
import torch

from course_lib.diagnosis import (
    best_shift,
    bin_change_fraction,
    effective_beta,
    frame_profile,
    one_factor_pairs,
    semitone_shift_bins,
    to_log_frequency,
)
from course_lib.factors import Factor, FactorSpace
from course_lib.features import LogMel
from course_lib.losses import log_likelihood


@pytest.fixture(scope="module")
def space() -> FactorSpace:
    def f(name, n):
        return Factor(name, tuple(range(n)), "", name, "frame")

    return FactorSpace([f("f0", 4), f("level", 3), f("tilt", 2)])


def _harmonic_tone(f0: float, gain: float = 0.1, sr: int = 16000, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return gain * sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(1, 9) if h * f0 < sr / 2)


# ----------------------------------------------------------------------------- level
def test_one_factor_pairs_differ_only_in_that_factor(space):
    a, b = one_factor_pairs(space, "level", step=2)
    assert len(a) == (3 - 2) * 4 * 2
    ca, cb = space.index_to_classes(a), space.index_to_classes(b)
    assert np.all(cb[:, 1] - ca[:, 1] == 2)
    assert np.array_equal(np.delete(ca, 1, axis=1), np.delete(cb, 1, axis=1))
    a1, _ = one_factor_pairs(space, "f0")
    assert len(a1) == 3 * 3 * 2
    with pytest.raises(ValueError, match="step must be an integer from 1 to 2"):
        one_factor_pairs(space, "level", step=3)
    with pytest.raises(ValueError, match="no factor named"):
        one_factor_pairs(space, "pitch")


def test_a_6_db_change_moves_every_bin():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.3, 0.8, size=(3, 16, 8))  # features: 1 unit = 100 dB
    b = a + 6 / 100
    assert bin_change_fraction(a, b, threshold=0.03).tolist() == [1.0, 1.0, 1.0]
    assert bin_change_fraction(a, a + 0.01, threshold=0.03).tolist() == [0.0, 0.0, 0.0]
    # bins clamped at the floor (0) in either row are left out; a row entirely at the floor gives nan
    a[0, :8] = b[0, :8] = 0.0
    a[1] = b[1] = 0.0
    frac = bin_change_fraction(a, b, threshold=0.03, floor=0.0)
    assert frac[0] == 1.0 and math.isnan(frac[1]) and frac[2] == 1.0
    assert bin_change_fraction(a, b, threshold=0.03)[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="share one"):
        bin_change_fraction(a, b[:2], 0.03)


def test_level_on_real_log_mels():
    """Doubling the amplitude (+6.02 dB) moves every band above the floor by 0.0602 feature units."""
    mel = LogMel(n_mels=64)
    tone = _harmonic_tone(220.0)
    feats = mel(np.stack([tone, 2 * tone]).astype(np.float32))
    frac = bin_change_fraction(feats[:1], feats[1:], threshold=0.05, floor=0.0)
    assert frac[0] == 1.0
    live = feats[0] > 0.05
    assert np.allclose(feats[1][live] - feats[0][live], 20 * math.log10(2) / 100, atol=2e-3)


# ----------------------------------------------------------------------------- pitch
def test_best_shift_recovers_a_shifted_profile():
    x = np.arange(80)
    a = np.exp(-0.5 * ((x - 20) / 2.0) ** 2) + 0.6 * np.exp(-0.5 * ((x - 35) / 3.0) ** 2)
    b = np.roll(a, 5)
    s = best_shift(a, b, max_shift=12)
    assert s.shift == 5 and s.corr_best == pytest.approx(1.0, abs=1e-9)
    assert s.corr_zero < 0.5
    assert best_shift(b, a, max_shift=12).shift == -5
    assert best_shift(a, a, max_shift=3).shift == 0
    with pytest.raises(ValueError, match="at most 78"):
        best_shift(a, b, max_shift=79)
    with pytest.raises(ValueError, match="same length"):
        best_shift(a, b[:-1], max_shift=3)


def test_pitch_is_a_translation_on_log_frequency():
    """Two harmonic tones 4 semitones apart: their mel profiles, put on a 24-bins-per-octave log axis,
    are best aligned by a shift of 8 bins, with a correlation near 1 (and far lower unshifted)."""
    mel = LogMel(n_mels=128)
    f0 = 220.0
    f1 = f0 * 2 ** (4 / 12)
    feats = mel(np.stack([_harmonic_tone(f0), _harmonic_tone(f1)]).astype(np.float32))
    profiles = frame_profile(feats)
    assert profiles.shape == (2, 128)
    log_profiles, freqs = to_log_frequency(profiles, mel.mel_frequencies(), 150.0, 3000.0, bins_per_octave=24)
    assert freqs[0] == 150.0 and freqs[24] == pytest.approx(300.0)
    expected = semitone_shift_bins(f0, f1, 24)
    assert expected == pytest.approx(8.0)
    s = best_shift(log_profiles[0], log_profiles[1], max_shift=16)
    assert s.shift == round(expected)
    assert s.corr_best > 0.9 and s.corr_zero < s.corr_best - 0.3


def test_to_log_frequency_errors():
    with pytest.raises(ValueError, match="inside the bands"):
        to_log_frequency(np.zeros(4), np.array([100.0, 200, 400, 800]), 50.0, 400.0)
    with pytest.raises(ValueError, match="increasing"):
        to_log_frequency(np.zeros(4), np.array([100.0, 300, 200, 800]), 150.0, 400.0)
    with pytest.raises(ValueError, match="positive"):
        semitone_shift_bins(0.0, 220.0)


# ----------------------------------------------------------------------------- effective beta
def test_effective_beta_gaussian_matches_the_course_likelihood():
    eb = effective_beta(beta=4.0, n_bins=2048, scale=0.1, z_dim=10)
    assert eb.recon_weight_per_bin == pytest.approx(50.0)
    assert eb.beta_sse == pytest.approx(0.08)
    assert eb.beta_mse == pytest.approx(0.08 / 2048)
    assert eb.beta_norm == pytest.approx(4 * 10 / 2048)
    assert eb.kl_nats_per_unit_sse == pytest.approx(12.5)
    # a +6 dB error in every bin of the 64 x 32 log-mel: SSE = 2048 * 0.06^2 = 7.37, worth 92 nats of KL
    assert eb.kl_nats_for_error(0.06) == pytest.approx(2048 * 0.0036 / 0.08)
    assert eb.kl_nats_for_error(0.06, n_bins=1) == pytest.approx(0.0036 / 0.08)
    # the weight per bin is what losses.log_likelihood charges for squared error
    x = torch.zeros(1, 2048, dtype=torch.float64)
    mean = torch.full_like(x, 0.06)
    extra_nats = float(log_likelihood(x, x, "gaussian", 0.1) - log_likelihood(x, mean, "gaussian", 0.1))
    assert extra_nats == pytest.approx(2048 * 0.0036 * eb.recon_weight_per_bin)
    assert extra_nats / eb.beta == pytest.approx(eb.kl_nats_for_error(0.06))


def test_effective_beta_bernoulli_and_errors():
    eb = effective_beta(beta=4.0, n_bins=784, likelihood="bernoulli")
    assert eb.variance == pytest.approx(0.25) and eb.beta_sse == pytest.approx(2.0) and eb.beta_norm is None
    assert effective_beta(1.0, 10, "bernoulli", bernoulli_mean=0.1).variance == pytest.approx(0.09)
    with pytest.raises(ValueError, match="beta must be a positive number"):
        effective_beta(0.0, 10)
    with pytest.raises(ValueError, match="n_bins"):
        effective_beta(1.0, 0)
    with pytest.raises(ValueError, match="likelihood"):
        effective_beta(1.0, 10, likelihood="laplace")
    with pytest.raises(ValueError, match="scale"):
        effective_beta(1.0, 10, scale=-0.1)
