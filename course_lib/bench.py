"""``make bench``: speed of the toy-dataset pipeline, measured side by side in one run.

Taught in chapters/01_toy_dataset.ipynb. Prints ``name: value`` lines:

* ``synth_realtime_factor``: seconds of audio rendered per wall second by the batched generator
  (default preset, one-second 16 kHz clips, batches of 128, a fixed random sample of the grid,
  after one warm-up pass);
* ``naive_realtime_factor`` and ``synth_speedup_vs_naive``: the same sounds rendered one at a time
  by the straightforward reference (:func:`course_lib.synth.render_naive`: sample-rate controls,
  one ``sin`` per partial per sample), and the ratio of the two speeds;
* ``features_clips_per_s``: log-mel features of those clips in batch;
* ``end_to_end_realtime_factor``: synthesis plus features;
* ``dataset_build_s``: the whole default grid with features, written to a temporary folder.

Run ``python -m course_lib.bench`` (``--quick`` skips the full build). The numbers depend on the
machine and on what else runs on it; the course's targets are stated for a 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from course_lib.config import seed_everything
from course_lib.datasets import build_toy_dataset
from course_lib.features import LogMel
from course_lib.presets import get_preset


def _best_time(fn, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls (the least disturbed by other processes)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure_speed(
    n_clips: int = 1024, n_naive: int = 32, batch_size: int = 128, repeats: int = 3, seed: int = 0
) -> dict[str, float]:
    """Synthesis, naive synthesis and feature speeds on ``n_clips`` random rows of the default grid."""
    if n_clips < batch_size or n_naive < 1:
        raise ValueError(f"need n_clips >= batch_size ({batch_size}) and n_naive >= 1.")
    preset = get_preset("default")
    fs = preset.factor_space
    rng = seed_everything(seed)
    ids = np.sort(rng.choice(fs.n_combinations, size=n_clips, replace=False))
    values = fs.classes_to_values(fs.index_to_classes(ids))
    logmel = LogMel(sr=preset.sr)
    seconds = n_clips * preset.duration

    def synth() -> np.ndarray:
        return preset.render(values, ids=ids, batch_size=batch_size)

    audio = synth()  # warm-up: compiled kernels loaded, memory pools filled
    t_synth = _best_time(synth, repeats)
    t_features = _best_time(
        lambda: [logmel(audio[i : i + batch_size]) for i in range(0, n_clips, batch_size)], repeats
    )
    t_naive = _best_time(lambda: preset.render_naive(values[:n_naive], ids=ids[:n_naive]), 1)
    synth_rt = seconds / t_synth
    naive_rt = n_naive * preset.duration / t_naive
    return {
        "synth_realtime_factor": synth_rt,
        "naive_realtime_factor": naive_rt,
        "synth_speedup_vs_naive": synth_rt / naive_rt,
        "features_clips_per_s": n_clips / t_features,
        "end_to_end_realtime_factor": seconds / (t_synth + t_features),
    }


def measure_build() -> float:
    """Seconds to build the whole default grid with features (into a temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_toy_dataset("default", seed=0, path=Path(tmp) / "default.npz", force=True, progress=False)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark as ``name: value`` lines."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the full default-grid build")
    args = parser.parse_args(argv)
    print(f"threads: torch {torch.get_num_threads()}, numba {__import__('numba').get_num_threads()}")
    results = measure_speed()
    if not args.quick:
        results["dataset_build_s"] = measure_build()
    for name, value in results.items():
        print(f"{name}: {value:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
