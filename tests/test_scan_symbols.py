"""The concept algebra of chapter 5 (course_lib.scan): symbols, operators, extensions, vocabularies, pairs."""

import itertools

import numpy as np
import pytest

from course_lib.checks.ch05 import small_vocabulary
from course_lib.presets import get_preset
from course_lib.scan.pairs import sample_pairs
from course_lib.scan.symbols import (
    OPERATORS,
    Symbol,
    and_,
    apply_operator,
    ignore,
    in_common,
    operator_id,
    recombination_triples,
    with_,
)
from course_lib.scan.vocabulary import Attribute, AttributeSpec, Vocabulary, build_vocabulary


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return small_vocabulary()


@pytest.fixture(scope="module")
def grid(vocab) -> np.ndarray:
    return vocab.factor_space.all_classes()


def extension(vocab, symbol, grid):
    return vocab.satisfies(symbol, grid)


def test_symbol_equality_order_and_conflicts():
    assert Symbol({"a": "x", "b": "y"}) == Symbol([("b", "y"), ("a", "x")])
    assert hash(Symbol({"a": "x"})) == hash(Symbol([("a", "x")]))
    assert str(Symbol({"b": "y", "a": "x"})) == "{x, y}"
    with pytest.raises(ValueError, match="at most one word"):
        Symbol([("a", "x"), ("a", "z")])
    with pytest.raises(ValueError, match="string pairs"):
        Symbol([("a", 1)])


def test_operators_on_words(vocab):
    low, dark, noisy = vocab.symbol("low"), vocab.symbol("dark"), vocab.symbol("noisy")
    low_dark = and_(low, dark)
    assert low_dark.words == {"low", "dark"}
    assert in_common(low_dark, and_(low, noisy)) == low
    assert in_common(low, dark) == Symbol()
    assert ignore(low_dark, dark) == low
    assert with_(low_dark, vocab.symbol("high")).words == {"high", "dark"}
    with pytest.raises(ValueError, match="admits no sound"):
        and_(low, vocab.symbol("high"))
    with pytest.raises(ValueError, match="IGNORE only drops"):
        ignore(low, dark)
    with pytest.raises(ValueError, match="must be a Symbol"):
        and_(low, {"register": "low"})
    with pytest.raises(ValueError, match="unknown operator"):
        apply_operator("OR", low, dark)


def test_extensions_follow_set_algebra(vocab, grid):
    """AND intersects extensions, IN_COMMON contains their union, IGNORE widens, WITH = IGNORE then AND."""
    symbols = vocab.all_symbols()
    rng = np.random.default_rng(0)
    for i, j in rng.integers(len(symbols), size=(60, 2)):
        a, b = symbols[i], symbols[j]
        ea, eb = extension(vocab, a, grid), extension(vocab, b, grid)
        try:
            assert np.array_equal(extension(vocab, and_(a, b), grid), ea & eb)
        except ValueError:
            assert not (ea & eb).any()  # refused only when the intersection is empty
        assert np.all(extension(vocab, in_common(a, b), grid) >= (ea | eb))
        overlap = Symbol([p for p in a.items() if p[0] in b.attributes])
        assert with_(a, b) == and_(ignore(a, overlap), b)
        assert extension(vocab, with_(a, b), grid).any()
    a = vocab.symbol("low", "dark", "noisy")
    assert np.all(extension(vocab, ignore(a, vocab.symbol("dark")), grid) >= extension(vocab, a, grid))
    assert vocab.n_admitted(a) == 1 and vocab.n_admitted(Symbol()) == len(grid)


