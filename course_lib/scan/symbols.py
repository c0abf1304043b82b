"""Symbols of SCAN and the operators that combine them.

Used by exercise sheet 5 (solutions/05_scan.ipynb), on chapter 1's toy grid.
A :class:`Symbol` gives at most one word to each attribute of a
:class:`~course_lib.scan.vocabulary.Vocabulary` and leaves the others **unspecified**. Its meaning
(its *extension*) is the set of sounds it admits, a product set: for each factor, the classes of the
symbol's word on that factor, or every class when the symbol says nothing about it. The empty symbol
``{}`` admits every sound.

Operators (SCAN, Higgins et al. 2017, plus one for sound effects), on symbols ``a`` and ``b``:

* ``AND``: both constraints, ``a | b`` as word sets. Its extension is the intersection of the two.
  Two different words of one attribute (``{low} AND {high}``) would admit no sound at all: we
  refuse it with a ``ValueError`` rather than return an empty concept.
* ``IN_COMMON``: the words both share, ``a & b``. Its extension is the smallest product set that
  contains both extensions (only attributes on which they agree stay specified).
* ``IGNORE``: ``a`` without the words of ``b``, which must all be words of ``a`` (``ValueError``
  otherwise: ignoring a word the symbol does not have is meaningless). Its extension contains a's.
* ``WITH`` (a sound effect): ``b`` overrides ``a`` attribute by attribute. ``{bell} WITH {dark}``
  is a low-pass filter applied to a bell; on the modulation preset ``WITH {wide_vibrato}`` adds
  vibrato. It equals ``(a IGNORE (a's words on b's attributes)) AND b`` and never fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence

OPERATORS: tuple[str, ...] = ("AND", "IN_COMMON", "IGNORE", "WITH")
"""The operators, in the order of the recombination module's op ids (:func:`operator_id`)."""


class Symbol:
    """An assignment of at most one word per attribute; unspecified attributes are left out.

    Pure data (no vocabulary attached): build one with
    :meth:`Vocabulary.symbol` to have its words checked. ``Symbol({"register": "low"})`` and
    ``Symbol([("register", "low")])`` are the same symbol; equal symbols hash alike.
    """

    __slots__ = ("_items",)

    def __init__(self, assignments: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = list(assignments.items()) if isinstance(assignments, Mapping) else list(assignments)
        seen: dict[str, str] = {}
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise ValueError(f"a symbol is made of (attribute, word) string pairs, got {pair!r}.")
            attribute, word = pair
            if attribute in seen and seen[attribute] != word:
                raise ValueError(
                    f"a symbol gives at most one word per attribute: {attribute!r} got both "
                    f"{seen[attribute]!r} and {word!r}."
                )
            seen[attribute] = word
        self._items: tuple[tuple[str, str], ...] = tuple(sorted(seen.items()))

    def items(self) -> tuple[tuple[str, str], ...]:
        """The (attribute, word) pairs, sorted by attribute name."""
        return self._items

    def as_dict(self) -> dict[str, str]:
        """attribute -> word."""
        return dict(self._items)

    @property
    def attributes(self) -> frozenset[str]:
        """The attributes the symbol specifies."""
        return frozenset(a for a, _ in self._items)

    @property
    def words(self) -> frozenset[str]:
        """The words of the symbol (the ones of its k-hot vector)."""
        return frozenset(w for _, w in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return (w for _, w in self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Symbol) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __str__(self) -> str:
        return "{" + ", ".join(w for _, w in self._items) + "}"

    def __repr__(self) -> str:
        return f"Symbol({self})"


def as_symbol(value: Symbol, name: str) -> Symbol:
    """``value`` itself if it is a :class:`Symbol`, else a ``ValueError`` that names the argument ``name``."""
    if not isinstance(value, Symbol):
        raise ValueError(
            f"{name} must be a Symbol (build one with Vocabulary.symbol), got {type(value).__name__}."
        )
    return value


def and_(a: Symbol, b: Symbol) -> Symbol:
    """``a AND b``: every word of both. Raises ``ValueError`` when they give one attribute two words."""
    a, b = as_symbol(a, "a"), as_symbol(b, "b")
    left = a.as_dict()
    for attribute, word in b.items():
        if attribute in left and left[attribute] != word:
            raise ValueError(
                f"{a} AND {b} admits no sound: attribute {attribute!r} cannot be both {left[attribute]!r} "
                f"and {word!r}. Use WITH to override a word instead."
            )
    return Symbol({**left, **b.as_dict()})


def in_common(a: Symbol, b: Symbol) -> Symbol:
    """``a IN_COMMON b``: the words both symbols share (possibly none: the empty symbol)."""
    a, b = as_symbol(a, "a"), as_symbol(b, "b")
    shared = set(b.items())
    return Symbol([pair for pair in a.items() if pair in shared])


def ignore(a: Symbol, b: Symbol) -> Symbol:
    """``a IGNORE b``: ``a`` without the words of ``b``; ``ValueError`` if ``b`` has a word ``a`` lacks."""
    a, b = as_symbol(a, "a"), as_symbol(b, "b")
    missing = sorted(b.words - a.words)
    if missing:
        raise ValueError(
            f"{a} IGNORE {b}: IGNORE only drops words the first symbol has; {missing} are not in {a}."
        )
    dropped = set(b.items())
    return Symbol([pair for pair in a.items() if pair not in dropped])


def with_(a: Symbol, b: Symbol) -> Symbol:
    """``a WITH b`` (a sound effect): ``a`` with ``b``'s words replacing or adding to its own."""
    a, b = as_symbol(a, "a"), as_symbol(b, "b")
    return Symbol({**a.as_dict(), **b.as_dict()})


_OPERATOR_FUNCTIONS = {"AND": and_, "IN_COMMON": in_common, "IGNORE": ignore, "WITH": with_}


def operator_id(op: str) -> int:
    """Position of ``op`` in :data:`OPERATORS` (the id the recombination module embeds)."""
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}; the operators are {list(OPERATORS)}.")
    return OPERATORS.index(op)


def apply_operator(op: str, a: Symbol, b: Symbol) -> Symbol:
    """``a op b`` for ``op`` in :data:`OPERATORS` (the ground truth the recombination module learns)."""
    operator_id(op)
    return _OPERATOR_FUNCTIONS[op](a, b)


def recombination_triples(
    symbols: Sequence[Symbol], operators: Sequence[str] = OPERATORS
) -> list[tuple[Symbol, str, Symbol, Symbol]]:
    """Every valid ``(a, op, b, a op b)`` with ``a != b`` drawn from ``symbols``.

    Pairs an operator refuses (AND of conflicting words, IGNORE of missing words) are left out.
    The training set of the recombination operators.
    """
    for op in operators:
        operator_id(op)
    symbols = [as_symbol(s, "each symbol") for s in symbols]
    out = []
    for op in operators:
        for a, b in itertools.permutations(symbols, 2):
            try:
                out.append((a, op, b, apply_operator(op, a, b)))
            except ValueError:
                continue
    return out
