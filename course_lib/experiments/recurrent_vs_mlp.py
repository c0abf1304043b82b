"""MLP beta-VAE against recurrent-attention beta-VAE on sounds whose factors live in time.

Taught in chapters/04_1_recurrent_attention.ipynb, which builds and trains its live models with
:func:`make_model` and :func:`train_model` and plots the results file. Command::

    python -m course_lib.experiments.recurrent_vs_mlp            # full: 2 presets x 2 models x 3 seeds
    python -m course_lib.experiments.recurrent_vs_mlp --fast     # a smoke test (2 epochs, 1 preset, 1 seed)
    python -m course_lib.experiments.recurrent_vs_mlp --presets sequence --seeds 1 2   # some of the runs

For every (preset, model, seed) it trains one beta-VAE on the whole grid of the preset (same
beta, z_dim, optimiser, epochs and batches for both models; only the encoder and decoder
differ), then records, on the whole grid: the reconstruction term and the KL of the beta-VAE
objective, the reconstruction error in dB and the error of the loudness curve over time (the
temporal shape of the sound), every score of :func:`course_lib.metrics.evaluate_all` (with the
per-factor MIG) and, per factor, the normalised mutual information of the most informative code
dimension (``mi_top_<factor>``: is the factor in the code at all?). One row per run goes to
``results/recurrent_vs_mlp.csv``, rewritten atomically after every run; a rerun skips the rows
already there (``--restart`` starts afresh). The trained weights are kept as checkpoints under
``config.data_dir()`` so that the chapter loads the seed-0 models instead of training them again;
the chapter's pair (envelope, seed 0) is also published with the course
(``python -m course_lib.train --publish`` on its two checkpoints: :data:`course_lib.train.PUBLISHED_RUNS`),
so a fresh clone loads it too.
A run is defined by a :class:`Settings` (:data:`FULL` for the committed file, :data:`FAST` for the
smoke test), which also holds the presets and seeds it runs (``--presets`` and ``--seeds`` override
those fields, as every option named like a field does). The metrics use :data:`course_lib.metrics.REDUCED`
(disentanglement_lib's parameters with a fifth of its samples): the counts the committed file was
computed with.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from course_lib import config
from course_lib.datasets import ToyDataset, load_toy_dataset
from course_lib.experiments import FLOAT_FORMAT, pick_settings, positive_int
from course_lib.files import write_csv
from course_lib.latents import kl_active_dims, mean_codes
from course_lib.losses import elbo_terms, make_vae_loss
from course_lib.metrics import REDUCED, MetricSettings, evaluate_all, mutual_information_matrix
from course_lib.models.recurrent import RecurrentAttentionDecoder, RecurrentAttentionEncoder
from course_lib.models.vae import VAE, mlp_vae
from course_lib.train import fit

KINDS = ("mlp", "recurrent")
"""The two models compared: an MLP encoder/decoder and the recurrent attention encoder/decoder."""

PRESETS = ("envelope", "sequence")
"""Chapter 1's presets whose factors live in time (with f0 and tilt kept as static factors)."""

TEMPORAL_FACTORS = {
    "envelope": ("attack", "t60"),
    "modulation": ("vibrato_rate", "vibrato_depth", "tremolo_rate", "tremolo_depth"),
    "sequence": ("interval", "note_rate", "gate"),
}
"""Per preset, the factors that act over time (the others are static: f0, tilt, hnr)."""

RESULTS = config.RESULTS_DIR / "recurrent_vs_mlp.csv"


@dataclass(frozen=True)
class Settings:
    """Everything that defines the runs: the presets and seeds, then the training and scoring of each.

    Both model kinds (:data:`KINDS`) run for every (preset, seed); only :attr:`epochs`, :attr:`beta` and
    :attr:`z_dim` name a checkpoint (:func:`checkpoint_path`).
    """

    presets: tuple[str, ...] = PRESETS
    seeds: tuple[int, ...] = (0, 1, 2)

    z_dim: int = 8
    beta: float = 4.0
    epochs: int = 25
    batch_size: int = 64
    lr: float = 2e-3
    scale: float = 0.1
    mlp_hidden: tuple[int, ...] = (512, 256)
    rnn_hidden: int = 64
    decoder_hidden: int = 128
    n_slots: int = 8
    attn_dim: int = 32
    metric_settings: MetricSettings = REDUCED


FULL = Settings()
"""The settings of the committed results file."""

FAST = Settings(presets=PRESETS[:1], seeds=(0,), epochs=2)
"""A smoke test of the whole pipeline: the first preset, seed 0, 2 epochs."""


