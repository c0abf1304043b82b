"""Tests of chapter 2's Kingma & Welling experiment (course_lib.experiments.kingma_welling)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from course_lib.experiments import kingma_welling as kw

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- the experiment -------------------------------------------------------------------------------


def test_models_have_the_published_shapes_and_optimisers():
    model = kw.make_model("kw", 20)
    # Kingma & Welling: 784-500 tanh encoder with two 500-20 heads, 20-500-784 decoder
    n_params = (784 * 500 + 500) + 2 * (500 * 20 + 20) + (20 * 500 + 500) + (500 * 784 + 784)
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert isinstance(model.encoder.body[1], nn.Tanh) and model.likelihood == "bernoulli"
    assert isinstance(kw.make_optimizer("kw", model), torch.optim.Adagrad)
    ours = kw.make_model("ours", 3)
    assert isinstance(ours.encoder.body[1], nn.ReLU) and ours.z_dim == 3
    assert isinstance(kw.make_optimizer("ours", ours), torch.optim.Adam)
    with pytest.raises(ValueError, match="arch"):
        kw.make_model("resnet", 3)
    with pytest.raises(ValueError, match="arch"):
        kw.make_optimizer("resnet", model)


def test_log_epochs_are_increasing_and_end_at_the_last_epoch():
    points = kw.log_epochs(125, 12)
    assert (
        points[0] == 1 and points[-1] == 125 and all(a < b for a, b in zip(points, points[1:], strict=False))
    )
    assert kw.log_epochs(1, 5) == [1]
    with pytest.raises(ValueError):
        kw.log_epochs(0, 3)


def test_full_settings_reach_kingma_and_wellings_axis_on_the_full_mnist():
    assert kw.FULL.source == "full" and kw.FULL.archs == ("kw",)
    assert kw.FULL.epochs_for(20) * 60_000 >= 10**7  # Nz = 20 trains for at least 10^7 samples
    assert kw.FULL.epochs_for(3) == kw.FULL.epochs
    assert kw.SUBSET.source == "subset" and set(kw.SUBSET.archs) == {"kw", "ours"}
    assert kw.DEFAULT_PATHS[kw.SUBSET].name == "kingma_welling_4k.csv"


@pytest.mark.slow
def test_command_writes_a_small_csv(tmp_path):
    out = tmp_path / "kw.csv"
    args = ["--source", "subset", "--epochs", "2", "--points", "2", "--nz", "2", "--arch", "kw", "--k", "50"]
    assert kw.main([*args, "--n-eval", "100", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(kw.COLUMNS)
    n_train = int(frame["n_train"].iloc[0])
    assert n_train == 4000
    assert frame["samples_seen"].tolist() == [n_train, 2 * n_train]
    assert frame["epoch"].tolist() == [1, 2]
    # the IWAE bound is only on the last row, and it is tighter than the one-sample ELBO
    assert frame["test_iwae"].isna().tolist() == [True, False]
    last = frame.iloc[-1]
    assert last["test_iwae"] > last["test_elbo"]
    assert (frame[["train_elbo", "test_elbo"]] < 0).all().all()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary file


def test_command_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        kw.main(["--k", "0", "--out", str(tmp_path / "x.csv")])


def test_committed_results_come_from_the_documented_settings():
    # the chapter's prose states these settings: the committed files must be what they produce
    full = pd.read_csv(kw.DEFAULT_PATH)
    assert set(full["arch"]) == set(kw.FULL.archs) and sorted(full["nz"].unique()) == sorted(kw.FULL.nz)
    assert (full["n_train"] == 60_000).all() and (full["iwae_k"] == kw.FULL.k).all()
    ends = full.groupby("nz")["samples_seen"].max()
    for nz, samples in ends.items():
        assert samples == kw.FULL.epochs_for(nz) * 60_000
    subset = pd.read_csv(kw.DEFAULT_PATHS[kw.SUBSET])
    assert (subset["n_train"] == 4000).all() and set(subset["arch"]) == set(kw.SUBSET.archs)
    assert (subset.groupby(["arch", "nz"])["epoch"].max() == kw.SUBSET.epochs).all()