def test_vocabulary_khot_roundtrip(vocab):
    assert vocab.words == ("low", "mid", "high", "dark", "bright", "noisy", "tonal")
    symbol = vocab.symbol("high", "noisy")
    khot = vocab.encode(symbol)
    assert khot.tolist() == [0, 0, 1, 0, 0, 1, 0]
    assert vocab.decode(khot) == symbol
    assert vocab.encode([symbol, Symbol()]).shape == (2, 7)
    probs = np.array([0.1, 0.7, 0.2, 0.4, 0.45, 0.9, 0.0])
    assert vocab.decode_probs(probs) == vocab.symbol("mid", "noisy")
    with pytest.raises(ValueError, match="at most one"):
        vocab.decode(np.array([1, 1, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="unknown word"):
        vocab.symbol("purple")
    with pytest.raises(ValueError, match="exactly 0 or 1"):
        vocab.decode(probs)


def test_attribute_values_and_describe(vocab):
    classes = np.array([[2, 0, 1], [0, 1, 0]])
    assert vocab.attribute_values(classes).tolist() == [[2, 0, 1], [0, 1, 0]]
    assert vocab.describe(classes)[0] == vocab.symbol("high", "dark", "tonal")


def test_attribute_checks():
    space = small_vocabulary().factor_space
    with pytest.raises(ValueError, match="one group of classes per word"):
        Attribute("register", "f0", ("low", "high"), ((0,),))
    with pytest.raises(ValueError, match="disjoint groups covering"):
        Vocabulary(space, [Attribute("register", "f0", ("low", "high"), ((0,), (1,)))])
    with pytest.raises(ValueError, match="both describe factor"):
        Vocabulary(
            space,
            [
                Attribute("register", "f0", ("low", "high"), ((0,), (1, 2))),
                Attribute("height", "f0", ("down", "up"), ((0, 1), (2,))),
            ],
        )
    with pytest.raises(ValueError, match="edges"):
        AttributeSpec("x", "f0", ("a", "b"), (1.0, 2.0))
    with pytest.raises(ValueError, match="covers none"):
        AttributeSpec("x", "f0", ("a", "b"), (1e6,)).resolve(space)


def test_build_vocabulary_on_the_default_grid():
    vocab = build_vocabulary(get_preset("default").factor_space)
    assert [a.name for a in vocab.attributes] == [
        "register",
        "loudness",
        "brightness",
        "hollowness",
        "partials",
        "noisiness",
        "onset",
    ]
    assert vocab.size == 15
    assert set(vocab.concepts) == {"bell", "pluck", "flute", "clarinet", "bass"}
    assert vocab.concepts["bell"].words == {"inharmonic", "abrupt", "bright"}
    # the attack factor [5, 20, 80, 320] ms splits at 50 ms
    assert vocab.attribute("onset").classes == ((0, 1), (2, 3))


def test_sample_pairs_respects_symbols(vocab):
    rng = np.random.default_rng(1)
    symbols = [vocab.symbol("low"), vocab.symbol("bright", "noisy")]
    classes, which = sample_pairs(symbols, vocab, rng, 400)
    for position, symbol in enumerate(symbols):
        rows = classes[which == position]
        assert vocab.satisfies(symbol, rows).all()
    # unspecified factors are drawn over all their classes
    assert set(classes[which == 0, 1]) == {0, 1} and set(classes[which == 1, 0]) == {0, 1, 2}


def test_recombination_triples_are_valid(vocab):
    symbols = vocab.all_symbols(1)
    triples = recombination_triples(symbols)
    assert {op for _, op, _, _ in triples} == set(OPERATORS)
    for a, op, b, result in triples:
        assert a != b and apply_operator(op, a, b) == result
    n_and = sum(op == "AND" for _, op, _, _ in triples)
    # AND of two different one-word symbols (or the empty one) fails only within one attribute
    pairs = list(itertools.permutations(symbols, 2))
    conflicts = sum(a.attributes == b.attributes and len(a) == 1 for a, b in pairs)
    assert n_and == len(pairs) - conflicts


def test_module_lists_operators_in_id_order():
    assert OPERATORS == ("AND", "IN_COMMON", "IGNORE", "WITH")
    assert [operator_id(op) for op in OPERATORS] == [0, 1, 2, 3]
