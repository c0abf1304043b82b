"""The beta sweep of chapter 3: MLP beta-VAEs on the default toy dataset, several betas and seeds.

Taught in chapters/03_beta_vae.ipynb (Q2 and Q4). Reproduce the committed results with::

    python -m course_lib.experiments.beta_sweep            # full sweep -> results/beta_sweep.csv
    python -m course_lib.experiments.beta_sweep --fast     # a two-minute smoke version (not committed)

Each run trains an MLP VAE with a Gaussian likelihood (fixed standard deviation ``scale``) on a random
training subset of the 54,000-clip grid, then encodes the WHOLE grid to its mean codes and computes every
disentanglement score with :func:`course_lib.metrics.evaluate_all`. Reconstruction and KL are measured on
held-out clips (grid points the run never trained on). One CSV row per (beta, seed), written atomically
after every run, so an interrupted sweep keeps what it finished.

Default settings: beta in {1, 4, 16, 32, 64} x seeds {0, 1, 2}, 30 epochs over 50,000 of the 54,000 clips
(2,000 of the rest held out), about 3.5 CPU minutes per run, 50 in all on one thread. Every run is seeded by
its own (beta, seed), so subsets (``--seeds 0 --betas 1 4``) can run in parallel processes and their rows
are the rows the whole sweep writes.

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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import config, latents
from course_lib.files import write_csv
from course_lib.losses import elbo_terms
from course_lib.metrics import FAST, MetricSettings, evaluate_all
from course_lib.models.vae import VAE, MLPDecoder, MLPEncoder
from course_lib.train import fit_beta_vae

DEFAULT_BETAS: tuple[float, ...] = (1.0, 4.0, 16.0, 32.0, 64.0)
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
SWEEP_SETTINGS = MetricSettings(
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
"""The sweep's metric settings: disentanglement_lib's parameters with fewer samples (DCI's boosted trees
dominate the cost; 1,000 training points keep a run's metrics within a few CPU seconds)."""


def make_mlp_vae(
    in_shape: Sequence[int] = (64, 32),
    z_dim: int = 10,
    hidden: Sequence[int] = (256,),
    scale: float = 0.1,
    activation: str = "elu",
) -> VAE:
    """The chapter's MLP VAE over log-mels: Gaussian decoder with a fixed standard deviation ``scale``."""
    hidden = tuple(hidden)
    encoder = MLPEncoder(tuple(in_shape), hidden=hidden, z_dim=z_dim, activation=activation)
    decoder = MLPDecoder(z_dim, hidden=hidden[::-1], out_shape=tuple(in_shape), activation=activation)
    return VAE(encoder, decoder, likelihood="gaussian", scale=scale)


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


def active_dims(codes: np.ndarray, threshold: float = latents.ACTIVE_THRESHOLD) -> int:
    """Number of active latents: the mean code's variance over the data exceeds ``threshold``.

    A count of :func:`course_lib.latents.active_units` (Burda et al.'s criterion), for the results table.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(f"codes must be [N >= 2, D], got shape {codes.shape}.")
    return int(latents.active_units(codes, threshold).sum())


def split_indices(n: int, train_size: int, test_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random (train, held-out) row indices of a grid of ``n`` rows (sorted)."""
    if train_size < 1 or test_size < 1 or train_size + test_size > n:
        raise ValueError(f"need 1 <= train_size, 1 <= test_size and their sum <= {n}.")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:train_size]), np.sort(order[train_size : train_size + test_size])


def train_beta_vae(
    x_train: torch.Tensor,
    beta: float,
    seed: int,
    epochs: int,
    *,
    z_dim: int = 10,
    scale: float = 0.1,
    batch_size: int = 256,
    lr: float = 2e-3,
    hidden: Sequence[int] = (256,),
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
):
    """Train one MLP beta-VAE on ``x_train`` [N, 64, 32]; return ``(model, history)``."""
    config.seed_everything(seed)
    model = make_mlp_vae(tuple(x_train.shape[1:]), z_dim=z_dim, hidden=hidden, scale=scale)
    history = fit_beta_vae(
        model,
        x_train,
        beta=beta,
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        lr=lr,
        checkpoint=checkpoint,
        progress=progress,
    )
    return model, history


