"""Unit tests of the chapter-4 experiment (course_lib.experiments.recurrent_vs_mlp)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.experiments import recurrent_vs_mlp as exp
from course_lib.metrics import MetricSettings
from course_lib.models.recurrent import RecurrentAttentionDecoder, RecurrentAttentionEncoder
from course_lib.models.vae import MLPDecoder, MLPEncoder

TINY = exp.Settings(
    presets=("envelope",),
    seeds=(0,),
    z_dim=3,
    epochs=1,
    mlp_hidden=(8,),
    rnn_hidden=4,
    decoder_hidden=6,
    n_slots=2,
    attn_dim=4,
    metric_settings=MetricSettings(
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
    ),
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("kind", "encoder", "decoder"),
    [("mlp", MLPEncoder, MLPDecoder), ("recurrent", RecurrentAttentionEncoder, RecurrentAttentionDecoder)],
)
def test_make_model_swaps_only_the_encoder_and_decoder(kind, encoder, decoder):
    torch.manual_seed(0)
    model = exp.make_model(kind, n_mels=10, frames=6, settings=TINY)
    assert isinstance(model.encoder, encoder) and isinstance(model.decoder, decoder)
    assert model.likelihood == "gaussian" and model.z_dim == 3
    assert float(model.scale) == pytest.approx(TINY.scale)
    out = model(torch.rand(5, 10, 6))
    assert out.params.shape == (5, 10, 6) and out.mu.shape == (5, 3)


def test_make_model_refuses_unknown_kinds():
    with pytest.raises(ValueError, match="kind must be one of"):
        exp.make_model("transformer")


def test_loudness_curve_is_the_band_mean_in_db():
    x = np.zeros((2, 4, 3))
    x[0, :, 1] = 0.5  # every band at 50 dB above the floor in frame 1
    x[1, :2, :] = 0.2  # half the bands at 20 dB: mean 10 dB
    np.testing.assert_allclose(exp.loudness_curve(x), [[0, 50, 0], [10, 10, 10]])
    with pytest.raises(ValueError, match="n_mels, frames"):
        exp.loudness_curve(np.zeros((4, 3)))


def test_reconstruction_errors_in_db():
    x = torch.rand(3, 5, 4)
    assert exp.reconstruction_errors(x, x) == {"rmse_db": 0.0, "loudness_curve_rmse_db": 0.0}
    shifted = exp.reconstruction_errors(x, x + 0.01)  # 0.01 feature units = 1 dB everywhere
    assert shifted["rmse_db"] == pytest.approx(1.0, rel=1e-4)
    assert shifted["loudness_curve_rmse_db"] == pytest.approx(1.0, rel=1e-4)
    # An error that averages out over the bands leaves the loudness curve intact.
    wiggle = x.clone()
    wiggle[:, 0::2] += 0.01
    wiggle[:, 1::2] -= 0.01
    assert exp.reconstruction_errors(x[:, :4], wiggle[:, :4])["loudness_curve_rmse_db"] < 1e-4
    with pytest.raises(ValueError, match="same shape"):
        exp.reconstruction_errors(x, x[:, :, :2])


def test_factor_effect_db_measures_one_step_changes():
    sizes = (3, 2)
    classes = np.array([(a, b) for a in range(3) for b in range(2)])[::-1]  # any row order
    features = np.zeros((6, 2, 2), dtype=np.float16)
    features += (0.01 * classes[:, 0])[:, None, None]  # one step of factor a = 1 dB everywhere
    effect = exp.factor_effect_db(features, classes, sizes, ["a", "b"])
    assert effect["a"] == pytest.approx(1.0, rel=1e-2)
    assert effect["b"] == 0.0
    with pytest.raises(ValueError, match="full grid"):
        exp.factor_effect_db(features[:5], classes[:5], sizes, ["a", "b"])
    with pytest.raises(ValueError, match="repeat"):
        exp.factor_effect_db(features, np.zeros((6, 2), dtype=int), sizes, ["a", "b"])


def test_top_mutual_information_finds_a_copied_factor():
    rng = np.random.default_rng(0)
    classes = np.stack([rng.integers(0, 4, 2000), rng.integers(0, 3, 2000)], axis=1)
    codes = np.stack([classes[:, 1] + 0.01 * rng.normal(size=2000), rng.normal(size=2000)], axis=1)
    top = exp.top_mutual_information(codes, classes, ["a", "b"])
    assert top["mi_top_b"] == pytest.approx(1.0, abs=1e-6)
    assert top["mi_top_a"] < 0.05


@pytest.mark.slow
def test_run_writes_one_row_per_run_and_skips_finished_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))  # dataset and checkpoints: not data/
    out = tmp_path / "results.csv"
    table = exp.run(TINY, out, kinds=["mlp"], progress=False)
    assert out.exists() and len(table) == 1
    row = pd.read_csv(out).iloc[0]
    assert (row["preset"], row["model"], row["seed"], row["epochs"]) == ("envelope", "mlp", 0, 1)
    for key in (
        "recon",
        "kl",
        "rmse_db",
        "mig",
        "mig_attack",
        "mig_t60",
        "mi_top_attack",
        "dci_disentanglement",
    ):
        assert np.isfinite(row[key]), key
    assert 0 <= row["mig_attack"] <= 1 and row["kl_active_dims"] <= 3
    again = exp.run(TINY, out, kinds=["mlp"], progress=False)
    assert len(again) == 1  # the finished run is not repeated
    assert list((tmp_path / "data" / "checkpoints").glob("ch04_envelope_mlp_*.pt"))
    with pytest.raises(ValueError, match="kind must be one of"):
        exp.run(TINY, out, kinds=["cnn"], progress=False)
    with pytest.raises(ValueError, match="preset must be one of"):
        exp.run(dataclasses.replace(TINY, presets=("default",)), out, progress=False)


def test_the_command_line_sets_presets_and_seeds_as_settings_fields(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    calls = []
    monkeypatch.setattr(exp, "run", lambda settings, out, **kwargs: calls.append((settings, out)) or [])
    out = str(tmp_path / "runs.csv")
    exp.main(["--out", out])
    exp.main(["--presets", "sequence", "--seeds", "1", "2", "--out", out])
    exp.main(["--fast", "--out", out])
    exp.main(["--fast", "--seeds", "3", "--out", out])
    assert [settings for settings, _ in calls] == [
        exp.FULL,
        dataclasses.replace(exp.FULL, presets=("sequence",), seeds=(1, 2)),
        exp.FAST,
        dataclasses.replace(exp.FAST, seeds=(3,)),
    ]
    assert exp.FULL.presets == exp.PRESETS and exp.FULL.seeds == (0, 1, 2)
    assert exp.FAST.presets == exp.PRESETS[:1] and exp.FAST.seeds == (0,)


def test_the_committed_file_was_scored_with_the_reduced_counts():
    from course_lib import metrics

    assert exp.FULL.metric_settings is metrics.REDUCED
    assert (metrics.REDUCED.dci_train, metrics.REDUCED.dci_test, metrics.REDUCED.mig_points) == (
        2000,
        1000,
        10000,
    )


def test_the_chapter_pair_is_published_and_loaded_without_training(tmp_path, monkeypatch):
    from course_lib.datasets import load_toy_dataset
    from course_lib.train import published_runs

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # a fresh clone: no checkpoint of our own
    dataset = load_toy_dataset("envelope", verbose=False)
    for kind in exp.KINDS:
        path = exp.checkpoint_path("envelope", kind, 0, exp.FULL)
        assert path.name in published_runs()  # a label only: train() finds the run by its key
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a published run with other settings would warn and retrain
            model, history = exp.train_model(kind, dataset, 0, exp.FULL)
        assert history["epoch"].tolist() == list(range(1, exp.FULL.epochs + 1))
        assert not path.exists() and not model.training
