"""The vocabulary of SCAN: attributes of sounds, their words over factor classes, and named concepts.

Used by exercise sheet 5 (solutions/05_scan.ipynb), on chapter 1's toy grid.
The symbolic structure is a three-level hierarchy, written as data:

    concept     "bell"  = {inharmonic, abrupt, bright}      a named conjunction of words
    attribute   onset   = abrupt | gradual                  each value is a *word* of the vocabulary
    factor      attack  in {5, 20} ms  /  {80, 320} ms      each word is a set of classes of ONE factor

An :class:`Attribute` partitions the classes of one factor of chapter 1's
:class:`~course_lib.factors.FactorSpace` (every class belongs to exactly one word), and a
:class:`Vocabulary` holds at most one attribute per factor. The network sees a
:class:`~course_lib.scan.symbols.Symbol` as a **k-hot** vector over the vocabulary's words
(:meth:`Vocabulary.encode`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from course_lib.factors import FactorSpace
from course_lib.scan.symbols import Symbol, and_, as_symbol


@dataclass(frozen=True)
class Attribute:
    """A property of sounds (``register``) whose words (``low, mid, high``) partition one factor's classes.

    Checked against a factor space when a :class:`Vocabulary` is built.
    """

    name: str
    factor: str
    words: tuple[str, ...]
    classes: tuple[tuple[int, ...], ...]
    meaning: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"an attribute name must be a non-empty string, got {self.name!r}.")
        words = tuple(self.words)
        if not words or not all(isinstance(w, str) and w and not w.isspace() for w in words):
            raise ValueError(f"attribute {self.name!r}: words must be non-empty strings, got {self.words!r}.")
        if len(set(words)) != len(words):
            raise ValueError(f"attribute {self.name!r}: words must be distinct, got {words}.")
        classes = tuple(tuple(int(c) for c in group) for group in self.classes)
        if len(classes) != len(words):
            raise ValueError(
                f"attribute {self.name!r}: give one group of classes per word ({len(words)}), "
                f"got {len(classes)}."
            )
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "classes", classes)

    def classes_of(self, word: str) -> tuple[int, ...]:
        """The factor classes of ``word``."""
        if word not in self.words:
            raise ValueError(
                f"attribute {self.name!r} has no word {word!r}; its words are {list(self.words)}."
            )
        return self.classes[self.words.index(word)]


@dataclass(frozen=True)
class AttributeSpec:
    """An attribute written in the factor's unit, independent of the grid: ``edges`` split the values.

    A value ``v`` gets ``words[i]`` where ``i`` is the number of
    edges ``<= v`` (``np.digitize``), so ``len(edges) == len(words) - 1``. :meth:`resolve` turns the
    spec into an :class:`Attribute` on the classes of a given factor space.
    """

    name: str
    factor: str
    words: tuple[str, ...]
    edges: tuple[float, ...]
    meaning: str = ""

    def __post_init__(self) -> None:
        if len(self.edges) != len(self.words) - 1:
            raise ValueError(
                f"attribute {self.name!r}: {len(self.words)} words need {len(self.words) - 1} edges, "
                f"got {len(self.edges)}."
            )
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"attribute {self.name!r}: edges must be strictly increasing, got {self.edges}.")

    def resolve(self, factor_space: FactorSpace) -> Attribute:
        """The :class:`Attribute` on ``factor_space``.

        Raises ``ValueError`` if the space lacks the factor or if a word covers none of its values.
        """
        if self.factor not in factor_space.names:
            raise ValueError(
                f"attribute {self.name!r} needs factor {self.factor!r}, which this factor space lacks "
                f"(its factors are {list(factor_space.names)})."
            )
        values = np.asarray(factor_space.factor(self.factor).values)
        position = np.digitize(values, self.edges)
        groups = tuple(tuple(np.flatnonzero(position == i).tolist()) for i in range(len(self.words)))
        for word, group in zip(self.words, groups, strict=True):
            if not group:
                raise ValueError(
                    f"attribute {self.name!r}: word {word!r} covers none of the values {values.tolist()} of "
                    f"factor {self.factor!r} (edges {list(self.edges)})."
                )
        return Attribute(self.name, self.factor, self.words, groups, self.meaning)


DEFAULT_ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("register", "f0", ("low", "mid", "high"), (165.0, 262.0), "pitch height (Hz)"),
    AttributeSpec("loudness", "level", ("soft", "loud"), (-26.0,), "RMS level (dB)"),
    AttributeSpec("brightness", "tilt", ("dark", "bright"), (-8.0,), "spectral slope (dB/octave)"),
    AttributeSpec("hollowness", "odd_even", ("hollow", "full"), (-6.0,), "even partials' gain (dB)"),
    AttributeSpec("partials", "inharmonicity", ("harmonic", "inharmonic"), (1e-4,), "string stiffness B"),
    AttributeSpec("noisiness", "hnr", ("noisy", "tonal"), (9.0,), "harmonic-to-noise ratio (dB)"),
    AttributeSpec("onset", "attack", ("abrupt", "gradual"), (50.0,), "attack time (ms)"),
    AttributeSpec("sustain", "t60", ("damped", "sustained"), (0.75,), "decay time to -60 dB (s)"),
    AttributeSpec(
        "vibrato", "vibrato_depth", ("slight_vibrato", "wide_vibrato"), (75.0,), "vibrato depth (cents)"
    ),
)
"""The course's attributes, keyed by chapter 1's factor names (one per factor)."""

DEFAULT_CONCEPTS: dict[str, tuple[str, ...]] = {
    "bell": ("inharmonic", "abrupt", "bright"),
    "pluck": ("harmonic", "abrupt", "bright"),
    "flute": ("high", "dark", "noisy", "gradual"),
    "clarinet": ("hollow", "harmonic", "tonal"),
    "bass": ("low", "dark", "loud"),
}
"""Named concepts (conjunctions of words), the top level of the hierarchy."""


class Vocabulary:
    """Attributes over a factor space, their words in k-hot order, and named concepts.

    Words are ordered attribute by attribute (in the order of
    ``attributes``), each attribute's words in its own order; ``groups[name]`` is the slice of an
    attribute's words in a k-hot vector. Every word, attribute and concept name must be distinct.
    """

    def __init__(
        self,
        factor_space: FactorSpace,
        attributes: Sequence[Attribute],
        concepts: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        if not isinstance(factor_space, FactorSpace):
            raise ValueError("factor_space must be a course_lib.factors.FactorSpace.")
        attributes = tuple(attributes)
        if not attributes or not all(isinstance(a, Attribute) for a in attributes):
            raise ValueError("a Vocabulary needs at least one Attribute (and only Attributes).")
        self.factor_space = factor_space
        self.attributes: tuple[Attribute, ...] = attributes
        self._by_name: dict[str, Attribute] = {}
        self._column: dict[str, int] = {}
        self._lookup: dict[str, np.ndarray] = {}
        for attribute in attributes:
            self._add(attribute)
        self.words: tuple[str, ...] = tuple(w for a in attributes for w in a.words)
        clash = {w for w in self.words if self.words.count(w) > 1} | (set(self.words) & set(self._by_name))
        if clash:
            raise ValueError(f"words and attribute names must all be distinct; repeated: {sorted(clash)}.")
        self.word_index: dict[str, int] = {w: i for i, w in enumerate(self.words)}
        self.attribute_of: dict[str, str] = {w: a.name for a in attributes for w in a.words}
        self.groups: dict[str, slice] = {}
        start = 0
        for attribute in attributes:
            self.groups[attribute.name] = slice(start, start + len(attribute.words))
            start += len(attribute.words)
        self.concepts: dict[str, Symbol] = {}
        for name, words in (concepts or {}).items():
            if name in self.word_index or name in self._by_name:
                raise ValueError(f"concept name {name!r} is already a word or an attribute.")
            if isinstance(words, str):
                raise ValueError(f"concept {name!r}: give a sequence of words, not the string {words!r}.")
            self.concepts[name] = self.symbol(*words)

    def _add(self, attribute: Attribute) -> None:
        if attribute.name in self._by_name:
            raise ValueError(f"two attributes are named {attribute.name!r}.")
        if attribute.factor not in self.factor_space.names:
            raise ValueError(
                f"attribute {attribute.name!r} refers to factor {attribute.factor!r}; the factors are "
                f"{list(self.factor_space.names)}."
            )
        other = [a.name for a in self._by_name.values() if a.factor == attribute.factor]
        if other:
            raise ValueError(
                f"attributes {other[0]!r} and {attribute.name!r} both describe factor {attribute.factor!r}: "
                "keep one attribute per factor, so that every symbol admits a product set of sounds."
            )
        size = self.factor_space.sizes[self.factor_space.index_of(attribute.factor)]
        flat = sorted(c for group in attribute.classes for c in group)
        if flat != list(range(size)):
            raise ValueError(
                f"attribute {attribute.name!r}: its words must split the classes 0..{size - 1} of factor "
                f"{attribute.factor!r} into disjoint groups covering every class, got {attribute.classes}."
            )
        lookup = np.empty(size, dtype=np.int64)
        for i, group in enumerate(attribute.classes):
            lookup[list(group)] = i
        self._by_name[attribute.name] = attribute
        self._column[attribute.name] = self.factor_space.index_of(attribute.factor)
        self._lookup[attribute.name] = lookup

    # ------------------------------------------------------------------------------- basics
    @property
    def size(self) -> int:
        """Number of words (length of a k-hot vector)."""
        return len(self.words)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        parts = "; ".join(f"{a.name}: {'/'.join(a.words)}" for a in self.attributes)
        return f"Vocabulary({parts}; concepts: {', '.join(self.concepts) or 'none'})"

    def attribute(self, name: str) -> Attribute:
        """The :class:`Attribute` called ``name``."""
        if name not in self._by_name:
            raise ValueError(f"unknown attribute {name!r}; the attributes are {list(self._by_name)}.")
        return self._by_name[name]

    def symbol(self, *items: str) -> Symbol:
        """The symbol made of ``items``: words and concept names, joined with AND.

        ``vocab.symbol("bell", "low")`` is the concept bell AND the word low; ``vocab.symbol()`` is
        the empty symbol. Raises ``ValueError`` for an unknown item or two words of one attribute.
        """
        result = Symbol()
        for item in items:
            if item in self.concepts:
                part = self.concepts[item]
            elif isinstance(item, str) and item in self.word_index:
                part = Symbol({self.attribute_of[item]: item})
            else:
                raise ValueError(
                    f"unknown word or concept {item!r}; the words are {list(self.words)} and the concepts "
                    f"{list(self.concepts)}."
                )
            result = and_(result, part)
        return result

    def check(self, symbol: Symbol) -> Symbol:
        """``symbol`` itself if all its (attribute, word) pairs are in the vocabulary, else ``ValueError``."""
        as_symbol(symbol, "symbol")
        for attribute, word in symbol.items():
            if self.attribute(attribute).words.count(word) == 0:
                raise ValueError(
                    f"{symbol}: {word!r} is not a word of attribute {attribute!r} "
                    f"(its words are {list(self.attribute(attribute).words)})."
                )
        return symbol

    def all_symbols(self, max_words: int | None = None) -> list[Symbol]:
        """Every symbol with at most ``max_words`` words (default: all), fewest words first."""
        limit = len(self.attributes) if max_words is None else max_words
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"max_words must be a non-negative integer or None, got {max_words!r}.")
        out: list[Symbol] = []
        for k in range(min(limit, len(self.attributes)) + 1):
            for chosen in itertools.combinations(self.attributes, k):
                for words in itertools.product(*(a.words for a in chosen)):
                    out.append(Symbol(zip((a.name for a in chosen), words, strict=True)))
        return out

    # ------------------------------------------------------------------------------- k-hot
    def encode(self, symbols: Symbol | Sequence[Symbol]) -> np.ndarray:
        """k-hot float32 vectors: ``[V]`` for one symbol, ``[N, V]`` for a sequence."""
        if isinstance(symbols, Symbol):
            return self.encode([symbols])[0]
        out = np.zeros((len(symbols), self.size), dtype=np.float32)
        for row, symbol in enumerate(symbols):
            for word in self.check(as_symbol(symbol, f"symbols[{row}]")):
                out[row, self.word_index[word]] = 1.0
        return out

    def _rows(self, array: object, name: str) -> tuple[np.ndarray, bool]:
        arr = np.asarray(array, dtype=np.float64)
        single = arr.ndim == 1
        arr = np.atleast_2d(arr)
        if arr.ndim != 2 or arr.shape[1] != self.size:
            raise ValueError(
                f"{name} must be [{self.size}] or [N, {self.size}], got shape {np.shape(array)}."
            )
        return arr, single

    def decode(self, khot: object) -> Symbol | list[Symbol]:
        """Exact k-hot vectors to symbols; ``ValueError`` unless entries are 0/1, <= 1 per attribute."""
        arr, single = self._rows(khot, "khot")
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError("khot entries must be exactly 0 or 1 (use decode_probs for probabilities).")
        out = []
        for row in arr:
            pairs = []
            for attribute in self.attributes:
                on = np.flatnonzero(row[self.groups[attribute.name]])
                if len(on) > 1:
                    raise ValueError(
                        f"a k-hot vector turns on {len(on)} words of attribute {attribute.name!r} "
                        f"({[attribute.words[i] for i in on]}); a symbol has at most one."
                    )
                pairs += [(attribute.name, attribute.words[i]) for i in on]
            out.append(Symbol(pairs))
        return out[0] if single else out

    def decode_probs(self, probs: object, threshold: float = 0.5) -> Symbol | list[Symbol]:
        """Word probabilities to symbols: per attribute, its likeliest word if that is > ``threshold``."""
        arr, single = self._rows(probs, "probs")
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold!r}.")
        out = []
        for row in arr:
            pairs = []
            for attribute in self.attributes:
                group = row[self.groups[attribute.name]]
                best = int(np.argmax(group))
                if group[best] > threshold:
                    pairs.append((attribute.name, attribute.words[best]))
            out.append(Symbol(pairs))
        return out[0] if single else out

    # ------------------------------------------------------------------------------- semantics
    def _classes(self, classes: object) -> np.ndarray:
        arr = np.asarray(classes)
        self.factor_space.classes_to_index(arr)  # validates shape and ranges with a clear message
        return np.atleast_2d(arr.astype(np.int64))

    def admitted(self, symbol: Symbol) -> list[np.ndarray]:
        """The classes ``symbol`` admits, one sorted int64 array per factor (in factor-space order)."""
        self.check(symbol)
        allowed = [np.arange(s, dtype=np.int64) for s in self.factor_space.sizes]
        for attribute, word in symbol.items():
            allowed[self._column[attribute]] = np.asarray(sorted(self.attribute(attribute).classes_of(word)))
        return allowed

    def n_admitted(self, symbol: Symbol) -> int:
        """How many combinations of the factor grid ``symbol`` admits."""
        return int(np.prod([len(a) for a in self.admitted(symbol)], dtype=np.int64))

    def satisfies(self, symbol: Symbol, classes: object) -> np.ndarray:
        """Boolean ``[N]``: does each row of factor classes ``[N, K]`` belong to ``symbol``'s extension?"""
        arr = self._classes(classes)
        ok = np.ones(len(arr), dtype=bool)
        for k, allowed in enumerate(self.admitted(symbol)):
            ok &= np.isin(arr[:, k], allowed)
        return ok

    def attribute_values(self, classes: object) -> np.ndarray:
        """Word position within each attribute, int64 ``[N, A]`` (attributes in vocabulary order)."""
        arr = self._classes(classes)
        return np.stack([self._lookup[a.name][arr[:, self._column[a.name]]] for a in self.attributes], axis=1)

    def describe(self, classes: object) -> list[Symbol]:
        """The full symbol of each sound ``[N, K]``: one word for every attribute."""
        values = self.attribute_values(classes)
        names = [a.name for a in self.attributes]
        return [
            Symbol([(n, a.words[i]) for n, a, i in zip(names, self.attributes, row, strict=True)])
            for row in values
        ]


