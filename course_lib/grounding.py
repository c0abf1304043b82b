"""Grounding symbols in sounds: train SCAN on a frozen beta-VAE and score it both ways.

Taught in chapters/05_scan.ipynb (the model is :mod:`course_lib.models.scan`, the symbols
:mod:`course_lib.concepts`, the pairs :mod:`course_lib.symbolic_data`). The pieces, in the order the
chapter uses them:

* :func:`sound_model` / :func:`course_lib.train.fit_beta_vae` / :func:`course_lib.latents.posterior`:
  the frozen beta-VAE and the posteriors q(z_x|x) of every sound of the grid;
* :func:`fit_scan` (the symbol VAE with :func:`~course_lib.models.scan.scan_loss`) and
  :func:`fit_recombination` (the learned operators);
* :class:`FactorClassifier`: predicts every factor's class from a log-mel; trained on **real**
  sounds, it scores generated ones;
* scores: :func:`sound_to_symbol` (per-attribute argmax of p(word|z)), :func:`attribute_accuracy`,
  :func:`symbol_scores` (accuracy on the specified attributes, diversity on the others),
  :func:`majority_chance`;
* supervised baselines: :func:`fit_probe` (logistic regression per attribute) and
  :func:`fit_symbol_regression` (ridge regression from k-hot symbols to latent means).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.concepts import Symbol, Vocabulary, build_vocabulary, operator_id, sample_pairs
from course_lib.latents import posterior
from course_lib.models.scan import SCAN, Recombination, recombination_loss, scan_loss
from course_lib.models.vae import VAE, MLPDecoder, MLPEncoder
from course_lib.symbolic_data import grid_rows
from course_lib.train import History, TensorLoader, fit_beta_vae, train


# ------------------------------------------------------------------------------ the sound model
def sound_model(
    in_shape: Sequence[int] = (64, 32), z_dim: int = 10, hidden: Sequence[int] = (512, 128)
) -> VAE:
    """The chapter's beta-VAE: ReLU MLP encoder and mirrored decoder, Gaussian likelihood (scale 0.1)."""
    encoder = MLPEncoder(tuple(in_shape), tuple(hidden), z_dim, activation="relu")
    decoder = MLPDecoder(z_dim, tuple(hidden)[::-1], tuple(in_shape), activation="relu")
    return VAE(encoder, decoder, likelihood="gaussian", scale=0.1)


@torch.no_grad()
def decode_samples(model: VAE, mu: Tensor, logvar: Tensor, n_samples: int, seed: int = 0) -> Tensor:
    """Log-mels decoded from ``n_samples`` draws of N(mu, exp(logvar)) per row, ``[S, B, mels, frames]``.

    Means of the Gaussian decoder, clipped to the feature range [0, 1].
    """
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    out = model.decode(z.reshape(-1, mu.shape[-1])).clamp(0.0, 1.0)
    return out.reshape(n_samples, mu.shape[0], *out.shape[1:])


# ------------------------------------------------------------------------------ SCAN and operators
def _scan_loss_fn(beta: float, lam: float):
    def loss_fn(model: SCAN, batch: tuple[Tensor, ...], epoch: int):
        y, mu_x, logvar_x = batch
        terms = scan_loss(model, y, mu_x, logvar_x, beta=beta, lam=lam)
        return terms["loss"], {k: float(v.detach()) for k, v in terms.items()}

    return loss_fn


def fit_scan(
    khot: np.ndarray | Tensor,
    mu_x: Tensor,
    logvar_x: Tensor,
    *,
    epochs: int,
    beta: float = 1.0,
    lam: float = 10.0,
    hidden: int = 128,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    checkpoint: Any = None,
    progress: bool = True,
) -> tuple[SCAN, History]:
    """Train a :class:`SCAN` on pairs: k-hot symbols ``khot`` [n, V] and their sounds' posteriors [n, z]."""
    y = torch.as_tensor(np.asarray(khot, dtype=np.float32))
    if len(y) != len(mu_x) or mu_x.shape != logvar_x.shape:
        raise ValueError(
            f"khot {tuple(y.shape)}, mu_x {tuple(mu_x.shape)} and logvar_x {tuple(logvar_x.shape)} must "
            "describe the same pairs."
        )
    torch.manual_seed(seed)
    model = SCAN(y.shape[1], mu_x.shape[1], hidden=hidden)
    loader = TensorLoader(y, mu_x.float(), logvar_x.float(), batch_size=batch_size)
    history = train(
        model,
        loader,
        epochs=epochs,
        loss_fn=_scan_loss_fn(beta, lam),
        lr=lr,
        seed=seed,
        checkpoint=checkpoint,
        device="cpu",
        progress=progress,
    )
    return model, history