def make_model(kind: str, n_mels: int = 64, frames: int = 32, settings: Settings = FULL) -> VAE:
    """A Gaussian beta-VAE with the encoder/decoder pair ``kind`` (``"mlp"`` or ``"recurrent"``).

    Both share z_dim, the likelihood and its scale; the recurrent pair is a bidirectional GRU with
    attention pooling and a GRU decoder attending over slots built from z alone
    (:mod:`course_lib.models.recurrent`).
    """
    s = settings
    if kind == "mlp":
        return mlp_vae((n_mels, frames), s.z_dim, s.mlp_hidden, activation="relu", scale=s.scale)
    if kind == "recurrent":
        encoder = RecurrentAttentionEncoder(n_mels, s.rnn_hidden, s.z_dim, s.attn_dim)
        decoder = RecurrentAttentionDecoder(
            s.z_dim, n_mels, frames, hidden=s.decoder_hidden, n_slots=s.n_slots, attn_dim=s.attn_dim
        )
        return VAE(encoder, decoder, "gaussian", scale=s.scale)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")


def checkpoint_path(preset: str, kind: str, seed: int, settings: Settings = FULL) -> Path:
    """Where the run's weights are kept (under ``config.data_dir()``, never committed)."""
    tag = f"e{settings.epochs}_b{settings.beta:g}_z{settings.z_dim}"
    return config.data_dir() / "checkpoints" / f"ch04_{preset}_{kind}_{tag}_seed{seed}.pt"


def train_model(
    kind: str, dataset: ToyDataset, seed: int, settings: Settings = FULL, *, progress: bool = False
) -> tuple[VAE, pd.DataFrame]:
    """Train (or load) one beta-VAE on the whole grid of ``dataset``; returns it and its history."""
    x, _ = dataset.tensors()
    model, history = fit(
        lambda: make_model(kind, x.shape[1], x.shape[2], settings),
        x,
        epochs=settings.epochs,
        seed=seed,
        batch_size=settings.batch_size,
        loss_fn=make_vae_loss(beta=settings.beta),
        lr=settings.lr,
        checkpoint=checkpoint_path(dataset.preset, kind, seed, settings),
        progress=progress,
    )
    return model, history.to_frame()


