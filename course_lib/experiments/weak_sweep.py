"""Loudness-normalised inputs: an unsupervised beta-VAE against a weakly supervised Ada-GVAE (chapter 3).

Taught in chapters/03_beta_vae.ipynb, which plots its results file. Reproduce with::

    python -m course_lib.experiments.weak_sweep            # -> results/weak_sweep.csv (about 22 CPU minutes)
    python -m course_lib.experiments.weak_sweep --fast     # a smoke run (never overwrites the file)

The inputs are :func:`course_lib.loudness.level_channel_inputs` of the default grid: the 64 x 32 log-mel
relative to each clip's level (floor 55 dB below it) and the standardised level as one more value. The
model is an MLP VAE (two ReLU layers of 256, 10 latents, Gaussian decoder with standard deviation 0.1)
trained on all 54,000 sounds in one of two ways:

* ``beta_vae``: the beta-VAE loss on single sounds (no labels);
* ``ada_gvae``: Ada-GVAE (:func:`course_lib.objectives.make_ada_gvae_loss`) on pairs of sounds that differ
  in exactly one factor, the other six shared (:class:`course_lib.weak_pairs.PairLoader`, k = 1): the
  supervision is "these two sounds differ in one factor", never which one. Each epoch sees 54,000 pairs.

Every run encodes the whole grid to its mean codes and is scored with the same metrics and settings as
:mod:`course_lib.experiments.beta_sweep` (its :func:`score`); reconstruction and KL are measured on 2,000
sounds of the grid (seen in training, since every sound is). One CSV row per (model, beta, seed), written
atomically after every run; ``--models``/``--seeds`` subsets can run in parallel processes.
"""

from __future__ import annotations

import argparse
import os
import time
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
from course_lib.files import write_csv
from course_lib.losses import make_vae_loss
from course_lib.loudness import level_channel_inputs
from course_lib.models.vae import VAE, mlp_vae
from course_lib.objectives import make_ada_gvae_loss
from course_lib.train import TensorLoader, train
from course_lib.weak_pairs import PairLoader

MODELS = ("beta_vae", "ada_gvae")
DEFAULT_PATH = RESULTS_DIR / "weak_sweep.csv"


@dataclass(frozen=True)
class Settings:
    """Everything that defines the sweep."""

    models: tuple[str, ...] = MODELS
    betas: tuple[float, ...] = (8.0,)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 20
    z_dim: int = 10
    hidden: tuple[int, ...] = (256, 256)
    scale: float = 0.1
    batch_size: int = 128
    lr: float = 1e-3
    n_held: int = 2000
    preset: str = "default"


FULL = Settings()
"""The settings of the committed ``results/weak_sweep.csv``."""

FAST = Settings(betas=(8.0,), seeds=(0,), epochs=1, n_held=200, preset="static")
"""A smoke test (the small static grid, one epoch)."""


def make_model(settings: Settings, n_inputs: int) -> VAE:
    """The MLP VAE over the flattened inputs (ReLU layers, Gaussian decoder of fixed scale)."""
    return mlp_vae(n_inputs, settings.z_dim, settings.hidden, activation="relu", scale=settings.scale)


def make_loader(
    model_name: str, inputs: torch.Tensor, dataset: ToyDataset, settings: Settings
) -> TensorLoader | PairLoader:
    """Single sounds for ``beta_vae``, pairs differing in one factor for ``ada_gvae``."""
    if model_name == "beta_vae":
        return TensorLoader(inputs, batch_size=settings.batch_size, shuffle=True)
    if model_name == "ada_gvae":
        return PairLoader(inputs, dataset.factor_space, k=1, batch_size=settings.batch_size)
    raise ValueError(f"model must be one of {MODELS}, got {model_name!r}.")


def run_one(
    model_name: str, beta: float, seed: int, dataset: ToyDataset, inputs: torch.Tensor, settings: Settings
) -> tuple[dict[str, Any], nn.Module]:
    """Train one model, encode the whole grid, score it: one results row and the model."""
    loss_fn = make_vae_loss(beta=beta) if model_name == "beta_vae" else make_ada_gvae_loss(beta=beta)
    loader = make_loader(model_name, inputs, dataset, settings)
    config.seed_everything(seed)
    model = make_model(settings, inputs.shape[1])
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


def write_results(rows: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write ``rows`` to ``path`` atomically (one row per run)."""
    return write_csv(pd.DataFrame(rows), path, float_format="%.4f")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.experiments.weak_sweep [--fast] [--models ...] [--seeds ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings (static grid, one epoch)")
    parser.add_argument("--models", nargs="+", choices=MODELS)
    parser.add_argument("--betas", type=float, nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default=None, help=f"CSV to write (default {DEFAULT_PATH}; fast: data/)")
    args = parser.parse_args(argv)
    settings, fast = pick_settings(args, FAST, FULL)
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = str(data_dir() / "weak_sweep_fast.csv") if fast else str(DEFAULT_PATH)
    if settings.epochs < 1 or any(b <= 0 for b in settings.betas):
        parser.error("--epochs must be positive and every --betas value > 0.")
    torch.set_num_threads(args.threads)
    dataset = load_toy_dataset(settings.preset)
    inputs = level_channel_inputs(dataset.features)
    rows: list[dict[str, Any]] = []
    for model_name in settings.models:
        for beta in settings.betas:
            for seed in settings.seeds:
                row, _ = run_one(model_name, beta, seed, dataset, inputs, settings)
                rows.append(row)
                write_results(rows, args.out)
                per_factor = ", ".join(f"{n} {row[f'mig_{n}']:.2f}" for n in dataset.factor_space.names)
                print(
                    f"{model_name} beta={beta:g} seed={seed}: MIG {row['mig']:.3f} ({per_factor}); "
                    f"{row['train_cpu_s']:.0f} + {row['metrics_cpu_s']:.0f} CPU s",
                    flush=True,
                )
    print(f"wrote {args.out} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
