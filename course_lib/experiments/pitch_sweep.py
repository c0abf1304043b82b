"""All seven factors: what the features hold, then three changes to the recipe, one at a time.

Taught in chapters/03_3_seven_factors.ipynb, which plots its results files and listens to its
checkpoints. Reproduce with::

    python -m course_lib.experiments.pitch_sweep            # -> results/probes.csv, results/pitch_sweep.csv
    python -m course_lib.experiments.pitch_sweep --publish  # -> results/checkpoints/pitch/<model>.pt
    python -m course_lib.experiments.pitch_sweep --fast     # a smoke run (never overwrites the files)

Two parts (:attr:`Settings.parts`):

* ``probes``: the ceiling of each representation. For the plain 64 x 32 log-mels, the level channel
  (:func:`course_lib.loudness.level_channel_inputs`) and the pitch-ready inputs
  (:func:`course_lib.cqt.pitch_inputs`), a logistic regression and an MLP are trained *with the
  labels* to read each factor (:func:`course_lib.probes.probe_table`): one row per (representation,
  factor) in ``probes.csv``.
* ``runs``: every ``(arm, model, beta)`` of :attr:`Settings.runs` over every seed
  (:func:`course_lib.pitch_recipe.train_arm`), with chapter 3's recipe otherwise unchanged (MLP of two
  ReLU layers of 256, 10 latents, 10 epochs over the 54,000 sounds, batch 128, Adam 1e-3) and scored
  with the same metrics and sample counts as ``weak_sweep`` (:data:`course_lib.recipe.SWEEP_METRICS`).
  The arms (:data:`course_lib.pitch_recipe.ARMS`) change one thing each; their baseline is the level
  channel's rows of ``results/weak_sweep.csv`` (same models, betas, epochs and seeds). β-TCVAE sees
  single sounds (no labels); GVAE with known k sees pairs that differ in one factor.

``--publish`` copies the ``shift`` arm's best run without labels and best with pairs (median seed)
to ``results/checkpoints/pitch/<model>.pt`` in float16.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from course_lib import metrics
from course_lib.config import RESULTS_DIR, data_dir
from course_lib.datasets import load_toy_dataset
from course_lib.experiments import FLOAT_FORMAT, pick_settings, positive_int
from course_lib.files import write_csv
from course_lib.loudness import level_channel_inputs
from course_lib.pitch_recipe import make_pitch_inputs, pitch_meta, train_arm
from course_lib.probes import probe_table
from course_lib.recipe import (
    CHECKPOINTS,
    Recipe,
    copy_run,
    merge_results,
    published_runs,
    report,
    runs_dir_for,
)
from course_lib.train import save_checkpoint

RUNS_PATH = RESULTS_DIR / "pitch_sweep.csv"
PROBES_PATH = RESULTS_DIR / "probes.csv"
KEY = ("arm", "model", "beta", "seed")
PARTS = ("probes", "runs")


@dataclass(frozen=True)
class Settings(Recipe):
    """The recipe (:class:`course_lib.recipe.Recipe`), the parts to run, the runs, seeds and probe sizes."""

    parts: tuple[str, ...] = PARTS
    runs: tuple[tuple[str, str, float], ...] = (
        ("cqt", "beta_tcvae", 6.0),
        ("cqt", "gvae_known_k", 4.0),
        ("cqt_standardised", "beta_tcvae", 6.0),
        ("cqt_standardised", "gvae_known_k", 4.0),
        ("shift", "beta_vae", 8.0),
        ("shift", "beta_tcvae", 6.0),
        ("shift", "factor_vae", 6.0),
        ("shift", "ada_gvae", 4.0),
        ("shift", "ada_gvae", 8.0),
        ("shift", "gvae_known_k", 2.0),
        ("shift", "gvae_known_k", 4.0),
    )
    seeds: tuple[int, ...] = (0, 1, 2)
    probe_train: int = 5000
    probe_test: int = 5000


FULL = Settings()
"""The settings of the committed ``results/pitch_sweep.csv``, ``results/probes.csv`` and checkpoints."""

FAST = Settings(
    runs=(("cqt", "beta_tcvae", 6.0), ("shift", "beta_tcvae", 6.0), ("shift", "gvae_known_k", 4.0)),
    seeds=(0,),
    epochs=1,
    n_held=200,
    preset="static",
    metric_settings=metrics.FAST,
    probe_train=500,
    probe_test=200,
)
"""A smoke test (the small static grid, one epoch, small probes and metrics)."""


def representations(dataset, settings: Settings) -> dict[str, np.ndarray]:
    """The representations the probes read: plain log-mels, the level channel and the pitch-ready inputs."""
    return {
        "logmel": np.asarray(dataset.features, dtype=np.float32).reshape(len(dataset), -1),
        "level_channel": level_channel_inputs(dataset.features, level_gain=settings.level_gain).numpy(),
        "pitch": make_pitch_inputs(dataset, settings.level_gain).numpy(),
    }


def run_probes(dataset, settings: Settings) -> pd.DataFrame:
    """``probes.csv``: one row per (representation, factor): each probe's held-out accuracy, CPU seconds."""
    tables = []
    for name, values in representations(dataset, settings).items():
        start = time.process_time()
        table = probe_table(
            values,
            dataset.latents_classes,
            dataset.factor_space.names,
            n_train=settings.probe_train,
            n_test=settings.probe_test,
        )
        table.insert(0, "representation", name)
        table.insert(1, "n_values", values.shape[1])
        table["probe_cpu_s"] = time.process_time() - start
        tables.append(table)
        print(f"probes on {name}: {time.process_time() - start:.0f} CPU s", flush=True)
    return pd.concat(tables, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.experiments.pitch_sweep [--fast] [--parts ...] [--seeds ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings (static grid, one epoch)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, help="probes, runs or both (default both)")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--epochs", type=positive_int)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--out", default=None, help=f"folder of the two CSVs (default {RESULTS_DIR}; fast: data/)"
    )
    parser.add_argument("--publish", action="store_true", help="copy the chosen checkpoints to results/")
    args = parser.parse_args(argv)
    settings, fast = pick_settings(args, FAST, FULL)
    out = Path(args.out) if args.out else (data_dir() / "pitch_sweep_fast" if fast else RESULTS_DIR)
    runs_path, probes_path = out / RUNS_PATH.name, out / PROBES_PATH.name
    runs_dir = runs_dir_for(runs_path)
    if args.publish:  # a smoke run publishes beside its runs, never into results/
        folder = runs_dir / "published" if fast else CHECKPOINTS / "pitch"
        results = pd.read_csv(runs_path)
        shift = results[results.arm == "shift"]
        for run in published_runs(shift).itertuples():
            print(f"wrote {copy_run(run, runs_dir / 'shift', folder / f'{run.model}.pt')}")
        return 0
    torch.set_num_threads(args.threads)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_toy_dataset(settings.preset)
    if "probes" in settings.parts:
        write_csv(run_probes(dataset, settings), probes_path, float_format=FLOAT_FORMAT)
        print(f"wrote {probes_path}")
    if "runs" in settings.parts:
        inputs = make_pitch_inputs(dataset, settings.level_gain)
        for arm, model_name, beta in settings.runs:
            for seed in settings.seeds:
                row, model, stats = train_arm(arm, model_name, beta, seed, dataset, inputs, settings)
                meta = pitch_meta(arm, stats, dataset, settings.level_gain)
                path = runs_dir / arm / f"{model_name}_beta{beta:g}_seed{seed}.pt"
                save_checkpoint(model, path, model_name=model_name, beta=beta, seed=seed, **meta)
                merge_results(row, runs_path, key=KEY)
                print(report(f"{arm} {model_name}", row, dataset.factor_space.names), flush=True)
        print(f"wrote {runs_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
