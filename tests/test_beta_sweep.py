"""Tests of the chapter 3 sweep helpers (course_lib.experiments.beta_sweep), on tiny synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import latents
from course_lib.experiments import beta_sweep


def test_split_indices_are_disjoint_sorted_and_seeded():
    train, test = beta_sweep.split_indices(100, 60, 30, seed=1)
    assert len(train) == 60 and len(test) == 30
    assert not set(train) & set(test)
    assert np.all(np.diff(train) > 0)
    np.testing.assert_array_equal(train, beta_sweep.split_indices(100, 60, 30, seed=1)[0])
    assert not np.array_equal(train, beta_sweep.split_indices(100, 60, 30, seed=2)[0])
    with pytest.raises(ValueError, match="sum"):
        beta_sweep.split_indices(100, 80, 30)


def test_active_dims_counts_varying_latents():
    rng = np.random.default_rng(0)
    codes = np.stack([rng.normal(size=500), 0.01 * rng.normal(size=500), np.zeros(500)], axis=1)
    assert beta_sweep.active_dims(codes) == 1
    assert beta_sweep.active_dims(codes, threshold=1e-6) == 2
    with pytest.raises(ValueError, match="codes"):
        beta_sweep.active_dims(np.zeros(5))


@pytest.mark.usefixtures("one_torch_thread")
def test_train_encode_and_held_out_terms_on_tiny_data():
    x = torch.rand(64, 8, 4)
    model, history = beta_sweep.train_beta_vae(x, beta=4.0, seed=0, epochs=2, z_dim=3, hidden=(16,))
    assert len(history) == 2 and history[-1]["kl"] >= 0
    codes = latents.mean_codes(model, x.numpy(), batch_size=20)
    assert codes.shape == (64, 3) and codes.dtype == np.float64
    terms = beta_sweep.held_out_terms(model, x[:10])
    assert set(terms) == {"recon", "kl", "mse", "kl_per_dim"} and len(terms["kl_per_dim"]) == 3
    assert terms["kl"] == pytest.approx(sum(terms["kl_per_dim"]), rel=1e-5)
    # the same seed gives the same model
    again, _ = beta_sweep.train_beta_vae(x, beta=4.0, seed=0, epochs=2, z_dim=3, hidden=(16,))
    np.testing.assert_allclose(latents.mean_codes(again, x.numpy()), codes, atol=1e-6)
