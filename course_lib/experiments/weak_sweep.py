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

The recipe, its models, losses, scoring and loaders live in :mod:`course_lib.recipe`. The inputs
(:attr:`Settings.inputs`, :func:`course_lib.recipe.make_inputs`) are
:func:`course_lib.loudness.level_channel_inputs` of the default grid: the 64 x 32 log-mel relative to
each clip's level (floor 55 dB below it) and the
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
with the same metrics as :mod:`course_lib.experiments.beta_sweep` (:func:`course_lib.recipe.score`), with
the sample counts of :attr:`Settings.metric_settings` (:data:`course_lib.recipe.SWEEP_METRICS`; ``FAST``:
the metrics' small ones);
reconstruction and KL are measured on 2,000 sounds of the grid (seen in training, since every sound is).
One CSV row per (model, beta, seed); each finished run is merged into the file under a lock, so
``--models``/``--betas``/``--seeds`` subsets can run in parallel processes. Every run also leaves its
checkpoint in the data folder; ``--publish`` then copies two of them into
``results/checkpoints/<model>.pt`` (float16 weights, loaded back to float32 by
:func:`course_lib.recipe.load_published`): for the best model without labels and
the best model with pairs (highest mean MIG over the seeds at the model's best beta), the run whose
MIG is the median of its seeds.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from course_lib import metrics
from course_lib.config import RESULTS_DIR, data_dir
from course_lib.datasets import load_toy_dataset
from course_lib.experiments import pick_settings, positive_int
from course_lib.loudness import level_channel_meta, level_scale
from course_lib.recipe import (
    CHECKPOINTS,
    MODELS,
    Recipe,
    checkpoint_path,
    chosen_runs,
    copy_run,
    make_inputs,
    merge_results,
    published_runs,
    report,
    run_one,
    runs_dir_for,
)
from course_lib.train import save_checkpoint

DEFAULT_PATH = RESULTS_DIR / "weak_sweep.csv"
LOGMEL_PATH = RESULTS_DIR / "weak_sweep_logmel.csv"
"""The runs on plain log-mels (``--inputs logmel``): the level channel's effect, isolated."""


@dataclass(frozen=True)
class Settings(Recipe):
    """Everything that defines the sweep: the recipe (:class:`course_lib.recipe.Recipe`) and its
    ``(model, beta)`` runs, each over every seed."""

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

    @property
    def models(self) -> tuple[str, ...]:
        """The models of :attr:`runs`, in order, each once."""
        return tuple(dict.fromkeys(model for model, _ in self.runs))


FULL = Settings()
"""The settings of the committed ``results/weak_sweep.csv`` and ``results/checkpoints``."""

FAST = Settings(
    runs=tuple((m, 8.0) for m in MODELS),
    seeds=(0,),
    epochs=1,
    n_held=200,
    preset="static",
    metric_settings=metrics.FAST,
)
"""A smoke test (the small static grid, one epoch, the metrics' small sample counts)."""


def publish(results: pd.DataFrame, runs_dir: str | os.PathLike, folder: str | os.PathLike) -> list[Path]:
    """Copy the :func:`published_runs` checkpoints from ``runs_dir`` to ``folder/<model>.pt`` in float16."""
    return [
        copy_run(run, runs_dir, Path(folder) / f"{run.model}.pt")
        for run in published_runs(results).itertuples()
    ]


def publish_chosen(
    results: pd.DataFrame, model_name: str, runs_dir: str | os.PathLike, folder: str | os.PathLike
) -> Path:
    """Copy the :func:`chosen_runs` run of ``model_name`` from ``runs_dir`` to ``folder/<model>.pt``."""
    chosen = chosen_runs(results[results["model"] == model_name])
    if chosen.empty:
        raise ValueError(f"results hold no run of {model_name!r}.")
    return copy_run(chosen.iloc[0], runs_dir, Path(folder) / f"{model_name}.pt")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.experiments.weak_sweep [--fast] [--models ...] [--seeds ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings (static grid, one epoch)")
    parser.add_argument("--models", nargs="+", choices=MODELS, help="only the runs of these models")
    parser.add_argument("--betas", type=float, nargs="+", help="only the runs at these betas")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--epochs", type=positive_int)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default=None, help=f"CSV to write (default {DEFAULT_PATH}; fast: data/)")
    parser.add_argument(
        "--inputs", choices=("level_channel", "logmel"), help="the representation (default level_channel)"
    )
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
    torch.set_num_threads(args.threads)
    dataset = load_toy_dataset(settings.preset)
    inputs = make_inputs(dataset, settings)
    meta = level_channel_meta(level_scale(dataset.features), settings.level_gain)  # saved with each run
    runs = [
        (m, b)
        for m, b in settings.runs
        if (args.models is None or m in args.models) and (args.betas is None or b in args.betas)
    ]
    for model_name, beta in runs:
        for seed in settings.seeds:
            row, model = run_one(model_name, beta, seed, dataset, inputs, settings)
            path = checkpoint_path(runs_dir, model_name, beta, seed)
            save_checkpoint(
                model, path, model_name=model_name, beta=beta, seed=seed, inputs=settings.inputs, **meta
            )
            merge_results(row, args.out)
            print(report(model_name, row, dataset.factor_space.names), flush=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
