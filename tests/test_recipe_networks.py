"""Tests of chapter 3's recipe trained with chapter 4's other networks (experiments.recipe_networks)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from course_lib import recipe
from course_lib.experiments import recipe_networks as rn
from course_lib.experiments import weak_sweep as ws
from course_lib.train import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_recipe_is_chapter_3s_beta_tcvae_with_only_the_network_changed():
    assert (rn.MODEL, rn.BETA) in ws.FULL.runs
    assert rn.RECIPE == recipe.RECIPE and ws.FULL.metric_settings == recipe.SWEEP_METRICS
    assert rn.FULL.recipe == rn.RECIPE
    assert rn.FAST.recipe.preset == "static" and rn.FAST.recipe.z_dim == ws.FULL.z_dim
    with pytest.raises(ValueError, match="network must be one of"):
        rn.make_model(rn.FAST, "transformer", (64, 32))


def test_every_network_maps_level_channel_inputs_to_means_of_the_same_shape():
    for network in rn.NETWORKS:
        model = rn.make_model(rn.FAST, network, (64, 32))
        out = model(torch.zeros(2, 64 * 32 + 1))
        assert out.params.shape == (2, 64 * 32 + 1) and out.mu.shape == (2, ws.FULL.z_dim)


@pytest.mark.slow
def test_fast_command_writes_a_row_per_network_and_publishes_models_that_read_log_mels(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))  # its runs' checkpoints: not in data/
    assert rn.main(["--fast", "--out", str(tmp_path)]) == 0
    for network in rn.NETWORKS:
        frame = pd.read_csv(tmp_path / f"recipe_{network}.csv")
        assert frame[["model", "beta", "seed"]].values.tolist() == [[rn.MODEL, rn.BETA, 0]]
        assert {"mig", "mig_f0", "mig_level", "dci_disentanglement", "parameters"} <= set(frame.columns)
    assert rn.main(["--fast", "--out", str(tmp_path), "--publish"]) == 0
    with pytest.raises(FileNotFoundError, match="--publish"):
        rn.load_logmel_model("conv", folder=tmp_path)
    for network in rn.NETWORKS:  # the FAST sizes: loaded by hand (load_logmel_model builds the FULL ones)
        model = rn.make_model(rn.FAST, network, (64, 32))
        meta = load_checkpoint(model, tmp_path / "published" / f"{network}.pt")
        assert meta["model_name"] == f"{network}_{rn.MODEL}" and len(meta["level_scale"]) == 2


@pytest.mark.parametrize("network", rn.NETWORKS)
def test_committed_results_come_from_the_full_settings(network):
    frame = pd.read_csv(rn.results_path(network))
    assert frame["seed"].tolist() == list(rn.FULL.seeds)
    assert (frame["model"] == rn.MODEL).all() and (frame["beta"] == rn.BETA).all()
    assert (frame["epochs"] == rn.FULL.epochs).all() and frame["mig"].between(0, 1).all()


@pytest.mark.parametrize("network", rn.NETWORKS)
def test_published_model_is_the_median_seed_and_decodes_log_mels(network):
    model, meta = rn.load_logmel_model(network)
    assert meta["seed"] == ws.chosen_runs(pd.read_csv(rn.results_path(network))).iloc[0].seed
    mu, _ = model.encode(torch.full((3, 64, 32), 0.5))
    assert mu.shape == (3, ws.FULL.z_dim) and model.decode(mu).shape == (3, 64, 32)
