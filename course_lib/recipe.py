"""Chapter 3.2's recipe as a library: its inputs, models, losses by name, scoring, runs and loaders.

Taught in chapters/03_2_pitch_and_loudness.ipynb; trained by the experiments
:mod:`course_lib.experiments.weak_sweep` (the sweep that chose it), ``recipe_networks`` (chapter 4:
other networks, same recipe) and ``scan_compositional`` (chapter 5.2: SCAN grounded in it), which import
this module and never each other.

* **Inputs** (:func:`make_inputs`): :func:`course_lib.loudness.level_channel_inputs` (the relative
  log-mel and the standardised level times :attr:`Recipe.level_gain`) or the plain log-mels. Every
  checkpoint saves the level scale and the gain together (:func:`course_lib.loudness.level_channel_meta`),
  so its loader needs nothing else.
* **Models** (:func:`make_model`): an MLP VAE over the flattened inputs (ReLU layers, Gaussian decoder of
  fixed scale); FactorVAE's carries its discriminator.
* **Losses by name** (:data:`LOSSES`, :func:`make_loss`): one builder per model name.
* **Scoring** (:func:`score`, :data:`SWEEP_METRICS`, :data:`LIVE_METRICS`): every experiment scores its
  models with the same metrics and one of these two sets of sample counts.
* **Runs** (:func:`run_one`, :func:`merge_results`, :func:`chosen_runs`, :func:`copy_run`): one trained
  and scored run, the CSV of runs, the run of median MIG, its float16 copy.
* **Loaders** (:func:`load_published`, :func:`load_logmel_model`, :func:`load_chosen`): the committed
  checkpoints under ``results/checkpoints``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib import config, latents
from course_lib.config import RESULTS_DIR, data_dir
from course_lib.datasets import ToyDataset
from course_lib.experiments import FLOAT_FORMAT
from course_lib.files import exclusive_lock, write_csv
from course_lib.losses import LossFn, batch_x, elbo_terms, make_vae_loss
from course_lib.loudness import LevelChannelModel, level_channel_inputs
from course_lib.metrics import MetricSettings, evaluate_all
from course_lib.models.vae import VAE, mlp_vae
from course_lib.objectives import (
    beta_tcvae_loss,
    factor_vae_discriminator,
    factor_vae_loss,
    make_ada_gvae_loss,
)
from course_lib.train import TensorLoader, copy_half, load_checkpoint, train
from course_lib.weak_pairs import PairLoader

MODELS = ("beta_vae", "beta_tcvae", "factor_vae", "ada_gvae", "gvae_known_k")
UNSUPERVISED = ("beta_vae", "beta_tcvae", "factor_vae")
"""The models trained on single sounds, without any label; the others see pairs."""
INPUTS = ("level_channel", "logmel")
"""The representations (:func:`make_inputs`): the level channel (the recipe's) or the plain log-mels."""
MODEL = "beta_tcvae"
"""Chapter 3's best objective without labels, the one its later chapters build on."""
BETA = 6.0
"""The beta that chapter 3's sweep trained it with."""
CHECKPOINTS = RESULTS_DIR / "checkpoints"
"""The committed checkpoints (written only by an experiment's ``--publish``)."""
KEY = ["model", "beta", "seed"]

SWEEP_METRICS = MetricSettings(
    beta_vae_train=2000,
    beta_vae_eval=1000,
    factor_vae_train=2000,
    factor_vae_eval=1000,
    factor_vae_variance=5000,
    dci_train=1000,
    dci_test=500,
    sap_train=2000,
    sap_test=1000,
)
"""The sample counts of every committed results file: disentanglement_lib's parameters with fewer
samples (DCI's boosted trees dominate the cost; 1,000 training points keep a run's metrics within a
few CPU seconds)."""

LIVE_METRICS = MetricSettings(
    beta_vae_train=500,
    beta_vae_eval=250,
    factor_vae_train=500,
    factor_vae_eval=250,
    factor_vae_variance=2000,
    mig_points=5000,
    dci_train=300,
    dci_test=150,
    sap_train=500,
    sap_test=250,
)
"""The smaller sample counts with which the chapters score the runs they train live."""


@dataclass(frozen=True)
class Recipe:
    """The recipe's settings: inputs, network, optimiser, epochs, held-out count and metric settings."""

    epochs: int = 10
    z_dim: int = 10
    hidden: tuple[int, ...] = (256, 256)
    scale: float = 0.1
    batch_size: int = 128
    lr: float = 1e-3
    n_held: int = 2000
    preset: str = "default"
    level_gain: float = 4.0
    inputs: str = "level_channel"
    metric_settings: MetricSettings = SWEEP_METRICS


RECIPE = Recipe()
"""The recipe of the committed results and checkpoints."""


def _check_model(model_name: str) -> None:
    if model_name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model_name!r}.")


