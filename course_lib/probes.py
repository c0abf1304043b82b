"""Supervised probes: how much of each factor a representation holds, whatever a model keeps of it.

Taught in chapters/03_3_seven_factors.ipynb. A probe is a classifier trained *with the labels* to
read one factor's class from a representation (features or codes) and scored on held-out sounds: its
accuracy is a ceiling for what an unsupervised model could keep of that factor from the same
features. Two probes per factor, from scikit-learn: a linear one (multinomial logistic regression on
standardised values) and a small MLP (one hidden layer of 256), each reported next to chance (the
share of the most common class).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from course_lib.metrics._inputs import as_factors
from course_lib.validation import positive_int

PROBES = ("logistic", "mlp")
"""The probes of :func:`probe_table`: linear, and an MLP with one hidden layer of 256 ReLU units."""


def _probe(kind: str, seed: int):
    if kind == "logistic":
        classifier = LogisticRegression(max_iter=300, C=1.0)
    elif kind == "mlp":
        classifier = MLPClassifier(
            hidden_layer_sizes=(256,), max_iter=60, early_stopping=True, random_state=seed
        )
    else:
        raise ValueError(f"kind must be one of {PROBES}, got {kind!r}.")
    return make_pipeline(StandardScaler(), classifier)


def probe_table(
    values: np.ndarray,
    classes: np.ndarray,
    factor_names: Sequence[str],
    *,
    n_train: int = 10_000,
    n_test: int = 5_000,
    kinds: Sequence[str] = PROBES,
    seed: int = 0,
) -> pd.DataFrame:
    """Held-out accuracy of each probe on each factor: one row per factor (``factor, chance, <kind>...``).

    ``values`` [N, D] (flattened features or codes) and ``classes`` [N, K] (factor classes); ``n_train``
    and ``n_test`` distinct rows are drawn with ``seed``.
    """
    values = np.asarray(values, dtype=np.float32).reshape(len(values), -1)
    classes = as_factors(classes)
    if len(classes) != len(values) or classes.shape[1] != len(factor_names):
        raise ValueError(
            f"need one row of classes per row of values and one name per factor, got {len(values)} values, "
            f"classes {classes.shape} and {len(factor_names)} names."
        )
    n_train, n_test = positive_int(n_train, "n_train"), positive_int(n_test, "n_test")
    if n_train + n_test > len(values):
        raise ValueError(f"n_train + n_test = {n_train + n_test} exceeds the {len(values)} rows.")
    rows = np.random.default_rng(seed).choice(len(values), size=n_train + n_test, replace=False)
    train, test = rows[:n_train], rows[n_train:]
    table = []
    for k, name in enumerate(factor_names):
        counts = np.bincount(classes[test, k])
        row = {"factor": name, "chance": counts.max() / counts.sum()}
        for kind in kinds:
            with warnings.catch_warnings():  # a probe stopped at its iteration cap is still a lower bound
                warnings.simplefilter("ignore", ConvergenceWarning)
                probe = _probe(kind, seed).fit(values[train], classes[train, k])
            row[kind] = float(probe.score(values[test], classes[test, k]))
        table.append(row)
    return pd.DataFrame(table)
