"""Tests of course_lib.traversals: traversal codes, decoding, audio, descriptor curves and plots."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import traversals


def test_traversal_codes_move_one_latent_and_keep_the_others():
    base = np.array([0.5, -1.0, 2.0])
    codes = traversal_codes = traversals.traversal_codes(base, [2, 0], [-1.0, 0.0, 1.0])
    assert traversal_codes.shape == (2, 3, 3)
    np.testing.assert_array_equal(codes[0, :, 2], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(codes[0, :, :2], np.tile(base[:2], (3, 1)))
    np.testing.assert_array_equal(codes[1, :, 0], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(codes[1, :, 1:], np.tile(base[1:], (3, 1)))


@pytest.mark.parametrize(
    ("base", "dims", "values", "match"),
    [
        (np.zeros((2, 3)), [0], [0.0], "1-D"),
        (np.zeros(3), [3], [0.0], "dims must lie"),
        (np.zeros(3), [], [0.0], "at least one"),
        (np.zeros(3), [0], [], "at least one"),
    ],
)
def test_traversal_codes_reject_bad_input(base, dims, values, match):
    with pytest.raises(ValueError, match=match):
        traversals.traversal_codes(base, dims, values)


def test_decode_traversals_matches_decoding_each_code(tiny_vae):
    model = tiny_vae((4, 5), activation="tanh", likelihood="gaussian")
    frames = traversals.decode_traversals(model, np.zeros(3), [1, 2], [-2.0, 0.0, 2.0])
    assert frames.shape == (2, 3, 4, 5)
    z = torch.tensor([[0.0, 0.0, 2.0]])
    with torch.no_grad():
        want = model.decode(z)[0].numpy()
    np.testing.assert_allclose(frames[1, 2], want, atol=1e-6)
    # moving a latent changes the output; the centre of both rows is the same base code
    assert not np.allclose(frames[0, 0], frames[0, 2])
    np.testing.assert_allclose(frames[0, 1], frames[1, 1], atol=1e-6)


def test_traversal_audio_reshapes_and_uses_the_given_synthesiser():
    frames = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    audio = traversals.traversal_audio(frames, to_audio=lambda batch: batch.reshape(len(batch), -1) * 2)
    assert audio.shape == (2, 3, 20)
    np.testing.assert_array_equal(audio[1, 2], frames[1, 2].ravel() * 2)
    with pytest.raises(ValueError, match="dims, steps"):
        traversals.traversal_audio(frames[0])


def test_traversal_audio_default_inverts_log_mels():
    frames = np.full((1, 2, 64, 32), 0.3, dtype=np.float32)
    audio = traversals.traversal_audio(frames, n_iter=2)
    assert audio.shape[:2] == (1, 2) and audio.shape[2] > 8000
    assert np.all(np.isfinite(audio))


def _fake_measure(clips, sr):
    return pd.DataFrame({"f0_hz": clips[:, 0], "rms_db": clips[:, 1], "centroid_hz": clips.sum(1)})


def test_descriptor_curves_labels_every_clip():
    audio = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    curves = traversals.descriptor_curves(audio, 16000, [-1, 0, 1], ["z0", "z5"], measure=_fake_measure)
    assert list(curves.columns[:3]) == ["latent", "step", "value"]
    assert len(curves) == 6
    row = curves[(curves.latent == "z5") & (curves.step == 2)].iloc[0]
    assert row.value == 1 and row.f0_hz == audio[1, 2, 0]
    ranges = traversals.curve_ranges(curves, ["f0_hz", "rms_db"])
    np.testing.assert_allclose(ranges.loc["z0", "f0_hz"], audio[0, 2, 0] - audio[0, 0, 0])
    with pytest.raises(ValueError, match="labels"):
        traversals.descriptor_curves(audio, 16000, [-1, 0], ["z0", "z5"], measure=_fake_measure)
    with pytest.raises(ValueError, match="lacks"):
        traversals.curve_ranges(curves, ["hnr_db"])


def test_descriptor_curves_measure_a_real_pitch_change():
    sr = 16000
    t = np.arange(sr) / sr
    audio = np.stack([np.sin(2 * np.pi * f * t) * 0.3 for f in (220.0, 440.0)])[None]
    curves = traversals.descriptor_curves(audio, sr, [0.0, 1.0], ["z0"])
    np.testing.assert_allclose(curves["f0_hz"], [220.0, 440.0], rtol=0.02)


def test_plots_return_figures():
    frames = np.random.default_rng(0).random((2, 3, 4, 5))
    fig = traversals.plot_traversal_grid(frames, [-1, 0, 1], ["z0", "z1"], title="t")
    assert len(fig.axes) == 6
    curves = traversals.descriptor_curves(
        np.random.default_rng(0).random((2, 3, 4)), 16000, [-1, 0, 1], ["a", "b"], measure=_fake_measure
    )
    fig = traversals.plot_descriptor_curves(curves, ["f0_hz", "rms_db"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="labels"):
        traversals.plot_traversal_grid(frames, [-1, 0], ["z0", "z1"])