def make_model(settings: Recipe, n_inputs: int, model_name: str = "beta_vae") -> VAE:
    """The MLP VAE over the flattened inputs (ReLU layers, Gaussian decoder of fixed scale).

    For ``factor_vae`` it carries its discriminator as the submodule ``discriminator``
    (:func:`course_lib.objectives.factor_vae_discriminator`), trained and saved with it.
    """
    _check_model(model_name)
    model = mlp_vae(n_inputs, settings.z_dim, settings.hidden, activation="relu", scale=settings.scale)
    if model_name == "factor_vae":
        model.discriminator = factor_vae_discriminator(settings.z_dim)
    return model


def make_inputs(dataset: ToyDataset, settings: Recipe) -> torch.Tensor:
    """The training inputs ``[clips, values]`` of ``settings.inputs`` (:data:`INPUTS`).

    ``"level_channel"``: :func:`course_lib.loudness.level_channel_inputs` (2,049 values per clip on
    the default grid); ``"logmel"``: the flattened log-mels as they are (2,048 values).
    """
    if settings.inputs == "level_channel":
        return level_channel_inputs(dataset.features, level_gain=settings.level_gain)
    if settings.inputs == "logmel":
        return torch.as_tensor(np.asarray(dataset.features, dtype=np.float32).reshape(len(dataset), -1))
    raise ValueError(f"inputs must be one of {INPUTS}, got {settings.inputs!r}.")


def make_loader(
    model_name: str, inputs: torch.Tensor, dataset: ToyDataset, settings: Recipe
) -> TensorLoader | PairLoader:
    """Single sounds for the unsupervised models, pairs differing in one factor for the others."""
    _check_model(model_name)
    if model_name in UNSUPERVISED:
        return TensorLoader(inputs, batch_size=settings.batch_size, shuffle=True)
    return PairLoader(inputs, dataset.factor_space, k=1, batch_size=settings.batch_size)


def _factor_vae(beta: float, dataset_size: int) -> LossFn:
    """FactorVAE, beta weighing the total correlation as in beta-TCVAE: gamma = beta - 1."""

    def factor_loss(model: nn.Module, batch: Any, epoch: int):
        return factor_vae_loss(model, batch_x(batch), gamma=max(beta - 1.0, 0.0))

    return factor_loss


def _beta_tcvae(beta: float, dataset_size: int) -> LossFn:
    """beta-TCVAE with the minibatch-stratified estimator over a set of ``dataset_size`` inputs."""

    def tcvae_loss(model: nn.Module, batch: Any, epoch: int):
        return beta_tcvae_loss(model, batch_x(batch), dataset_size, beta=beta)

    return tcvae_loss


LOSSES: dict[str, Callable[[float, int], LossFn]] = {
    "beta_vae": lambda beta, _: make_vae_loss(beta=beta),
    "beta_tcvae": _beta_tcvae,
    "factor_vae": _factor_vae,
    "ada_gvae": lambda beta, _: make_ada_gvae_loss(beta=beta),
    "gvae_known_k": lambda beta, _: make_ada_gvae_loss(beta=beta, known_k=1),
}
"""Each model's loss builder ``(beta, dataset_size) -> loss_fn``, by name (:data:`MODELS`)."""


def make_loss(model_name: str, beta: float, dataset_size: int) -> LossFn:
    """The ``loss_fn`` of ``model_name`` at ``beta`` (:data:`LOSSES`)."""
    _check_model(model_name)
    return LOSSES[model_name](beta, dataset_size)


@torch.no_grad()
def held_out_terms(model: nn.Module, x: torch.Tensor, seed: int = 0) -> dict[str, Any]:
    """Reconstruction (-log p(x|z), nats), KL (nats) and mean squared error of ``x``, one sample each.

    Also returns the KL of each latent dimension (a list).
    """
    model.eval()
    torch.manual_seed(seed)
    terms = elbo_terms(model, x)
    mse = (model.reconstruct(x) - x).pow(2).mean().item()
    return {
        "recon": terms["recon"].mean().item(),
        "kl": terms["kl"].mean().item(),
        "mse": mse,
        "kl_per_dim": terms["kl_per_dim"].mean(0).tolist(),
    }


def score(
    model: nn.Module,
    codes: np.ndarray,
    dataset: ToyDataset,
    x_test: torch.Tensor,
    metric_settings: MetricSettings,
    seed: int = 0,
) -> dict[str, Any]:
    """The scores of one model: held-out terms of ``x_test``, active latents and every disentanglement metric.

    ``codes``: the mean codes of the whole grid of ``dataset`` (:func:`course_lib.latents.mean_codes`).
    Keys ``test_recon, test_kl, test_mse, active_dims`` (:func:`course_lib.latents.active_dims`),
    ``kl_dim_<d>`` and those of :func:`course_lib.metrics.evaluate_all`.
    """
    held = held_out_terms(model, x_test, seed=seed)
    scores = evaluate_all(
        codes,
        dataset.latents_classes,
        dataset.factor_space.sizes,
        rng=seed,
        settings=metric_settings,
        factor_names=dataset.factor_space.names,
    )
    return {
        "test_recon": held["recon"],
        "test_kl": held["kl"],
        "test_mse": held["mse"],
        "active_dims": latents.active_dims(codes),
        **{f"kl_dim_{d}": v for d, v in enumerate(held["kl_per_dim"])},
        **scores,
    }


