"""Loudness-normalised inputs: unsupervised beta-VAE and beta-TCVAE against weakly supervised Ada-GVAE.

Taught in chapters/03_2_pitch_and_loudness.ipynb, which plots its results files and listens to its
checkpoints. Reproduce with::

    python -m course_lib.experiments.weak_sweep            # -> results/weak_sweep.csv (about 90 CPU minutes)
    python -m course_lib.experiments.weak_sweep --publish  # -> results/checkpoints/<model>.pt
    python -m course_lib.experiments.weak_sweep --fast     # a smoke run (never overwrites the file)

and the run that isolates the level channel (the beta_vae recipe on plain log-mels; about 11 CPU
minutes; the level-channel half is the beta_vae rows of ``results/weak_sweep.csv``)::

    python -m course_lib.experiments.weak_sweep --inputs logmel --models beta_vae  # -> weak_sweep_logmel.csv
    python -m course_lib.experiments.weak_sweep --inputs logmel --publish-chosen beta_vae
    python -m course_lib.experiments.weak_sweep --publish-chosen beta_vae
    # -> results/checkpoints/<inputs>/beta_vae.pt, the median-MIG seed of each half, for listening

The inputs (:attr:`Settings.inputs`, :func:`make_inputs`) are :func:`course_lib.loudness.level_channel_inputs`
of the default grid: the 64 x 32 log-mel relative to each clip's level (floor 55 dB below it) and the
standardised level, times 4 (so that the decoder's error on it weighs like 16 values), as one more
value; with ``--inputs logmel``, the plain 64 x 32 log-mels instead (everything else unchanged). The
model is an MLP VAE (two ReLU layers of 256, 10 latents, Gaussian decoder with standard deviation 0.1)
trained on all 54,000 sounds in one of five ways (each a ``(model, beta)`` of :attr:`Settings.runs`):

* ``beta_vae``: the beta-VAE loss on single sounds (no labels);
* ``beta_tcvae``: beta-TCVAE (:func:`course_lib.objectives.beta_tcvae_loss`, minibatch-stratified
  estimator, alpha = gamma = 1, beta on the total correlation) on single sounds (no labels);
* ``factor_vae``: FactorVAE (:func:`course_lib.objectives.factor_vae_loss`), the total correlation
  estimated by a discriminator and weighted by beta in all (gamma = beta - 1 on top of the ELBO's KL)
  on single sounds (no labels);
* ``ada_gvae``: Ada-GVAE (:func:`course_lib.objectives.make_ada_gvae_loss`) on pairs of sounds that
  differ in exactly one factor, the other six shared (:class:`course_lib.weak_pairs.PairLoader`, k = 1):
  the supervision is "these two sounds differ in one factor", never which one;
* ``gvae_known_k``: the same pairs and loss, but the number of differing factors (one) is used: all
  latents except the one whose posteriors differ most are averaged.

The first four run at one beta each (chosen from short trial runs); ``gvae_known_k``, the model with
the most supervision, at three (2, 4, 8), the one of highest mean MIG being the one the chapter shows.

Each epoch sees 54,000 sounds or pairs. Every run encodes the whole grid to its mean codes and is scored
with the same metrics and settings as :mod:`course_lib.experiments.beta_sweep` (its :func:`score`);
reconstruction and KL are measured on 2,000 sounds of the grid (seen in training, since every sound is).
One CSV row per (model, beta, seed); each finished run is merged into the file under a lock, so
``--models``/``--betas``/``--seeds`` subsets can run in parallel processes. Every run also leaves its
checkpoint in the data folder; ``--publish`` then copies two of them into
``results/checkpoints/<model>.pt`` (float16 weights, loaded back to float32 by
:func:`load_published`): for the best model without labels and
the best model with pairs (highest mean MIG over the seeds at the model's best beta), the run whose
MIG is the median of its seeds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib import config, latents
from course_lib.config import RESULTS_DIR, data_dir
from course_lib.datasets import ToyDataset, load_toy_dataset
from course_lib.experiments import pick_settings
from course_lib.experiments.beta_sweep import FULL as BETA_SWEEP
from course_lib.experiments.beta_sweep import score
from course_lib.files import exclusive_lock, write_csv
from course_lib.losses import batch_x, make_vae_loss
from course_lib.loudness import LevelChannelModel, LevelScale, level_channel_inputs, level_scale
from course_lib.models.vae import VAE, mlp_vae
from course_lib.objectives import (
    beta_tcvae_loss,
    factor_vae_discriminator,
    factor_vae_loss,
    make_ada_gvae_loss,
)
from course_lib.train import TensorLoader, copy_half, load_checkpoint, save_checkpoint, train
from course_lib.weak_pairs import PairLoader

MODELS = ("beta_vae", "beta_tcvae", "factor_vae", "ada_gvae", "gvae_known_k")
UNSUPERVISED = ("beta_vae", "beta_tcvae", "factor_vae")
"""The models trained on single sounds, without any label; the others see pairs."""
INPUTS = ("level_channel", "logmel")
"""The representations (:func:`make_inputs`): the level channel (the sweep's) or the plain log-mels."""
DEFAULT_PATH = RESULTS_DIR / "weak_sweep.csv"
LOGMEL_PATH = RESULTS_DIR / "weak_sweep_logmel.csv"
"""The runs on plain log-mels (``--inputs logmel``): the level channel's effect, isolated."""
CHECKPOINTS = RESULTS_DIR / "checkpoints"
KEY = ["model", "beta", "seed"]


@dataclass(frozen=True)
class Settings:
    """Everything that defines the sweep: the ``(model, beta)`` runs, each over every seed."""

    runs: tuple[tuple[str, float], ...] = (
        ("beta_vae", 8.0),
        ("beta_tcvae", 6.0),
        ("factor_vae", 6.0),
        ("ada_gvae", 8.0),
        ("gvae_known_k", 2.0),
        ("gvae_known_k", 4.0),
        ("gvae_known_k", 8.0),
    )
    seeds: tuple[int, ...] = (0, 1, 2)
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

    @property
    def models(self) -> tuple[str, ...]:
        """The models of :attr:`runs`, in order, each once."""
        return tuple(dict.fromkeys(model for model, _ in self.runs))


FULL = Settings()
"""The settings of the committed ``results/weak_sweep.csv`` and ``results/checkpoints``."""

FAST = Settings(runs=tuple((m, 8.0) for m in MODELS), seeds=(0,), epochs=1, n_held=200, preset="static")
"""A smoke test (the small static grid, one epoch)."""


def make_model(settings: Settings, n_inputs: int, model_name: str = "beta_vae") -> VAE:
    """The MLP VAE over the flattened inputs (ReLU layers, Gaussian decoder of fixed scale).

    For ``factor_vae`` it carries its discriminator as the submodule ``discriminator``
    (:func:`course_lib.objectives.factor_vae_discriminator`), trained and saved with it.
    """
    _check_model(model_name)
    model = mlp_vae(n_inputs, settings.z_dim, settings.hidden, activation="relu", scale=settings.scale)
    if model_name == "factor_vae":
        model.discriminator = factor_vae_discriminator(settings.z_dim)
    return model


def _check_model(model_name: str) -> None:
    if model_name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model_name!r}.")


