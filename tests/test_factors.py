"""Unit tests of course_lib.factors: factor declarations and the index <-> classes <-> values maps."""

import itertools

import numpy as np
import pytest

from course_lib.factors import TIMESCALES, Factor, FactorSpace


def _space() -> FactorSpace:
    return FactorSpace(
        [
            Factor("f0", (110.0, 220.0, 440.0), "Hz", "pitch", "period"),
            Factor("level", (-30, -20), "dB", "loudness", "frame"),
            Factor("attack", (5, 20, 80, 320), "ms", "onset", "note"),
        ]
    )


def test_factor_stores_values_as_a_float_tuple_and_its_size():
    factor = Factor("tilt", [-12, -6, 0], "dB/octave", "brightness", "frame")
    assert factor.values == (-12.0, -6.0, 0.0)
    assert factor.size == 3
    assert factor.to_dict()["unit"] == "dB/octave"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "not an identifier"}, "identifier"),
        ({"values": ()}, "at least one value"),
        ({"values": (1.0, 1.0)}, "strictly increasing"),
        ({"values": (2.0, 1.0)}, "strictly increasing"),
        ({"values": (1.0, float("nan"))}, "finite"),
        ({"values": ("a", "b")}, "numbers"),
        ({"timescale": "century"}, "timescale"),
    ],
)
def test_bad_factor_declarations_raise_a_clear_value_error(kwargs, message):
    args = {"name": "f0", "values": (1.0, 2.0), "unit": "Hz", "meaning": "pitch", "timescale": "period"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Factor(**args)


def test_timescales_are_ordered_from_period_to_phrase():
    assert list(TIMESCALES) == ["period", "frame", "note", "phrase"]


def test_space_sizes_bases_and_count():
    fs = _space()
    assert fs.names == ("f0", "level", "attack")
    assert fs.sizes == (3, 2, 4)
    assert fs.n_combinations == len(fs) == 24
    assert fs.bases.tolist() == [8, 4, 1]


def test_order_is_row_major_with_the_last_factor_fastest():
    fs = _space()
    expected = np.array(list(itertools.product(range(3), range(2), range(4))))
    np.testing.assert_array_equal(fs.all_classes(), expected)
    np.testing.assert_array_equal(fs.index_to_classes(1), [0, 0, 1])
    np.testing.assert_array_equal(fs.index_to_classes(4), [0, 1, 0])
    np.testing.assert_array_equal(fs.index_to_classes(8), [1, 0, 0])


def test_index_classes_round_trip_for_every_row_and_a_batch():
    fs = _space()
    idx = np.arange(fs.n_combinations)
    np.testing.assert_array_equal(fs.classes_to_index(fs.index_to_classes(idx)), idx)
    assert fs.classes_to_index([2, 1, 3]) == 23
    assert isinstance(fs.classes_to_index([2, 1, 3]), int)
    batch = fs.index_to_classes(np.array([[0, 5], [7, 23]]))
    assert batch.shape == (2, 2, 3)


def test_classes_to_values_and_back():
    fs = _space()
    values = fs.classes_to_values([[1, 0, 3], [2, 1, 0]])
    np.testing.assert_array_equal(values, [[220.0, -30.0, 320.0], [440.0, -20.0, 5.0]])
    np.testing.assert_array_equal(fs.values_to_classes(values), [[1, 0, 3], [2, 1, 0]])
    with pytest.raises(ValueError, match="not on its grid"):
        fs.values_to_classes([[221.0, -30.0, 320.0]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda fs: fs.index_to_classes(24), "out of range"),
        (lambda fs: fs.index_to_classes(-1), "out of range"),
        (lambda fs: fs.index_to_classes(1.5), "integers"),
        (lambda fs: fs.classes_to_index([3, 0, 0]), "factor 'f0'"),
        (lambda fs: fs.classes_to_index([0, 0, -1]), "factor 'attack'"),
        (lambda fs: fs.classes_to_index([0, 0]), "last dimension of 3"),
        (lambda fs: fs.classes_to_values([0.5, 0, 0]), "integers"),
        (lambda fs: fs.sample_classes(-1, np.random.default_rng(0)), "non-negative"),
        (lambda fs: fs.sample_classes(3, 0), "Generator"),
        (lambda fs: fs.index_of("pitch"), "no factor named"),
    ],
)
def test_bad_indices_and_classes_raise_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(_space())


def test_space_rejects_duplicates_and_empty_lists():
    factor = Factor("f0", (1.0,), "Hz", "pitch", "period")
    with pytest.raises(ValueError, match="unique"):
        FactorSpace([factor, factor])
    with pytest.raises(ValueError, match="at least one"):
        FactorSpace([])


def test_sample_classes_is_seeded_and_in_range():
    fs = _space()
    a = fs.sample_classes(500, np.random.default_rng(3))
    b = fs.sample_classes(500, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (500, 3) and a.dtype == np.int64
    assert (a.min(0) == 0).all() and (a.max(0) == np.array(fs.sizes) - 1).all()


def test_walk_varies_one_factor_and_keeps_the_others():
    fs = _space()
    walk = fs.walk("attack", base_classes=[2, 1, 0])
    np.testing.assert_array_equal(walk[:, 2], [0, 1, 2, 3])
    assert (walk[:, :2] == [2, 1]).all()
    np.testing.assert_array_equal(fs.walk("f0")[:, 1:], [[0, 1]] * 3)


def test_metadata_round_trip_rebuilds_an_equal_space():
    fs = _space()
    meta = fs.to_metadata()
    assert meta["factor_sizes"] == [3, 2, 4]
    assert "last factor fastest" in meta["order"]
    assert FactorSpace.from_metadata(meta) == fs
    with pytest.raises(ValueError, match="lacks"):
        FactorSpace.from_metadata({"factor_names": ["f0"]})