def run_one(
    model_name: str,
    beta: float,
    seed: int,
    dataset: ToyDataset,
    inputs: torch.Tensor,
    settings: Recipe,
    build: Callable[[int], nn.Module] | None = None,
) -> tuple[dict[str, Any], nn.Module]:
    """Train one model, encode the whole grid, score it (``settings.metric_settings``): a row, the model.

    ``build(n_inputs)`` makes the untrained network (default: :func:`make_model` with ``settings``);
    chapter 4 passes its recurrent and convolutional models to train them with the same recipe.
    """
    loss_fn = make_loss(model_name, beta, len(inputs))
    loader = make_loader(model_name, inputs, dataset, settings)
    config.seed_everything(seed)
    model = make_model(settings, inputs.shape[1], model_name) if build is None else build(inputs.shape[1])
    start = time.process_time()
    history = train(
        model,
        loader,
        epochs=settings.epochs,
        loss_fn=loss_fn,
        lr=settings.lr,
        seed=seed,
        device="cpu",
        progress=False,
    )
    train_cpu = time.process_time() - start
    codes = latents.mean_codes(model, inputs)
    held = np.random.default_rng(seed).choice(
        len(inputs), size=min(settings.n_held, len(inputs)), replace=False
    )
    start = time.process_time()
    scores = score(model, codes, dataset, inputs[np.sort(held)], settings.metric_settings, seed=seed)
    row = {
        "model": model_name,
        "beta": float(beta),
        "seed": int(seed),
        "epochs": settings.epochs,
        "z_dim": settings.z_dim,
        "train_loss": history[-1]["loss"],
        **scores,
        "train_cpu_s": train_cpu,
        "metrics_cpu_s": time.process_time() - start,
    }
    return row, model


def checkpoint_path(runs_dir: str | os.PathLike, model_name: str, beta: float, seed: int) -> Path:
    """Where a run leaves its model: ``runs_dir`` (in the data folder, not committed)."""
    return Path(runs_dir) / f"{model_name}_beta{beta:g}_seed{seed}.pt"


def runs_dir_for(results_path: str | os.PathLike) -> Path:
    """The folder of the runs' checkpoints behind the results file ``results_path`` (in the data folder).

    Named after the file and a digest of its absolute path, so two results files never share runs.
    """
    path = Path(results_path).resolve()
    return data_dir() / "weak_sweep_runs" / f"{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def merge_results(row: dict[str, Any], path: str | os.PathLike, key: Sequence[str] = KEY) -> pd.DataFrame:
    """Merge one run's ``row`` into the CSV at ``path`` (replacing the row with the same ``key`` values).

    Under an exclusive lock and written atomically (float format ``%.8g``), so parallel processes never
    lose each other's rows. Rows are kept in the order of ``key`` (models in the order of :data:`MODELS`).
    """
    path = Path(path)
    key = list(key)
    with exclusive_lock(path):
        frame = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(row))
        same = np.logical_and.reduce([frame[k] == row[k] for k in key])
        frame = pd.concat([frame[~same], pd.DataFrame([row])], ignore_index=True)
        order = {m: i for i, m in enumerate(MODELS)}
        frame = frame.sort_values(key, key=lambda c: c.map(order) if c.name == "model" else c)
        write_csv(frame.reset_index(drop=True), path, float_format=FLOAT_FORMAT)
    return frame


