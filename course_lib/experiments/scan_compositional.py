"""Chapter 5's experiment on composed sounds: SCAN grounded in chapter 3's recipe, judged by measurement.

Taught in chapters/05_2_scan.ipynb, which plots its results file, plays sounds from its two
checkpoints and trains the recombination operators live (:func:`operator_examples`,
:func:`fit_operators`, :func:`operator_scores`). Reproduce with::

    python -m course_lib.experiments.scan_compositional            # about 20 CPU minutes, CSV to results/
    python -m course_lib.experiments.scan_compositional --publish  # the same, and rewrite the checkpoints
    python -m course_lib.experiments.scan_compositional --fast     # a smoke run (CSV to data/)

It writes ``results/scan_compositional.csv`` and ``results/scan_compositional_operators.csv`` (the
recombination operators, trained on the committed models: :func:`operator_results`); only
``--publish`` writes the two committed checkpoints
under ``results/checkpoints/scan_compositional``: ``sound_model.pt`` (the sound model, float16
weights) and ``words.pt`` (SCAN trained with every label of the pool, seed 0). Calling :func:`run`
from Python never writes them unless asked to (``publish=True``).

1. **The sound model** is chapter 3's best unsupervised recipe (:mod:`course_lib.recipe`:
   level-channel inputs with level gain 4, the same MLP, beta-TCVAE at the same beta) trained without
   labels on all 1,056 composed sounds (:mod:`course_lib.composed_sounds`).
2. **Held out**: every sound that holds a bell in a wet room, and every sound that joins the flute and
   the gong (mixed or in succession): :func:`held_out`. Their words never reach SCAN. The other sounds
   are split at random, 30 % for testing and 70 % as the pool labelled sounds are drawn from.
3. **Few labels**: for ``n`` labels per word, ``n`` pool sounds carrying each word are labelled (their
   union; ``0``: the whole pool). SCAN is trained on (sound, partial description) pairs drawn from
   them (:func:`course_lib.composed_sounds.partial_symbols`), 3 seeds per ``n``.
4. **Sound -> words** on the test sounds and on the held-out sounds: SCAN's decoder read at the
   sound's posterior mean (:func:`course_lib.scan.readings.read_words`), against a linear probe given
   the same labelled sounds; references (:func:`reference_rows`): a supervised classifier (an MLP)
   given the whole pool, and always answering the pool's most frequent reading (chance); all read
   the same posterior means.
5. **Words -> sound** on phrases drawn from pool sounds (``seen``) and from held-out sounds
   (``novel``: "bell ... wet", "flute PLUS gong"): each phrase is encoded by SCAN, ``n_samples`` codes
   are drawn from q(z|words), decoded, turned into audio (Griffin-Lim) and **measured**
   (:func:`course_lib.judges.judge`); accuracy on the attributes the phrase names and diversity on the
   effects it leaves open (:func:`course_lib.scan.readings.judged_scores`). References (no labels):
   codes drawn from the prior, and real sounds of the dataset that satisfy the phrase, through the
   same Griffin-Lim and the same judges (what the pipeline can reach at best).
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

from course_lib import composed_sounds as cs
from course_lib import judges, loudness, recipe
from course_lib.config import RESULTS_DIR, data_dir, seed_everything
from course_lib.experiments import FLOAT_FORMAT, pick_settings, positive_int
from course_lib.features import LogMel
from course_lib.files import write_csv
from course_lib.latents import posterior
from course_lib.models.scan import SCAN, Recombination, fit_operator, fit_scan, product_of_experts_and
from course_lib.models.vae import VAE
from course_lib.scan import readings
from course_lib.train import fit, load_checkpoint, save_checkpoint

CHECKPOINTS = RESULTS_DIR / "checkpoints" / "scan_compositional"
SOUND_MODEL = CHECKPOINTS / "sound_model.pt"
WORDS_MODEL = CHECKPOINTS / "words.pt"
COMMAND = "python -m course_lib.experiments.scan_compositional"
RECIPE_BETA: float = recipe.BETA
"""Chapter 3's beta for beta-TCVAE."""


