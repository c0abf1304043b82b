"""Tests of the pitch-ready features (course_lib.cqt): bins, gain invariance, the way back to log-mels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import cqt
from course_lib.features import LogMel
from course_lib.loudness import level_scale, power_level

SR = 16000


def _tone(f0, gain=0.5, partials=(1.0,)):
    t = np.arange(SR) / SR
    return (gain * sum(a * np.sin(2 * np.pi * (k + 1) * f0 * t) for k, a in enumerate(partials))).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def transform():
    return cqt.CQTProfile(sr=SR)


def test_a_known_tone_lands_on_its_bin_and_reads_its_level(transform):
    for b in (40, 100, 180):
        profile = transform(_tone(transform.frequencies[b], gain=1.0))
        assert profile.argmax() == b
        assert profile[b] == pytest.approx(1.0, abs=0.03)  # a full-scale sine reads 0 dB
    assert transform.bin_of(transform.fmin * 2) == pytest.approx(transform.bins_per_octave)


def test_a_pitch_step_is_a_translation_of_the_profile(transform):
    # two semitones = 6 bins at 36 per octave, for the fundamental and the third partial alike
    low = transform(_tone(220.0, partials=(1.0, 0.0, 0.5)))
    high = transform(_tone(220.0 * 2 ** (2 / 12), partials=(1.0, 0.0, 0.5)))
    b1, b3 = int(round(transform.bin_of(220.0))), int(round(transform.bin_of(660.0)))
    assert high.argmax() == low.argmax() + 6 == b1 + 6
    assert np.argmax(high[b3 : b3 + 12]) == np.argmax(low[b3 - 6 : b3 + 6])


def test_a_gain_leaves_the_relative_features_unchanged(transform):
    clips = np.stack([_tone(150.0, 0.3, (1, 0.5, 0.3)), _tone(300.0, 0.2, (1, 0.2))])
    logmel = LogMel(sr=SR)
    base = cqt.pitch_inputs(transform(clips), logmel(clips), level_gain=4.0)
    louder_clips = clips * 10 ** (-12 / 20)
    louder = cqt.pitch_inputs(transform(louder_clips), logmel(louder_clips), level_gain=4.0)
    profile, envelope, level = cqt.split_inputs(base, transform.n_bins)
    profile2, envelope2, level2 = cqt.split_inputs(louder, transform.n_bins)
    torch.testing.assert_close(profile2, profile, atol=2e-3, rtol=0)
    torch.testing.assert_close(envelope2, envelope, atol=2e-3, rtol=0)
    assert envelope.shape == (2, cqt.N_FRAMES)
    # the level falls by 12 dB in both clips (standardised over the pair, so measure it before that)
    assert (power_level(logmel(louder_clips)) - power_level(logmel(clips))).numpy() == pytest.approx(
        -0.12, abs=2e-3
    )
    assert float(level2[0] - level2[1]) == pytest.approx(float(level[0] - level[1]), abs=1e-3)


def test_to_logmel_returns_a_clip_with_the_level_and_pitch_it_holds(transform):
    clips = np.stack([_tone(f, 0.3, (1, 0.5, 0.3, 0.2)) for f in (130.0, 260.0)])
    logmels = LogMel(sr=SR)(clips)
    inputs = cqt.pitch_inputs(transform(clips), logmels, level_gain=4.0)
    back = cqt.to_logmel(inputs, transform, level_scale(logmels), level_gain=4.0)
    assert back.shape == logmels.shape
    torch.testing.assert_close(power_level(back), power_level(logmels), atol=1e-3, rtol=0)
    # the loudest band of the time-averaged spectrum stays where the original's is, within one band
    assert np.abs(back.mean(2).argmax(1) - logmels.mean(2).argmax(1)).max() <= 1


def test_bad_input_is_refused_with_what_is_allowed(transform):
    with pytest.raises(ValueError, match="Nyquist"):
        cqt.CQTProfile(sr=SR, fmin=110.0, n_octaves=7)
    with pytest.raises(ValueError, match="fmin"):
        cqt.CQTProfile(fmin=0.0)
    with pytest.raises(ValueError, match="audio must be"):
        transform(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="same clips"):
        cqt.pitch_inputs(np.zeros((2, 252)), np.zeros((3, 64, 32)), level_gain=4.0)
    with pytest.raises(ValueError, match="level_gain"):
        cqt.pitch_inputs(np.zeros((2, 252)), np.zeros((2, 64, 32)), level_gain=0)
