"""Unit tests of the VAE modules (course_lib.models.vae): shapes, the plug-in contract, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.models.vae import VAE, MLPDecoder, MLPEncoder, VAEOutput, reparameterize


def _vae(likelihood: str = "bernoulli", **kwargs) -> VAE:
    torch.manual_seed(0)
    return VAE(
        MLPEncoder((4, 5), (16, 8), 3, "relu"), MLPDecoder(3, (8, 16), (4, 5), "relu"), likelihood, **kwargs
    )


def test_encoder_and_decoder_shapes():
    enc = MLPEncoder((4, 5), hidden=(16,), z_dim=3, activation="tanh")
    mu, logvar = enc(torch.rand(7, 4, 5))
    assert mu.shape == logvar.shape == (7, 3)
    assert enc(torch.rand(7, 20))[0].shape == (7, 3)  # flat input accepted
    dec = MLPDecoder(3, hidden=(16,), out_shape=(4, 5), activation="tanh")
    assert dec(torch.randn(7, 3)).shape == (7, 4, 5)
    assert MLPDecoder(3, hidden=(), out_shape=6)(torch.randn(2, 3)).shape == (2, 6)


def test_kingma_welling_architecture_has_their_parameter_count():
    enc, dec = MLPEncoder(784, (500,), 20, "tanh"), MLPDecoder(20, (500,), 784, "tanh")
    n_enc = sum(p.numel() for p in enc.parameters())
    n_dec = sum(p.numel() for p in dec.parameters())
    assert n_enc == 784 * 500 + 500 + 2 * (500 * 20 + 20)
    assert n_dec == 20 * 500 + 500 + 500 * 784 + 784


def test_vae_forward_returns_the_named_output():
    model = _vae()
    out = model(torch.rand(6, 4, 5))
    assert isinstance(out, VAEOutput)
    assert out.params.shape == (6, 4, 5) and out.mu.shape == out.logvar.shape == out.z.shape == (6, 3)
    assert model.z_dim == 3
    recon = model.reconstruct(torch.rand(6, 4, 5))
    assert recon.shape == (6, 4, 5) and recon.min() >= 0 and recon.max() <= 1
    assert model.sample(9).shape == (9, 4, 5)


def test_any_encoder_and_decoder_plug_in():
    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 2, 5)

        def forward(self, x):
            h = self.conv(x).squeeze(-1)
            return h, torch.zeros_like(h)

    decoder = nn.Sequential(nn.Linear(2, 20), nn.Unflatten(1, (4, 5)))
    model = VAE(Conv(), decoder, "gaussian", z_dim=2)
    assert model(torch.rand(3, 4, 5)).params.shape == (3, 4, 5)
    with pytest.raises(ValueError, match="z_dim"):
        VAE(Conv(), decoder, "gaussian")


def test_reparameterize_moves_gradients_and_has_the_right_moments():
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 1.5, requires_grad=True)
    logvar = torch.full((20000, 2), math.log(0.25), requires_grad=True)
    z = reparameterize(mu, logvar)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    assert z.mean().item() == pytest.approx(1.5, abs=0.01)
    assert z.std().item() == pytest.approx(0.5, abs=0.01)
    torch.testing.assert_close(reparameterize(mu, torch.full_like(logvar, -60.0)), mu.detach())


def test_gaussian_scale_is_fixed_or_learned():
    fixed = _vae("gaussian", scale=0.2)
    assert fixed.scale.item() == pytest.approx(0.2)
    assert "log_scale" not in dict(fixed.named_parameters())
    learned = _vae("gaussian", scale=0.2, learn_scale=True)
    assert "log_scale" in dict(learned.named_parameters())
    assert "log_scale" in learned.state_dict() and "log_scale" in fixed.state_dict()
    assert fixed.mean(torch.tensor([2.0])).item() == 2.0


def test_bad_input_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="likelihood"):
        _vae("poisson")
    with pytest.raises(ValueError, match="scale"):
        _vae("gaussian", scale=0.0)
    with pytest.raises(ValueError, match="activation"):
        MLPEncoder(4, (3,), 2, "swish")
    with pytest.raises(ValueError, match="z_dim"):
        MLPEncoder(4, (3,), 0)
    with pytest.raises(ValueError, match="in_shape"):
        MLPEncoder((4, -1), (3,), 2)
    with pytest.raises(ValueError, match="x must be"):
        MLPEncoder(4, (3,), 2)(torch.rand(2, 5))
    with pytest.raises(ValueError, match="z must be"):
        MLPDecoder(2, (3,), 4)(torch.rand(2, 3))

    class Wrong(nn.Module):
        z_dim = 3

        def forward(self, x):
            return torch.zeros(len(x), 2), torch.zeros(len(x), 2)

    with pytest.raises(ValueError, match="encoder must return"):
        VAE(Wrong(), MLPDecoder(3, (), 4))(torch.rand(2, 4))
