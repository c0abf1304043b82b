"""The toy dataset ("audio dSprites"): generation in batch, one npz file per preset and seed, a torch Dataset.

Taught in chapters/01_toy_dataset.ipynb; chapters 2-5 train on it. Like dSprites, a file holds the
**full factorial grid** of a preset (every combination of factor classes exactly once, row-major,
last factor fastest; see :mod:`course_lib.factors`) with these arrays:

* ``features`` float16 ``[N, n_mels, frames]``: log-mel features (:class:`course_lib.features.LogMel`);
  the audio itself is not stored (re-synthesise it with :meth:`ToyDataset.render_audio`);
* ``latents_classes`` int64 ``[N, K]`` and ``latents_values`` float64 ``[N, K]``;
* ``metadata``: a JSON string (factor names, sizes, values, units, meanings, time scales, order,
  sample rate, duration, feature settings, synthesis constants, seed, format and synth versions).

The file name carries a hash of the metadata, so changing the synthesizer or the features makes a
new file instead of silently reusing a stale one. Files are written atomically and byte for byte
the same for the same seed. Build one from the command line::

    python -m course_lib.datasets --preset default --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from course_lib import __version__
from course_lib.config import data_dir
from course_lib.factors import FactorSpace
from course_lib.features import LogMel
from course_lib.files import exclusive_lock, write_npz
from course_lib.presets import PRESETS, get_preset
from course_lib.synth import SYNTH_VERSION

FORMAT_VERSION: int = 1
"""Version of the file layout (bumped when keys or meanings change)."""
_ARRAYS = ("features", "latents_classes", "latents_values")


def dataset_metadata(
    preset: str = "default", seed: int = 0, features: LogMel | None = None
) -> dict[str, Any]:
    """The metadata a toy dataset file of ``preset`` and ``seed`` carries (before it is built)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    spec = get_preset(preset)
    logmel = features or LogMel(sr=spec.sr)
    if logmel.sr != spec.sr:
        raise ValueError(f"the features' sample rate {logmel.sr} differs from the preset's {spec.sr}.")
    return {
        "format_version": FORMAT_VERSION,
        "synth_version": SYNTH_VERSION,
        "preset": spec.name,
        "description": spec.description,
        "seed": int(seed),
        "n_examples": spec.factor_space.n_combinations,
        "sample_rate": spec.sr,
        "duration_s": spec.duration,
        "n_samples": spec.n_samples,
        "synth_constants": dict(spec.constants),
        "features": {"kind": "log-mel", "dtype": "float16", **logmel.settings},
        **spec.factor_space.to_metadata(),
    }


def default_path(preset: str = "default", seed: int = 0) -> Path:
    """Cache file of ``preset`` and ``seed``: ``data_dir()/toy_<preset>_seed<seed>_<hash>.npz``."""
    meta = dataset_metadata(preset, seed)
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:10]
    return data_dir() / f"toy_{preset}_seed{seed}_{digest}.npz"


def compute_features(
    preset: str = "default",
    seed: int = 0,
    indices: np.ndarray | None = None,
    batch_size: int = 256,
    progress: bool = True,
) -> np.ndarray:
    """Synthesise rows ``indices`` of the grid (default: all) and return their float16 log-mels."""
    spec = get_preset(preset)
    fs = spec.factor_space
    rows = np.arange(fs.n_combinations) if indices is None else np.asarray(indices, dtype=np.int64)
    logmel = LogMel(sr=spec.sr)
    out = np.empty((len(rows), logmel.n_mels, logmel.n_frames(spec.n_samples)), dtype=np.float16)
    bar = tqdm(total=len(rows), desc=f"toy dataset '{preset}'", unit="clip", disable=not progress)
    for start in range(0, len(rows), batch_size):
        ids = rows[start : start + batch_size]
        audio = spec.render(fs.classes_to_values(fs.index_to_classes(ids)), seed=seed, ids=ids)
        out[start : start + len(ids)] = logmel(audio)
        bar.update(len(ids))
    bar.close()
    return out


