"""SCAN with few labels: scores against the number of labelled sounds per concept (chapter 5).

Run ``python -m course_lib.experiments.scan_eval`` (``--fast`` for the small static grid). It builds
the frozen beta-VAE and the factor classifier of chapters/05_scan.ipynb (loading their checkpoints
when the chapter already trained them), then, for each number of labelled sounds per training symbol
and each seed, trains SCAN and scores sound -> symbol, symbol -> sound (seen and novel concepts)
against the supervised baselines and chance (:func:`course_lib.grounding.few_label_trial`). Writes
the tidy table ``results/scan_eval.csv`` (atomically).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from course_lib import grounding
from course_lib.config import RESULTS_DIR, data_dir, seed_everything
from course_lib.files import write_csv

LABELS = (1, 2, 5, 10, 30, 100, 0)
"""Labelled sounds per training symbol; 0 stands for unlimited (a fresh sound for every pair)."""


def run(
    fast: bool, seeds: int, labels: tuple[int, ...], epochs: int, n_pairs: int, progress: bool = True
) -> pd.DataFrame:
    """The whole sweep as a tidy DataFrame (one row per trial, task and method)."""
    seed_everything(0)
    setup = grounding.prepare(grounding.SETTINGS["fast" if fast else "full"], progress=progress)
    rows = []
    trials = [(n, s) for n in labels for s in range(seeds)]
    for n, seed in tqdm(trials, desc="trials", disable=not progress):
        rows += grounding.few_label_trial(setup, n or None, seed=seed, epochs=epochs, n_pairs=n_pairs)
    frame = pd.DataFrame(rows)
    frame["preset"] = setup.settings["preset"]
    return frame


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments.scan_eval", description=__doc__)
    parser.add_argument("--fast", action="store_true", help="small static grid (a smoke test)")
    parser.add_argument("--seeds", type=int, default=3, help="SCAN seeds per point")
    parser.add_argument(
        "--labels", type=int, nargs="+", default=list(LABELS), help="labels per symbol (0: all)"
    )
    parser.add_argument("--epochs", type=int, default=10, help="SCAN epochs per trial")
    parser.add_argument("--pairs", type=int, default=20000, help="(sound, symbol) pairs per trial")
    parser.add_argument("--out", type=Path, default=None, help="output CSV (default results/; --fast: data/)")
    args = parser.parse_args(argv)
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = data_dir() / "scan_eval_fast.csv" if args.fast else RESULTS_DIR / "scan_eval.csv"
    torch.set_num_threads(1)  # small models: one thread is faster than two fighting over a busy CPU
    start = time.process_time()
    frame = run(args.fast, args.seeds, tuple(args.labels), args.epochs, args.pairs)
    path = write_csv(frame, args.out)
    print(f"{path}: {len(frame)} rows, {time.process_time() - start:.0f} CPU seconds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
