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
* ``dataset_build_s``: the whole default grid with features, written to a temporary folder;
* ``live_release_to_sound_ms_median``: in headless Chromium, a live decoder widget (chapter 3's
  published beta-TCVAE, :func:`course_lib.live.decoder_widget`) from a slider's release to its sound
  ready (decoder, mel inversion, 32 Griffin-Lim iterations, a 1-s clip), median over 20 moves, and
  ``live_weights_kib``, the float16 weights that widget carries in its page (skipped without chromium).

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


def measure_live(n_moves: int = 20) -> dict[str, float]:
    """Slider release -> sound ready (ms, median of ``n_moves``) and the weights of one live decoder widget.

    The page is opened from ``file://`` in headless Chromium (the browser tests' flags); each move is a
    real click on a slider, at a new position.
    """
    import shutil

    from playwright.sync_api import sync_playwright

    from course_lib.live import decoder_widget, weights_bytes
    from course_lib.recipe import load_logmel_model

    chromium = shutil.which("chromium")
    if chromium is None:
        raise FileNotFoundError("chromium is not installed (make browser)")
    widget = decoder_widget(load_logmel_model("beta_tcvae")[0], title="beta-TCVAE")
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        path = Path(tmp) / "live.html"
        path.write_text(f"<!doctype html><meta charset='utf-8'><body>{widget.data}</body>", encoding="utf-8")
        browser = playwright.chromium.launch(executable_path=chromium, args=[*args, "--disable-sync"])
        page = browser.new_page()
        page.goto(path.as_uri())
        page.wait_for_function("window.CourseLive && Object.keys(CourseLive.widgets).length === 1")
        sliders = page.locator("input[type=range]")
        positions = np.random.default_rng(0).uniform(0.05, 0.95, n_moves)
        for i, position in enumerate(positions):
            box = sliders.nth(i % sliders.count()).bounding_box()
            page.mouse.click(box["x"] + box["width"] * position, box["y"] + box["height"] / 2)
        timings = page.evaluate("Object.values(CourseLive.widgets)[0].state.timings")
        browser.close()
    return {
        "live_release_to_sound_ms_median": float(np.median(timings[-n_moves:])),
        "live_weights_kib": weights_bytes(widget) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark as ``name: value`` lines."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the full default-grid build")
    args = parser.parse_args(argv)
    print(f"threads: torch {torch.get_num_threads()}, numba {__import__('numba').get_num_threads()}")
    results = measure_speed()
    if not args.quick:
        results["dataset_build_s"] = measure_build()
    try:
        results.update(measure_live())
    except FileNotFoundError as error:
        print(f"live widget timing skipped: {error}")
    for name, value in results.items():
        print(f"{name}: {value:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
