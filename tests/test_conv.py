"""Tests of course_lib.models.conv: shapes, the VAE contract, gradients and bad input."""

from __future__ import annotations

import pytest
import torch

from course_lib.losses import beta_vae_loss
from course_lib.models.conv import ConvDecoder, ConvEncoder, make_conv_vae


def test_encoder_and_decoder_shapes():
    torch.manual_seed(0)
    enc = ConvEncoder((64, 32), (8, 8, 8), z_dim=5)
    mu, logvar = enc(torch.rand(3, 64, 32))
    assert mu.shape == logvar.shape == (3, 5)
    dec = ConvDecoder(5, (8, 8, 8), (64, 32))
    assert dec(torch.randn(3, 5)).shape == (3, 64, 32)


def test_conv_vae_trains_one_step_and_the_loss_falls():
    torch.manual_seed(0)
    model = make_conv_vae((16, 8), z_dim=3, channels=(4, 4))
    x = torch.rand(16, 16, 8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss, logs = beta_vae_loss(model, x, beta=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else logs["loss"]
    assert logs["loss"] < first
    assert all(p.grad is not None for p in model.parameters())


def test_encoder_output_depends_on_every_region_of_the_input():
    torch.manual_seed(0)
    enc = ConvEncoder((16, 8), (4, 4), z_dim=2)
    x = torch.zeros(1, 16, 8, requires_grad=True)
    enc(x)[0].sum().backward()
    assert x.grad[0, :8].abs().sum() > 0 and x.grad[0, 8:].abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_shape": (62, 32)}, "divisible"),
        ({"in_shape": (64,)}, "mels, frames"),
        ({"channels": ()}, "channels"),
        ({"z_dim": 0}, "z_dim"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvEncoder(**{"in_shape": (64, 32), "channels": (8, 8), "z_dim": 4, **kwargs})


def test_wrong_input_shape_raises():
    enc = ConvEncoder((16, 8), (4, 4), z_dim=2)
    with pytest.raises(ValueError, match="batch"):
        enc(torch.rand(2, 8, 16))
    with pytest.raises(ValueError, match="z_dim"):
        ConvDecoder(2, (4, 4), (16, 8))(torch.rand(2, 3))


def test_level_channel_conv_vae_reads_the_level_beside_the_maps_and_decodes_it():
    from course_lib.models.conv import level_channel_conv_vae

    torch.manual_seed(0)
    model = level_channel_conv_vae((16, 8), z_dim=3, channels=(2, 4))
    x = torch.rand(5, 16 * 8 + 1)
    out = model(x)
    assert out.params.shape == x.shape and out.mu.shape == (5, 3)
    # the level (last value) reaches the code, and the decoder's level depends on z
    moved = x.clone()
    moved[:, -1] += 1.0
    assert not torch.allclose(model.encode(moved)[0], model.encode(x)[0])
    z = torch.zeros(1, 3)
    assert model.decode(z + 1)[0, -1] != model.decode(z)[0, -1]
    with pytest.raises(ValueError, match="the level"):
        model.encode(torch.rand(5, 16, 8))
