"""Tests of chapter 3's sweep of unsupervised and weakly supervised models (experiments.weak_sweep)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from course_lib import recipe
from course_lib.datasets import load_toy_dataset
from course_lib.experiments import weak_sweep as ws
from course_lib.loudness import level_scale
from course_lib.train import TensorLoader
from course_lib.weak_pairs import PairLoader

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_loaders_give_single_sounds_or_pairs():
    dataset = load_toy_dataset("static")
    inputs = torch.zeros(len(dataset), 3)
    for model in recipe.MODELS:
        loader = recipe.make_loader(model, inputs, dataset, ws.FAST)
        assert isinstance(loader, TensorLoader if model in recipe.UNSUPERVISED else PairLoader)
    with pytest.raises(ValueError, match="model must be one of"):
        recipe.make_loader("wae", inputs, dataset, ws.FAST)
    with pytest.raises(ValueError, match="model must be one of"):
        recipe.make_loss("wae", 4.0, 10)


def test_every_loss_trains_its_kind_of_batch(tiny_vae):
    from course_lib.objectives import factor_vae_discriminator

    model = tiny_vae(in_shape=6, z_dim=3, likelihood="gaussian")
    model.discriminator = factor_vae_discriminator(3, hidden=8, layers=1)  # read by factor_vae only
    x1, x2 = torch.rand(8, 6), torch.rand(8, 6)
    for name in recipe.MODELS:
        batch = x1 if name in recipe.UNSUPERVISED else (x1, x2)
        loss, logs = recipe.make_loss(name, 4.0, dataset_size=100)(model, batch, 1)
        assert torch.isfinite(loss) and logs["loss"] == pytest.approx(loss.item())
    # beta-TCVAE logs its KL split; the known-k variant averages all but one latent
    assert {"mi", "tc", "dim_kl"} <= set(recipe.make_loss("beta_tcvae", 4.0, 100)(model, x1, 1)[1])
    assert recipe.make_loss("gvae_known_k", 4.0, 100)(model, (x1, x2), 1)[1]["n_shared"] == 2.0


def test_only_the_factor_vae_carries_a_discriminator():
    assert hasattr(recipe.make_model(ws.FAST, 10, "factor_vae"), "discriminator")
    assert not hasattr(recipe.make_model(ws.FAST, 10, "beta_tcvae"), "discriminator")
    with pytest.raises(ValueError, match="model must be one of"):
        recipe.make_model(ws.FAST, 10, "wae")


def test_full_settings_cover_every_model_over_three_seeds_on_the_default_grid():
    assert (
        ws.FULL.preset == "default" and set(ws.FULL.models) == set(recipe.MODELS) and len(ws.FULL.seeds) >= 3
    )


def _rows():
    rows = []
    for model, beta, migs in (("beta_vae", 4.0, (0.1, 0.2, 0.3)), ("beta_vae", 8.0, (0.5, 0.2, 0.35))):
        rows += [{"model": model, "beta": beta, "seed": s, "mig": m} for s, m in enumerate(migs)]
    return pd.DataFrame(rows)


def test_chosen_run_is_the_median_seed_of_the_best_beta():
    chosen = recipe.chosen_runs(_rows())
    assert len(chosen) == 1
    assert (chosen.loc[0, "beta"], chosen.loc[0, "seed"]) == (8.0, 2)  # MIGs 0.2, 0.35, 0.5 -> 0.35


def test_published_runs_are_the_best_model_without_labels_and_with_pairs():
    rows = _rows()
    rows = pd.concat(
        [
            rows,
            rows.assign(model="beta_tcvae", mig=rows.mig + 0.05),
            rows.assign(model="ada_gvae", mig=rows.mig + 0.2),
            rows.assign(model="gvae_known_k", mig=rows.mig + 0.1),
        ]
    )
    published = ws.published_runs(rows)
    assert published.model.tolist() == ["beta_tcvae", "ada_gvae"]
    assert published.seed.tolist() == [2, 2] and published.mean_mig.tolist() == pytest.approx([0.4, 0.55])
    with pytest.raises(ValueError, match="no weakly supervised run"):
        ws.published_runs(_rows())


def test_merge_replaces_a_run_and_keeps_the_others(tmp_path):
    out = tmp_path / "sweep.csv"
    recipe.merge_results({"model": "ada_gvae", "beta": 8.0, "seed": 0, "mig": 0.1}, out)
    recipe.merge_results({"model": "beta_vae", "beta": 8.0, "seed": 1, "mig": 0.2}, out)
    frame = recipe.merge_results({"model": "ada_gvae", "beta": 8.0, "seed": 0, "mig": 0.3}, out)
    assert frame["model"].tolist() == ["beta_vae", "ada_gvae"] and frame["mig"].tolist() == [0.2, 0.3]
    assert pd.read_csv(out)["mig"].tolist() == [0.2, 0.3]
    # small values keep their significant digits (an MSE of 1.37e-3 is not rounded to 0.0014)
    frame = recipe.merge_results(
        {"model": "beta_vae", "beta": 4.0, "seed": 0, "mig": 0.1, "test_mse": 1.3712e-3}, out
    )
    assert pd.read_csv(out)["test_mse"].dropna().tolist() == [pytest.approx(1.3712e-3, rel=1e-5)]


@pytest.mark.slow
def test_fast_command_writes_one_row_per_model_and_publishes_beside_its_runs(tmp_path):
    out = tmp_path / "weak.csv"
    assert ws.main(["--fast", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert frame["model"].tolist() == list(recipe.MODELS)
    assert {"mig", "mig_f0", "mig_level", "dci_disentanglement", "test_mse"} <= set(frame.columns)
    assert frame["mig"].between(0, 1).all()
    assert ws.main(["--fast", "--out", str(out), "--publish"]) == 0
    published = recipe.runs_dir_for(out) / "published"
    dataset = load_toy_dataset("static")
    name = ws.published_runs(frame).model.iloc[1]
    model, meta = recipe.load_published(name, dataset.features[0].size + 1, published)
    assert meta["model_name"] == name and not model.training
    assert meta["level_scale"] == pytest.approx(list(level_scale(dataset.features)))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(FileNotFoundError, match="--publish"):
        recipe.load_published("beta_vae", 10, tmp_path)
    assert len(list(published.glob("*.pt"))) == 2


def test_committed_results_come_from_the_full_settings():
    frame = pd.read_csv(ws.DEFAULT_PATH)
    expected = [(m, b, s) for m, b in ws.FULL.runs for s in ws.FULL.seeds]
    assert list(frame[["model", "beta", "seed"]].itertuples(index=False, name=None)) == expected
    assert (frame["epochs"] == ws.FULL.epochs).all()
    assert frame["mig"].between(0, 1).all()


def test_published_checkpoints_are_the_chosen_runs():
    frame = pd.read_csv(ws.DEFAULT_PATH)
    n_inputs = 64 * 32 + 1
    assert sorted(p.stem for p in recipe.CHECKPOINTS.glob("*.pt")) == sorted(ws.published_runs(frame).model)
    for run in ws.published_runs(frame).itertuples():
        _, meta = recipe.load_published(run.model, n_inputs)
        assert (meta["model_name"], meta["beta"], meta["seed"]) == (run.model, run.beta, run.seed)


def test_published_model_reads_log_mels_with_the_level_scale_it_was_trained_with():
    from course_lib.loudness import level_channel_inputs

    dataset = load_toy_dataset("static")
    model, meta = recipe.load_logmel_model("beta_tcvae")
    assert model.scale.mean == pytest.approx(meta["level_scale"][0])
    # the default grid's scale, not the static grid's: the model encodes every grid the way it was trained
    assert model.scale != level_scale(dataset.features)
    x = torch.as_tensor(dataset.features[:8], dtype=torch.float32)
    mu, _ = model.encode(x)
    inputs = level_channel_inputs(x, level_gain=ws.FULL.level_gain, scale=model.scale)
    torch.testing.assert_close(mu, model.vae.encode(inputs)[0])
    assert model.decode(mu).shape == (8, 64, 32)


def test_a_checkpoint_without_its_level_scale_is_refused(tmp_path):
    from course_lib.train import save_checkpoint

    save_checkpoint(
        recipe.make_model(ws.FULL, 64 * 32 + 1), tmp_path / "beta_tcvae.pt", model_name="beta_tcvae"
    )
    with pytest.raises(ValueError, match="no level_scale or level_gain.*publish"):
        recipe.load_logmel_model("beta_tcvae", folder=tmp_path)


def test_plain_log_mel_inputs_change_nothing_but_the_representation(tmp_path):
    dataset = load_toy_dataset("static")
    plain = recipe.make_inputs(dataset, ws.Settings(inputs="logmel", preset="static"))
    assert plain.shape == (len(dataset), dataset.features[0].size)
    torch.testing.assert_close(plain[0], torch.as_tensor(dataset.features[0], dtype=torch.float32).flatten())
    out = tmp_path / "plain.csv"
    assert ws.main(["--fast", "--inputs", "logmel", "--models", "beta_vae", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert frame["model"].tolist() == ["beta_vae"] and frame["mig"].between(0, 1).all()
    assert ws.main(["--fast", "--inputs", "logmel", "--out", str(out), "--publish-chosen", "beta_vae"]) == 0
    published = recipe.runs_dir_for(out) / "published"
    model = recipe.load_chosen("logmel", shape=dataset.features.shape[1:], folder=published)
    mu, _ = model.encode(torch.as_tensor(dataset.features[:4], dtype=torch.float32))
    assert model.decode(mu).shape == (4, *dataset.features.shape[1:])
    with pytest.raises(FileNotFoundError, match="--publish-chosen"):
        recipe.load_chosen("level_channel", folder=tmp_path)


def test_committed_plain_log_mel_runs_are_the_beta_vae_recipe_and_its_chosen_runs_are_published():
    frame = pd.read_csv(ws.LOGMEL_PATH)
    beta = dict(ws.FULL.runs)["beta_vae"]
    assert list(frame[["model", "beta", "seed"]].itertuples(index=False, name=None)) == [
        ("beta_vae", beta, s) for s in ws.FULL.seeds
    ]
    assert (frame["epochs"] == ws.FULL.epochs).all()
    for inputs, results in (("logmel", frame), ("level_channel", pd.read_csv(ws.DEFAULT_PATH))):
        path = recipe.CHECKPOINTS / inputs / "beta_vae.pt"
        meta = torch.load(path, map_location="cpu", weights_only=True)["meta"]
        chosen = recipe.chosen_runs(results[results.model == "beta_vae"]).iloc[0]
        assert (meta["beta"], meta["seed"]) == (chosen.beta, chosen.seed)
