"""Exercise sheet 5's experiment: SCAN on chapter 1's toy grid, scored against the number of labels.

Used by solutions/05_scan.ipynb, which builds its frozen sound model, classifier and symbol sets with
:func:`prepare` and runs :func:`few_label_trial` live. Run ``python -m course_lib.experiments.scan_eval``
(``--fast`` for the small static grid). The sound model is chapter 3's best model without labels, the
published beta-TCVAE of :mod:`course_lib.experiments.weak_sweep` (loaded, never retrained here), seen
from log-mels (:class:`course_lib.loudness.LevelChannelModel`). It trains the factor classifier
(loading its checkpoint when the chapter already trained it), then, for each number of labelled
sounds per training symbol and each seed, trains SCAN and scores sound -> symbol, symbol -> sound
(seen and novel concepts) against the supervised baselines and chance. Writes the tidy table
``results/scan_eval.csv``. The run is defined by a :class:`Settings` (:data:`FULL` for the
committed file, :data:`FAST` for a smoke test); command-line options override single fields.

The parts, in the order the chapter uses them: :class:`Setup` and :func:`prepare` (sound model,
classifier, posteriors of every sound, symbol sets),
:func:`generation_scores` (symbol -> sound) and :func:`few_label_trial` (one row per task and method).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from course_lib.config import RESULTS_DIR, data_dir, seed_everything
from course_lib.datasets import load_toy_dataset
from course_lib.experiments import pick_settings, weak_sweep
from course_lib.files import write_csv
from course_lib.latents import posterior
from course_lib.loudness import LevelChannelModel
from course_lib.scan.baselines import fit_probe, fit_symbol_regression, probe_predict, symbol_labels
from course_lib.scan.classifier import FactorClassifier, fit_factor_classifier
from course_lib.scan.fitting import decode_samples, encode_symbols, fit_scan
from course_lib.scan.pairs import make_pairs, symbols_up_to
from course_lib.scan.scoring import attribute_accuracy, majority_chance, sound_to_symbol, symbol_scores
from course_lib.scan.symbols import Symbol
from course_lib.scan.vocabulary import Vocabulary, build_vocabulary


@dataclass(frozen=True)
class Settings:
    """The grid, the frozen sound model and the classifier, and the grid of few-label trials."""

    preset: str = "default"
    sound_model: str = "beta_tcvae"
    """A published model of :mod:`course_lib.experiments.weak_sweep` (chapter 3's best without labels)."""
    classifier_epochs: int = 3
    labels: tuple[int, ...] = (1, 2, 5, 10, 30, 100, 0)
    """Labelled sounds per training symbol; 0 stands for unlimited (a fresh sound for every pair)."""
    seeds: int = 3
    scan_epochs: int = 10
    n_pairs: int = 20000


FULL = Settings()
"""The settings of the committed ``results/scan_eval.csv``."""

FAST = Settings(preset="static", classifier_epochs=20)
"""The small static grid (a smoke test; the chapter's fast mode), encoded by the same sound model."""


@dataclass
class Setup:
    """Everything SCAN is trained and scored against (built once by :func:`prepare`).

    ``vae``: the frozen sound model (log-mels in and out); ``meta``: its checkpoint's meta (beta, seed);
    ``mu``/``logvar`` [N, z]: q(z_x|x) of every sound of the grid; ``classes`` [N, K] their factors;
    ``pca`` [N, 32]: principal components of the log-mels (the probe baseline's input);
    ``test_rows``: the sounds scored for sound -> symbol; ``train_symbols``: symbols of 1-2 words;
    ``seen_symbols``: a sample of them scored for symbol -> sound; ``novel_symbols``: 3-word symbols
    (and the named concepts) never used in training.
    """

    vocabulary: Vocabulary
    vae: LevelChannelModel
    meta: dict[str, Any]
    classifier: FactorClassifier
    mu: Tensor
    logvar: Tensor
    classes: np.ndarray
    pca: np.ndarray
    test_rows: np.ndarray
    train_symbols: list[Symbol]
    seen_symbols: list[Symbol]
    novel_symbols: list[Symbol]
    settings: Settings


def prepare(
    settings: Settings, *, seed: int = 0, n_test: int = 2000, n_novel: int = 24, progress: bool = True
) -> Setup:
    """Load the dataset and the frozen sound model, train (or load) the factor classifier, encode every sound.

    The classifier's checkpoint goes to ``config.data_dir()``, named after the settings. It is trained
    on the real log-mels **and** their reconstructions by the frozen sound model (same labels), so that
    the blur of the decoder alone does not count as a wrong attribute.
    """
    from sklearn.decomposition import PCA

    ds = load_toy_dataset(settings.preset, verbose=progress)
    x, classes = ds.tensors()
    tag = f"{settings.preset}_{settings.sound_model}_s{seed}"
    vae, meta = weak_sweep.load_logmel_model(settings.sound_model, tuple(x.shape[1:]))
    mu, logvar = posterior(vae, x)
    with torch.no_grad():
        recon = torch.cat([vae.decode(mu[i : i + 4096]).clamp(0, 1) for i in range(0, len(mu), 4096)])
    classifier = fit_factor_classifier(
        torch.cat([x, recon]),
        torch.cat([classes, classes]),
        ds.factor_space.sizes,
        epochs=settings.classifier_epochs,
        seed=seed,
        checkpoint=data_dir() / f"ch05_classifier_{tag}.pt",
        progress=progress,
    )
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1).numpy()
    pca = PCA(32, random_state=seed).fit(flat[rng.choice(len(flat), min(5000, len(flat)), replace=False)])
    vocabulary = build_vocabulary(ds.factor_space)
    train_symbols = symbols_up_to(vocabulary, 2)
    one_word = [s for s in train_symbols if len(s) == 1]
    two_words = [train_symbols[i] for i in rng.permutation(len(train_symbols)) if len(train_symbols[i]) == 2]
    three = [s for s in vocabulary.all_symbols(3) if len(s) == 3]
    novel = list(vocabulary.concepts.values())
    novel += [three[i] for i in rng.choice(len(three), n_novel, replace=False) if three[i] not in novel]
    return Setup(
        vocabulary=vocabulary,
        vae=vae,
        meta=meta,
        classifier=classifier,
        mu=mu,
        logvar=logvar,
        classes=classes.numpy(),
        pca=pca.transform(flat).astype(np.float32),
        test_rows=rng.choice(len(x), min(n_test, len(x)), replace=False),
        train_symbols=train_symbols,
        seen_symbols=one_word + two_words[:12],
        novel_symbols=novel,
        settings=settings,
    )