def _read_member(archive: zipfile.ZipFile, key: str) -> np.ndarray:
    """One array of an npz archive, never unpickled (an object array raises ``ValueError``)."""
    with archive.open(key + ".npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def build_toy_dataset(
    preset: str = "default",
    seed: int = 0,
    path: str | os.PathLike | None = None,
    force: bool = False,
    batch_size: int = 256,
    progress: bool = True,
) -> Path:
    """Generate the full grid of ``preset`` with features and save it; return the file's path.

    An existing file is kept unless ``force``. Default path: :func:`default_path` (under
    ``config.data_dir()``).
    """
    meta = dataset_metadata(preset, seed)
    target = default_path(preset, seed) if path is None else Path(path)
    if target.suffix != ".npz":
        raise ValueError(f"the dataset file must end in .npz, got {target}.")
    if target.exists() and not force:
        return target
    with exclusive_lock(target):  # two notebooks asking at once: one builds, one waits
        if target.exists() and not force:
            return target
        fs = get_preset(preset).factor_space
        classes = fs.all_classes()
        feats = compute_features(preset, seed, batch_size=batch_size, progress=progress)
        write_npz(
            target,
            {
                "features": feats,
                "latents_classes": classes,
                "latents_values": fs.classes_to_values(classes),
                "metadata": np.array(json.dumps(meta, sort_keys=True)),
            },
        )
    return target


