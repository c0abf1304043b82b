"""A compositional sound dataset for SCAN: sources, effects and operators, with symbols and parses.

Taught in chapters/05_scan.ipynb. The symbolic structure is a four-level hierarchy, written as data:

    values             f0 = 110 Hz, inharmonicity = 1e-3, tilt filter -6 dB/octave, ...
    attributes         register = low | high, brightness = dark | bright, ...   (words over values)
    concepts           bell = {high, inharmonic, abrupt, clean}                 (named conjunctions)
    composed concepts  "dark soft wet steady (bass THEN bell)"                  (operators on concepts)

Source attributes (:data:`SOURCE_ATTRIBUTES`) set synthesis parameters of
:func:`course_lib.synth.synthesize`; effect attributes (:data:`EFFECT_ATTRIBUTES`) are DSP on its
output (:mod:`course_lib.effects`). A sound is one concept alone, or two concepts joined by ``AND``
(mixed) or ``THEN`` (in succession), then coloured by one word of each effect attribute, in the
order brightness -> motion -> space -> loudness. Before the effects the composed sound is set to
:data:`REF_LEVEL` dB RMS, and only the gain changes the level.

The dataset (:func:`build_compositional_dataset`) follows chapter 1's conventions: a full factorial
grid of factor classes (structure x transposition x the four effects, last factor fastest), stored
as ``features`` (float16 log-mels), ``latents_classes``, ``latents_values``, ``metadata`` (JSON),
plus ``symbols`` (uint8 k-hot over :data:`WORDS`) and ``parses`` (each sound's parse tree as a JSON
string: effects, operator, concepts). The audio is not stored: :func:`render_rows` re-renders it from
the classes and the seed (the seed picks the breathy sources' noise and the reverb's room). Written
atomically; the same seed gives the same bytes. Build it from the command line::

    python -m course_lib.compositional --seed 0
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

OPERATORS: tuple[str, ...] = tuple(COMPOSITIONS)
"""Composition operators: ``AND`` (mix) and ``THEN`` (succession)."""

WORDS: tuple[str, ...] = (
    tuple(w for a in SOURCE_ATTRIBUTES for w in a.words)
    + tuple(w for a in EFFECT_ATTRIBUTES for w in a.words)
    + tuple(CONCEPTS)
    + OPERATORS
)
"""The vocabulary of the k-hot symbols: attribute words, concept names, operators."""

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
            if self.operator not in OPERATORS:
                raise ValueError(f"unknown operator {self.operator!r}; the operators are {list(OPERATORS)}.")
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


# ---------------------------------------------------------------------------------- the grid
def structures() -> list[tuple[tuple[str, ...], str | None]]:
    """Every concept alone, every pair mixed (AND), every ordered pair in succession (THEN)."""
    names = list(CONCEPTS)
    solo = [((c,), None) for c in names]
    mixed = [(pair, "AND") for pair in itertools.combinations(names, 2)]
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
    for i, row in enumerate(tqdm(rows, desc="compositional sounds", unit="clip", disable=not progress)):
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
    """The metadata of the compositional dataset of ``seed``."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    fs = factor_space()
    return {
        "format_version": FORMAT_VERSION,
        "synth_version": SYNTH_VERSION,
        "dataset": "compositional",
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
        "operators": {op: COMPOSITIONS[op] for op in OPERATORS},
        "words": list(WORDS),
        "structures": [{"concepts": list(c), "op": op} for c, op in structures()],
        "effect_order": list(_EFFECT_ORDER),
        **fs.to_metadata(),
    }


def default_path(seed: int = 0) -> Path:
    """Cache file: ``data_dir()/compositional_seed<seed>_<hash of the metadata>.npz``."""
    meta = dataset_metadata(seed)
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:10]
    return data_dir() / f"compositional_seed{seed}_{digest}.npz"


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


def build_compositional_dataset(
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


def load_compositional_dataset(path: str | os.PathLike) -> dict[str, Any]:
    """The arrays of a dataset file (no pickles read), ``metadata`` parsed from JSON."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no compositional dataset at {path}; build it with build_compositional_dataset().")
    with np.load(path, allow_pickle=False) as data:
        arrays: dict[str, Any] = {k: data[k] for k in data.files}
    missing = [k for k in ("features", "latents_classes", "symbols", "parses", "metadata") if k not in arrays]
    if missing:
        raise ValueError(f"{path} is not a compositional dataset file: it lacks {missing}.")
    arrays["metadata"] = json.loads(arrays["metadata"].item())
    return arrays


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.compositional [--seed 0] [--path P] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.compositional", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=0, help="noise and room seed (same seed, same bytes)")
    parser.add_argument("--path", default=None, help="output .npz (default: the cache under data_dir())")
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = build_compositional_dataset(args.seed, path=args.path, force=args.force)
    size, n = path.stat().st_size / 2**20, factor_space().n_combinations
    print(f"{path} ({size:.1f} MiB, {n} sounds) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