def run_one(
    dataset,
    beta: float,
    seed: int,
    *,
    epochs: int,
    train_size: int,
    test_size: int = 2000,
    z_dim: int = 10,
    scale: float = 0.1,
    settings: MetricSettings | None = None,
    progress: bool = False,
) -> tuple[dict[str, Any], nn.Module]:
    """Train, encode the whole grid, score it: one results row (a flat dict) and the model."""
    train_rows, test_rows = split_indices(len(dataset), train_size, test_size, seed=seed)
    x_train, _ = dataset.tensors(train_rows)
    x_test, _ = dataset.tensors(test_rows)
    start = time.process_time()
    model, history = train_beta_vae(x_train, beta, seed, epochs, z_dim=z_dim, scale=scale, progress=progress)
    train_cpu = time.process_time() - start
    codes = latents.mean_codes(model, dataset.features)
    held = held_out_terms(model, x_test, seed=seed)
    start = time.process_time()
    scores = evaluate_all(
        codes,
        dataset.latents_classes,
        dataset.factor_space.sizes,
        rng=seed,
        settings=settings or SWEEP_SETTINGS,
        factor_names=dataset.factor_space.names,
    )
    row: dict[str, Any] = {
        "beta": float(beta),
        "seed": int(seed),
        "z_dim": z_dim,
        "scale": scale,
        "epochs": epochs,
        "train_size": train_size,
        "train_recon": history[-1]["recon"],
        "train_kl": history[-1]["kl"],
        "test_recon": held["recon"],
        "test_kl": held["kl"],
        "test_mse": held["mse"],
        "active_dims": active_dims(codes),
        **{f"kl_dim_{d}": v for d, v in enumerate(held["kl_per_dim"])},
        **scores,
        "train_cpu_s": train_cpu,
        "metrics_cpu_s": time.process_time() - start,
    }
    return row, model


def main(argv: list[str] | None = None) -> int:
    """Command line of the sweep (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments.beta_sweep", description=__doc__)
    parser.add_argument("--betas", type=float, nargs="+", default=list(DEFAULT_BETAS))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--epochs", type=int, default=None, help="passes over the training subset")
    parser.add_argument("--train-size", type=int, default=None, help="random training clips per run")
    parser.add_argument("--z-dim", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.1, help="decoder standard deviation")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--fast", action="store_true", help="tiny settings (smoke test; not the results)")
    parser.add_argument("--out", default=None, help="CSV path (default results/beta_sweep.csv)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    fast = args.fast or config.is_fast()
    epochs = args.epochs or (1 if fast else 30)
    train_size = args.train_size or (2000 if fast else 50000)
    settings = FAST if fast else SWEEP_SETTINGS
    default_out = config.data_dir() / "beta_sweep_fast.csv" if fast else config.RESULTS_DIR / "beta_sweep.csv"
    out = Path(args.out) if args.out else default_out  # a smoke run never overwrites the committed results

    from tqdm.auto import tqdm

    from course_lib.datasets import load_toy_dataset

    dataset = load_toy_dataset("default")
    rows: list[dict[str, Any]] = []
    jobs = [(beta, seed) for seed in args.seeds for beta in args.betas]  # a whole seed at a time
    for beta, seed in tqdm(jobs, desc="beta sweep"):
        row, _ = run_one(
            dataset,
            beta,
            seed,
            epochs=epochs,
            train_size=train_size,
            z_dim=args.z_dim,
            scale=args.scale,
            settings=settings,
        )
        rows.append(row)
        write_csv(rows, out, float_format="%.6g")
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
