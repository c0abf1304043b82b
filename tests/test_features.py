"""Unit tests of course_lib.features: batched log-mel features and their inversion."""

import librosa
import numpy as np
import pytest
import torch

from course_lib import synth
from course_lib.features import LogMel, logmel_to_audio

SR = 16000


def _sine(f: float, amplitude: float = 1.0, n: int = SR) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * f * np.arange(n) / SR)).astype(np.float32)


def test_default_shape_dtype_and_type_follow_the_input():
    lm = LogMel()
    batch = np.stack([_sine(440.0, 0.1), _sine(880.0, 0.1)])
    out = lm(batch)
    assert isinstance(out, np.ndarray) and out.shape == (2, 64, 32) and out.dtype == np.float32
    tensor_out = lm(torch.from_numpy(batch))
    assert isinstance(tensor_out, torch.Tensor) and tensor_out.dtype == torch.float32
    np.testing.assert_allclose(tensor_out.numpy(), out)
    assert lm(batch[0]).shape == (64, 32)
    assert lm.n_frames(16000) == 32


def test_scale_zero_db_is_one_and_silence_is_the_floor():
    lm = LogMel()
    full = lm(_sine(1000.0))
    assert -1.5 < lm.to_db(full).max() < 2.0  # 0 dB up to the band shapes and the window's main lobe
    assert np.all(lm(np.zeros(SR, dtype=np.float32)) == 0.0)
    quieter = lm(_sine(1000.0, 0.5))
    loud = full > 0.2
    np.testing.assert_allclose((full - quieter)[loud], 20 * np.log10(2) / 100, atol=1e-4)


def test_features_match_librosa_melspectrogram():
    lm = LogMel()
    x = np.random.default_rng(0).normal(scale=0.05, size=(3, SR)).astype(np.float32)
    ref = (
        librosa.feature.melspectrogram(
            y=x, sr=SR, n_fft=1024, hop_length=512, n_mels=64, power=2.0, norm=None, pad_mode="constant"
        )
        / (np.hanning(1025)[:-1].sum() / 2) ** 2
    )
    np.testing.assert_allclose(lm.to_db(lm(x)), 10 * np.log10(np.maximum(ref, 1e-10)), atol=1e-3)


def test_batch_and_single_clip_agree_beyond_the_internal_chunk():
    lm = LogMel()
    x = np.random.default_rng(1).normal(scale=0.05, size=(130, 4096)).astype(np.float32)
    batch = lm(x)
    np.testing.assert_allclose(batch[129], lm(x[129]), atol=1e-6)


def test_inversion_gives_audio_whose_features_are_close():
    lm = LogMel()
    tone = synth.synthesize({"f0": 220.0, "tilt": -9.0, "hnr": 12.0, "level": -22.0})[0]
    feats = lm(tone)
    audio = logmel_to_audio(feats, length=SR)
    assert audio.shape == (SR,) and np.all(np.isfinite(audio))
    error = np.abs(lm(audio) - feats)[feats > 0.3]
    assert np.median(error) < 0.01 and np.mean(error) < 0.05
    assert logmel_to_audio(np.stack([feats, feats])).shape == (2, 31 * 512)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_mels": 0}, "n_mels"),
        ({"hop_length": 2048}, "hop_length"),
        ({"fmax": 9000.0}, "fmax"),
        ({"floor_db": 10.0}, "floor_db"),
        ({"n_mels": 600}, "cannot exceed"),
    ],
)
def test_bad_settings_raise_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LogMel(**kwargs)


def test_bad_audio_raises_a_clear_value_error():
    lm = LogMel()
    bad = _sine(440.0)
    bad[100] = np.nan
    with pytest.raises(ValueError, match="finite"):
        lm(bad)
    with pytest.raises(ValueError, match="shape"):
        lm(np.zeros((2, 2, SR), dtype=np.float32))
    with pytest.raises(ValueError, match="more than"):
        lm(np.zeros(100, dtype=np.float32))
    with pytest.raises(ValueError, match="n_mels"):
        lm.invert(np.zeros((32, 10)))