@dataclass(frozen=True)
class Settings:
    """The sound model, the split, and the grid of few-label trials."""

    dataset_seed: int = 0
    vae_epochs: int = 300
    labels: tuple[int, ...] = (1, 2, 5, 10, 0)
    """Labelled sounds per word; 0 stands for the whole pool."""
    seeds: tuple[int, ...] = (0, 1, 2)
    scan_epochs: int = 60
    n_pairs: int = 20000
    rho: float = 0.5
    """Probability that a word of a labelled sound is named in one of its descriptions."""
    n_phrases: int = 20
    """Phrases per set (seen, novel) for words -> sound."""
    n_samples: int = 6
    """Sounds imagined per phrase."""
    gl_iter: int = 16
    test_share: float = 0.3
    operator_examples: int = 20000
    """Training examples of the recombination operators."""
    operator_epochs: int = 5


FULL = Settings()
"""The settings of the committed results file and checkpoints."""

FAST = Settings(
    vae_epochs=3,
    labels=(2, 0),
    seeds=(0,),
    scan_epochs=2,
    n_pairs=2000,
    n_phrases=3,
    n_samples=2,
    operator_examples=500,
    operator_epochs=1,
)
"""A smoke test."""


def held_out(symbols: np.ndarray) -> np.ndarray:
    """Sounds whose words SCAN never sees: a bell in a wet room, or the flute joined with the gong."""
    k = np.asarray(symbols).astype(bool)
    i = {w: j for j, w in enumerate(cs.WORDS)}
    return (k[:, i["bell"]] & k[:, i["wet"]]) | (k[:, i["flute"]] & k[:, i["gong"]])


def sound_inputs(features: np.ndarray, level_gain: float) -> torch.Tensor:
    """Chapter 3's inputs: relative log-mel and the standardised level times ``level_gain``, ``[N, 2049]``."""
    return loudness.level_channel_inputs(features, level_gain=level_gain)


def train_sound_model(inputs: torch.Tensor, epochs: int, seed: int = 0, progress: bool = True) -> VAE:
    """Chapter 3's beta-TCVAE recipe trained on ``inputs`` (no labels)."""
    model, _ = fit(
        lambda: recipe.make_model(recipe.RECIPE, inputs.shape[1]),
        inputs,
        epochs=epochs,
        seed=seed,
        batch_size=recipe.RECIPE.batch_size,
        loss_fn=recipe.make_loss(recipe.MODEL, RECIPE_BETA, len(inputs)),
        lr=recipe.RECIPE.lr,
        checkpoint=data_dir() / f"scan_sound_model_e{epochs}_s{seed}.pt",
        progress=progress,
    )
    return model.eval()


