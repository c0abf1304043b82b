"""Tests of course_lib.traversals: traversal codes, decoding, audio, descriptor curves and tables."""

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


def test_latent_factor_table_picks_the_best_factor_and_the_gap():
    mi = np.array([[0.9, 0.1, 0.0], [0.2, 0.25, 0.6]])
    table = traversals.latent_factor_table(mi, ["f0", "level", "tilt"])
    assert list(table.best_factor) == ["f0", "tilt"]
    np.testing.assert_allclose(table.gap, [0.8, 0.35])
    with pytest.raises(ValueError, match="factors"):
        traversals.latent_factor_table(mi, ["f0", "level"])


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


def test_for_the_page_resamples_and_cuts():
    sr = 16000
    t = np.arange(sr) / sr
    clips = np.stack([np.sin(2 * np.pi * 440 * t)] * 2)[None]  # [1, 2, 16000]
    short = traversals.for_the_page(clips, sr, target_sr=8000, seconds=0.5)
    assert short.shape == (1, 2, 4000)
    spectrum = np.abs(np.fft.rfft(short[0, 0]))
    assert abs(np.argmax(spectrum) * 8000 / 4000 - 440) <= 2
    with pytest.raises(ValueError, match="positive"):
        traversals.for_the_page(clips, sr, seconds=0)


def test_factor_labels_name_each_latent_by_its_most_informative_factor():
    mi = np.array([[0.1, 0.7], [0.6, 0.2], [0.0, 0.05]])
    assert traversals.factor_labels(mi, ["pitch", "level"], [1, 0]) == [
        "z1 ~ pitch (0.60)",
        "z0 ~ level (0.70)",
    ]
    with pytest.raises(ValueError, match="dims"):
        traversals.factor_labels(mi, ["pitch", "level"], [3])


def _curve(f0, level):
    return pd.DataFrame({"latent": "z0", "step": np.arange(len(f0)), "f0_hz": f0, "rms_db": level})


def test_audible_change_of_a_pitch_latent_and_of_a_level_latent():
    pitch = traversals.audible_change(_curve([110.0, 150.0, np.nan, 220.0, 330.0], [-30, -29, -30, -31, -30]))
    assert pitch["f0_octaves"] == pytest.approx(np.log2(3.0)) and pitch["f0_monotonic"]
    assert pitch["level_span_db"] == pytest.approx(2.0) and pitch["voiced"] == pytest.approx(0.8)
    loud = traversals.audible_change(_curve([220.0, 220.5, 220.2, 220.0], [-50.0, -40.0, -30.0, -20.0]))
    assert loud["level_span_db"] == pytest.approx(30.0)
    assert loud["f0_span_cents"] == pytest.approx(1200 * np.log2(220.5 / 220.0))
    assert not loud["f0_monotonic"]  # moves under 10 cents are no moves: nothing is left to be monotonic
    back_and_forth = traversals.audible_change(_curve([110.0, 220.0, 165.0], [-30.0, -30.0, -30.0]))
    assert not back_and_forth["f0_monotonic"] and back_and_forth["f0_octaves"] == pytest.approx(1.0)
    silent = traversals.audible_change(_curve([np.nan, np.nan], [-80.0, -80.0]))
    assert silent["voiced"] == 0.0 and silent["f0_octaves"] == 0.0 and not silent["f0_monotonic"]
    with pytest.raises(ValueError, match="lacks the columns"):
        traversals.audible_change(pd.DataFrame({"step": [0], "f0_hz": [1.0]}))
    with pytest.raises(ValueError, match="one latent only"):
        traversals.audible_change(pd.concat([_curve([1.0], [0.0]), _curve([1.0], [0.0]).assign(latent="z1")]))


