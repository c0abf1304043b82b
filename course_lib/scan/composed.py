"""SCAN's words on composed sounds: what a sound is called, what a phrase asks for, and whether it got it.

Taught in chapters/05_scan.ipynb (SCAN on the compositional dataset of :mod:`course_lib.compositional`).
A sound of that dataset carries a k-hot symbol over :data:`~course_lib.compositional.WORDS`. SCAN is
scored on nine **readings** of a sound (:data:`READINGS`), each a small closed set of answers:

* the four effects: ``brightness`` (dark | bright), ``loudness`` (soft | loud), ``space`` (dry | wet),
  ``motion`` (steady | wobbling): exactly one word each;
* ``structure``: ``solo``, ``AND`` (two sounds mixed) or ``THEN`` (one after the other); "solo" is no
  word of the vocabulary, it is the absence of both operators;
* one reading per concept (``bass``, ``bell``, ``flute``, ``gong``): ``yes`` if the sound contains it.

SCAN learns from **partial** descriptions (:func:`partial_symbols`): each word of a sound is named with
probability ``keep``, so a word that is true of a sound is on in a share ``keep`` of its symbols and
SCAN's decoder learns p(word | z) close to ``keep`` for it, close to 0 otherwise. :func:`read_words`
turns those probabilities into readings: the likelier word of each effect, and a word present when
p(word | z) exceeds ``keep / 2``, halfway between the two.

Symbol -> sound is judged by measurement (:mod:`course_lib.judges`) on the attributes a phrase names
that a judge can hear in any composed sound (:func:`wanted`): the four effects and, when the phrase
names an operator, the structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from course_lib.compositional import CONCEPTS, EFFECT_ATTRIBUTES, OPERATORS, WORDS

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


def _structure(on_and: np.ndarray, on_then: np.ndarray) -> np.ndarray:
    return np.where(on_then, "THEN", np.where(on_and, "AND", "solo"))


def true_readings(symbols: np.ndarray) -> pd.DataFrame:
    """The readings (:data:`READINGS`) of sounds from their full k-hot symbols ``[N, words]``."""
    k = _khot(symbols).astype(bool)
    table = {
        name: np.array(words)[k[:, [_INDEX[w] for w in words]].argmax(1)] for name, words in EFFECTS.items()
    }
    table["structure"] = _structure(k[:, _INDEX["AND"]], k[:, _INDEX["THEN"]])
    for concept in CONCEPTS:
        table[concept] = np.where(k[:, _INDEX[concept]], "yes", "no")
    return pd.DataFrame(table)


def read_words(probs: np.ndarray, keep: float) -> pd.DataFrame:
    """Readings from SCAN's word probabilities p(word | z) ``[N, words]`` (see the module docstring)."""
    p = _khot(probs).astype(np.float64)
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep!r}.")
    on = p > keep / 2
    table = {
        name: np.array(words)[p[:, [_INDEX[w] for w in words]].argmax(1)] for name, words in EFFECTS.items()
    }
    and_wins = p[:, _INDEX["AND"]] >= p[:, _INDEX["THEN"]]
    table["structure"] = _structure(on[:, _INDEX["AND"]] & and_wins, on[:, _INDEX["THEN"]] & ~and_wins)
    for concept in CONCEPTS:
        table[concept] = np.where(on[:, _INDEX[concept]], "yes", "no")
    return pd.DataFrame(table)


def partial_symbols(symbols: np.ndarray, rng: np.random.Generator, keep: float) -> np.ndarray:
    """Partial descriptions: each on word of each row kept with probability ``keep`` (uint8 [N, words])."""
    k = _khot(symbols)
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep!r}.")
    return (k.astype(bool) & (rng.random(k.shape) < keep)).astype(np.uint8)


def phrase(words: Sequence[str]) -> np.ndarray:
    """The k-hot symbol (uint8 ``[words]``) of a list of words: ``phrase(["soft", "bell", "wet"])``."""
    unknown = [w for w in words if w not in _INDEX]
    if unknown:
        raise ValueError(f"unknown words {unknown}; the vocabulary is {list(WORDS)}.")
    out = np.zeros(len(WORDS), dtype=np.uint8)
    out[[_INDEX[w] for w in words]] = 1
    return out


def words_of(symbol: np.ndarray) -> list[str]:
    """The words of one k-hot symbol, in vocabulary order."""
    return [w for w, on in zip(WORDS, _khot(symbol)[0], strict=True) if on]


def wanted(symbol: np.ndarray) -> dict[str, str]:
    """What a phrase asks a judge to hear: its effect words and, if it names an operator, the structure."""
    words = set(words_of(symbol))
    out = {name: w for name, ws in EFFECTS.items() for w in ws if w in words}
    named = [op for op in OPERATORS if op in words]
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