def make_inputs(dataset: ToyDataset, settings: Settings) -> torch.Tensor:
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
    model_name: str, inputs: torch.Tensor, dataset: ToyDataset, settings: Settings
) -> TensorLoader | PairLoader:
    """Single sounds for the unsupervised models, pairs differing in one factor for the others."""
    _check_model(model_name)
    if model_name in UNSUPERVISED:
        return TensorLoader(inputs, batch_size=settings.batch_size, shuffle=True)
    return PairLoader(inputs, dataset.factor_space, k=1, batch_size=settings.batch_size)


def make_loss(model_name: str, beta: float, dataset_size: int):
    """The ``loss_fn`` of each model (see the module docstring)."""
    _check_model(model_name)
    if model_name == "beta_vae":
        return make_vae_loss(beta=beta)
    if model_name == "ada_gvae":
        return make_ada_gvae_loss(beta=beta)
    if model_name == "gvae_known_k":
        return make_ada_gvae_loss(beta=beta, known_k=1)

    if model_name == "factor_vae":  # beta weighs the total correlation, as in beta-TCVAE: gamma = beta - 1

        def factor_loss(model: nn.Module, batch: Any, epoch: int):
            return factor_vae_loss(model, batch_x(batch), gamma=max(beta - 1.0, 0.0))

        return factor_loss

    def tcvae_loss(model: nn.Module, batch: Any, epoch: int):
        return beta_tcvae_loss(model, batch_x(batch), dataset_size, beta=beta)

    return tcvae_loss


def checkpoint_path(runs_dir: str | os.PathLike, model_name: str, beta: float, seed: int) -> Path:
    """Where a run leaves its model: ``runs_dir`` (in the data folder, not committed)."""
    return Path(runs_dir) / f"{model_name}_beta{beta:g}_seed{seed}.pt"


