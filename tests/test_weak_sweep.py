"""Tests of chapter 3's weak-supervision experiment (course_lib.experiments.weak_sweep)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from course_lib.datasets import load_toy_dataset
from course_lib.experiments import weak_sweep as ws
from course_lib.train import TensorLoader
from course_lib.weak_pairs import PairLoader

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_loaders_give_single_sounds_or_pairs():
    dataset = load_toy_dataset("static")
    inputs = torch.zeros(len(dataset), 3)
    assert isinstance(ws.make_loader("beta_vae", inputs, dataset, ws.FAST), TensorLoader)
    assert isinstance(ws.make_loader("ada_gvae", inputs, dataset, ws.FAST), PairLoader)
    with pytest.raises(ValueError, match="model must be one of"):
        ws.make_loader("factor_vae", inputs, dataset, ws.FAST)


def test_full_settings_compare_both_models_over_three_seeds_on_the_default_grid():
    assert ws.FULL.preset == "default" and set(ws.FULL.models) == set(ws.MODELS) and len(ws.FULL.seeds) == 3


@pytest.mark.slow
def test_fast_command_writes_one_row_per_model(tmp_path):
    out = tmp_path / "weak.csv"
    assert ws.main(["--fast", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert frame["model"].tolist() == list(ws.MODELS)
    assert {"mig", "mig_f0", "mig_level", "dci_disentanglement", "test_mse"} <= set(frame.columns)
    assert frame["mig"].between(0, 1).all()


def test_committed_results_come_from_the_full_settings():
    frame = pd.read_csv(ws.DEFAULT_PATH)
    assert frame["model"].tolist() == [m for m in ws.FULL.models for _ in ws.FULL.seeds]
    assert frame["seed"].tolist() == list(ws.FULL.seeds) * len(ws.FULL.models)
    assert (frame["epochs"] == ws.FULL.epochs).all() and set(frame["beta"]) == set(ws.FULL.betas)
    assert frame["mig"].between(0, 1).all()
