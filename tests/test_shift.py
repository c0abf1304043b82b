"""Tests of the translation-aware VAE (course_lib.models.shift)."""

from __future__ import annotations

import pytest
import torch

from course_lib.models.shift import PITCH_SCALE, fractional_shift, shift_vae


def test_shifting_the_input_by_n_bins_shifts_the_output_by_n():
    x = torch.randn(3, 40)
    for n in (0, 1, 5, -7):
        y = fractional_shift(x, torch.full((3,), float(n)))
        if n >= 0:
            torch.testing.assert_close(y[:, n:], x[:, : 40 - n])
            assert (y[:, :n] == 0).all()
        else:
            torch.testing.assert_close(y[:, :n], x[:, -n:])
    # a half bin interpolates linearly, and the shift is differentiable
    shift = torch.full((3,), 0.5, requires_grad=True)
    y = fractional_shift(x, shift)
    torch.testing.assert_close(y[:, 1:], (x[:, 1:] + x[:, :-1]) / 2)
    y.sum().backward()
    assert shift.grad is not None and torch.isfinite(shift.grad).all()
    with pytest.raises(ValueError, match="shift"):
        fractional_shift(x, torch.zeros(2))


def _profiles(positions, n_bins=120):
    """Profiles with partials 1, 2, 3 (at 0, 36, 57 bins) above each position, plus envelope and level."""
    x = torch.zeros(len(positions), n_bins + 8 + 1)
    for row, p in enumerate(positions):
        for offset, height in ((0, 1.0), (36, 0.6), (57, 0.4)):
            x[row, p + offset] = height
    return x


def test_the_pitch_latent_moves_by_n_over_the_scale_when_the_profile_moves_by_n_bins():
    torch.manual_seed(0)
    model = shift_vae(120, 8, z_dim=4, hidden=(32,))
    mu, _ = model.encode(_profiles([30, 34, 41]))
    shifts = (mu[:, 0] - mu[0, 0]) * PITCH_SCALE
    torch.testing.assert_close(shifts, torch.tensor([0.0, 4.0, 11.0]), atol=0.05, rtol=0)


def test_the_pitch_latent_transposes_the_decoded_profile_and_nothing_else():
    torch.manual_seed(0)
    model = shift_vae(120, 8, z_dim=4, hidden=(32,))
    z = torch.randn(1, 4).repeat(2, 1)
    z[1, 0] += 10 / PITCH_SCALE  # ten bins up
    out = model.decode(z)
    moved = out[1, 40:110] - out[0, 30:100]  # the same shape, ten bins up, give or take one offset
    torch.testing.assert_close(moved, moved.mean().expand(70), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1, 120:], out[0, 120:])  # envelope and level unchanged


def test_with_standardised_inputs_the_pitch_is_read_and_moved_in_the_profile_s_own_units():
    torch.manual_seed(0)
    mean, std = torch.rand(129), 0.5 + torch.rand(129)
    plain = shift_vae(120, 8, z_dim=4, hidden=(32,))
    scaled = shift_vae(120, 8, z_dim=4, hidden=(32,), mean=mean, std=std)
    x = _profiles([30, 50])
    torch.testing.assert_close(scaled.encode((x - mean) / std)[0][:, 0], plain.encode(x)[0][:, 0])
    z = torch.randn(1, 4).repeat(2, 1)
    z[1, 0] += 10 / PITCH_SCALE
    raw = scaled.decode(z) * std + mean
    moved = raw[1, 40:110] - raw[0, 30:100]
    torch.testing.assert_close(moved, moved.mean().expand(70), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="z_dim"):
        shift_vae(120, 8, z_dim=1)