def runs_dir_for(results_path: str | os.PathLike) -> Path:
    """The folder of the runs' checkpoints behind the results file ``results_path`` (in the data folder).

    Named after the file and a digest of its absolute path, so two results files never share runs.
    """
    path = Path(results_path).resolve()
    return data_dir() / "weak_sweep_runs" / f"{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def run_one(
    model_name: str,
    beta: float,
    seed: int,
    dataset: ToyDataset,
    inputs: torch.Tensor,
    settings: Settings,
    build: Callable[[int], nn.Module] | None = None,
) -> tuple[dict[str, Any], nn.Module]:
    """Train one model, encode the whole grid, score it: one results row and the model.

    ``build(n_inputs)`` makes the untrained network (default: :func:`make_model` with ``settings``);
    chapter 4 passes its recurrent model to train it with the same recipe.
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
    scores = score(model, codes, dataset, inputs[np.sort(held)], BETA_SWEEP.metric_settings, seed=seed)
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


def merge_results(row: dict[str, Any], path: str | os.PathLike) -> pd.DataFrame:
    """Merge one run's ``row`` into the CSV at ``path`` (replacing a row with the same model, beta, seed).

    Under an exclusive lock and written atomically, so parallel processes never lose each other's rows.
    Rows are kept in the order model, beta, seed.
    """
    path = Path(path)
    with exclusive_lock(path):
        frame = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(row))
        same = (
            (frame["model"] == row["model"]) & (frame["beta"] == row["beta"]) & (frame["seed"] == row["seed"])
        )
        frame = pd.concat([frame[~same], pd.DataFrame([row])], ignore_index=True)
        order = {m: i for i, m in enumerate(MODELS)}
        frame = frame.sort_values(KEY, key=lambda c: c.map(order) if c.name == "model" else c)
        write_csv(frame.reset_index(drop=True), path, float_format="%.8g")
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
    """The two runs the course publishes: the best model without labels and the best with pairs.

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


def publish(results: pd.DataFrame, runs_dir: str | os.PathLike, folder: str | os.PathLike) -> list[Path]:
    """Copy the :func:`published_runs` checkpoints from ``runs_dir`` to ``folder/<model>.pt`` in float16."""
    return [
        copy_run(run, runs_dir, Path(folder) / f"{run.model}.pt")
        for run in published_runs(results).itertuples()
    ]


def copy_run(run: Any, runs_dir: str | os.PathLike, destination: Path) -> Path:
    """Copy the checkpoint of ``run`` (a results row: model, beta, seed) from ``runs_dir``, in float16."""
    source = checkpoint_path(runs_dir, run.model, run.beta, run.seed)
    if not source.exists():
        raise FileNotFoundError(f"no checkpoint for {run.model} beta={run.beta:g} seed={run.seed}: {source}.")
    return copy_half(source, destination)


def publish_chosen(
    results: pd.DataFrame, model_name: str, runs_dir: str | os.PathLike, folder: str | os.PathLike
) -> Path:
    """Copy the :func:`chosen_runs` run of ``model_name`` from ``runs_dir`` to ``folder/<model>.pt``."""
    chosen = chosen_runs(results[results["model"] == model_name])
    if chosen.empty:
        raise ValueError(f"results hold no run of {model_name!r}.")
    return copy_run(chosen.iloc[0], runs_dir, Path(folder) / f"{model_name}.pt")


def load_chosen(
    inputs: str,
    model_name: str = "beta_vae",
    shape: tuple[int, ...] = (64, 32),
    folder: str | os.PathLike = CHECKPOINTS,
) -> nn.Module:
    """The :func:`publish_chosen` model trained on ``inputs``, log-mels ``[clips, *shape]`` in and out.

    A plain log-mel model is the MLP VAE itself (float32, eval mode); a level-channel model is wrapped
    in :class:`LevelChannelModel` with the level scale saved in its meta.
    """
    if inputs not in INPUTS:
        raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}.")
    path = Path(folder) / inputs / f"{model_name}.pt"
    command = "course_lib.experiments.weak_sweep" + (" --inputs logmel" if inputs == "logmel" else "")
    if not path.exists():
        raise FileNotFoundError(f"no {path}: run python -m {command}, then --publish-chosen {model_name}.")
    if inputs == "logmel":
        model = make_model(FULL, int(np.prod(shape)), model_name)
        load_checkpoint(model, path)
        return _Reshaped(model.eval(), tuple(shape))
    model = make_model(FULL, int(np.prod(shape)) + 1, model_name)
    meta = load_checkpoint(model, path)
    return LevelChannelModel(model.eval(), shape, LevelScale(*meta["level_scale"]), FULL.level_gain)