def generation_scores(
    setup: Setup, symbols: Sequence[Symbol], mu: Tensor, logvar: Tensor, n_samples: int, seed: int = 0
) -> tuple[float, float]:
    """Mean accuracy and diversity (:func:`symbol_scores`) of sounds decoded from N(mu, exp(logvar)).

    One row of ``mu``/``logvar`` per symbol; ``n_samples`` decoded sounds each, classified by
    ``setup.classifier``.
    """
    generated = decode_samples(setup.vae, mu.float(), logvar.float(), n_samples, seed=seed)  # [S, B, ...]
    accuracy, diversity = [], []
    for j, symbol in enumerate(symbols):
        scores = symbol_scores(setup.vocabulary, symbol, setup.classifier.predict(generated[:, j]))
        accuracy.append(scores["accuracy"])
        diversity.append(scores["diversity"])
    return float(np.nanmean(accuracy)), float(np.nanmean(diversity))


def few_label_trial(
    setup: Setup,
    labels_per_symbol: int | None,
    *,
    seed: int = 0,
    n_pairs: int = 20000,
    epochs: int = 10,
    n_samples: int = 32,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Train SCAN with ``labels_per_symbol`` labelled sounds per training symbol and score everything.

    Returns tidy rows ``{labels_per_symbol, seed, task, method, value}`` for the tasks
    sound->symbol accuracy, symbol->sound accuracy and diversity (seen symbols), and novel-concept
    accuracy and diversity; the methods are SCAN, the supervised baselines and chance (see the
    chapter). ``labels_per_symbol=None``: a fresh sound for every pair (unlimited labels).
    """
    rng = np.random.default_rng(seed)
    vocabulary = setup.vocabulary
    pairs = make_pairs(setup.train_symbols, vocabulary, n_pairs, rng, labels_per_symbol=labels_per_symbol)
    scan, _ = fit_scan(
        pairs.khot,
        setup.mu[pairs.rows],
        setup.logvar[pairs.rows],
        epochs=epochs,
        seed=seed,
        progress=progress,
    )
    labelled = np.unique(np.stack([pairs.rows, pairs.which], axis=1), axis=0)
    rows, which = labelled[:, 0], labelled[:, 1]
    labels = symbol_labels(vocabulary, pairs.symbols, which)
    truth = vocabulary.attribute_values(setup.classes[setup.test_rows])
    out: list[dict[str, Any]] = []

    def add(task: str, method: str, value: float) -> None:
        out.append(
            {
                "labels_per_symbol": labels_per_symbol or 0,
                "seed": seed,
                "labelled_sounds": len(rows),
                "task": task,
                "method": method,
                "value": float(value),
            }
        )

    test_mu = setup.mu[setup.test_rows]
    add(
        "sound->symbol accuracy",
        "SCAN",
        attribute_accuracy(sound_to_symbol(scan, vocabulary, test_mu), truth).mean(),
    )
    for name, feats in (("probe on latent means", setup.mu.numpy()), ("probe on log-mel PCA", setup.pca)):
        probes = fit_probe(feats[rows], labels, seed=seed)
        add(
            "sound->symbol accuracy",
            name,
            attribute_accuracy(probe_predict(probes, feats[setup.test_rows]), truth).mean(),
        )
    add("sound->symbol accuracy", "chance", majority_chance(vocabulary).mean())

    ridge = fit_symbol_regression(vocabulary.encode(list(pairs.symbols))[which], setup.mu.numpy()[rows])
    for task, symbols in (("seen", setup.seen_symbols), ("novel", setup.novel_symbols)):
        mu_y, logvar_y = encode_symbols(scan, vocabulary, symbols)
        accuracy, diversity = generation_scores(setup, symbols, mu_y, logvar_y, n_samples, seed)
        add(f"symbol->sound accuracy ({task})", "SCAN", accuracy)
        add(f"symbol->sound diversity ({task})", "SCAN", diversity)
        mu_r = torch.as_tensor(ridge.predict(vocabulary.encode(list(symbols))), dtype=torch.float32)
        accuracy, diversity = generation_scores(
            setup, symbols, mu_r, torch.full_like(mu_r, -30.0), n_samples, seed
        )
        add(f"symbol->sound accuracy ({task})", "ridge symbol->latent", accuracy)
        add(f"symbol->sound diversity ({task})", "ridge symbol->latent", diversity)
        zeros = torch.zeros(len(symbols), setup.mu.shape[1])
        accuracy, diversity = generation_scores(setup, symbols, zeros, zeros, n_samples, seed)
        add(f"symbol->sound accuracy ({task})", "chance (prior samples)", accuracy)
        add(f"symbol->sound diversity ({task})", "chance (prior samples)", diversity)
    return out


def run(settings: Settings, progress: bool = True) -> pd.DataFrame:
    """The whole sweep as a tidy DataFrame (one row per trial, task and method)."""
    seed_everything(0)
    setup = prepare(settings, progress=progress)
    rows = []
    trials = [(n, s) for n in settings.labels for s in range(settings.seeds)]
    for n, seed in tqdm(trials, desc="trials", disable=not progress):
        rows += few_label_trial(
            setup, n or None, seed=seed, epochs=settings.scan_epochs, n_pairs=settings.n_pairs
        )
    frame = pd.DataFrame(rows)
    frame["preset"] = settings.preset
    return frame


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.experiments.scan_eval", description=__doc__)
    parser.add_argument(
        "--fast", action="store_true", help="the FAST settings: small static grid (smoke test)"
    )
    parser.add_argument("--seeds", type=int, help=f"SCAN seeds per point (default {FULL.seeds})")
    parser.add_argument("--labels", type=int, nargs="+", help="labels per symbol (0: all)")
    parser.add_argument("--epochs", dest="scan_epochs", type=int, help="SCAN epochs per trial")
    parser.add_argument("--pairs", dest="n_pairs", type=int, help="(sound, symbol) pairs per trial")
    parser.add_argument("--out", type=Path, default=None, help="output CSV (default results/; fast: data/)")
    args = parser.parse_args(argv)
    settings, fast = pick_settings(args, FAST, FULL)
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = data_dir() / "scan_eval_fast.csv" if fast else RESULTS_DIR / "scan_eval.csv"
    torch.set_num_threads(1)  # small models: one thread is faster than two fighting over a busy CPU
    start = time.process_time()
    frame = run(settings)
    path = write_csv(frame, args.out)
    print(f"{path}: {len(frame)} rows, {time.process_time() - start:.0f} CPU seconds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
