"""Scores of SCAN both ways: sound -> symbol accuracy, symbol -> sound accuracy and diversity, chance.

Used by exercise sheet 5 (solutions/05_scan.ipynb), on chapter 1's toy grid.
Sound -> symbol reads, for each attribute, the word of highest
p(word | z) (:func:`sound_to_symbol`, scored by :func:`attribute_accuracy` against
:func:`majority_chance`); symbol -> sound classifies generated sounds with a
:class:`~course_lib.scan.classifier.FactorClassifier` and scores them with :func:`symbol_scores`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from course_lib.models.scan import SCAN
from course_lib.scan.symbols import Symbol
from course_lib.scan.vocabulary import Vocabulary


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
