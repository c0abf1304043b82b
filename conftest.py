"""Shared pytest set-up (repository root, so it also sees nbval's notebook items).

Marks the slow tests for the quick loop (``make check`` runs ``pytest -m "not slow"``) and reports
how long each notebook took: nbval runs one test item per cell, and we add them up.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

_notebook_seconds: dict[str, float] = defaultdict(float)

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
