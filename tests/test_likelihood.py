"""Tests of chapter 2's likelihood experiment (course_lib.experiments.likelihood): Burda's VAE and IWAE."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from course_lib import losses
from course_lib.experiments import likelihood as lik

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_model_is_burdas_one_stochastic_layer_network():
    model = lik.make_model()
    n_params = (784 * 200 + 200) + (200 * 200 + 200) + 2 * (200 * 50 + 50)
    n_params += (50 * 200 + 200) + (200 * 200 + 200) + (200 * 784 + 784)
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert model.z_dim == 50 and model.likelihood == "bernoulli"
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 4


def test_learning_rate_schedule_is_burdas():
    assert lik.stage_lr(0) == pytest.approx(1e-3)
    assert lik.stage_lr(7) == pytest.approx(1e-4)  # ten times smaller after the seventh stage
    assert lik.stage_ends(120) == [15, 30, 45, 60, 75, 90, 105, 120]
    assert lik.stage_ends(2) == [1, 2]
    with pytest.raises(ValueError):
        lik.stage_lr(-1)
    with pytest.raises(ValueError):
        lik.stage_ends(0)


def test_iwae_loss_is_minus_the_bound_and_trains():
    torch.manual_seed(0)
    model = lik.make_model()
    x = torch.bernoulli(torch.full((8, 784), 0.3))
    loss, logs = losses.make_iwae_loss(5)(model, x, 1)
    assert loss.requires_grad and math.isclose(logs["iwae"], -loss.item())
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # k = 1 is an unbiased estimate of the ELBO: the two agree on average over many draws
    with torch.no_grad():
        k1 = torch.stack([losses.iwae_bound(model, x, 1) for _ in range(400)]).mean()
        elbo = torch.stack([losses.elbo_terms(model, x)["elbo"] for _ in range(400)]).mean()
    assert abs(k1 - elbo) < 1.0
    with pytest.raises(ValueError, match="k must be"):
        losses.make_iwae_loss(0)


def test_test_nll_is_minus_the_bound_with_a_standard_error():
    torch.manual_seed(0)
    model = lik.make_model()
    x = torch.bernoulli(torch.full((30, 784), 0.3))
    nll, se = lik.test_nll(model, x, k=20, batch_size=7)
    assert 0 < nll < 784 * math.log(2) + 50 and 0 < se < nll


@pytest.mark.slow
def test_command_writes_a_small_csv(tmp_path):
    out = tmp_path / "lik.csv"
    args = ["--source", "subset", "--epochs", "2", "--k-test", "20", "--n-test", "50", "--n-eval", "100"]
    assert lik.main([*args, "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(lik.COLUMNS)
    assert frame["model"].tolist() == ["vae", "vae", "iwae", "iwae"]
    assert frame["k_train"].tolist() == [1, 1, 5, 5]
    assert frame["samples_seen"].tolist() == [4000, 8000, 4000, 8000]
    assert frame["test_nll"].isna().tolist() == [True, False, True, False]
    last = frame.groupby("model").tail(1)
    # the importance-weighted estimate is tighter than the one-sample ELBO
    assert (last["test_nll"] < -last["test_elbo"]).all()
    assert not list(tmp_path.glob(".*.tmp"))


def test_committed_results_come_from_the_documented_settings():
    frame = pd.read_csv(lik.DEFAULT_PATH)
    assert frame["model"].unique().tolist() == list(lik.FULL.models)
    ends = frame.groupby("model").tail(1)
    assert (ends["epoch"] == lik.FULL.epochs).all()
    assert (ends["samples_seen"] == lik.FULL.epochs * 60_000).all()
    assert (ends["k_test"] == lik.FULL.k_test).all() and (ends["n_test"] == lik.FULL.n_test).all()
    assert ends["test_nll"].notna().all() and (ends["test_nll_se"] > 0).all()
