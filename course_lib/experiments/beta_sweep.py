"""The beta sweep of chapter 3: MLP beta-VAEs on the default toy dataset, several betas and seeds.

Taught in chapters/03_1_beta_vae.ipynb (Q2 and Q4). Reproduce the committed results with::

    python -m course_lib.experiments.beta_sweep            # full sweep -> results/beta_sweep.csv
    python -m course_lib.experiments.beta_sweep --fast     # a two-minute smoke version (not committed)

Each run trains an MLP VAE with a Gaussian likelihood (fixed standard deviation ``scale``) on a random
training subset of the 54,000-clip grid, then encodes the WHOLE grid to its mean codes and computes every
disentanglement score with :func:`course_lib.metrics.evaluate_all`. Reconstruction and KL are measured on
held-out clips (grid points the run never trained on). One CSV row per (beta, seed), written atomically
after every run, so an interrupted sweep keeps what it finished.

The settings (:class:`Settings`: :data:`FULL` for the committed file, :data:`FAST` for the smoke test;
command-line options override single fields): beta in {1, 4, 16, 32, 64} x seeds {0, 1, 2}, 30 epochs over
50,000 of the 54,000 clips (2,000 of the rest held out), about 3.5 CPU minutes per run, 50 in all on one
thread. Every run is seeded by its own (beta, seed), so subsets (``--seeds 0 --betas 1 4``) can run in
parallel processes and their rows are the rows the whole sweep writes. The chapter trains its own live
models with :func:`train_model` and scores them with :func:`course_lib.recipe.score`, as a row here is.

Effective beta. The reconstruction term is summed over the 64 x 32 = 2,048 feature values and the KL over
the latents, both averaged over the batch (:mod:`course_lib.losses`). With a Gaussian decoder of fixed
standard deviation s the loss is ``||x - x_hat||^2 / (2 s^2) + beta * KL``, so only ``beta * 2 s^2``
matters: halving s is the same as dividing beta by four. We keep s = 0.1 (10 dB on the [0, 1] log-mel
scale) and sweep beta.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import config, latents, metrics
from course_lib.experiments import FLOAT_FORMAT, pick_settings, positive_int
from course_lib.files import write_csv
from course_lib.losses import make_vae_loss
from course_lib.metrics import MetricSettings
from course_lib.models.vae import VAE, mlp_vae
from course_lib.recipe import SWEEP_METRICS, score
from course_lib.train import History, fit


@dataclass(frozen=True)
class Settings:
    """Everything that defines the sweep: its grid of (beta, seed), the model, training and metrics."""

    betas: tuple[float, ...] = (1.0, 4.0, 16.0, 32.0, 64.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 30
    train_size: int = 50000
    test_size: int = 2000
    z_dim: int = 10
    scale: float = 0.1
    hidden: tuple[int, ...] = (256,)
    batch_size: int = 256
    lr: float = 2e-3
    metric_settings: MetricSettings = SWEEP_METRICS
    """The sample counts of every committed results file (:data:`course_lib.recipe.SWEEP_METRICS`)."""


FULL = Settings()
"""The settings of the committed ``results/beta_sweep.csv``."""

FAST = Settings(epochs=1, train_size=2000, metric_settings=metrics.FAST)
"""A two-minute smoke version of the sweep (never written to ``results/``)."""


def make_model(settings: Settings = FULL, in_shape: Sequence[int] = (64, 32)) -> VAE:
    """The chapter's MLP VAE over log-mels: ELU layers, Gaussian decoder of fixed standard deviation."""
    return mlp_vae(tuple(in_shape), settings.z_dim, settings.hidden, activation="elu", scale=settings.scale)


