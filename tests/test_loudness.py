"""Tests of the loudness-normalised inputs (course_lib.loudness)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import loudness


def _clips(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return torch.tensor(0.3 + 0.3 * rng.random((n, 8, 5)))  # every value well above the floor


def test_power_level_of_a_constant_clip_is_its_value_and_follows_a_gain():
    flat = torch.full((1, 8, 5), 0.42, dtype=torch.float64)
    assert loudness.power_level(flat).item() == pytest.approx(0.42)
    x = _clips()
    # a gain of 6 dB (0.06 units) on every value raises the level by exactly 0.06
    torch.testing.assert_close(loudness.power_level(x + 0.06), loudness.power_level(x) + 0.06)
    # the power mean sits between the mean and the maximum of the values
    level = loudness.power_level(x)
    assert (level >= x.flatten(1).mean(1) - 1e-12).all() and (level <= x.flatten(1).amax(1) + 1e-12).all()


def test_relative_features_do_not_change_with_a_gain_and_share_one_floor():
    x = _clips()
    torch.testing.assert_close(loudness.relative_features(x + 0.06), loudness.relative_features(x))
    quiet = torch.zeros(1, 8, 5)  # at the absolute floor everywhere but one value
    quiet[0, 0, 0] = 1.0
    rel = loudness.relative_features(quiet, relative_range=0.55)
    assert rel.min().item() == pytest.approx(0.0) and rel.dtype == torch.float32
    with pytest.raises(ValueError, match="relative_range"):
        loudness.relative_features(x, relative_range=0.0)
    with pytest.raises(ValueError, match="one value per clip"):
        loudness.relative_features(x, level=torch.zeros(3))


def test_level_channel_inputs_append_a_standardised_level():
    x = _clips(n=6)
    inputs = loudness.level_channel_inputs(x, level_gain=1.0)
    assert inputs.shape == (6, 8 * 5 + 1)
    assert inputs[:, -1].mean().item() == pytest.approx(0.0, abs=1e-6)
    assert inputs[:, -1].std().item() == pytest.approx(1.0, abs=1e-5)
    # the level channel ranks the clips as their power level does
    assert np.array_equal(np.argsort(inputs[:, -1].numpy()), np.argsort(loudness.power_level(x).numpy()))
    with pytest.raises(ValueError, match="features"):
        loudness.level_channel_inputs(torch.zeros(5), level_gain=1.0)


def test_from_level_channel_inverts_the_inputs_above_the_floor():
    x = _clips(n=6)  # every value within 55 dB of its clip's level, so nothing is floored
    inputs = loudness.level_channel_inputs(x, level_gain=1.0)
    back = loudness.from_level_channel(inputs, (8, 5), loudness.level_scale(x), level_gain=1.0)
    assert back.shape == (6, 8, 5) and back.dtype == np.float32
    np.testing.assert_allclose(back, x.numpy(), atol=1e-5)
    # a decoder asking for one more standard deviation of level raises every value by the level's std
    louder = inputs.clone()
    louder[:, -1] += 1.0
    step = loudness.from_level_channel(louder, (8, 5), loudness.level_scale(x), level_gain=1.0) - back
    np.testing.assert_allclose(step, loudness.level_scale(x).std, atol=1e-5)
    gained = loudness.level_channel_inputs(x, level_gain=4.0)
    torch.testing.assert_close(gained[:, -1], 4.0 * inputs[:, -1])
    torch.testing.assert_close(gained[:, :-1], inputs[:, :-1])
    again = loudness.from_level_channel(gained, (8, 5), loudness.level_scale(x), level_gain=4.0)
    np.testing.assert_allclose(again, back, atol=1e-5)
    with pytest.raises(ValueError, match="level_gain must be a positive number"):
        loudness.level_channel_inputs(x, level_gain=0.0)
    with pytest.raises(ValueError, match=r"\[clips, 40 \+ 1\]"):
        loudness.from_level_channel(inputs[:, :-1], (8, 5), loudness.level_scale(x), level_gain=1.0)


def test_the_gain_has_no_default():
    x = _clips(n=3)
    with pytest.raises(TypeError, match="level_gain"):
        loudness.level_channel_inputs(x)
    with pytest.raises(TypeError, match="level_gain"):
        loudness.from_level_channel(
            loudness.level_channel_inputs(x, level_gain=4.0), (8, 5), loudness.level_scale(x)
        )


def test_level_scale_of_a_single_level_is_unit():
    scale = loudness.level_scale(torch.full((3, 2, 2), 0.5))
    assert scale.mean == pytest.approx(0.5) and scale.std == 1.0


def test_level_channel_inputs_with_a_given_scale_standardise_like_the_training_set():
    train, new = _clips(n=6), _clips(n=3, seed=1)
    scale = loudness.level_scale(train)
    inputs = loudness.level_channel_inputs(new, level_gain=4.0, scale=scale)
    expected = 4.0 * (loudness.power_level(new) - scale.mean) / scale.std
    torch.testing.assert_close(inputs[:, -1], expected.to(torch.float32))
    # the clips of the training set get the same inputs with or without their own scale passed
    torch.testing.assert_close(
        loudness.level_channel_inputs(train, level_gain=4.0, scale=scale),
        loudness.level_channel_inputs(train, level_gain=4.0),
    )


def test_level_channel_model_takes_and_returns_log_mels():
    from course_lib.models.vae import mlp_vae

    torch.manual_seed(0)
    x = _clips(n=5).to(torch.float32)
    scale = loudness.level_scale(x)
    vae = mlp_vae(8 * 5 + 1, 3, (16,), activation="relu", scale=0.1).eval()
    model = loudness.LevelChannelModel(vae, (8, 5), scale, level_gain=4.0)
    mu, logvar = model.encode(x)
    expected_mu, _ = vae.encode(loudness.level_channel_inputs(x, level_gain=4.0, scale=scale))
    torch.testing.assert_close(mu, expected_mu)
    assert logvar.shape == (5, 3)
    out = model.decode(mu)
    assert out.shape == (5, 8, 5) and out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1
    np.testing.assert_allclose(
        out.numpy(), loudness.from_level_channel(vae.decode(mu), (8, 5), scale, level_gain=4.0)
    )
    assert len(list(model.parameters())) == len(list(vae.parameters()))  # a view, no weights of its own
    with pytest.raises(ValueError, match=r"features must be \[clips, \(8, 5\)\]"):
        model.encode(torch.zeros(2, 5, 8))
    with pytest.raises(ValueError, match="level_gain"):
        loudness.LevelChannelModel(vae, (8, 5), scale, level_gain=-1.0)
