"""Shared pytest set-up (repository root, so it also sees nbval's notebook items).

Gives the session a data folder of its own (no test writes into the real ``data/``), marks the
slow tests for the quick loop (``make check`` runs ``pytest -m "not slow"``) and reports how long
each notebook took: nbval runs one test item per cell, and we add them up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

# torch's and scikit-learn's OpenMP threads spin while they wait for work; in one process on two
# cores each starves the other (the DCI tests ran 4 to 50 times slower after any torch test).
# Set before torch or scikit-learn is imported (the test modules import them), kernels included.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_notebook_seconds: dict[str, float] = defaultdict(float)

_session_data = pytest.StashKey[tuple[Path, str | None]]()


def pytest_configure(config: pytest.Config) -> None:
    """Point ``COURSE_DATA_DIR`` at a temporary folder for the session (notebook kernels included).

    The real data folder's dataset caches (``*.npz``) and ``mnist/`` are linked into it, so nothing
    is built twice; whatever a test writes (checkpoints, runs, new datasets) lands in the temporary
    folder, removed at the end. A test may still point ``COURSE_DATA_DIR`` elsewhere.
    """
    from course_lib.config import data_dir

    real, session = data_dir(), Path(tempfile.mkdtemp(prefix="course-tests-data-"))
    for entry in [*real.glob("*.npz"), real / "mnist"]:
        if entry.exists():
            (session / entry.name).symlink_to(entry.resolve())
    config.stash[_session_data] = (session, os.environ.get("COURSE_DATA_DIR"))
    os.environ["COURSE_DATA_DIR"] = str(session)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's data folder and restore ``COURSE_DATA_DIR``."""
    if _session_data not in config.stash:
        return
    session, before = config.stash[_session_data]
    shutil.rmtree(session, ignore_errors=True)
    if before is None:
        os.environ.pop("COURSE_DATA_DIR", None)
    else:
        os.environ["COURSE_DATA_DIR"] = before


SLOW_FIXTURES = frozenset({"built_book", "served_book", "browser", "lesson_lab"})
"""Fixtures that build the book, start Chromium or start JupyterLab: their tests are slow."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every notebook cell (nbval) and every test of the built book or of a browser."""
    for item in items:
        notebook = item.nodeid.split("::", 1)[0].endswith(".ipynb")
        if notebook or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up the run time of every cell of each notebook."""
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    """Print one line per executed notebook with its total time."""
    if not _notebook_seconds:
        return
    terminalreporter.section("notebook execution times")
    for path, seconds in sorted(_notebook_seconds.items()):
        terminalreporter.write_line(f"{path:50s} {seconds:7.1f} s")
    terminalreporter.write_line(f"{'total':50s} {sum(_notebook_seconds.values()):7.1f} s")
