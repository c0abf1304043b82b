"""Seeds, paths and the one fast/full switch of the course.

Taught in book/tour.ipynb; every chapter starts with ``config.seed_everything``.

The fast/full switch
--------------------
Set the environment variable ``COURSE_FAST=1`` to shrink datasets and epochs so that a notebook
runs in well under a minute (the test suite does this). Leave it unset (or ``0``) for the full
settings that the published book uses. Notebooks never read the variable themselves: they call
:func:`pick` (``epochs = config.pick(fast=2, full=30)``).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
"""The checkout's root folder (the one holding ``_config.yml``)."""

RESULTS_DIR: Path = REPO_ROOT / "results"
"""Small, committed result files (CSV/JSON) written by the long experiment commands."""

_FAST_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}


def is_fast() -> bool:
    """True when ``COURSE_FAST`` asks for the fast (test) settings.

    Raises ``ValueError`` for a value that is neither on (1/true/yes) nor off (0/false/no/empty).
    """
    raw = os.environ.get("COURSE_FAST", "0").strip().lower()
    if raw not in _FAST_VALUES:
        raise ValueError(
            f"COURSE_FAST={raw!r} is not understood: use 1/true/yes for fast, 0/false/no for full."
        )
    return _FAST_VALUES[raw]


def pick(fast: T, full: T) -> T:
    """Return ``fast`` in fast mode and ``full`` otherwise (the one place the switch is read)."""
    return fast if is_fast() else full


def data_dir() -> Path:
    """Folder for generated datasets and checkpoints (never committed).

    ``COURSE_DATA_DIR`` overrides the default ``<repo>/data``; the folder is created on demand.
    """
    path = Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (when installed) and return a NumPy ``Generator``.

    The one seeding helper of the course: the same seed gives the same dataset bytes and the
    same checked numbers. Use the returned generator for any NumPy randomness of your own.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (libraries that still draw from the global state)
    try:
        import torch
    except ImportError:  # torch is optional for the dataset-only parts
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)
