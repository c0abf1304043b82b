"""Tests of the chapter 3 sweep helpers (course_lib.experiments.beta_sweep), on tiny synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import latents, recipe
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


@pytest.mark.usefixtures("one_torch_thread")
def test_train_encode_and_held_out_terms_on_tiny_data():
    x = torch.rand(64, 8, 4)
    settings = beta_sweep.Settings(epochs=2, z_dim=3, hidden=(16,))
    model, history = beta_sweep.train_model(settings, x, beta=4.0, seed=0)
    assert len(history) == 2 and history[-1]["kl"] >= 0
    codes = latents.mean_codes(model, x.numpy(), batch_size=20)
    assert codes.shape == (64, 3) and codes.dtype == np.float64
    terms = recipe.held_out_terms(model, x[:10])
    assert set(terms) == {"recon", "kl", "mse", "kl_per_dim"} and len(terms["kl_per_dim"]) == 3
    assert terms["kl"] == pytest.approx(sum(terms["kl_per_dim"]), rel=1e-5)
    # the same seed gives the same model
    again, _ = beta_sweep.train_model(settings, x, beta=4.0, seed=0)
    np.testing.assert_allclose(latents.mean_codes(again, x.numpy()), codes, atol=1e-6)


def test_fast_and_full_settings_differ_only_in_size():
    assert beta_sweep.FULL.epochs == 30 and beta_sweep.FULL.train_size == 50000
    assert beta_sweep.FAST.epochs == 1 and beta_sweep.FAST.train_size == 2000
    assert (beta_sweep.FAST.z_dim, beta_sweep.FAST.hidden, beta_sweep.FAST.lr) == (10, (256,), 2e-3)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_run_one_makes_the_row_that_score_makes(tmp_path, monkeypatch):
    from course_lib.datasets import load_toy_dataset
    from course_lib.metrics import MetricSettings

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # the static grid (2,700 clips) built here
    dataset = load_toy_dataset("static", verbose=False)
    tiny = MetricSettings(
        beta_vae_train=50,
        beta_vae_eval=50,
        factor_vae_train=50,
        factor_vae_eval=50,
        factor_vae_variance=200,
        mig_points=500,
        dci_train=100,
        dci_test=50,
        sap_train=100,
        sap_test=50,
    )
    settings = beta_sweep.Settings(
        epochs=1, train_size=300, test_size=100, hidden=(16,), metric_settings=tiny
    )
    row, model = beta_sweep.run_one(dataset, 4.0, 0, settings)
    assert (row["beta"], row["seed"], row["epochs"], row["train_size"]) == (4.0, 0, 1, 300)
    _, test_rows = beta_sweep.split_indices(len(dataset), 300, 100, seed=0)
    codes = latents.mean_codes(model, dataset.features)
    again = recipe.score(model, codes, dataset, dataset.tensors(test_rows)[0], tiny, seed=0)
    assert {k: row[k] for k in again} == again  # the chapter's live rows are the sweep's rows
    assert 0 <= row["active_dims"] <= settings.z_dim and np.isfinite(row["mig"])