def _load_committed(model: torch.nn.Module, path: str | Path) -> dict[str, Any]:
    """:func:`course_lib.train.load_checkpoint` of a committed file (float16 weights), in eval mode."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no {path}: run {COMMAND}.")
    meta = load_checkpoint(model, path)
    model.eval()
    return meta


def load_sound_model(path: str | Path = SOUND_MODEL) -> tuple[VAE, dict[str, Any]]:
    """The committed sound model (float32, eval mode) and its meta (beta, epochs, dataset seed)."""
    model = recipe.make_model(recipe.RECIPE, 64 * 32 + 1)
    return model, _load_committed(model, path)


def load_words_model(path: str | Path = WORDS_MODEL) -> tuple[SCAN, dict[str, Any]]:
    """The committed SCAN (trained with every label of the pool, seed 0) and its meta."""
    model = SCAN(len(cs.WORDS), recipe.RECIPE.z_dim)
    return model, _load_committed(model, path)


@dataclass
class Setup:
    """Everything the trials share (built once by :func:`prepare`).

    ``mu``/``logvar`` [N, z]: the sound model's posterior of every sound; ``readings``: the true
    readings (:func:`course_lib.scan.readings.true_readings`); ``pool``/``test``/``held``: row indices;
    ``phrases``: k-hot phrases per set, ``seen`` (drawn from pool sounds) and ``novel`` (from held-out
    sounds); ``scale`` and ``level_gain``: the level channel's standardisation and gain (the sound
    model's own), which turn decoded codes back into log-mels.
    """

    features: np.ndarray
    symbols: np.ndarray
    readings: pd.DataFrame
    vae: VAE
    scale: loudness.LevelScale
    level_gain: float
    mu: torch.Tensor
    logvar: torch.Tensor
    pool: np.ndarray
    test: np.ndarray
    held: np.ndarray
    phrases: dict[str, np.ndarray]
    settings: Settings


def _phrase_from(
    symbol: np.ndarray, rng: np.random.Generator, rho: float, always: Sequence[str]
) -> np.ndarray:
    """A partial description of one sound that names ``always`` and asks a judge for something."""
    base = cs.phrase(always)
    while True:
        p = cs.partial_symbols(symbol[None], rng, rho)[0] | base
        if readings.wanted(p):
            return p


def make_phrases(
    symbols: np.ndarray, rows: np.ndarray, n: int, rng: np.random.Generator, rho: float
) -> np.ndarray:
    """``n`` phrases, each a partial description of a random sound of ``rows`` (k-hot ``[n, words]``).

    A held-out sound keeps the words that make it novel (bell and wet; flute, gong and the operator).
    """
    out = []
    for row in rng.choice(rows, size=n, replace=len(rows) < n):
        words = set(cs.words_of(symbols[row]))
        always = [w for w in ("bell", "wet") if {"bell", "wet"} <= words]
        if {"flute", "gong"} <= words:
            always += ["flute", "gong"] + [op for op in cs.SOUND_OPERATORS if op in words]
        out.append(_phrase_from(symbols[row], rng, rho, always))
    return np.stack(out)


def prepare(
    settings: Settings = FULL, progress: bool = True, retrain: bool = False, publish: bool = False
) -> Setup:
    """The dataset and the sound model, every sound encoded, the split and the phrases.

    The sound model is the committed one, unless ``retrain`` (trained here, cached under
    ``data_dir()``); ``publish`` also writes the retrained model over the committed checkpoint.
    """
    if publish and not retrain:
        raise ValueError("publish=True writes a retrained sound model: give retrain=True too.")
    data = cs.load_composed_sounds(settings.dataset_seed, verbose=progress)
    features, symbols = data.features.astype(np.float32), data.symbols
    scale = loudness.level_scale(features)
    if retrain:
        level_gain = recipe.RECIPE.level_gain
        vae = train_sound_model(sound_inputs(features, level_gain), settings.vae_epochs, progress=progress)
        if publish:
            meta = {"beta": RECIPE_BETA, "epochs": settings.vae_epochs, "dataset_seed": settings.dataset_seed}
            meta |= loudness.level_channel_meta(scale, level_gain)
            save_checkpoint(vae, SOUND_MODEL, half=True, **meta)
            vae, _ = load_sound_model()
    else:
        vae, meta = load_sound_model()
        level_gain = meta["level_gain"]  # saved with the model (course_lib.loudness.level_channel_meta)
    inputs = sound_inputs(features, level_gain)
    mu, logvar = posterior(vae, inputs)
    rng = np.random.default_rng(settings.dataset_seed)
    held = np.flatnonzero(held_out(symbols))
    rest = rng.permutation(np.flatnonzero(~held_out(symbols)))
    n_test = int(round(settings.test_share * len(rest)))
    test, pool = np.sort(rest[:n_test]), np.sort(rest[n_test:])
    phrases = {
        "seen": make_phrases(symbols, pool, settings.n_phrases, rng, settings.rho),
        "novel": make_phrases(symbols, held, settings.n_phrases, rng, settings.rho),
    }
    return Setup(
        features=features,
        symbols=symbols,
        readings=readings.true_readings(symbols),
        vae=vae,
        scale=scale,
        level_gain=level_gain,
        mu=mu,
        logvar=logvar,
        pool=pool,
        test=test,
        held=held,
        phrases=phrases,
        settings=settings,
    )


def labelled_rows(
    symbols: np.ndarray, pool: np.ndarray, per_word: int, rng: np.random.Generator
) -> np.ndarray:
    """``per_word`` pool sounds carrying each word (their union, sorted); ``0``: the whole pool."""
    if per_word == 0:
        return np.asarray(pool)
    if per_word < 0:
        raise ValueError(f"labels per word must be >= 0 (0: the whole pool), got {per_word}.")
    chosen: set[int] = set()
    for j in range(symbols.shape[1]):
        carriers = pool[symbols[pool, j] > 0]
        chosen.update(rng.choice(carriers, size=min(per_word, len(carriers)), replace=False).tolist())
    return np.array(sorted(chosen), dtype=np.int64)


@torch.no_grad()
def imagined_logmels(
    setup: Setup, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int, seed: int = 0
) -> np.ndarray:
    """Log-mels ``[rows, n_samples, mels, frames]`` decoded from codes drawn from N(mu, exp(logvar))."""
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn((len(mu), n_samples, mu.shape[1]), generator=generator)
    z = (mu[:, None] + torch.exp(0.5 * logvar[:, None]) * eps).reshape(-1, mu.shape[1])
    shape = setup.features.shape[1:]
    logmels = loudness.from_level_channel(
        setup.vae.decode(z), shape, setup.scale, level_gain=setup.level_gain
    )
    return logmels.reshape(len(mu), n_samples, *shape)


def imagine(
    setup: Setup, mu: torch.Tensor, logvar: torch.Tensor, n_samples: int, seed: int = 0
) -> np.ndarray:
    """Audio ``[rows, n_samples, samples]`` of :func:`imagined_logmels`, through Griffin-Lim."""
    logmels = imagined_logmels(setup, mu, logvar, n_samples, seed)
    return to_audio(logmels.reshape(-1, *logmels.shape[2:]), setup.settings.gl_iter).reshape(
        len(mu), n_samples, -1
    )


def to_audio(logmels: np.ndarray, gl_iter: int = 16) -> np.ndarray:
    """Log-mels of the composed sounds' features as audio (Griffin-Lim, seeded)."""
    return LogMel(sr=cs.SR).invert(logmels, n_iter=gl_iter)