@torch.no_grad()
def reconstruct(model: VAE, x: torch.Tensor, batch_size: int = 540) -> torch.Tensor:
    """Decoded posterior means, shaped like ``x``."""
    model.eval()
    return torch.cat([model.reconstruct(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def loudness_curve(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-frame loudness proxy [N, frames]: the mean over mel bands, in dB above the floor.

    Features are scaled so that 1 unit is 100 dB (chapter 1), so the curve is 100 x the band mean.
    """
    values = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if values.ndim != 3:
        raise ValueError(f"x must be [N, n_mels, frames], got shape {values.shape}.")
    return 100.0 * values.mean(axis=1)


def reconstruction_errors(x: torch.Tensor, recon: torch.Tensor) -> dict[str, float]:
    """RMS error of the whole log-mel and of its loudness curve over time, both in dB."""
    if x.shape != recon.shape:
        raise ValueError(
            f"x and recon must have the same shape, got {tuple(x.shape)} and {tuple(recon.shape)}."
        )
    rmse_db = 100.0 * float((x - recon).square().mean().sqrt())
    curve = loudness_curve(x) - loudness_curve(recon)
    return {"rmse_db": rmse_db, "loudness_curve_rmse_db": float(np.sqrt(np.mean(curve**2)))}


def factor_effect_db(
    features: np.ndarray, classes: np.ndarray, factor_sizes: Sequence[int], names: Sequence[str]
) -> pd.Series:
    """How much each factor changes the features: RMS difference (dB) between grid neighbours.

    For factor k, every pair of sounds that differ by one class of k only (all other factors
    equal) is compared; the result is the RMS of their feature difference over all such pairs,
    in dB (1 feature unit = 100 dB). A factor with a small effect costs little reconstruction
    when a beta-VAE leaves it out of z. ``features`` [N, ...] and ``classes`` [N, K] must cover the
    full grid (any row order).
    """
    sizes = [int(s) for s in factor_sizes]
    classes = np.asarray(classes)
    if classes.ndim != 2 or classes.shape[1] != len(sizes) or len(names) != len(sizes):
        raise ValueError(f"classes must be [N, {len(sizes)}] with one name per factor, got {classes.shape}.")
    if len(features) != int(np.prod(sizes)) or len(classes) != len(features):
        raise ValueError(f"need the full grid of {int(np.prod(sizes))} rows, got {len(features)} features.")
    index = np.ravel_multi_index(tuple(classes.T), sizes)
    if len(np.unique(index)) != len(index):
        raise ValueError("classes repeat a grid point: need every combination exactly once.")
    grid = np.asarray(features, dtype=np.float32)[np.argsort(index)].reshape(*sizes, -1)
    effect = {
        name: 100.0 * float(np.sqrt(np.mean(np.diff(grid, axis=k) ** 2))) if sizes[k] > 1 else float("nan")
        for k, name in enumerate(names)
    }
    return pd.Series(effect, name="effect_db")


def top_mutual_information(codes: np.ndarray, classes: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Per factor, ``max_d I(z_d; v_k) / H(v_k)``: how much of the factor one code dimension holds."""
    matrix = mutual_information_matrix(codes, classes, normalise=True)
    return {f"mi_top_{name}": float(matrix[:, k].max()) for k, name in enumerate(names)}


def evaluate_model(model: VAE, dataset: ToyDataset, seed: int, settings: Settings = FULL) -> dict:
    """Every number of one results row for a trained ``model`` on the whole grid of ``dataset``."""
    x, _ = dataset.tensors()
    config.seed_everything(seed)
    model.eval()
    with torch.no_grad():
        terms = [elbo_terms(model, x[i : i + 540]) for i in range(0, len(x), 540)]
    recon = float(torch.cat([t["recon"] for t in terms]).mean())
    kl_per_dim = torch.cat([t["kl_per_dim"] for t in terms]).mean(0)
    row = {
        "recon": recon,
        "kl": float(kl_per_dim.sum()),
        "kl_active_dims": kl_active_dims(kl_per_dim.numpy()),
        **reconstruction_errors(x, reconstruct(model, x)),
    }
    codes = mean_codes(model, x)
    names = dataset.factor_space.names
    row.update(top_mutual_information(codes, dataset.latents_classes, names))
    with threadpool_limits(1):  # OpenMP pools (the DCI trees) burn CPU spinning on a shared machine
        scores = evaluate_all(
            codes,
            dataset.latents_classes,
            dataset.factor_space.sizes,
            np.random.default_rng(seed),
            factor_names=names,
            settings=settings.metric_settings,
        )
    row.update(scores)
    return row


def run(
    settings: Settings = FULL,
    out: Path = RESULTS,
    *,
    kinds: Sequence[str] = KINDS,
    restart: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Train and evaluate every (preset, kind, seed) of ``settings``; append each row to ``out``.

    Returns the whole table (the rows already in ``out``, unless ``restart``, and the new ones).
    """
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    for preset in settings.presets:
        if preset not in TEMPORAL_FACTORS:
            raise ValueError(f"preset must be one of {tuple(TEMPORAL_FACTORS)}, got {preset!r}.")
    presets, seeds = settings.presets, settings.seeds
    out = Path(out)
    done = pd.read_csv(out) if out.exists() and not restart else pd.DataFrame()
    rows = done.to_dict("records")
    keys = {(r["preset"], r["model"], int(r["seed"]), int(r["epochs"])) for r in rows}
    jobs = [
        (p, k, s) for p in presets for s in seeds for k in kinds if (p, k, s, settings.epochs) not in keys
    ]
    bar = tqdm(jobs, desc="runs", disable=not progress)
    for preset, kind, seed in bar:
        bar.set_postfix_str(f"{preset} {kind} seed {seed}")
        dataset = load_toy_dataset(preset, verbose=False)
        start_cpu, start = time.process_time(), time.perf_counter()
        model, _ = train_model(kind, dataset, seed, settings)
        train_cpu = time.process_time() - start_cpu
        row = {"preset": preset, "model": kind, "seed": seed, "epochs": settings.epochs}
        row.update({"beta": settings.beta, "z_dim": settings.z_dim})
        row["parameters"] = sum(p.numel() for p in model.parameters())
        row.update(evaluate_model(model, dataset, seed, settings))
        row["train_cpu_s"] = train_cpu
        row["total_cpu_s"] = time.process_time() - start_cpu
        row["wall_s"] = time.perf_counter() - start
        rows.append(row)
        write_csv(pd.DataFrame(rows), out, float_format=FLOAT_FORMAT)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.experiments.recurrent_vs_mlp", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--fast", action="store_true", help="smoke test: 2 epochs, first preset, seed 0")
    parser.add_argument(
        "--presets", nargs="+", choices=sorted(TEMPORAL_FACTORS), help="default: envelope sequence"
    )
    parser.add_argument("--seeds", nargs="+", type=int, help="default: 0 1 2 (--fast: 0)")
    parser.add_argument("--out", default=None, help=f"results CSV (default {RESULTS})")
    parser.add_argument("--restart", action="store_true", help="ignore the rows already in the CSV")
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="torch threads (1 is fastest for small GRUs)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings, fast = pick_settings(args, FAST, FULL)
    default_out = config.data_dir() / "recurrent_vs_mlp_fast.csv" if fast else RESULTS
    out = Path(args.out) if args.out else default_out
    start = time.process_time()
    table = run(settings, out, restart=args.restart)
    print(f"{len(table)} rows in {out}; {time.process_time() - start:.0f} CPU s in this call")
    print(f"settings: {asdict(settings)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
