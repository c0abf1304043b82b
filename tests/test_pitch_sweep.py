"""Tests of section 3.3: its recipe (course_lib.pitch_recipe), probes and sweep (experiments.pitch_sweep)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import pitch_recipe, probes, recipe
from course_lib.cqt import N_FRAMES
from course_lib.datasets import load_toy_dataset
from course_lib.experiments import pitch_sweep as ps
from course_lib.models.shift import PITCH_SCALE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_BINS = 100


def _inputs(n=200, seed=0):
    """Raw inputs with a peaked profile (fundamental at bins 40..59), an envelope and a level."""
    rng = np.random.default_rng(seed)
    x = torch.zeros(n, N_BINS + N_FRAMES + 1)
    x[:, :N_BINS] = torch.as_tensor(0.1 * rng.random((n, N_BINS)), dtype=torch.float32)
    x[torch.arange(n), torch.as_tensor(rng.integers(40, 60, n))] = 0.6
    x[:, N_BINS:-1] = torch.as_tensor(0.5 + 0.01 * rng.standard_normal((n, N_FRAMES)), dtype=torch.float32)
    x[:, -1] = torch.as_tensor(4 * rng.standard_normal(n), dtype=torch.float32)
    return x


def test_standardisation_keeps_the_level_and_the_loss_s_total_weight():
    x = _inputs()
    raw = pitch_recipe.standardisation(x, "cqt", 0.1)
    assert raw.scale == 0.1 and (raw.mean == 0).all() and (raw.std == 1).all()
    stats = pitch_recipe.standardisation(x, "shift", 0.1)
    assert stats.mean[-1] == 0 and stats.std[-1] == 1  # the level keeps its own scale and gain
    assert (stats.std >= pitch_recipe.STD_FLOOR).all()
    # sum over values of var / (2 s^2): the same on raw values with s and on standardised ones with s~
    variances = x[:, :-1].var(0)
    before = float(variances.sum()) / (2 * 0.1**2)
    after = float(((x[:, :-1] - x[:, :-1].mean(0)) / x[:, :-1].std(0)).var(0).sum()) / (2 * stats.scale**2)
    assert after == pytest.approx(before, rel=1e-4)
    assert 40 <= stats.centre <= 59  # the mean pitch position lies among the fundamentals
    with pytest.raises(ValueError, match="arm must be one of"):
        pitch_recipe.standardisation(x, "conv", 0.1)


@pytest.mark.parametrize("arm", list(pitch_recipe.ARMS))
@pytest.mark.parametrize("model_name", ["beta_tcvae", "factor_vae"])
def test_every_arm_builds_a_vae_that_pitch_model_sees_from_raw_inputs(arm, model_name):
    x = _inputs()
    stats = pitch_recipe.standardisation(x, arm, 0.1)
    settings = recipe.Recipe(hidden=(16,), z_dim=4)
    vae = pitch_recipe.build(arm, model_name, x.shape[1], settings, stats)
    assert hasattr(vae, "discriminator") == (model_name == "factor_vae")
    model = pitch_recipe.PitchModel(vae, stats, (0.0, 1.0), 4.0).eval()
    mu, logvar = model.encode(x[:5])
    assert mu.shape == logvar.shape == (5, 4)
    with torch.no_grad():
        assert model.decode(mu).shape == (5, x.shape[1])
    if arm == "shift":  # the pitch latent is (p - centre) / PITCH_SCALE in bins
        bins = x[:5, :N_BINS].argmax(1).float()
        torch.testing.assert_close(mu[:, 0], (bins - stats.centre) / PITCH_SCALE, atol=0.02, rtol=0)


def test_a_probe_reads_a_factor_that_is_there_and_not_one_that_is_not():
    rng = np.random.default_rng(0)
    classes = np.stack([rng.integers(0, 3, 600), rng.integers(0, 4, 600)], axis=1)
    values = np.concatenate([np.eye(3)[classes[:, 0]] + 0.05 * rng.standard_normal((600, 3)),
                             rng.standard_normal((600, 2))], axis=1)  # fmt: skip
    table = probes.probe_table(values, classes, ("there", "absent"), n_train=400, n_test=200)
    assert list(table.columns) == ["factor", "chance", "logistic", "mlp"]
    there, absent = table.iloc[0], table.iloc[1]
    assert there.logistic == 1.0 and there.mlp >= 0.95
    assert absent.logistic < 0.45 and absent.chance < 0.4
    with pytest.raises(ValueError, match="exceeds"):
        probes.probe_table(values, classes, ("a", "b"), n_train=500, n_test=200)
    with pytest.raises(ValueError, match="one name per factor"):
        probes.probe_table(values, classes, ("a",), n_train=10, n_test=10)
    with pytest.raises(ValueError, match="kind must be one of"):
        probes.probe_table(values, classes, ("a", "b"), n_train=10, n_test=10, kinds=("forest",))


@pytest.mark.slow
def test_fast_command_writes_probes_and_runs_and_publishes_beside_them(tmp_path):
    assert ps.main(["--fast", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "probes.csv")
    assert set(table.representation) == {"logmel", "level_channel", "pitch"}
    assert table[["logistic", "mlp"]].stack().between(0, 1).all()
    runs = pd.read_csv(tmp_path / "pitch_sweep.csv")
    assert list(runs[["arm", "model"]].itertuples(index=False, name=None)) == [
        (a, m) for a, m, _ in ps.FAST.runs
    ]
    assert ps.main(["--fast", "--out", str(tmp_path), "--publish"]) == 0
    published = recipe.runs_dir_for(tmp_path / "pitch_sweep.csv") / "published"
    model, meta = pitch_recipe.load_pitch_model("gvae_known_k", published)
    assert meta["arm"] == "shift" and not model.training
    with pytest.raises(FileNotFoundError, match="pitch_sweep"):
        pitch_recipe.load_pitch_model("beta_vae", tmp_path)


def test_committed_results_come_from_the_full_settings():
    runs = pd.read_csv(ps.RUNS_PATH)
    expected = {(a, m, b, s) for a, m, b in ps.FULL.runs for s in ps.FULL.seeds}
    assert set(runs[["arm", "model", "beta", "seed"]].itertuples(index=False, name=None)) == expected
    assert (runs["epochs"] == ps.FULL.epochs).all() and runs["mig"].between(0, 1).all()
    table = pd.read_csv(ps.PROBES_PATH)
    assert len(table) == 3 * 7 and (table.logistic >= table.chance - 0.05).all()


def test_published_checkpoints_are_the_shift_arm_s_chosen_runs():
    runs = pd.read_csv(ps.RUNS_PATH)
    chosen = recipe.published_runs(runs[runs.arm == "shift"])
    folder = recipe.CHECKPOINTS / "pitch"
    assert sorted(p.stem for p in folder.glob("*.pt")) == sorted(chosen.model)
    dataset = load_toy_dataset("default")
    for run in chosen.itertuples():
        model, meta = pitch_recipe.load_pitch_model(run.model)
        assert (meta["model_name"], meta["beta"], meta["seed"]) == (run.model, run.beta, run.seed)
        assert meta["level_gain"] == ps.FULL.level_gain
        assert meta["level_scale"] == pytest.approx(list(pitch_recipe.level_scale(dataset.features)))
