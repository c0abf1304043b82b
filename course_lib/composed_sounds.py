"""Composed sounds: the dataset of chapter 5 and its one symbol system (words, k-hot phrases, operators).

Taught in chapters/05_1_composed_sounds.ipynb; SCAN learns its words in chapters/05_2_scan.ipynb.
The symbolic structure is a four-level hierarchy, written as data:

    values             f0 = 110 Hz, inharmonicity = 1e-3, tilt filter -6 dB/octave, ...
    attributes         register = low | high, brightness = dark | bright, ...   (words over values)
    concepts           bell = {high, inharmonic, abrupt, clean}                 (named conjunctions)
    composed concepts  "dark soft wet steady (bass THEN bell)"                  (operators on concepts)

Source attributes (:data:`SOURCE_ATTRIBUTES`) set synthesis parameters of
:func:`course_lib.synth.synthesize`; effect attributes (:data:`EFFECT_ATTRIBUTES`) are DSP on its
output (:mod:`course_lib.effects`). A sound is one concept alone, or two concepts joined by a
**sound operator** (:data:`SOUND_OPERATORS`: ``PLUS`` mixes them, ``THEN`` plays them in
succession), then coloured by one word of each effect attribute, in the order brightness -> motion
-> space -> loudness. Before the effects the composed sound is set to :data:`REF_LEVEL` dB RMS, and
only the gain changes the level.

A **phrase** is a k-hot vector over :data:`WORDS` (:func:`phrase`, :func:`words_of`); it admits
every sound whose full symbol holds all its words (:func:`admits`). SCAN's **symbol operators**
(:data:`SYMBOL_OPERATORS`) act on phrases, not on audio: ``AND`` (both descriptions, the union of
the words), ``IN_COMMON`` (the words both share) and ``IGNORE`` (the first without the words of
the second): :func:`apply_symbol_operator`.

The dataset (:func:`build_composed_sounds`, loaded as a :class:`ComposedSounds` by
:func:`load_composed_sounds`) follows chapter 1's conventions: a full factorial grid of factor
classes (structure x transposition x the four effects, last factor fastest), stored as ``features``
(float16 log-mels), ``latents_classes``, ``latents_values``, ``metadata`` (JSON), plus ``symbols``
(uint8 k-hot over :data:`WORDS`) and ``parses`` (each sound's parse tree as a JSON string). The
audio is not stored: :func:`render_rows` re-renders it from the classes and the seed (the seed
picks the breathy sources' noise and the reverb's room); the same seed gives the same file. Build
it from the command line::

    python -m course_lib.composed_sounds --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from course_lib.config import data_dir
from course_lib.effects import COMPOSITIONS, EFFECTS, compose, reverb
from course_lib.factors import Factor, FactorSpace
from course_lib.features import LogMel
from course_lib.files import exclusive_lock, write_npz
from course_lib.synth import SYNTH_VERSION, synthesize

SR: int = 16000
"""Sample rate (Hz), as chapter 1's toy dataset."""
DURATION: float = 1.0
"""Clip length (s)."""
NOTE: float = 0.35
"""Length of one note (s): a THEN sound's second note starts at ``NOTE``; the rest is room for reverb."""
REF_LEVEL: float = -26.0
"""RMS level (dB FS) of every composed sound before the loudness effect (soft: -34, loud: -18)."""
BASE_TILT: float = -9.0
"""Spectral slope of every source (dB/octave): the filters move it to -15 (dark) or -3 (bright)."""
FORMAT_VERSION: int = 1
"""Version of the file layout."""


def _json_value(x: Any) -> Any:
    """A parameter value for strict JSON: tuples as lists, infinity as the string "inf"."""
    if isinstance(x, tuple):
        return [_json_value(v) for v in x]
    return "inf" if isinstance(x, float) and math.isinf(x) else x


@dataclass(frozen=True)
class Attribute:
    """A property of sounds: ``words``, each mapped to parameter ``values`` (synthesis or effect)."""

    name: str
    level: str  # "source" (synthesis parameters) or "effect" (DSP on the output)
    words: tuple[str, ...]
    values: Mapping[str, Mapping[str, float]]
    meaning: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "name": self.name,
            "level": self.level,
            "words": list(self.words),
            "values": {w: {k: _json_value(x) for k, x in v.items()} for w, v in self.values.items()},
            "meaning": self.meaning,
        }