@torch.no_grad()
def encode_symbols(scan: SCAN, vocabulary: Vocabulary, symbols: Sequence[Symbol]) -> tuple[Tensor, Tensor]:
    """q(z_y|y) of each symbol: ``(mu, logvar)`` [len(symbols), z]."""
    scan.eval()
    return scan.encode(torch.from_numpy(vocabulary.encode(list(symbols))))


def _recombination_loss_fn(model: Recombination, batch: tuple[Tensor, ...], epoch: int):
    mu1, lv1, mu2, lv2, ops, mu_x, lv_x = batch
    loss = recombination_loss(model, mu1, lv1, mu2, lv2, ops, mu_x, lv_x)
    return loss, {"loss": float(loss.detach())}


def fit_recombination(
    scan: SCAN,
    vocabulary: Vocabulary,
    triples: Sequence[tuple[Symbol, str, Symbol, Symbol]],
    mu_all: Tensor,
    logvar_all: Tensor,
    rng: np.random.Generator,
    *,
    n: int,
    epochs: int,
    hidden: int = 32,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    balance: bool = True,
    progress: bool = True,
) -> tuple[Recombination, History]:
    """Train a :class:`Recombination` on ``n`` draws of ``triples`` (a, op, b, a op b).

    ``balance``: draw the operator uniformly first, then one of its triples (AND and IGNORE have far
    fewer valid triples than IN_COMMON). Each draw pairs a triple with a random sound of its result
    (a row of the full grid whose posteriors are ``mu_all``/``logvar_all``); the operands go through
    the frozen SCAN encoder.
    """
    if not triples:
        raise ValueError("give at least one (a, op, b, result) triple.")
    space = vocabulary.factor_space
    if balance:  # each operator equally often, whatever its number of triples
        by_op: dict[str, list[int]] = {}
        for i, triple in enumerate(triples):
            by_op.setdefault(triple[1], []).append(i)
        groups = list(by_op.values())
        chosen = rng.integers(len(groups), size=int(n))
        pick = np.array([groups[g][rng.integers(len(groups[g]))] for g in chosen], dtype=np.int64)
    else:
        pick = rng.integers(len(triples), size=int(n))
    classes = np.empty((int(n), space.n_factors), dtype=np.int64)
    for position in np.unique(pick):
        rows = np.flatnonzero(pick == position)
        classes[rows] = sample_pairs(triples[position][3], vocabulary, rng, len(rows))[0]
    target = grid_rows(space, classes, len(mu_all))
    mu1, lv1 = encode_symbols(scan, vocabulary, [triples[i][0] for i in pick])
    mu2, lv2 = encode_symbols(scan, vocabulary, [triples[i][2] for i in pick])
    ops = torch.tensor([operator_id(triples[i][1]) for i in pick], dtype=torch.long)
    torch.manual_seed(seed)
    model = Recombination(hidden=hidden)
    loader = TensorLoader(mu1, lv1, mu2, lv2, ops, mu_all[target], logvar_all[target], batch_size=batch_size)
    history = train(
        model,
        loader,
        epochs=epochs,
        loss_fn=_recombination_loss_fn,
        lr=lr,
        seed=seed,
        device="cpu",
        progress=progress,
    )
    return model, history


# ------------------------------------------------------------------------------ factor classifier
class FactorClassifier(nn.Module):
    """p(class of each factor | log-mel): a ReLU MLP with one softmax head per factor."""

    def __init__(self, in_shape: Sequence[int], sizes: Sequence[int], hidden: int = 256) -> None:
        super().__init__()
        self.sizes = tuple(int(s) for s in sizes)
        n_in = int(np.prod(in_shape))
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.head = nn.Linear(hidden, sum(self.sizes))

    def forward(self, x: Tensor) -> list[Tensor]:
        """One logit tensor [B, size_k] per factor."""
        return list(self.head(self.body(x)).split(self.sizes, dim=-1))

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 4096) -> np.ndarray:
        """Most likely class of every factor, int64 [N, K]."""
        self.eval()
        out = []
        for i in range(0, len(x), batch_size):
            out.append(torch.stack([h.argmax(-1) for h in self(x[i : i + batch_size])], dim=-1))
        return torch.cat(out).numpy().astype(np.int64)