def train_model(
    settings: Settings,
    x_train: torch.Tensor,
    beta: float,
    seed: int,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = False,
) -> tuple[VAE, History]:
    """Train one MLP beta-VAE on ``x_train`` [N, 64, 32] for ``settings.epochs``: ``(model, history)``."""
    return fit(
        lambda: make_model(settings, x_train.shape[1:]),
        x_train,
        epochs=settings.epochs,
        seed=seed,
        batch_size=settings.batch_size,
        loss_fn=make_vae_loss(beta=beta),
        lr=settings.lr,
        checkpoint=checkpoint,
        progress=progress,
    )


def split_indices(n: int, train_size: int, test_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random (train, held-out) row indices of a grid of ``n`` rows (sorted)."""
    if train_size < 1 or test_size < 1 or train_size + test_size > n:
        raise ValueError(f"need 1 <= train_size, 1 <= test_size and their sum <= {n}.")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:train_size]), np.sort(order[train_size : train_size + test_size])


def run_one(
    dataset, beta: float, seed: int, settings: Settings = FULL, *, progress: bool = False
) -> tuple[dict[str, Any], nn.Module]:
    """Train, encode the whole grid, score it: one results row (a flat dict) and the model."""
    train_rows, test_rows = split_indices(len(dataset), settings.train_size, settings.test_size, seed=seed)
    x_train, _ = dataset.tensors(train_rows)
    x_test, _ = dataset.tensors(test_rows)
    start = time.process_time()
    model, history = train_model(settings, x_train, beta, seed, progress=progress)
    train_cpu = time.process_time() - start
    codes = latents.mean_codes(model, dataset.features)
    start = time.process_time()
    scores = score(model, codes, dataset, x_test, settings.metric_settings, seed=seed)
    row: dict[str, Any] = {
        "beta": float(beta),
        "seed": int(seed),
        "z_dim": settings.z_dim,
        "scale": settings.scale,
        "epochs": settings.epochs,
        "train_size": settings.train_size,
        "train_recon": history[-1]["recon"],
        "train_kl": history[-1]["kl"],
        **scores,
        "train_cpu_s": train_cpu,
        "metrics_cpu_s": time.process_time() - start,
    }
    return row, model


def main(argv: list[str] | None = None) -> int:
    """Command line of the sweep (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments.beta_sweep", description=__doc__)
    parser.add_argument("--betas", type=float, nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--epochs", type=positive_int, help="passes over the training subset")
    parser.add_argument("--train-size", type=positive_int, help="random training clips per run")
    parser.add_argument("--z-dim", type=positive_int)
    parser.add_argument("--scale", type=float, help="decoder standard deviation")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads")
    parser.add_argument("--fast", action="store_true", help="the FAST settings (smoke test; not the results)")
    parser.add_argument("--out", default=None, help="CSV path (default results/beta_sweep.csv)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings, fast = pick_settings(args, FAST, FULL)
    default_out = config.data_dir() / "beta_sweep_fast.csv" if fast else config.RESULTS_DIR / "beta_sweep.csv"
    out = Path(args.out) if args.out else default_out  # a smoke run never overwrites the committed results

    from tqdm.auto import tqdm

    from course_lib.datasets import load_toy_dataset

    dataset = load_toy_dataset("default")
    rows: list[dict[str, Any]] = []
    jobs = [(beta, seed) for seed in settings.seeds for beta in settings.betas]  # a whole seed at a time
    for beta, seed in tqdm(jobs, desc="beta sweep"):
        row, _ = run_one(dataset, beta, seed, settings)
        rows.append(row)
        write_csv(rows, out, float_format=FLOAT_FORMAT)
        tqdm.write(
            f"beta={beta:g} seed={seed}: recon {row['test_recon']:.1f} KL {row['test_kl']:.1f} "
            f"active {row['active_dims']} MIG {row['mig']:.3f} beta-VAE {row['beta_vae_eval_accuracy']:.3f} "
            f"FactorVAE {row['factor_vae_eval_accuracy']:.3f} DCI-D {row['dci_disentanglement']:.3f} "
            f"(train {row['train_cpu_s']:.0f} s, metrics {row['metrics_cpu_s']:.0f} s CPU)"
        )
    print(f"wrote {len(rows)} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