SOURCE_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("register", "source", ("low", "high"),
              {"low": {"f0": (110.0, 146.832)}, "high": {"f0": (311.127, 349.228)}},
              "pitch of the note: A2 or D3 (low), D#4 or F4 (high); each concept has its own"),
    Attribute("partials", "source", ("harmonic", "inharmonic"),
              {"harmonic": {"inharmonicity": 0.0}, "inharmonic": {"inharmonicity": 1e-3}},
              "partials at k f0 or stretched like a stiff bar (bell-like)"),
    Attribute("onset", "source", ("abrupt", "gradual"),
              {"abrupt": {"attack": 5.0, "t60": 2.0}, "gradual": {"attack": 60.0, "t60": math.inf}},
              "rise time of the note (5 ms and a slow decay, or 60 ms and sustained)"),
    Attribute("noise", "source", ("clean", "breathy"), {"clean": {"hnr": math.inf}, "breathy": {"hnr": 6.0}},
              "harmonic-to-noise ratio: no noise, or noise 6 dB below the partials"),
)  # fmt: skip
"""Attributes set by synthesis parameters."""

EFFECT_ATTRIBUTES: tuple[Attribute, ...] = tuple(
    Attribute(
        name,
        "effect",
        tuple(w for w, op in EFFECTS.items() if op.attribute == name),
        {w: dict(op.params) for w, op in EFFECTS.items() if op.attribute == name},
        " / ".join(f"{w}: {op.meaning}" for w, op in EFFECTS.items() if op.attribute == name),
    )
    for name in ("brightness", "loudness", "space", "motion")
)
"""Attributes set by effects (see :data:`course_lib.effects.EFFECTS`)."""

ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in SOURCE_ATTRIBUTES + EFFECT_ATTRIBUTES}
"""Every attribute by name."""

CONCEPTS: dict[str, dict[str, str]] = {
    "bass": {"register": "low", "partials": "harmonic", "onset": "gradual", "noise": "clean"},
    "bell": {"register": "high", "partials": "inharmonic", "onset": "abrupt", "noise": "clean"},
    "flute": {"register": "high", "partials": "harmonic", "onset": "gradual", "noise": "breathy"},
    "gong": {"register": "low", "partials": "inharmonic", "onset": "abrupt", "noise": "breathy"},
}
"""Named concepts: one word of every source attribute (any two differ in at least two attributes)."""

PITCHES: dict[str, float] = {"bass": 110.0, "gong": 146.832, "bell": 311.127, "flute": 349.228}
"""Each concept's f0 (Hz), one of its register's values: no two share a pitch or a low harmonic, so
a mix of any two has two distinct harmonic series (A2, D3, D#4, F4: no octave or fifth), and no two
fundamentals are closer than 36 Hz (slower beats would sound, and measure, like a tremolo)."""

SOUND_OPERATORS: tuple[str, ...] = tuple(COMPOSITIONS)
"""Operators on sounds (signal processing): ``PLUS`` (mix) and ``THEN`` (succession)."""

SYMBOL_OPERATORS: tuple[str, ...] = ("AND", "IN_COMMON", "IGNORE")
"""SCAN's operators on phrases (word sets), in the order of the recombination network's op ids."""

WORDS: tuple[str, ...] = (
    tuple(w for a in SOURCE_ATTRIBUTES for w in a.words)
    + tuple(w for a in EFFECT_ATTRIBUTES for w in a.words)
    + tuple(CONCEPTS)
    + SOUND_OPERATORS
)
"""The vocabulary of the k-hot symbols: attribute words, concept names, sound operators."""

_EFFECT_ORDER = ("brightness", "motion", "space", "loudness")


def _word_attribute(word: str) -> str:
    for attribute in ATTRIBUTES.values():
        if word in attribute.words:
            return attribute.name
    allowed = {a.name: list(a.words) for a in EFFECT_ATTRIBUTES}
    raise ValueError(f"unknown effect word {word!r}; the effect words are {allowed}.")