def _classifier_loss(model: FactorClassifier, batch: tuple[Tensor, Tensor], epoch: int):
    x, classes = batch
    logits = model(x)
    loss = sum(F.cross_entropy(h, classes[:, k]) for k, h in enumerate(logits))
    acc = float(
        np.mean([(h.argmax(-1) == classes[:, k]).float().mean().item() for k, h in enumerate(logits)])
    )
    return loss, {"loss": float(loss.detach()), "accuracy": acc}


def fit_factor_classifier(
    features: Tensor,
    classes: Tensor,
    sizes: Sequence[int],
    *,
    epochs: int,
    seed: int = 0,
    batch_size: int = 256,
    checkpoint: Any = None,
    progress: bool = True,
) -> FactorClassifier:
    """Train a :class:`FactorClassifier` on real log-mels and their factor classes (load if cached)."""
    torch.manual_seed(seed)
    model = FactorClassifier(features.shape[1:], sizes)
    loader = TensorLoader(features, torch.as_tensor(classes), batch_size=batch_size)
    train(
        model,
        loader,
        epochs=epochs,
        loss_fn=_classifier_loss,
        seed=seed,
        checkpoint=checkpoint,
        device="cpu",
        progress=progress,
    )
    return model.eval()


# ------------------------------------------------------------------------------ scores
@torch.no_grad()
def sound_to_symbol(scan: SCAN, vocabulary: Vocabulary, mu_x: Tensor) -> np.ndarray:
    """Sound -> symbol: for each attribute, the word of highest p(word | z = mu_x); int64 [N, A]."""
    scan.eval()
    probs = scan.word_probs(mu_x.float()).numpy()
    return np.stack([probs[:, vocabulary.groups[a.name]].argmax(1) for a in vocabulary.attributes], axis=1)