def test_listening_test_of_a_pitch_latent_and_of_a_level_latent():
    pitch = {"f0_octaves": 1.2, "f0_monotonic": True, "level_span_db": 2.5, "f0_span_cents": 1440.0}
    assert traversals.passes_listening_test("pitch", pitch)
    assert not traversals.passes_listening_test("pitch", {**pitch, "level_span_db": 3.5})
    assert not traversals.passes_listening_test("pitch", {**pitch, "f0_monotonic": False})
    assert not traversals.passes_listening_test("pitch", {**pitch, "f0_octaves": 0.9})
    level = {"f0_octaves": 0.01, "f0_monotonic": False, "level_span_db": 24.0, "f0_span_cents": 12.0}
    assert traversals.passes_listening_test("level", level)
    assert not traversals.passes_listening_test("level", {**level, "f0_span_cents": 60.0})
    assert not traversals.passes_listening_test("level", {**level, "level_span_db": 19.0})
    with pytest.raises(ValueError, match="role must be one of"):
        traversals.passes_listening_test("brightness", level)


def test_factor_traversals_move_the_most_informative_latent_over_its_range():
    codes = np.random.default_rng(0).normal(size=(1000, 3)) * [1.0, 2.0, 3.0]
    mi = np.array([[0.1, 0.9], [0.8, 0.2], [0.0, 0.0]])  # z1 ~ pitch, z0 ~ level
    base = np.array([0.5, -0.5, 7.0])
    decoded, dims = traversals.factor_traversals(
        lambda z: z[:, :, None], codes, mi, ["pitch", "level"], ["pitch", "level"], base, n_steps=5
    )
    assert dims == [1, 0] and decoded.shape == (2, 5, 3, 1)
    np.testing.assert_allclose(
        decoded[0, :, 1, 0], np.linspace(*np.percentile(codes[:, 1], [1, 99]), 5), rtol=1e-6
    )
    np.testing.assert_allclose(decoded[0, :, [0, 2], 0], np.tile(base[[0, 2]], (5, 1)).T, rtol=1e-6)
    assert decoded[1, 0, 0, 0] < decoded[1, -1, 0, 0]
    with pytest.raises(ValueError, match="unknown factors"):
        traversals.factor_traversals(lambda z: z, codes, mi, ["pitch", "level"], ["tilt"], base)
    with pytest.raises(ValueError, match="mi"):
        traversals.factor_traversals(lambda z: z, codes, mi[:2], ["pitch", "level"], ["pitch"], base)


def test_audible_changes_measure_each_row_and_apply_the_listening_test():
    sr, t = 16000, np.arange(8000) / 16000
    pitch_row = [0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 330.0, 495.0)]
    level_row = [a * np.sin(2 * np.pi * 220.0 * t) for a in (0.003, 0.03, 0.3)]
    rows = traversals.audible_changes(
        np.array([pitch_row, level_row]), sr, ["z", "z"], ["pitch", "level"], "toy"
    )
    assert [r["role"] for r in rows] == ["pitch", "level"] and {r["source"] for r in rows} == {"toy"}
    assert rows[0]["f0_octaves"] == pytest.approx(np.log2(495 / 220), abs=0.03) and rows[0]["passes"]
    assert rows[1]["level_span_db"] == pytest.approx(40.0, abs=0.5) and rows[1]["passes"]
    with pytest.raises(ValueError, match="one role per label"):
        traversals.audible_changes(np.array([pitch_row]), sr, ["z"], ["pitch", "level"], "toy")


class _LevelReader(torch.nn.Module):
    """A stand-in model whose first latent is the mean of the log-mel (the level) and second its spread."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x):
        z = torch.stack([x.mean((1, 2)), x.std((1, 2))], dim=1)
        return z, torch.zeros_like(z)

    def decode(self, z):
        return z[:, :1, None].expand(-1, 64, 32).clamp(0, 1)


def test_factor_latent_audio_picks_the_level_latent_and_returns_sound():
    from course_lib.datasets import load_toy_dataset

    dataset = load_toy_dataset("static", verbose=False)
    clips, labels = traversals.factor_latent_audio(
        _LevelReader(), dataset, ("level",), n_codes=300, n_steps=3
    )
    assert clips.shape[:2] == (1, 3) and clips.shape[2] == pytest.approx(dataset.sr, rel=0.05)
    assert labels[0].startswith("z0 ~ ")  # the level latent (its label names the factor it shares most with)
    levels = [20 * np.log10(np.sqrt(np.mean(c**2)) + 1e-12) for c in clips[0]]
    assert levels[0] < levels[1] < levels[2]