@dataclass(frozen=True)
class Parse:
    """A composed concept: one concept, or two joined by ``operator``; one effect word per attribute."""

    concepts: tuple[str, ...]
    operator: str | None
    effects: tuple[str, ...]

    def __post_init__(self) -> None:
        concepts = tuple(self.concepts)
        for c in concepts:
            if c not in CONCEPTS:
                raise ValueError(f"unknown concept {c!r}; the concepts are {list(CONCEPTS)}.")
        if self.operator is None and len(concepts) != 1:
            raise ValueError(f"a sound without an operator has one concept, got {list(concepts)}.")
        if self.operator is not None:
            if self.operator not in SOUND_OPERATORS:
                raise ValueError(
                    f"unknown operator {self.operator!r}; the sound operators are {list(SOUND_OPERATORS)}."
                )
            if len(concepts) != 2:
                raise ValueError(f"operator {self.operator} joins two concepts, got {list(concepts)}.")
        by_attribute = {_word_attribute(w): w for w in self.effects}
        if len(by_attribute) != len(self.effects):
            raise ValueError(f"at most one word per effect attribute, got {list(self.effects)}.")
        missing = [a for a in _EFFECT_ORDER if a not in by_attribute]
        if missing:
            raise ValueError(f"give one word of every effect attribute; missing {missing}.")
        object.__setattr__(self, "concepts", concepts)
        object.__setattr__(self, "effects", tuple(by_attribute[a] for a in _EFFECT_ORDER))

    def __str__(self) -> str:
        body = self.concepts[0] if self.operator is None else f" {self.operator} ".join(self.concepts)
        return f"{' '.join(self.effects)} ({body})"

    def words(self) -> frozenset[str]:
        """Every word the sound carries: effects, concepts, their attribute words and the operator."""
        words = set(self.effects) | set(self.concepts)
        for c in self.concepts:
            words |= set(CONCEPTS[c].values())
        if self.operator is not None:
            words.add(self.operator)
        return frozenset(words)

    def to_dict(self) -> dict[str, Any]:
        """The parse tree as JSON-ready data: ``{"effects": [...], "op": ..., "args": [...]}``."""
        return {"effects": list(self.effects), "op": self.operator, "args": list(self.concepts)}


def encode(parse: Parse) -> np.ndarray:
    """The k-hot symbol of ``parse`` over :data:`WORDS` (uint8)."""
    words = parse.words()
    return np.array([w in words for w in WORDS], dtype=np.uint8)


def decode(k_hot: np.ndarray) -> list[str]:
    """The words of a k-hot vector (in :data:`WORDS` order)."""
    v = np.asarray(k_hot)
    if v.shape != (len(WORDS),):
        raise ValueError(f"a k-hot symbol has {len(WORDS)} entries, got shape {v.shape}.")
    return [w for w, on in zip(WORDS, v, strict=True) if on]


_INDEX = {w: i for i, w in enumerate(WORDS)}
_EXCLUSIVE = [a.words for a in EFFECT_ATTRIBUTES] + [SOUND_OPERATORS]


def _phrases(k_hot: object) -> np.ndarray:
    k = np.atleast_2d(np.asarray(k_hot))
    if k.ndim != 2 or k.shape[1] != len(WORDS):
        raise ValueError(f"phrases must be k-hot rows [N, {len(WORDS)}] over WORDS, got shape {k.shape}.")
    return k


def phrase(words: Sequence[str]) -> np.ndarray:
    """The k-hot phrase (uint8 ``[len(WORDS)]``) of a list of words: ``phrase(["soft", "bell", "wet"])``."""
    unknown = [w for w in words if w not in _INDEX]
    if unknown:
        raise ValueError(f"unknown words {unknown}; the vocabulary is {list(WORDS)}.")
    out = np.zeros(len(WORDS), dtype=np.uint8)
    out[[_INDEX[w] for w in words]] = 1
    return out


def words_of(k_hot: np.ndarray) -> list[str]:
    """The words of one k-hot phrase, in vocabulary order."""
    return [w for w, on in zip(WORDS, _phrases(k_hot)[0], strict=True) if on]


def admits(symbols: np.ndarray, k_hot: np.ndarray) -> np.ndarray:
    """Boolean ``[N]``: does each sound (full symbols ``[N, V]``) carry every word of the phrase ``k_hot``?"""
    k = _phrases(k_hot)[0].astype(bool)
    return np.asarray(_phrases(symbols)[:, k], dtype=bool).all(axis=1)


def partial_symbols(symbols: np.ndarray, rng: np.random.Generator, rho: float) -> np.ndarray:
    """Partial descriptions: each word of each row named with probability ``rho`` (uint8 ``[N, V]``)."""
    k = _phrases(symbols)
    if not 0 < rho <= 1:
        raise ValueError(f"rho must be in (0, 1], got {rho!r}.")
    return (k.astype(bool) & (rng.random(k.shape) < rho)).astype(np.uint8)


