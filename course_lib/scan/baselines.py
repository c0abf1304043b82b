"""Supervised baselines SCAN is compared with: a probe per attribute and a ridge from symbols to latents.

Used by exercise sheet 5 (solutions/05_scan.ipynb): the few-label comparison of
:mod:`course_lib.experiments.scan_eval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_lib.scan.symbols import Symbol
from course_lib.scan.vocabulary import Vocabulary


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
