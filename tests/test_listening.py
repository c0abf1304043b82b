"""Tests of course_lib.listening: the audible change of a traversal and chapter 3's listening test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import listening


def _curve(f0, level):
    return pd.DataFrame({"latent": "z0", "step": np.arange(len(f0)), "f0_hz": f0, "rms_db": level})


def test_audible_change_of_a_pitch_latent_and_of_a_level_latent():
    pitch = listening.audible_change(_curve([110.0, 150.0, np.nan, 220.0, 330.0], [-30, -29, -30, -31, -30]))
    assert pitch["f0_octaves"] == pytest.approx(np.log2(3.0)) and pitch["f0_monotonic"]
    assert pitch["level_span_db"] == pytest.approx(2.0) and pitch["voiced"] == pytest.approx(0.8)
    loud = listening.audible_change(_curve([220.0, 220.5, 220.2, 220.0], [-50.0, -40.0, -30.0, -20.0]))
    assert loud["level_span_db"] == pytest.approx(30.0)
    assert loud["f0_span_cents"] == pytest.approx(1200 * np.log2(220.5 / 220.0))
    assert not loud["f0_monotonic"]  # moves under 10 cents are no moves: nothing is left to be monotonic
    back_and_forth = listening.audible_change(_curve([110.0, 220.0, 165.0], [-30.0, -30.0, -30.0]))
    assert not back_and_forth["f0_monotonic"] and back_and_forth["f0_octaves"] == pytest.approx(1.0)
    silent = listening.audible_change(_curve([np.nan, np.nan], [-80.0, -80.0]))
    assert silent["voiced"] == 0.0 and silent["f0_octaves"] == 0.0 and not silent["f0_monotonic"]
    with pytest.raises(ValueError, match="lacks the columns"):
        listening.audible_change(pd.DataFrame({"step": [0], "f0_hz": [1.0]}))
    with pytest.raises(ValueError, match="one latent only"):
        listening.audible_change(pd.concat([_curve([1.0], [0.0]), _curve([1.0], [0.0]).assign(latent="z1")]))


def test_listening_test_of_a_pitch_latent_and_of_a_level_latent():
    pitch = {"f0_octaves": 1.2, "f0_monotonic": True, "level_span_db": 2.5, "f0_span_cents": 1440.0}
    assert listening.passes_listening_test("pitch", pitch)
    assert not listening.passes_listening_test("pitch", {**pitch, "level_span_db": 3.5})
    assert not listening.passes_listening_test("pitch", {**pitch, "f0_monotonic": False})
    assert not listening.passes_listening_test("pitch", {**pitch, "f0_octaves": 0.9})
    level = {"f0_octaves": 0.01, "f0_monotonic": False, "level_span_db": 24.0, "f0_span_cents": 12.0}
    assert listening.passes_listening_test("level", level)
    assert not listening.passes_listening_test("level", {**level, "f0_span_cents": 60.0})
    assert not listening.passes_listening_test("level", {**level, "level_span_db": 19.0})
    with pytest.raises(ValueError, match="role must be one of"):
        listening.passes_listening_test("brightness", level)


def test_factor_traversals_move_the_most_informative_latent_over_its_range():
    codes = np.random.default_rng(0).normal(size=(1000, 3)) * [1.0, 2.0, 3.0]
    mi = np.array([[0.1, 0.9], [0.8, 0.2], [0.0, 0.0]])  # z1 ~ pitch, z0 ~ level
    base = np.array([0.5, -0.5, 7.0])
    decoded, dims = listening.factor_traversals(
        lambda z: z[:, :, None], codes, mi, ["pitch", "level"], ["pitch", "level"], base, n_steps=5
    )
    assert dims == [1, 0] and decoded.shape == (2, 5, 3, 1)
    np.testing.assert_allclose(
        decoded[0, :, 1, 0], np.linspace(*np.percentile(codes[:, 1], [1, 99]), 5), rtol=1e-6
    )
    np.testing.assert_allclose(decoded[0, :, [0, 2], 0], np.tile(base[[0, 2]], (5, 1)).T, rtol=1e-6)
    assert decoded[1, 0, 0, 0] < decoded[1, -1, 0, 0]
    with pytest.raises(ValueError, match="unknown factors"):
        listening.factor_traversals(lambda z: z, codes, mi, ["pitch", "level"], ["tilt"], base)
    with pytest.raises(ValueError, match="mi"):
        listening.factor_traversals(lambda z: z, codes, mi[:2], ["pitch", "level"], ["pitch"], base)


def test_audible_changes_measure_each_row_and_apply_the_listening_test():
    sr, t = 16000, np.arange(8000) / 16000
    pitch_row = [0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 330.0, 495.0)]
    level_row = [a * np.sin(2 * np.pi * 220.0 * t) for a in (0.003, 0.03, 0.3)]
    rows = listening.audible_changes(
        np.array([pitch_row, level_row]), sr, ["z", "z"], ["pitch", "level"], "toy"
    )
    assert [r["role"] for r in rows] == ["pitch", "level"] and {r["source"] for r in rows} == {"toy"}
    assert rows[0]["f0_octaves"] == pytest.approx(np.log2(495 / 220), abs=0.03) and rows[0]["passes"]
    assert rows[1]["level_span_db"] == pytest.approx(40.0, abs=0.5) and rows[1]["passes"]
    with pytest.raises(ValueError, match="one role per label"):
        listening.audible_changes(np.array([pitch_row]), sr, ["z"], ["pitch", "level"], "toy")


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
    clips, labels = listening.factor_latent_audio(_LevelReader(), dataset, ("level",), n_codes=300, n_steps=3)
    assert clips.shape[:2] == (1, 3) and clips.shape[2] == pytest.approx(dataset.sr, rel=0.05)
    assert labels[0].startswith("z0 ~ ")  # the level latent (its label names the factor it shares most with)
    levels = [20 * np.log10(np.sqrt(np.mean(c**2)) + 1e-12) for c in clips[0]]
    assert levels[0] < levels[1] < levels[2]


def test_factor_latent_audio_reads_other_inputs_and_hears_them_through_to_logmel():
    from course_lib.datasets import load_toy_dataset

    dataset = load_toy_dataset("static", verbose=False)
    asked = []

    def inputs_of(rows):  # the model's own inputs: here the level of each clip, one value per clip
        asked.append(len(rows))
        return torch.as_tensor(dataset.features[rows], dtype=torch.float32).mean((1, 2))[:, None]

    class _OneValue(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))

        def encode(self, x):
            return x.repeat(1, 2), torch.zeros(len(x), 2)

        def decode(self, z):
            return z[:, :1]

    def to_logmel(decoded):
        return decoded[:, :, None].expand(-1, 64, 32).clamp(0, 1).numpy()

    clips, labels = listening.factor_latent_audio(
        _OneValue(), dataset, ("level",), n_codes=300, n_steps=3, inputs_of=inputs_of, to_logmel=to_logmel
    )
    assert asked == [300, 1]  # the sounds drawn, then the grid's middle sound
    levels = [20 * np.log10(np.sqrt(np.mean(c**2)) + 1e-12) for c in clips[0]]
    assert clips.shape[:2] == (1, 3) and levels[0] < levels[1] < levels[2]