def and_(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a AND b``: every word of both phrases; ``ValueError`` when they name two words that exclude each
    other (two words of one effect, or both sound operators), since no sound carries both."""
    out = _phrases(a)[0] | _phrases(b)[0]
    for group in _EXCLUSIVE:
        named = [w for w in group if out[_INDEX[w]]]
        if len(named) > 1:
            raise ValueError(f"{words_of(a)} AND {words_of(b)} admits no sound: it names {named}.")
    return out.astype(np.uint8)


def in_common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a IN_COMMON b``: the words both phrases name (possibly none: the empty phrase)."""
    return (_phrases(a)[0] & _phrases(b)[0]).astype(np.uint8)


def ignore(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a IGNORE b``: ``a`` without the words of ``b``; ``ValueError`` if ``b`` names a word ``a`` lacks."""
    a1, b1 = _phrases(a)[0], _phrases(b)[0]
    extra = [w for w in words_of(b1) if not a1[_INDEX[w]]]
    if extra:
        raise ValueError(
            f"{words_of(a1)} IGNORE {words_of(b1)}: IGNORE only drops words of the first; {extra} are not."
        )
    return (a1 & ~b1.astype(bool)).astype(np.uint8)


_SYMBOL_FUNCTIONS = {"AND": and_, "IN_COMMON": in_common, "IGNORE": ignore}


def apply_symbol_operator(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a op b`` for ``op`` in :data:`SYMBOL_OPERATORS`, on k-hot phrases."""
    if op not in _SYMBOL_FUNCTIONS:
        raise ValueError(
            f"unknown symbol operator {op!r}; the symbol operators are {list(SYMBOL_OPERATORS)}."
        )
    return _SYMBOL_FUNCTIONS[op](a, b)


# ---------------------------------------------------------------------------------- the grid
def structures() -> list[tuple[tuple[str, ...], str | None]]:
    """Every concept alone, every pair mixed (PLUS), every ordered pair in succession (THEN)."""
    names = list(CONCEPTS)
    solo = [((c,), None) for c in names]
    mixed = [(pair, "PLUS") for pair in itertools.combinations(names, 2)]
    succession = [(pair, "THEN") for pair in itertools.permutations(names, 2)]
    return solo + mixed + succession


def _effect_factor(name: str, param: str, unit: str, timescale: str) -> Factor:
    attribute = ATTRIBUTES[name]
    values = [float(attribute.values[w].get(param, 0.0)) for w in attribute.words]
    return Factor(name, values, unit, attribute.meaning, timescale)


def factor_space() -> FactorSpace:
    """Factors: structure (id into :func:`structures`), transposition, and the four effects."""
    n = len(structures())
    return FactorSpace(
        [
            Factor("structure", range(n), "id", "which concepts, joined by which operator", "phrase"),
            Factor("transpose", (-2.0, 0.0, 2.0), "semitones", "every note shifted in pitch", "period"),
            _effect_factor("brightness", "db_per_octave", "dB/octave", "frame"),
            _effect_factor("motion", "depth_db", "dB peak to peak", "note"),
            _effect_factor("space", "t60", "s (reverb T60, 0: dry)", "note"),
            _effect_factor("loudness", "db", "dB", "frame"),
        ]
    )


def parse_of(classes: Sequence[int]) -> Parse:
    """The parse of one row of factor classes (columns in :func:`factor_space` order)."""
    fs = factor_space()
    row = np.asarray(classes, dtype=np.int64)
    fs.classes_to_index(row)  # range checks with a clear error
    concepts, operator = structures()[int(row[0])]
    effects = tuple(ATTRIBUTES[name].words[int(row[fs.index_of(name)])] for name in _EFFECT_ORDER)
    return Parse(concepts, operator, effects)


# ---------------------------------------------------------------------------------- rendering
def render_notes(transpose: float = 0.0, seed: int = 0) -> dict[str, np.ndarray]:
    """One note of every concept, :data:`NOTE` s long, padded with silence to :data:`DURATION` (float64)."""
    params: dict[str, list[float]] = {}
    for name, concept in CONCEPTS.items():
        merged = {"tilt": BASE_TILT, "level": REF_LEVEL, "release": 30.0}
        for attribute, word in concept.items():
            merged.update(ATTRIBUTES[attribute].values[word])
        merged["f0"] = PITCHES[name] * 2.0 ** (transpose / 12.0)
        for key, value in merged.items():
            params.setdefault(key, []).append(value)
    notes = synthesize(
        {k: np.asarray(v) for k, v in params.items()}, sr=SR, duration=NOTE, seed=seed, ids=np.arange(4)
    )
    clip = np.zeros((len(CONCEPTS), int(round(DURATION * SR))))
    clip[:, : notes.shape[1]] = notes
    return dict(zip(CONCEPTS, clip, strict=True))


def render_parse(parse: Parse, notes: Mapping[str, np.ndarray], seed: int = 0) -> np.ndarray:
    """The sound of ``parse`` from the concepts' ``notes`` (:func:`render_notes`): float64 ``[samples]``."""
    parts = [notes[c] for c in parse.concepts]
    x = parts[0] if parse.operator is None else compose(parse.operator, parts[0], parts[1], SR, NOTE)
    x = x * 10.0 ** (REF_LEVEL / 20.0) / np.sqrt(np.mean(x**2))
    for word in parse.effects:  # brightness, motion, space, loudness
        op = EFFECTS[word]
        x = reverb(x, SR, **op.params, seed=seed) if op.function is reverb else op.apply(x, SR)
    return x


def render_rows(classes: np.ndarray, seed: int = 0, progress: bool = False) -> np.ndarray:
    """Audio of rows of factor classes ``[N, K]``: float32 ``[N, samples]``."""
    fs = factor_space()
    rows = np.atleast_2d(np.asarray(classes, dtype=np.int64))
    fs.classes_to_index(rows)
    col = fs.index_of("transpose")
    cache: dict[int, dict[str, np.ndarray]] = {}
    out = np.empty((len(rows), int(round(DURATION * SR))), dtype=np.float32)
    for i, row in enumerate(tqdm(rows, desc="composed sounds", unit="clip", disable=not progress)):
        t = int(row[col])
        if t not in cache:
            cache[t] = render_notes(fs.factors[col].values[t], seed)
        out[i] = render_parse(parse_of(row), cache[t], seed)
    return out


def render_phrase(
    concepts: Sequence[str], effects: Sequence[str], operator: str | None = None, transpose: float = 0.0
) -> np.ndarray:
    """One sound from words: ``render_phrase(["bass", "bell"], ["dark", "soft", "wet", "steady"], "THEN")``"""
    return render_parse(Parse(tuple(concepts), operator, tuple(effects)), render_notes(transpose)).astype(
        np.float32
    )


# ---------------------------------------------------------------------------------- the dataset
def dataset_metadata(seed: int = 0) -> dict[str, Any]:
    """The metadata of the composed-sounds dataset of ``seed``."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    fs = factor_space()
    return {
        "format_version": FORMAT_VERSION,
        "synth_version": SYNTH_VERSION,
        "dataset": "composed_sounds",
        "seed": int(seed),
        "n_examples": fs.n_combinations,
        "sample_rate": SR,
        "duration_s": DURATION,
        "note_s": NOTE,
        "ref_level_db": REF_LEVEL,
        "base_tilt_db_per_octave": BASE_TILT,
        "features": {"kind": "log-mel", "dtype": "float16", **LogMel(sr=SR).settings},
        "attributes": [a.to_dict() for a in ATTRIBUTES.values()],
        "concepts": CONCEPTS,
        "pitches_hz": PITCHES,
        "sound_operators": {op: COMPOSITIONS[op] for op in SOUND_OPERATORS},
        "words": list(WORDS),
        "structures": [{"concepts": list(c), "op": op} for c, op in structures()],
        "effect_order": list(_EFFECT_ORDER),
        **fs.to_metadata(),
    }


def default_path(seed: int = 0) -> Path:
    """Cache file: ``data_dir()/composed_sounds_seed<seed>_<hash of the metadata>.npz``."""
    meta = dataset_metadata(seed)
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:10]
    return data_dir() / f"composed_sounds_seed{seed}_{digest}.npz"


def build_arrays(seed: int = 0, progress: bool = True) -> dict[str, np.ndarray]:
    """Every array of the dataset file (see the module docstring)."""
    meta = dataset_metadata(seed)
    fs = factor_space()
    classes = fs.all_classes()
    audio = render_rows(classes, seed, progress=progress)
    parses = [parse_of(row) for row in classes]
    return {
        "features": np.asarray(LogMel(sr=SR)(audio), dtype=np.float16),
        "latents_classes": classes,
        "latents_values": fs.classes_to_values(classes),
        "symbols": np.stack([encode(p) for p in parses]),
        "parses": np.array([json.dumps(p.to_dict(), sort_keys=True) for p in parses]),
        "metadata": np.array(json.dumps(meta, sort_keys=True)),
    }


def build_composed_sounds(
    seed: int = 0, path: str | os.PathLike | None = None, force: bool = False, progress: bool = True
) -> Path:
    """Generate the whole grid and save it (kept if it exists, unless ``force``); return its path."""
    target = default_path(seed) if path is None else Path(path)
    if target.suffix != ".npz":
        raise ValueError(f"the dataset file must end in .npz, got {target}.")
    if target.exists() and not force:
        return target
    with exclusive_lock(target):
        if target.exists() and not force:
            return target
        write_npz(target, build_arrays(seed, progress))
    return target


_ARRAYS = ("features", "latents_classes", "latents_values", "symbols", "parses")


class ComposedSounds:
    """The composed sounds in memory: ``ds[i] -> (features float32 [n_mels, frames], symbol float32 [V])``.

    Attributes as chapter 1's :class:`~course_lib.datasets.ToyDataset`: ``features`` (float16
    ``[N, n_mels, frames]``), ``latents_classes``, ``latents_values``, ``factor_space``, ``metadata``
    (dict) and ``path``; plus ``symbols`` (uint8 k-hot ``[N, len(WORDS)]``) and ``parses`` (JSON).
    """

    def __init__(
        self,
        features: np.ndarray,
        latents_classes: np.ndarray,
        latents_values: np.ndarray,
        symbols: np.ndarray,
        parses: np.ndarray,
        metadata: dict[str, Any],
        path: Path | None = None,
    ) -> None:
        n = len(features)
        if not all(len(a) == n for a in (latents_classes, latents_values, symbols, parses)):
            raise ValueError("features, latents, symbols and parses must have the same number of rows.")
        self.features = features
        self.latents_classes = np.asarray(latents_classes, dtype=np.int64)
        self.latents_values = np.asarray(latents_values, dtype=np.float64)
        self.symbols = np.asarray(symbols, dtype=np.uint8)
        self.parses = parses
        self.metadata = metadata
        self.factor_space = FactorSpace.from_metadata(metadata)
        self.path = path

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> ComposedSounds:
        """Load a file written by :func:`build_composed_sounds` (no pickles are read)."""
        path = Path(path)
        if not path.exists():
            raise ValueError(f"no composed-sounds file at {path}; build it with build_composed_sounds().")
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in (*_ARRAYS, "metadata") if k not in data.files]
            if missing:
                raise ValueError(f"{path} is not a composed-sounds file: it lacks {missing}.")
            arrays = {k: data[k] for k in _ARRAYS}
            metadata = json.loads(data["metadata"].item())
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: format version {metadata.get('format_version')}, this code reads {FORMAT_VERSION}."
            )
        return cls(**arrays, metadata=metadata, path=path)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        import torch

        return (
            torch.from_numpy(self.features[index].astype(np.float32)),
            torch.from_numpy(self.symbols[index].astype(np.float32)),
        )

    def __repr__(self) -> str:
        return f"ComposedSounds(n={len(self)}, features={self.features.shape[1:]}, {len(WORDS)} words)"

    @property
    def sr(self) -> int:
        """Sample rate of the clips (Hz)."""
        return int(self.metadata["sample_rate"])

    def parse(self, index: int) -> Parse:
        """The parse of row ``index``."""
        return parse_of(self.latents_classes[index])

    def render_audio(self, indices: int | np.ndarray) -> np.ndarray:
        """Re-render the clips of rows ``indices``: float32 ``[n, samples]`` (the audio of the build)."""
        rows = np.atleast_1d(np.asarray(indices))
        return render_rows(self.latents_classes[rows], seed=int(self.metadata["seed"]))


def load_composed_sounds(seed: int = 0, verbose: bool = False) -> ComposedSounds:
    """The composed sounds of ``seed``, built first if not cached (as ``load_toy_dataset``)."""
    path = default_path(seed)
    if not path.exists() and verbose:
        print(f"Building the composed sounds (seed {seed}) into {path} ...")
    return ComposedSounds.from_file(build_composed_sounds(seed, progress=verbose))


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.composed_sounds [--seed 0] [--path P] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.composed_sounds", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=0, help="noise and room seed (same seed, same bytes)")
    parser.add_argument("--path", default=None, help="output .npz (default: the cache under data_dir())")
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = build_composed_sounds(args.seed, path=args.path, force=args.force)
    size, n = path.stat().st_size / 2**20, factor_space().n_combinations
    print(f"{path} ({size:.1f} MiB, {n} sounds) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
