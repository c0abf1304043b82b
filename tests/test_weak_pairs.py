"""Tests of course_lib.weak_pairs: pairs that share a random subset of factors (Ada-GVAE's supervision)."""

import numpy as np
import pytest
import torch

from course_lib.factors import Factor, FactorSpace
from course_lib.weak_pairs import PairLoader, WeakPairs, grid_rows, sample_weak_pairs


@pytest.fixture(scope="module")
def space() -> FactorSpace:
    """Five factors, one of them constant (it can never change): K' = 4 variable factors."""

    def f(name, n):
        return Factor(name, tuple(range(n)), "", name, "frame")

    return FactorSpace([f("a", 3), f("b", 4), f("c", 2), f("const", 1), f("e", 5)])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_fixed_k_shares_the_others_and_changes_exactly_k(space, k):
    pairs = sample_weak_pairs(space, 2000, k, np.random.default_rng(0))
    assert isinstance(pairs, WeakPairs)
    c1, c2 = space.index_to_classes(pairs.first), space.index_to_classes(pairs.second)
    assert pairs.shared.shape == (2000, 5) and pairs.shared.dtype == bool
    assert np.array_equal(c1[pairs.shared], c2[pairs.shared])  # shared factors are equal
    assert np.all(c1[~pairs.shared] != c2[~pairs.shared])  # the others really differ
    assert np.all((~pairs.shared).sum(1) == k)
    assert np.all(pairs.shared[:, 3])  # the constant factor is always shared
    # every variable factor gets to change, and the new class covers every other value
    assert np.all((~pairs.shared)[:, [0, 1, 2, 4]].any(0))
    changed_e = ~pairs.shared[:, 4]
    assert set(c2[changed_e, 4].tolist()) == set(range(5))


def test_random_k_is_uniform_on_one_to_k_minus_one(space):
    pairs = sample_weak_pairs(space, 3000, None, np.random.default_rng(1))
    ks = (~pairs.shared).sum(1)
    counts = np.bincount(ks, minlength=5)
    assert counts[0] == 0 and counts[4] == 0
    assert np.all(np.abs(counts[1:4] / 3000 - 1 / 3) < 0.04)
    c1, c2 = space.index_to_classes(pairs.first), space.index_to_classes(pairs.second)
    assert np.array_equal(c1[pairs.shared], c2[pairs.shared])


def test_deterministic_under_a_seed(space):
    a = sample_weak_pairs(space, 50, None, np.random.default_rng(7))
    b = sample_weak_pairs(space, 50, None, np.random.default_rng(7))
    c = sample_weak_pairs(space, 50, None, np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a.first, c.first)


@pytest.mark.parametrize("k", [0, 4, -1, 1.5, True, "2"])
def test_bad_k(space, k):
    with pytest.raises(
        ValueError, match="k .the number of factors that differ. must be an integer from 1 to 3"
    ):
        sample_weak_pairs(space, 10, k, np.random.default_rng(0))


def test_bad_inputs(space):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        sample_weak_pairs(space, 0, 1, rng)
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        sample_weak_pairs(space, 10, 1, 0)
    with pytest.raises(ValueError, match="FactorSpace"):
        sample_weak_pairs([3, 4], 10, 1, rng)
    one = FactorSpace([Factor("a", (0, 1), "", "a", "frame"), Factor("b", (0,), "", "b", "frame")])
    with pytest.raises(ValueError, match="at least two factors with more than one value"):
        sample_weak_pairs(one, 10, None, rng)


def test_grid_rows_maps_grid_indices_to_dataset_rows():
    ids = np.array([7, 3, 9, 0, 5])
    assert grid_rows(ids, np.array([0, 9, 7])).tolist() == [3, 2, 0]
    assert grid_rows(np.arange(6), np.array([5, 1])).tolist() == [5, 1]
    with pytest.raises(ValueError, match=r"grid indices \[4\] are not rows"):
        grid_rows(ids, np.array([3, 4]))
    with pytest.raises(ValueError, match="not rows"):
        grid_rows(ids, np.array([10]))


def test_pair_loader_yields_pairs_that_differ_in_one_factor(space):
    classes = space.all_classes()
    inputs = torch.as_tensor(classes, dtype=torch.float32)  # each row is its own factor classes
    loader = PairLoader(inputs, space, k=1, batch_size=7, pairs_per_epoch=30)
    torch.manual_seed(0)
    batches = list(loader)
    assert len(loader) == len(batches) == 5 and sum(len(a) for a, _ in batches) == 30
    for a, b in batches:
        assert ((a != b).sum(1) == 1).all()  # exactly one factor differs in every pair
    torch.manual_seed(0)
    again = list(loader)
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(batches, again, strict=True))
    with pytest.raises(ValueError, match="one row per grid point"):
        PairLoader(inputs[:-1], space)