class _Reshaped(nn.Module):
    """A VAE over flattened log-mels, seen with log-mels ``[clips, *shape]`` in and out."""

    def __init__(self, vae: VAE, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.vae, self.shape = vae, shape

    def encode(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vae.encode(torch.as_tensor(features, dtype=torch.float32).flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z).reshape(-1, *self.shape)


def load_published_into(model: nn.Module, path: Path, command: str) -> dict:
    """Load the published checkpoint ``path`` into ``model`` and return its meta.

    A missing file names the ``command`` (a module run with ``python -m``) whose ``--publish`` makes it.
    """
    if not path.exists():
        raise FileNotFoundError(f"no {path}: run python -m {command}, then --publish.")
    return load_checkpoint(model, path)


def load_published(
    model_name: str, n_inputs: int, folder: str | os.PathLike = CHECKPOINTS
) -> tuple[VAE, dict]:
    """The published model ``model_name`` (float32, eval mode) and its meta (beta, seed, level scale)."""
    _check_model(model_name)
    model = make_model(FULL, n_inputs, model_name)
    meta = load_published_into(model, Path(folder) / f"{model_name}.pt", "course_lib.experiments.weak_sweep")
    return model.eval(), meta


def load_logmel_model(
    model_name: str, shape: tuple[int, ...] = (64, 32), folder: str | os.PathLike = CHECKPOINTS
) -> tuple[LevelChannelModel, dict]:
    """The published model with log-mels ``[clips, *shape]`` in and out (:class:`LevelChannelModel`).

    Its inputs are standardised with the level scale of the grid it was trained on (saved in its meta),
    so it encodes the clips of any grid the way it saw its own.
    """
    model, meta = load_published(model_name, int(np.prod(shape)) + 1, folder)
    if "level_scale" not in meta:
        raise ValueError(
            f"{Path(folder) / model_name}.pt has no level scale in its meta: publish it again "
            "(python -m course_lib.experiments.weak_sweep --publish)."
        )
    return LevelChannelModel(model, shape, LevelScale(*meta["level_scale"]), FULL.level_gain), meta


def report(label: str, row: dict[str, Any], factor_names: tuple[str, ...]) -> str:
    """One line per finished run: its label, beta, seed, MIG (per factor) and CPU seconds."""
    per_factor = ", ".join(f"{n} {row[f'mig_{n}']:.2f}" for n in factor_names)
    return (
        f"{label} beta={row['beta']:g} seed={row['seed']}: MIG {row['mig']:.3f} ({per_factor}); "
        f"{row['train_cpu_s']:.0f} + {row['metrics_cpu_s']:.0f} CPU s"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.experiments.weak_sweep [--fast] [--models ...] [--seeds ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings (static grid, one epoch)")
    parser.add_argument("--models", nargs="+", choices=MODELS, help="only the runs of these models")
    parser.add_argument("--betas", type=float, nargs="+", help="only the runs at these betas")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default=None, help=f"CSV to write (default {DEFAULT_PATH}; fast: data/)")
    parser.add_argument("--inputs", choices=INPUTS, help="the representation (default level_channel)")
    parser.add_argument("--publish", action="store_true", help="copy the chosen checkpoints to results/")
    parser.add_argument(
        "--publish-chosen", metavar="MODEL", choices=MODELS, help="copy MODEL's chosen run to results/"
    )
    args = parser.parse_args(argv)
    settings, fast = pick_settings(args, FAST, FULL)
    if args.out is None:  # a smoke run never overwrites the committed results
        plain = settings.inputs == "logmel"
        if fast:
            args.out = str(data_dir() / f"weak_sweep{'_logmel' if plain else ''}_fast.csv")
        else:
            args.out = str(LOGMEL_PATH if plain else DEFAULT_PATH)
    runs_dir = runs_dir_for(args.out)
    if args.publish_chosen:  # a smoke run publishes beside its runs, never into results/
        folder = (runs_dir / "published" if fast else CHECKPOINTS) / settings.inputs
        print(f"wrote {publish_chosen(pd.read_csv(args.out), args.publish_chosen, runs_dir, folder)}")
        return 0
    if args.publish:
        if settings.inputs != "level_channel":
            parser.error("--publish copies the level-channel models; use --publish-chosen.")
        folder = runs_dir / "published" if fast else CHECKPOINTS
        for path in publish(pd.read_csv(args.out), runs_dir, folder):
            print(f"wrote {path}")
        return 0
    if settings.epochs < 1:
        parser.error("--epochs must be positive.")
    torch.set_num_threads(args.threads)
    dataset = load_toy_dataset(settings.preset)
    inputs = make_inputs(dataset, settings)
    scale = list(level_scale(dataset.features))  # saved with each run: how a level channel was standardised
    runs = [
        (m, b)
        for m, b in settings.runs
        if (args.models is None or m in args.models) and (args.betas is None or b in args.betas)
    ]
    for model_name, beta in runs:
        for seed in settings.seeds:
            row, model = run_one(model_name, beta, seed, dataset, inputs, settings)
            path = checkpoint_path(runs_dir, model_name, beta, seed)
            save_checkpoint(model, path, model_name=model_name, beta=beta, seed=seed, level_scale=scale)
            merge_results(row, args.out)
            print(report(model_name, row, dataset.factor_space.names), flush=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