class ToyDataset(Dataset):
    """A toy dataset in memory: ``ds[i] -> (features float32 [n_mels, frames], classes int64 [K])``.

    Attributes: ``features`` (float16 ``[N, n_mels, frames]``), ``latents_classes``,
    ``latents_values``, ``ids`` (each row's index in the full grid: it also seeds the row's noise),
    ``factor_space``, ``metadata`` (dict), ``preset`` (its name) and ``path``.
    """

    def __init__(
        self,
        features: np.ndarray,
        latents_classes: np.ndarray,
        latents_values: np.ndarray,
        metadata: dict[str, Any],
        ids: np.ndarray | None = None,
        path: Path | None = None,
    ) -> None:
        n = len(features)
        if len(latents_classes) != n or len(latents_values) != n:
            raise ValueError(
                "features, latents_classes and latents_values must have the same number of rows."
            )
        self.features = features
        self.latents_classes = np.asarray(latents_classes, dtype=np.int64)
        self.latents_values = np.asarray(latents_values, dtype=np.float64)
        self.metadata = metadata
        self.factor_space = FactorSpace.from_metadata(metadata)
        self.preset: str = metadata["preset"]
        self.ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        self.path = path

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> ToyDataset:
        """Load a file written by :func:`build_toy_dataset` (no pickles are read).

        A file that is not a toy dataset (garbage, a truncated copy, another npz) raises a
        ``ValueError`` that names it and says how to rebuild it.
        """
        path = Path(path)
        if not path.exists():
            raise ValueError(f"no toy dataset file at {path}; build it with build_toy_dataset().")
        rebuild = (
            "delete it (load_toy_dataset() builds a missing file again) or rebuild it with "
            "`python -m course_lib.datasets --preset <name> --seed <seed> --force`"
        )

        def invalid(reason: str) -> ValueError:
            return ValueError(f"{path} is not a valid toy dataset file ({reason}): {rebuild}.")

        try:
            archive = zipfile.ZipFile(path)  # an npz is a zip of .npy files
        except (zipfile.BadZipFile, OSError):
            raise invalid("not an npz archive") from None
        with archive:
            names = {n.removesuffix(".npy") for n in archive.namelist()}
            missing = [k for k in (*_ARRAYS, "metadata") if k not in names]
            if missing:
                raise invalid(f"it lacks {missing}")
            try:
                arrays = {k: _read_member(archive, k) for k in (*_ARRAYS, "metadata")}
                metadata = json.loads(arrays.pop("metadata").item())
            except (ValueError, OSError, EOFError, zipfile.BadZipFile):
                raise invalid("its arrays cannot be read") from None
        if metadata.get("format_version") != FORMAT_VERSION:
            version = metadata.get("format_version")
            raise invalid(f"format version {version}, this code reads {FORMAT_VERSION}")
        return cls(**arrays, metadata=metadata, path=path)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.from_numpy(self.features[index].astype(np.float32)),
            torch.from_numpy(self.latents_classes[index]),
        )

    def __repr__(self) -> str:
        shape = self.features.shape[1:]
        return f"ToyDataset(preset={self.preset!r}, n={len(self)}, features={shape}, {self.factor_space})"

    @property
    def sr(self) -> int:
        """Sample rate of the clips (Hz)."""
        return int(self.metadata["sample_rate"])

    def tensors(self, indices: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All (or ``indices``) rows at once: features float32 ``[n, n_mels, frames]``, classes ``[n, K]``.

        Faster than a DataLoader over ``ds[i]`` for small models (the whole set fits in memory).
        """
        rows = slice(None) if indices is None else np.asarray(indices)
        return (
            torch.from_numpy(np.asarray(self.features[rows], dtype=np.float32)),
            torch.from_numpy(self.latents_classes[rows]),
        )

    def subset(self, indices: np.ndarray) -> ToyDataset:
        """A new dataset with the rows ``indices`` (positions in this dataset); ids follow the rows."""
        rows = np.asarray(indices)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError("indices must be a 1-D array of integer positions or a boolean mask.")
        if len(rows) and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise ValueError(f"indices out of range for a dataset of {len(self)} rows.")
        return ToyDataset(
            self.features[rows],
            self.latents_classes[rows],
            self.latents_values[rows],
            self.metadata,
            ids=self.ids[rows],
            path=self.path,
        )

    def render_audio(self, indices: int | np.ndarray) -> np.ndarray:
        """Re-synthesise the clips of rows ``indices``: float32 ``[n, samples]`` (the audio of the build)."""
        rows = np.atleast_1d(np.asarray(indices))
        if not np.issubdtype(rows.dtype, np.integer):
            raise ValueError("indices must be integers (row positions in this dataset).")
        spec = get_preset(self.preset)
        return spec.render(self.latents_values[rows], seed=int(self.metadata["seed"]), ids=self.ids[rows])

    def logmel_settings(self) -> dict:
        """The arguments of the :class:`LogMel` that computed the features (for ``logmel_to_audio``)."""
        return {k: v for k, v in self.metadata["features"].items() if k not in ("kind", "dtype")}

    def logmel(self) -> LogMel:
        """The :class:`LogMel` that computed the features (e.g. to invert a decoder's output)."""
        return LogMel(**self.logmel_settings())


def load_toy_dataset(preset: str = "default", seed: int = 0, verbose: bool = True) -> ToyDataset:
    """Load the toy dataset of ``preset`` and ``seed``, building it first if it is not cached.

    Prints which file it uses.
    """
    path = default_path(preset, seed)
    if not path.exists():
        if verbose:
            print(f"Building the toy dataset '{preset}' (seed {seed}) into {path} ...")
        build_toy_dataset(preset, seed, progress=verbose)
    dataset = ToyDataset.from_file(path)
    if verbose:
        print(f"Toy dataset '{preset}' (seed {seed}): {len(dataset)} clips from {path}")
    return dataset


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.datasets --preset default --seed 0 [--force] [--path P]``."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.datasets", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="which factor grid")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (same seed, same bytes)")
    parser.add_argument("--path", default=None, help="output .npz (default: the cache under data_dir())")
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    parser.add_argument("--list", action="store_true", help="list the presets and their grids, then exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, spec in PRESETS.items():
            print(f"{name:>10}: {spec.factor_space}\n{'':>12}{spec.description}")
        return 0
    start = time.perf_counter()
    path = build_toy_dataset(args.preset, args.seed, path=args.path, force=args.force)
    size = path.stat().st_size / 2**20
    print(f"{path} ({size:.1f} MiB) ready in {time.perf_counter() - start:.1f} s (course_lib {__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
