"""Unit tests of course_lib.latents: batched posteriors, activity, active units, correlations, dimensions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import latents

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_posterior_in_batches_equals_one_pass_and_keeps_the_training_mode(tiny_vae):
    model = tiny_vae((2, 3), z_dim=2)
    x = torch.rand(11, 2, 3)
    mu, logvar = latents.posterior(model, x, batch_size=4)
    with torch.no_grad():
        mu_all, logvar_all = model.encode(x)
    torch.testing.assert_close(mu, mu_all)
    torch.testing.assert_close(logvar, logvar_all)
    assert model.training  # the caller's mode is restored
    codes = latents.mean_codes(model, x.numpy().astype(np.float16), batch_size=5)  # float16 features
    assert codes.dtype == np.float64 and codes.shape == (11, 2)
    np.testing.assert_allclose(codes, mu_all.double().numpy(), atol=2e-3)
    with pytest.raises(ValueError, match="empty"):
        latents.posterior(model, x[:0])
    with pytest.raises(ValueError, match="batch_size"):
        latents.posterior(model, x, batch_size=0)


def test_activity_and_active_units_on_known_codes():
    rng = np.random.default_rng(0)
    means = np.stack([rng.normal(0, 1, 2000), rng.normal(0, 0.01, 2000), np.full(2000, 0.3)], axis=1)
    act = latents.activity(means)
    assert act[0] == pytest.approx(1.0, rel=0.1) and act[1] == pytest.approx(1e-4, rel=0.2) and act[2] < 1e-20
    assert latents.active_units(means).tolist() == [True, False, False]
    assert latents.active_units(means, threshold=1e-5).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="means"):
        latents.activity(np.zeros(5))
    with pytest.raises(ValueError, match="threshold"):
        latents.active_units(means, threshold=0)


def test_factor_correlations_find_monotone_relations_and_ignore_constants():
    rng = np.random.default_rng(1)
    factors = rng.integers(0, 5, size=(500, 2)).astype(float)
    means = np.stack([np.exp(factors[:, 1]), -factors[:, 0] + 0.01 * rng.normal(size=500), np.zeros(500)], 1)
    rho = latents.factor_correlations(means, factors)
    assert rho.shape == (3, 2)
    assert rho[0, 1] == pytest.approx(1.0) and rho[1, 0] < -0.95 and abs(rho[0, 0]) < 0.15
    assert np.all(rho[2] == 0)  # a dead latent: 0, not NaN
    with pytest.raises(ValueError, match="same N"):
        latents.factor_correlations(means[:10], factors)


def test_encode_means_matches_the_encoder_and_the_kl(tiny_vae):
    model = tiny_vae(6, z_dim=2)
    x = torch.rand(7, 6)
    means, kl = latents.encode_means(model, x, batch_size=3)
    mu, logvar = model.encode(x)
    np.testing.assert_allclose(means, mu.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(kl, (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="empty"):
        latents.encode_means(model, x[:0])


def test_effective_dimensions_count_directions_not_units():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(1000, 2))
    rotated = base @ rng.normal(size=(2, 6))  # six active units, two directions
    assert latents.active_units(rotated).sum() == 6
    assert latents.effective_dimensions(rotated) == 2
    assert latents.effective_dimensions(rng.normal(size=(1000, 4))) == 4
    assert latents.effective_dimensions(np.zeros((10, 3))) == 0
    with pytest.raises(ValueError, match="fraction"):
        latents.effective_dimensions(rotated, fraction=0)
