"""Atomic file writes: a file is absent, its old version or complete, never half-written.

Every file the course writes (datasets, checkpoints, results tables, generated exercises) goes
through :func:`atomic_path`: the content is written to a temporary file in the same folder, which
is renamed over the target only once it is complete (a rename within one folder is atomic).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was. The parent
    folder is created on demand; the file is made world-readable (``mkstemp`` makes it private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def exclusive_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock named after ``path`` (``.<name>.lock`` beside it) for the block.

    Used where two processes may want to create the same file at once (two notebooks executed
    side by side asking for one dataset): the first builds it, the second waits, then finds it.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


NPZ_DATE = (1980, 1, 1, 0, 0, 0)
"""Timestamp of every member of an npz written by :func:`write_npz` (same arrays, same bytes)."""


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz``, atomically and byte-for-byte reproducibly.

    Unlike ``np.savez``, members carry a fixed timestamp, so the same arrays always give the same
    file (the datasets' "same seed, same bytes"); nothing is pickled.
    """
    import zipfile

    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=NPZ_DATE)
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.require(value, requirements="C"), allow_pickle=False)
    return Path(path)


def write_csv(table: Any, path: str | os.PathLike, float_format: str | None = None) -> Path:
    """Write a results table (a DataFrame, or a list of dicts) to ``path`` as CSV, atomically.

    Used by every experiment command (``python -m course_lib.experiments.<name>``) for the small
    results files under ``results/`` that the chapters plot.
    """
    import pandas as pd

    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(list(table))
    if frame.empty:
        raise ValueError(f"refusing to write an empty results table to {path}.")
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)
    return Path(path)
