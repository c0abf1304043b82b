"""What SCAN reads in a composed sound, and whether an imagined sound has what a phrase asked for.

Taught in chapters/05_2_scan.ipynb (SCAN on the composed sounds of :mod:`course_lib.composed_sounds`,
whose k-hot phrases are over :data:`~course_lib.composed_sounds.WORDS`). SCAN is scored on nine
**readings** of a sound (:data:`READINGS`), each a small closed set of answers:

* the four effects: ``brightness`` (dark | bright), ``loudness`` (soft | loud), ``space`` (dry | wet),
  ``motion`` (steady | wobbling): exactly one word each;
* ``structure``: ``solo``, ``PLUS`` (two sounds mixed) or ``THEN`` (one after the other); "solo" is no
  word of the vocabulary, it is the absence of both sound operators;
* one reading per concept (``bass``, ``bell``, ``flute``, ``gong``): ``yes`` if the sound contains it.

SCAN learns from **partial** descriptions (:func:`course_lib.composed_sounds.partial_symbols`): each
word of a sound is named with probability ``rho``, so SCAN's decoder learns p(word | z) close to
``rho`` for a word that is true of a sound, close to 0 otherwise. :func:`read_words` turns those
probabilities into readings: the likelier word of each effect, and a word present when
p(word | z) exceeds ``rho / 2``, halfway between the two.

Words -> sound is judged by measurement (:mod:`course_lib.judges`) on the attributes a phrase names
that a judge can hear in any composed sound (:func:`wanted`): the four effects and, when the phrase
names a sound operator, the structure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.composed_sounds import CONCEPTS, EFFECT_ATTRIBUTES, SOUND_OPERATORS, WORDS, words_of

EFFECTS: dict[str, tuple[str, ...]] = {a.name: a.words for a in EFFECT_ATTRIBUTES}
"""The effect attributes and their two words."""
READINGS: tuple[str, ...] = (*EFFECTS, "structure", *CONCEPTS)
"""What a sound is read into: the four effects, the structure, one yes/no per concept."""
JUDGED: tuple[str, ...] = (*EFFECTS, "structure")
"""The readings a judge measures on a generated sound."""

_INDEX = {w: i for i, w in enumerate(WORDS)}


def _khot(symbols: object) -> np.ndarray:
    k = np.atleast_2d(np.asarray(symbols))
    if k.ndim != 2 or k.shape[1] != len(WORDS):
        raise ValueError(f"symbols must be k-hot rows [N, {len(WORDS)}] over WORDS, got shape {k.shape}.")
    return k


def _structure(on_plus: np.ndarray, on_then: np.ndarray) -> np.ndarray:
    return np.where(on_then, "THEN", np.where(on_plus, "PLUS", "solo"))


def true_readings(symbols: np.ndarray) -> pd.DataFrame:
    """The readings (:data:`READINGS`) of sounds from their full k-hot symbols ``[N, words]``."""
    k = _khot(symbols).astype(bool)
    table = {
        name: np.array(words)[k[:, [_INDEX[w] for w in words]].argmax(1)] for name, words in EFFECTS.items()
    }
    table["structure"] = _structure(k[:, _INDEX["PLUS"]], k[:, _INDEX["THEN"]])
    for concept in CONCEPTS:
        table[concept] = np.where(k[:, _INDEX[concept]], "yes", "no")
    return pd.DataFrame(table)


def read_words(probs: np.ndarray, rho: float) -> pd.DataFrame:
    """Readings from SCAN's word probabilities p(word | z) ``[N, words]`` (see the module docstring)."""
    p = _khot(probs).astype(np.float64)
    if not 0 < rho <= 1:
        raise ValueError(f"rho must be in (0, 1], got {rho!r}.")
    on = p > rho / 2
    table = {
        name: np.array(words)[p[:, [_INDEX[w] for w in words]].argmax(1)] for name, words in EFFECTS.items()
    }
    plus_wins = p[:, _INDEX["PLUS"]] >= p[:, _INDEX["THEN"]]
    table["structure"] = _structure(on[:, _INDEX["PLUS"]] & plus_wins, on[:, _INDEX["THEN"]] & ~plus_wins)
    for concept in CONCEPTS:
        table[concept] = np.where(on[:, _INDEX[concept]], "yes", "no")
    return pd.DataFrame(table)


def wanted(symbol: np.ndarray) -> dict[str, str]:
    """What a phrase asks a judge to hear: its effect words and, with a sound operator, the structure."""
    words = set(words_of(symbol))
    out = {name: w for name, ws in EFFECTS.items() for w in ws if w in words}
    named = [op for op in SOUND_OPERATORS if op in words]
    if len(named) == 1:
        out["structure"] = named[0]
    return out


def judged_scores(judged: pd.DataFrame, asked: dict[str, str]) -> dict[str, float]:
    """How well judged sounds (rows of :func:`course_lib.judges.judge`) match what a phrase ``asked``.

    ``accuracy``: share of (sound, asked attribute) judged as asked (NaN when nothing is asked).
    ``diversity``: over the effects the phrase leaves open, the mean normalised entropy of the judged
    words (1: as varied as a fair coin; 0: always the same word).
    """
    hits = [judged[name].to_numpy() == word for name, word in asked.items()]
    entropies = []
    for name in EFFECTS:
        if name in asked:
            continue
        share = judged[name].value_counts(normalize=True).to_numpy()
        entropies.append(float(-(share * np.log(share)).sum() / np.log(2)))
    return {
        "accuracy": float(np.mean(np.concatenate(hits))) if hits else float("nan"),
        "diversity": float(np.mean(entropies)) if entropies else float("nan"),
    }