def attribute_accuracy(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-attribute accuracy [A] of word positions ``predicted`` against ``truth`` (both [N, A])."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.shape != truth.shape or predicted.ndim != 2:
        raise ValueError(f"predicted and truth must both be [N, A], got {predicted.shape} and {truth.shape}.")
    return (predicted == truth).mean(axis=0)


def majority_chance(vocabulary: Vocabulary) -> np.ndarray:
    """Accuracy [A] of always guessing each attribute's most frequent word on the uniform factor grid."""
    return np.array(
        [max(len(g) for g in a.classes) / sum(len(g) for g in a.classes) for a in vocabulary.attributes]
    )


def symbol_scores(vocabulary: Vocabulary, symbol: Symbol, predicted_classes: np.ndarray) -> dict[str, float]:
    """How well sounds generated from ``symbol`` (their predicted factor classes [S, K]) match it.

    ``accuracy``: share of (sound, specified attribute) whose predicted word is the symbol's (NaN for
    the empty symbol). ``diversity``: over the unspecified attributes, the mean normalised entropy of
    the predicted words (1: as varied as a uniform draw; 0: always the same word; NaN if the symbol
    specifies every attribute).
    """
    values = vocabulary.attribute_values(predicted_classes)  # [S, A]
    wanted = symbol.as_dict()
    hits, entropies = [], []
    for j, attribute in enumerate(vocabulary.attributes):
        if attribute.name in wanted:
            hits.append(values[:, j] == attribute.words.index(wanted[attribute.name]))
        else:
            counts = np.bincount(values[:, j], minlength=len(attribute.words)) / len(values)
            nz = counts[counts > 0]
            entropies.append(float(-(nz * np.log(nz)).sum() / np.log(len(attribute.words))))
    return {
        "accuracy": float(np.mean(np.concatenate(hits))) if hits else float("nan"),
        "diversity": float(np.mean(entropies)) if entropies else float("nan"),
    }


# ------------------------------------------------------------------------------ supervised baselines
def fit_probe(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> list[Any]:
    """Logistic regression per attribute on ``features`` [n, d]; ``labels`` [n, A] with -1 = unknown.

    An attribute with fewer than two labelled words gets a constant predictor. The supervised
    baseline of sound -> symbol.
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


def probe_predict(probes: Sequence[Any], features: np.ndarray) -> np.ndarray:
    """Word positions [N, A] predicted by :func:`fit_probe`'s models."""
    features = np.asarray(features, dtype=np.float64)
    return np.stack(
        [p.predict(features if hasattr(p, "coef_") else np.zeros((len(features), 1))) for p in probes], axis=1
    )


def symbol_labels(vocabulary: Vocabulary, symbols: Sequence[Symbol], which: np.ndarray) -> np.ndarray:
    """Word positions [n, A] that the symbols ``symbols[which]`` state, -1 where they say nothing."""
    table = np.full((len(symbols), len(vocabulary.attributes)), -1, dtype=np.int64)
    for i, symbol in enumerate(symbols):
        words = symbol.as_dict()
        for j, attribute in enumerate(vocabulary.attributes):
            if attribute.name in words:
                table[i, j] = attribute.words.index(words[attribute.name])
    return table[np.asarray(which)]


def fit_symbol_regression(khot: np.ndarray, mu_x: np.ndarray, alpha: float = 1.0) -> Any:
    """Ridge regression from k-hot symbols to latent means: the supervised symbol -> sound baseline.

    Deterministic (one code per symbol), so it has no diversity by construction.
    """
    from sklearn.linear_model import Ridge

    return Ridge(alpha=alpha).fit(np.asarray(khot, dtype=np.float64), np.asarray(mu_x, dtype=np.float64))


# ------------------------------------------------------------------------------ the whole setup
SETTINGS: dict[str, dict[str, Any]] = {
    "fast": {"preset": "static", "z_dim": 10, "beta": 4.0, "vae_epochs": 15, "classifier_epochs": 20},
    "full": {"preset": "default", "z_dim": 10, "beta": 4.0, "vae_epochs": 6, "classifier_epochs": 3},
}
"""The frozen sound model and the classifier of chapter 5 and of ``course_lib.experiments.scan_eval``."""


@dataclass
class Setup:
    """Everything SCAN is trained and scored against (built once by :func:`prepare`).

    ``mu``/``logvar`` [N, z]: q(z_x|x) of every sound of the grid; ``classes`` [N, K] their factors;
    ``pca`` [N, 32]: principal components of the log-mels (the probe baseline's input);
    ``test_rows``: the sounds scored for sound -> symbol; ``train_symbols``: symbols of 1-2 words;
    ``seen_symbols``: a sample of them scored for symbol -> sound; ``novel_symbols``: 3-word symbols
    (and the named concepts) never used in training.
    """

    vocabulary: Vocabulary
    vae: VAE
    vae_history: History
    classifier: FactorClassifier
    mu: Tensor
    logvar: Tensor
    classes: np.ndarray
    pca: np.ndarray
    test_rows: np.ndarray
    train_symbols: list[Symbol]
    seen_symbols: list[Symbol]
    novel_symbols: list[Symbol]
    settings: dict[str, Any] = field(default_factory=dict)


def prepare(
    settings: dict[str, Any], *, seed: int = 0, n_test: int = 2000, n_novel: int = 24, progress: bool = True
) -> Setup:
    """Load the dataset, train (or load) the beta-VAE and the factor classifier, encode every sound.

    Checkpoints go to ``config.data_dir()``, named after the settings. The classifier is trained on
    the real log-mels **and** their reconstructions by the frozen beta-VAE (same labels), so that
    the blur of the decoder alone does not count as a wrong attribute.
    """
    from sklearn.decomposition import PCA

    from course_lib.config import data_dir
    from course_lib.datasets import load_toy_dataset
    from course_lib.symbolic_data import symbols_up_to

    ds = load_toy_dataset(settings["preset"], verbose=progress)
    x, classes = ds.tensors()
    tag = f"{settings['preset']}_z{settings['z_dim']}_b{settings['beta']:g}_s{seed}"
    torch.manual_seed(seed)
    vae = sound_model(x.shape[1:], settings["z_dim"])
    history = fit_beta_vae(
        vae,
        x,
        beta=settings["beta"],
        epochs=settings["vae_epochs"],
        seed=seed,
        checkpoint=data_dir() / f"ch05_vae_{tag}.pt",
        progress=progress,
    )
    vae.eval()
    mu, logvar = posterior(vae, x)
    with torch.no_grad():
        recon = torch.cat([vae.decode(mu[i : i + 4096]).clamp(0, 1) for i in range(0, len(mu), 4096)])
    classifier = fit_factor_classifier(
        torch.cat([x, recon]),
        torch.cat([classes, classes]),
        ds.factor_space.sizes,
        epochs=settings["classifier_epochs"],
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
        vae_history=history,
        classifier=classifier,
        mu=mu,
        logvar=logvar,
        classes=classes.numpy(),
        pca=pca.transform(flat).astype(np.float32),
        test_rows=rng.choice(len(x), min(n_test, len(x)), replace=False),
        train_symbols=train_symbols,
        seen_symbols=one_word + two_words[:12],
        novel_symbols=novel,
        settings=dict(settings),
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
    from course_lib.symbolic_data import make_pairs

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
    for name, feats in (("probe on beta-VAE means", setup.mu.numpy()), ("probe on log-mel PCA", setup.pca)):
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