def build_vocabulary(
    factor_space: FactorSpace,
    attributes: Sequence[str] | None = None,
    *,
    specs: Sequence[AttributeSpec] = DEFAULT_ATTRIBUTES,
    concepts: Mapping[str, Iterable[str]] | None = None,
) -> Vocabulary:
    """A :class:`Vocabulary` on ``factor_space`` from attribute specs (default: the course's table).

    ``attributes``: names of the specs to use; ``None`` takes every spec whose factor the space has.
    A named attribute whose factor is missing raises ``ValueError``. ``concepts``: ``None`` keeps the
    :data:`DEFAULT_CONCEPTS` whose words all exist in the vocabulary; an explicit mapping must resolve
    entirely (``ValueError`` otherwise).
    """
    if not isinstance(factor_space, FactorSpace):
        raise ValueError("factor_space must be a course_lib.factors.FactorSpace.")
    by_name = {spec.name: spec for spec in specs}
    if attributes is None:
        chosen = [spec for spec in specs if spec.factor in factor_space.names]
        if not chosen:
            raise ValueError(
                f"no attribute spec matches the factors {list(factor_space.names)}; the specs describe "
                f"{[s.factor for s in specs]}."
            )
    else:
        unknown = [name for name in attributes if name not in by_name]
        if unknown:
            raise ValueError(f"unknown attributes {unknown}; the specs are {list(by_name)}.")
        chosen = [by_name[name] for name in attributes]
    resolved = [spec.resolve(factor_space) for spec in chosen]
    if concepts is None:
        words = {w for a in resolved for w in a.words}
        concepts = {name: ws for name, ws in DEFAULT_CONCEPTS.items() if set(ws) <= words}
    return Vocabulary(factor_space, resolved, concepts)