def chosen_runs(results: pd.DataFrame) -> pd.DataFrame:
    """For each model: its beta of highest mean MIG, and of that beta's seeds the one of median MIG.

    One row per model (the run's results row, plus ``mean_mig``: the mean MIG of its beta over the
    seeds). With an even number of seeds, the lower middle one.
    """
    chosen = []
    for _, runs in results.groupby("model", sort=False):
        mean_mig = runs.groupby("beta")["mig"].mean()
        seeds = runs[runs["beta"] == mean_mig.idxmax()].sort_values("mig")
        chosen.append(seeds.iloc[(len(seeds) - 1) // 2].copy())
        chosen[-1]["mean_mig"] = mean_mig.max()
    return pd.DataFrame(chosen).reset_index(drop=True)


def published_runs(results: pd.DataFrame) -> pd.DataFrame:
    """The two runs a sweep publishes: the best model without labels and the best with pairs.

    Of the :func:`chosen_runs`, the unsupervised model of highest mean MIG at its chosen beta, then the
    weakly supervised one (rows of :func:`chosen_runs`).
    """
    chosen = chosen_runs(results)
    picks = []
    for supervised in (False, True):
        group = chosen[chosen.model.isin(UNSUPERVISED) != supervised]
        if group.empty:
            raise ValueError(f"results hold no {'weakly supervised' if supervised else 'unsupervised'} run.")
        picks.append(group.loc[group.mean_mig.idxmax()])
    return pd.DataFrame(picks).reset_index(drop=True)


def copy_run(run: Any, runs_dir: str | os.PathLike, destination: Path) -> Path:
    """Copy the checkpoint of ``run`` (a results row: model, beta, seed) from ``runs_dir``, in float16."""
    source = checkpoint_path(runs_dir, run.model, run.beta, run.seed)
    if not source.exists():
        raise FileNotFoundError(f"no checkpoint for {run.model} beta={run.beta:g} seed={run.seed}: {source}.")
    return copy_half(source, destination)


def report(label: str, row: dict[str, Any], factor_names: tuple[str, ...]) -> str:
    """One line per finished run: its label, beta, seed, MIG (per factor) and CPU seconds."""
    per_factor = ", ".join(f"{n} {row[f'mig_{n}']:.2f}" for n in factor_names)
    return (
        f"{label} beta={row['beta']:g} seed={row['seed']}: MIG {row['mig']:.3f} ({per_factor}); "
        f"{row['train_cpu_s']:.0f} + {row['metrics_cpu_s']:.0f} CPU s"
    )


# ------------------------------------------------------------------------------------------- loaders
def load_published_into(model: nn.Module, path: Path, command: str) -> dict:
    """Load the published checkpoint ``path`` into ``model`` (eval mode) and return its meta.

    A missing file names the ``command`` (a module run with ``python -m``) whose ``--publish`` makes it.
    """
    if not path.exists():
        raise FileNotFoundError(f"no {path}: run python -m {command}, then --publish.")
    meta = load_checkpoint(model, path)
    model.eval()
    return meta


def load_published(
    model_name: str, n_inputs: int, folder: str | os.PathLike = CHECKPOINTS
) -> tuple[VAE, dict]:
    """The published model ``model_name`` (float32, eval mode) and its meta (beta, seed, level channel)."""
    _check_model(model_name)
    model = make_model(RECIPE, n_inputs, model_name)
    meta = load_published_into(model, Path(folder) / f"{model_name}.pt", "course_lib.experiments.weak_sweep")
    return model, meta


def load_logmel_model(
    model_name: str, shape: tuple[int, ...] = (64, 32), folder: str | os.PathLike = CHECKPOINTS
) -> tuple[LevelChannelModel, dict]:
    """The published model with log-mels ``[clips, *shape]`` in and out (:class:`LevelChannelModel`).

    Its inputs are standardised with the level scale and gain of the grid it was trained on (saved in
    its meta), so it encodes the clips of any grid the way it saw its own.
    """
    model, meta = load_published(model_name, int(np.prod(shape)) + 1, folder)
    return LevelChannelModel.from_meta(model, shape, meta, Path(folder) / f"{model_name}.pt"), meta


def load_chosen(
    inputs: str,
    model_name: str = "beta_vae",
    shape: tuple[int, ...] = (64, 32),
    folder: str | os.PathLike = CHECKPOINTS,
) -> nn.Module:
    """The ``weak_sweep --publish-chosen`` model trained on ``inputs``: log-mels ``[clips, *shape]`` in, out.

    A plain log-mel model is the MLP VAE itself (float32, eval mode); a level-channel model is wrapped
    in :class:`LevelChannelModel` with the level scale and gain saved in its meta.
    """
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}.")
    path = Path(folder) / inputs / f"{model_name}.pt"
    command = "course_lib.experiments.weak_sweep" + (" --inputs logmel" if inputs == "logmel" else "")
    if not path.exists():
        raise FileNotFoundError(f"no {path}: run python -m {command}, then --publish-chosen {model_name}.")
    n_values = int(np.prod(shape))
    if inputs == "logmel":
        model = make_model(RECIPE, n_values, model_name)
        load_published_into(model, path, command)
        return _Reshaped(model, tuple(shape))
    model = make_model(RECIPE, n_values + 1, model_name)
    meta = load_published_into(model, path, command)
    return LevelChannelModel.from_meta(model, shape, meta, path)


class _Reshaped(nn.Module):
    """A VAE over flattened log-mels, seen with log-mels ``[clips, *shape]`` in and out."""

    def __init__(self, vae: VAE, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.vae, self.shape = vae, shape

    def encode(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vae.encode(torch.as_tensor(features, dtype=torch.float32).flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z).reshape(-1, *self.shape)
