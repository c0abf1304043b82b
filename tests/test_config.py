"""Unit tests of course_lib.config: the fast/full switch, paths and the seeding helper."""

import numpy as np
import pytest
import torch

from course_lib import config


@pytest.mark.parametrize(
    ("raw", "fast"), [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)]
)
def test_fast_switch_values(monkeypatch, raw, fast):
    monkeypatch.setenv("COURSE_FAST", raw)
    assert config.is_fast() is fast
    assert config.pick(fast="small", full="large") == ("small" if fast else "large")


def test_fast_switch_unset_means_full(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert config.is_fast() is False


def test_fast_switch_rejects_unknown_value(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST"):
        config.is_fast()


def test_data_dir_override_is_created(monkeypatch, tmp_path):
    target = tmp_path / "nested" / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(target))
    assert config.data_dir() == target
    assert target.is_dir()


def test_seed_everything_repeats_numpy_torch_and_generator():
    rng = config.seed_everything(123)
    first = (rng.normal(size=3), np.random.rand(3), torch.rand(3))  # noqa: NPY002 (checks the global state)
    rng = config.seed_everything(123)
    second = (rng.normal(size=3), np.random.rand(3), torch.rand(3))  # noqa: NPY002
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = config.seed_everything(124).normal(size=3)
    assert not np.allclose(other, first[0])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        config.seed_everything(bad)
