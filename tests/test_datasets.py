"""Unit tests of course_lib.datasets: the toy dataset file, its determinism, the torch Dataset, the CLI."""

import hashlib
import json

import numpy as np
import pytest
import torch

from course_lib import datasets, presets
from course_lib.features import LogMel

PRESET = "static"  # 2,700 clips: the smallest grid, built in about a second


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    """A private data_dir() for this module, with the static grid built once."""
    home = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_DIR", str(home))
        datasets.build_toy_dataset(PRESET, seed=0, progress=False)
        yield home


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_file_holds_the_full_grid_like_dsprites(data_home, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_home))
    path = datasets.default_path(PRESET, 0)
    assert path.parent == data_home and path.name.startswith("toy_static_seed0_")
    fs = presets.get_preset(PRESET).factor_space
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["features", "latents_classes", "latents_values", "metadata"]
        assert data["features"].shape == (fs.n_combinations, 64, 32) and data["features"].dtype == np.float16
        np.testing.assert_array_equal(data["latents_classes"], fs.all_classes())
        np.testing.assert_array_equal(data["latents_values"], fs.classes_to_values(fs.all_classes()))
        assert data["metadata"].shape == ()
        meta = json.loads(data["metadata"].item())
    for key in (
        "factor_names",
        "factor_sizes",
        "factor_values",
        "factor_units",
        "sample_rate",
        "features",
        "seed",
    ):
        assert key in meta
    assert meta["format_version"] == datasets.FORMAT_VERSION and meta["seed"] == 0
    assert meta["features"]["n_mels"] == 64 and meta["sample_rate"] == 16000
    assert not list(data_home.glob("*.tmp"))  # the atomic write left nothing behind


@pytest.mark.slow
def test_same_seed_same_bytes_and_another_seed_differs(data_home, tmp_path):
    first = next(data_home.glob("toy_static_seed0_*.npz"))
    again = datasets.build_toy_dataset(PRESET, seed=0, path=tmp_path / "again.npz", progress=False)
    other = datasets.build_toy_dataset(PRESET, seed=1, path=tmp_path / "other.npz", progress=False)
    assert _sha(first) == _sha(again)
    assert _sha(first) != _sha(other)


@pytest.mark.slow
def test_existing_files_are_reused_unless_forced(tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(b"placeholder")
    assert datasets.build_toy_dataset(PRESET, path=path, progress=False) == path
    assert path.read_bytes() == b"placeholder"
    datasets.build_toy_dataset(PRESET, path=path, force=True, progress=False)
    assert path.stat().st_size > 1_000_000


def test_load_prints_its_file_and_items_are_tensors(data_home, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_home))
    ds = datasets.load_toy_dataset(PRESET, seed=0)
    assert str(datasets.default_path(PRESET, 0)) in capsys.readouterr().out
    x, y = ds[5]
    assert x.dtype == torch.float32 and x.shape == (64, 32)
    assert y.dtype == torch.int64 and y.tolist() == ds.factor_space.index_to_classes(5).tolist()
    assert ds.preset == PRESET and len(ds) == 2700 and ds.sr == 16000
    feats, classes = ds.tensors(np.array([0, 5]))
    assert feats.shape == (2, 64, 32) and torch.equal(feats[1], x) and torch.equal(classes[1], y)


def test_render_audio_reproduces_the_stored_features_also_in_a_subset(data_home):
    ds = datasets.ToyDataset.from_file(next(data_home.glob("toy_static_seed0_*.npz")))
    sub = ds.subset(np.array([2699, 17, 1000]))
    assert sub.ids.tolist() == [2699, 17, 1000] and len(sub) == 3
    audio = sub.render_audio(np.arange(3))
    assert audio.shape == (3, 16000)
    feats = sub.logmel()(audio)
    np.testing.assert_allclose(feats, sub.features.astype(np.float32), atol=2e-3)
    mask = ds.subset(ds.latents_classes[:, 0] == 0)
    assert len(mask) == 2700 // 12


@pytest.mark.slow
def test_cli_builds_a_file(tmp_path, capsys):
    path = tmp_path / "cli.npz"
    assert datasets.main(["--preset", PRESET, "--seed", "2", "--path", str(path)]) == 0
    assert path.exists() and str(path) in capsys.readouterr().out
    assert datasets.main(["--list"]) == 0
    assert "default" in capsys.readouterr().out


def test_invalid_settings_raise_a_clear_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        datasets.build_toy_dataset("nope", path=tmp_path / "x.npz")
    with pytest.raises(ValueError, match="seed"):
        datasets.build_toy_dataset(PRESET, seed=-1, path=tmp_path / "x.npz")
    with pytest.raises(ValueError, match=".npz"):
        datasets.build_toy_dataset(PRESET, path=tmp_path / "x.h5")
    with pytest.raises(ValueError, match="no toy dataset file"):
        datasets.ToyDataset.from_file(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a valid toy dataset file"):
        datasets.ToyDataset.from_file(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="sample rate"):
        datasets.dataset_metadata(PRESET, 0, LogMel(sr=8000))


@pytest.mark.parametrize("damage", ["garbage", "pickled", "truncated"])
def test_a_corrupt_cache_names_the_file_and_how_to_rebuild_it(data_home, tmp_path, monkeypatch, damage):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    path = datasets.default_path(PRESET, 0)
    if damage == "garbage":
        path.write_bytes(b"\x93NUMPY garbage" * 100)
    elif damage == "pickled":  # the right keys, but an object array where metadata should be
        arrays = {k: np.zeros(2) for k in ("features", "latents_classes", "latents_values")}
        np.savez(path, **arrays, metadata=np.array([{"preset": PRESET}], dtype=object))
    else:
        source = next(data_home.glob("toy_static_seed0_*.npz")).read_bytes()
        path.write_bytes(source[: len(source) // 2])
    with pytest.raises(ValueError) as info:
        datasets.load_toy_dataset(PRESET, verbose=False)
    message = str(info.value)
    assert str(path) in message and "not a valid toy dataset file" in message
    assert "--force" in message and "pickle" not in message.lower()