def judge_phrases(phrases: np.ndarray, audio: np.ndarray) -> list[dict[str, Any]]:
    """Per phrase, :func:`course_lib.scan.readings.judged_scores` of its sounds ``audio[phrase]``."""
    judged = judges.judge(audio.reshape(-1, audio.shape[-1]), cs.SR, descriptors=False)
    per = audio.shape[1]
    out = []
    for i, p in enumerate(phrases):
        asked = readings.wanted(p)
        table = judged.iloc[i * per : (i + 1) * per]
        hits = {f"hit {name}": float((table[name] == word).mean()) for name, word in asked.items()}
        out.append({**readings.judged_scores(table, asked), **hits})
    return out


def _summary(scores: list[dict[str, Any]]) -> dict[str, float]:
    """Means over phrases: accuracy, diversity and each attribute's hit rate (over phrases asking it)."""
    frame = pd.DataFrame(scores)
    return {c: float(frame[c].mean()) for c in frame.columns}


def _rows(
    base: dict[str, Any], direction: str, split: str, method: str, values: dict[str, float]
) -> list[dict]:
    where = {"direction": direction, "split": split, "method": method}
    return [{**base, **where, "measure": k, "value": v} for k, v in values.items()]


def _reading_scores(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    hits = {r: float((predicted[r].to_numpy() == truth[r].to_numpy()).mean()) for r in readings.READINGS}
    return {"accuracy": float(np.mean(list(hits.values()))), **{f"hit {r}": v for r, v in hits.items()}}


def _codes(table: pd.DataFrame) -> tuple[np.ndarray, list[list[str]]]:
    names = [sorted(table[r].unique()) for r in readings.READINGS]
    columns = zip(readings.READINGS, names, strict=True)
    codes = np.stack([table[r].map({w: i for i, w in enumerate(n)}).to_numpy() for r, n in columns], axis=1)
    return codes, names


def _fit_probe(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> list[Any]:
    """Logistic regression per attribute on ``features`` [n, d]; ``labels`` [n, A] with -1 = unknown.

    An attribute with fewer than two labelled words gets a constant predictor. The probe that
    SCAN's sound -> words is compared with, given the same labelled sounds.
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    features, labels = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if labels.ndim != 2 or len(labels) != len(features):
        raise ValueError(f"labels must be [n={len(features)}, A], got {labels.shape}.")
    probes = []
    for j in range(labels.shape[1]):
        known = labels[:, j] >= 0
        if len(np.unique(labels[known, j])) < 2:
            target = labels[known, j] if known.any() else np.zeros(1, dtype=np.int64)
            probes.append(DummyClassifier(strategy="most_frequent").fit(np.zeros((len(target), 1)), target))
            continue
        probes.append(
            LogisticRegression(max_iter=500, C=1.0, random_state=seed).fit(features[known], labels[known, j])
        )
    return probes


def _probe_predict(probes: Sequence[Any], features: np.ndarray) -> np.ndarray:
    """Word positions [N, A] predicted by :func:`_fit_probe`'s models."""
    features = np.asarray(features, dtype=np.float64)
    return np.stack(
        [p.predict(features if hasattr(p, "coef_") else np.zeros((len(features), 1))) for p in probes], axis=1
    )


def _probe_readings(setup: Setup, rows: np.ndarray, targets: np.ndarray, seed: int) -> pd.DataFrame:
    """Readings of ``targets`` by logistic regressions on the posterior means, fitted on ``rows``."""
    codes, names = _codes(setup.readings)
    mu = setup.mu.numpy()
    predicted = _probe_predict(_fit_probe(mu[rows], codes[rows], seed=seed), mu[targets])
    return pd.DataFrame(
        {
            r: np.array(n)[predicted[:, j]]
            for j, (r, n) in enumerate(zip(readings.READINGS, names, strict=True))
        }
    )


def _classifier_readings(setup: Setup, rows: np.ndarray, targets: np.ndarray, seed: int) -> pd.DataFrame:
    """Readings of ``targets`` by one MLP per reading (a hidden layer of 128), fitted on ``rows``."""
    from sklearn.neural_network import MLPClassifier

    mu = setup.mu.numpy()
    out = {}
    for r in readings.READINGS:
        classifier = MLPClassifier((128,), max_iter=2000, random_state=seed)
        out[r] = classifier.fit(mu[rows], setup.readings[r].to_numpy()[rows]).predict(mu[targets])
    return pd.DataFrame(out)


def few_label_trial(
    setup: Setup, per_word: int, seed: int, progress: bool = False
) -> tuple[list[dict], SCAN]:
    """Train SCAN with ``per_word`` labels per word (seed ``seed``) and score both directions."""
    s = setup.settings
    rng = np.random.default_rng(1000 + seed)
    labelled = labelled_rows(setup.symbols, setup.pool, per_word, rng)
    rows = rng.choice(labelled, size=s.n_pairs)
    words = cs.partial_symbols(setup.symbols[rows], rng, s.rho)
    scan, _ = fit_scan(
        words, setup.mu[rows], setup.logvar[rows], epochs=s.scan_epochs, seed=seed, progress=progress
    )
    scan.eval()
    base = {"labels_per_word": per_word, "seed": seed, "labelled_sounds": len(labelled)}
    out: list[dict] = []
    for split, targets in (("seen", setup.test), ("novel", setup.held)):
        truth = setup.readings.iloc[targets]
        read = readings.read_words(scan.word_probs(setup.mu[targets]).numpy(), s.rho)
        out += _rows(base, "sound->words", split, "SCAN", _reading_scores(read, truth))
        probe = _probe_readings(setup, labelled, targets, seed)
        out += _rows(base, "sound->words", split, "probe (same labels)", _reading_scores(probe, truth))
    for split, phrases in setup.phrases.items():
        with torch.no_grad():
            mu, logvar = scan.encode(torch.from_numpy(phrases.astype(np.float32)))
        sounds = imagine(setup, mu, logvar, s.n_samples, seed=seed)
        out += _rows(base, "words->sound", split, "SCAN", _summary(judge_phrases(phrases, sounds)))
    return out, scan


def reference_rows(setup: Setup) -> list[dict]:
    """The references, which no number of labels changes (``labels_per_word`` is empty).

    Sound -> words: a supervised MLP given the whole pool, and always answering the pool's most
    frequent reading (chance). Words -> sound: codes from the prior, and real sounds that satisfy
    each phrase.
    """
    s = setup.settings
    rng = np.random.default_rng(7)
    base = {"labels_per_word": np.nan, "seed": 0, "labelled_sounds": len(setup.pool)}
    out: list[dict] = []
    for split, targets in (("seen", setup.test), ("novel", setup.held)):
        truth = setup.readings.iloc[targets]
        supervised = _classifier_readings(setup, setup.pool, targets, seed=0)
        out += _rows(
            base, "sound->words", split, "supervised MLP (whole pool)", _reading_scores(supervised, truth)
        )
        majority = pd.DataFrame(
            {r: [setup.readings[r].iloc[setup.pool].mode()[0]] * len(targets) for r in readings.READINGS}
        )
        out += _rows(base, "sound->words", split, "chance", _reading_scores(majority, truth))
    for split, phrases in setup.phrases.items():
        zeros = torch.zeros(len(phrases), setup.mu.shape[1])
        sounds = imagine(setup, zeros, zeros, s.n_samples, seed=0)
        out += _rows(base, "words->sound", split, "prior samples", _summary(judge_phrases(phrases, sounds)))
        real = []
        for p in phrases:
            fits = np.flatnonzero(((setup.symbols & p) == p).all(axis=1))
            real.append(rng.choice(fits, size=s.n_samples, replace=len(fits) < s.n_samples))
        sounds = to_audio(setup.features[np.concatenate(real)], s.gl_iter).reshape(
            len(phrases), s.n_samples, -1
        )
        out += _rows(base, "words->sound", split, "real sounds", _summary(judge_phrases(phrases, sounds)))
    return out


def run(
    settings: Settings, progress: bool = True, retrain: bool = False, publish: bool = False
) -> pd.DataFrame:
    """The whole experiment as a tidy DataFrame.

    ``retrain``: train the sound model too (else the committed one); ``publish`` (with ``retrain``):
    write both committed checkpoints. The defaults never touch the committed files.
    """
    seed_everything(0)
    setup = prepare(settings, progress=progress, retrain=retrain, publish=publish)
    rows = reference_rows(setup)
    trials = [(n, seed) for n in settings.labels for seed in settings.seeds]
    for n, seed in tqdm(trials, desc="SCAN trials", disable=not progress):
        trial_rows, scan = few_label_trial(setup, n, seed)
        rows += trial_rows
        if publish and n == 0 and seed == settings.seeds[0]:
            save_checkpoint(
                scan, WORDS_MODEL, half=True, rho=settings.rho, epochs=settings.scan_epochs, seed=seed
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ the recombination operators
def operator_phrases(
    setup: Setup, n: int, rng: np.random.Generator, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` examples ``(y1, op, y2) -> result``, phrases drawn from sounds of ``rows`` (default: the pool).

    The operator is drawn uniformly from :data:`course_lib.composed_sounds.SYMBOL_OPERATORS`. AND:
    two partial descriptions of one sound; IN_COMMON: partial descriptions of two sounds; IGNORE: a
    partial description and some of its own words. Returns ``y1``, ``op`` ids, ``y2``, the true
    ``result`` (k-hot ``[n, V]`` each, ops ``[n]``) and ``target``: for each, a sound of ``rows``
    that the result admits (any one when the result is empty), whose posterior the operator learns.
    """
    rows = setup.pool if rows is None else np.asarray(rows)
    symbols, rho = setup.symbols, setup.settings.rho
    y1, ops, y2, results, targets = [], [], [], [], []
    for _ in range(int(n)):
        op = int(rng.integers(len(cs.SYMBOL_OPERATORS)))
        s1, s2 = symbols[rng.choice(rows, size=2)]
        a = cs.partial_symbols(s1[None], rng, rho)[0]
        if op == 0:
            b = cs.partial_symbols(s1[None], rng, rho)[0]
        elif op == 1:
            b = cs.partial_symbols(s2[None], rng, rho)[0]
        else:
            b = cs.partial_symbols(a[None], rng, 0.5)[0]
        result = cs.apply_symbol_operator(cs.SYMBOL_OPERATORS[op], a, b)
        y1.append(a), ops.append(op), y2.append(b), results.append(result)
        targets.append(rng.choice(rows[cs.admits(symbols[rows], result)]))
    return np.stack(y1), np.array(ops), np.stack(y2), np.stack(results), np.array(targets)


def operator_examples(
    setup: Setup, scan: SCAN, n: int, rng: np.random.Generator
) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor], Tensor, Tensor, Tensor]:
    """:func:`operator_phrases` as training tensors: the operands' posteriors under the frozen
    ``scan`` encoder ``(mu1, logvar1, mu2, logvar2)``, the op ids, and the target sound's posterior."""
    y1, ops, y2, _, targets = operator_phrases(setup, n, rng)
    with torch.no_grad():
        mu1, lv1 = scan.encode(torch.from_numpy(y1.astype(np.float32)))
        mu2, lv2 = scan.encode(torch.from_numpy(y2.astype(np.float32)))
    return (mu1, lv1, mu2, lv2), torch.from_numpy(ops), setup.mu[targets], setup.logvar[targets]


def fit_operators(
    setup: Setup, scan: SCAN, n: int, epochs: int, seed: int = 0, progress: bool = False
) -> Recombination:
    """The recombination network for AND, IN_COMMON and IGNORE, on :func:`operator_examples`."""
    operands, ops, mu_x, logvar_x = operator_examples(setup, scan, n, np.random.default_rng(seed))
    model, _ = fit_operator(
        operands,
        ops,
        mu_x,
        logvar_x,
        epochs=epochs,
        n_ops=len(cs.SYMBOL_OPERATORS),
        seed=seed,
        progress=progress,
    )
    return model.eval()


def _split_novel(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A novel phrase as two seen operands: (the phrase without its last novel word, that word)."""
    words = cs.words_of(p)
    last = "wet" if "wet" in words and "bell" in words else "gong"
    return cs.phrase([w for w in words if w != last]), cs.phrase([last])


def operator_scores(setup: Setup, scan: SCAN, operator: Recombination, seed: int = 0) -> pd.DataFrame:
    """Words -> sound on the novel phrases reached through an operator, judged by measurement.

    Each novel phrase (it names a bell in a wet room, or the flute with the gong) is split into two
    operands SCAN has seen (:func:`_split_novel`), joined by the learned AND or by the product of
    experts. One row per route: the mean accuracy and diversity of :func:`judge_phrases`, with the
    same phrases, samples and seed as the results file's ``words->sound`` rows on ``novel`` phrases
    (SCAN's encoder given the whole phrase, and codes drawn from the prior).
    """
    phrases = setup.phrases["novel"]
    left, right = zip(*(_split_novel(p) for p in phrases), strict=True)
    with torch.no_grad():
        m1, l1 = scan.encode(torch.from_numpy(np.stack(left).astype(np.float32)))
        m2, l2 = scan.encode(torch.from_numpy(np.stack(right).astype(np.float32)))
        routes = {
            "learned AND": operator(m1, l1, m2, l2, "AND"),
            "product of experts": product_of_experts_and(m1, l1, m2, l2),
        }
    rows = []
    for name, (mu, logvar) in routes.items():
        sounds = imagine(setup, mu, logvar, setup.settings.n_samples, seed=seed)
        scores = _summary(judge_phrases(phrases, sounds))
        rows.append({"route": name, "accuracy": scores["accuracy"], "diversity": scores["diversity"]})
    return pd.DataFrame(rows).set_index("route")


def operator_results(settings: Settings = FULL, progress: bool = True) -> pd.DataFrame:
    """The learned AND (one per seed of ``settings.seeds``) and the product of experts on novel phrases.

    Uses the committed sound model and words model; one row per route, seed and measure
    (``route, seed, measure, value``), from :func:`operator_scores`.
    """
    setup = prepare(settings, progress=False)
    scan, _ = load_words_model()
    rows = []
    for seed in tqdm(settings.seeds, desc="operators", disable=not progress):
        operator = fit_operators(setup, scan, settings.operator_examples, settings.operator_epochs, seed=seed)
        table = operator_scores(setup, scan, operator, seed=0)
        routes = table.index if seed == settings.seeds[0] else ["learned AND"]
        for route in routes:
            for measure in ("accuracy", "diversity"):
                rows.append(
                    {"route": route, "seed": seed, "measure": measure, "value": table.loc[route, measure]}
                )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings (smoke test)")
    parser.add_argument("--out", type=Path, default=None, help="output CSV (default results/; fast: data/)")
    parser.add_argument(
        "--publish", action="store_true", help="also rewrite the committed checkpoints (never with --fast)"
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    settings, fast = pick_settings(args, FAST, FULL)
    if args.publish and fast:
        parser.error("--publish writes the committed checkpoints: it needs the FULL settings, not --fast.")
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = (
            data_dir() / "scan_compositional_fast.csv" if fast else RESULTS_DIR / "scan_compositional.csv"
        )
    torch.set_num_threads(args.threads)
    start = time.process_time()
    frame = run(settings, retrain=not fast, publish=args.publish)
    path = write_csv(frame, args.out, float_format=FLOAT_FORMAT)
    operators = write_csv(
        operator_results(settings),
        args.out.with_name(args.out.stem + "_operators.csv"),
        float_format=FLOAT_FORMAT,
    )
    print(f"{path}: {len(frame)} rows; {operators}; {time.process_time() - start:.0f} CPU seconds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
