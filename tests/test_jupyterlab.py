"""Open a students' exercise sheet in a real JupyterLab, in headless Chromium, and look at its MyST.

The exercise sheets begin with a MyST ``{note}`` banner. With jupyterlab-myst enabled, JupyterLab
renders it as a note admonition; JupyterLab's own Markdown renderer shows it as a code block instead.
The second case starts the same server with the extension disabled (a ``page_config.json`` in the
server's own config folder) and expects that code block, so the test is known to be able to fail.

The server runs in a temporary folder with its own runtime, config, settings and workspace folders, so
neither the user's JupyterLab state nor a running server is touched. Opening the notebook starts its
kernel; the server is asked to shut down (kernels included) before its process group is killed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course_lib.config import REPO_ROOT

NOTEBOOK = REPO_ROOT / "exercises" / "01_toy_dataset.ipynb"
BANNER = "Student version"
ADMONITION = ".jp-Notebook .jp-MarkdownCell aside[class*='admonition-note']"  # jupyterlab-myst's note
SERVER_TIMEOUT_S = 60
PAGE_TIMEOUT_MS = 60_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET") -> bytes:
    request = urllib.request.Request(
        f"{base}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


def _start_lab(root: Path, state: Path, port: int, token: str, myst: bool) -> subprocess.Popen:
    """Start ``jupyter lab`` on ``root``; every folder it writes to lies under ``state``."""
    config = state / "config"
    (config / "labconfig").mkdir(parents=True)
    if not myst:
        page_config = {"disabledExtensions": {"jupyterlab-myst": True}}
        (config / "labconfig" / "page_config.json").write_text(json.dumps(page_config))
    env = os.environ.copy()
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
    )
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}"]
    command += ["--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}"]
    command += ["--ServerApp.open_browser=False", f"--ServerApp.runtime_dir={state / 'runtime'}"]
    command += ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(state / "server.log", "w")  # closed by _stop
    return subprocess.Popen(
        command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_until_up(server: subprocess.Popen, base: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            _api(base, token, "/api/status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer in {SERVER_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def _stop(server: subprocess.Popen, base: str, token: str) -> None:
    """Ask the server to shut down (its kernels run in their own sessions), then kill its group."""
    if server.poll() is None:
        try:
            _api(base, token, "/api/shutdown", method="POST")
            server.wait(timeout=15)
        except (urllib.error.URLError, ConnectionError, TimeoutError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait()
    if server.stdout is not None:
        server.stdout.close()


@pytest.mark.slow
@pytest.mark.parametrize("myst", [True, False], ids=["jupyterlab-myst", "myst-disabled"])
def test_jupyterlab_renders_the_exercise_banner_as_an_admonition(browser, tmp_path, myst):
    root, state = tmp_path / "root", tmp_path / "state"
    root.mkdir()
    state.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    screenshot = tmp_path / f"{NOTEBOOK.stem}.png"

    server = _start_lab(root, state, port, token, myst)
    try:
        _wait_until_up(server, base, token, state / "server.log")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            console: list[str] = []
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            banner = page.locator(".jp-Notebook .jp-MarkdownCell").filter(has_text=BANNER).first
            try:
                banner.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
                if myst:
                    page.locator(ADMONITION).filter(has_text=BANNER).first.wait_for(
                        state="visible", timeout=10_000
                    )
            except Exception as error:  # report what the page showed instead of a bare timeout
                page.screenshot(path=str(screenshot))
                shown = page.locator(".jp-Notebook .jp-MarkdownCell").all_inner_texts()[:3]
                pytest.fail(
                    f"{type(error).__name__}: {str(error).splitlines()[0]}\n"
                    f"first markdown cells: {shown}\nscreenshot: {screenshot}\n"
                    f"browser console:\n" + "\n".join(console[-30:])
                )
            page.screenshot(path=str(screenshot))
            cells = page.locator(".jp-Notebook .jp-MarkdownCell").all_inner_texts()[:3]
            admonitions = page.locator(ADMONITION).filter(has_text=BANNER).count()
            code_blocks = page.locator(".jp-Notebook .jp-MarkdownCell pre").filter(has_text=BANNER)
            if myst:
                assert admonitions == 1, f"banner not rendered as one admonition: {cells}"
                assert not any("```" in text or "{note}" in text for text in cells), (
                    f"MyST source shown literally in the first markdown cells: {cells}"
                )
                assert code_blocks.count() == 0, f"banner rendered as a code block: {cells}"
            else:
                assert admonitions == 0, "an admonition was rendered with jupyterlab-myst disabled"
                assert code_blocks.count() == 1, f"plain Markdown should show a code block: {cells}"
        finally:
            page.close()
    finally:
        _stop(server, base, token)


# --------------------------------------------------------------------------------------------
# Every lesson reads in JupyterLab as in the book: no MyST error box, every computed number shown
# --------------------------------------------------------------------------------------------

MYST_ERRORS = ("Unknown Directive", "Unknown Role", "{eval}", "{glue", "glue:")
"""Text that shows a lesson's MyST did not render: an error box, or a role left as source."""


def _lessons() -> list[Path]:
    from course_lib import execute

    return execute.toc_notebooks()


@pytest.fixture(scope="module")
def lesson_lab(tmp_path_factory):
    """One JupyterLab (jupyterlab-myst on) serving a copy of every lesson, every cell rendered."""
    root, state = tmp_path_factory.mktemp("lessons"), tmp_path_factory.mktemp("lab-state")
    for lesson in _lessons():
        target = root / lesson.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(lesson, target)
    # JupyterLab 4 renders only the cells in view; ask it to render them all
    tracker = state / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    server = _start_lab(root, state, port, token, myst=True)
    try:
        _wait_until_up(server, base, token, state / "server.log")
        yield base, token
    finally:
        _stop(server, base, token)


def _expected_texts(cell) -> list[str]:
    from course_lib import prose

    stored = {item["expression"]: item["result"] for item in cell.metadata.get("user_expressions", [])}
    missing = [e for e in prose.expressions(cell.source) if stored.get(e, {}).get("status") != "ok"]
    assert not missing, f"cell {cell.get('id')}: no stored value for {missing}; execute the lesson"
    return [prose.as_text(stored[e]) for e in prose.expressions(cell.source)]


@pytest.mark.slow
@pytest.mark.parametrize("lesson", _lessons(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_lesson_reads_in_jupyterlab_as_in_the_book(browser, lesson_lab, lesson, tmp_path):
    """Every markdown cell renders without a MyST error and shows its computed numbers."""
    import nbformat

    base, token = lesson_lab
    nb = nbformat.read(lesson, as_version=4)
    name = lesson.relative_to(REPO_ROOT).as_posix()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        # a workspace of its own, reset: JupyterLab would otherwise restore the lessons opened before
        workspace = "lesson-" + lesson.stem.replace("_", "-")
        page.goto(f"{base}/lab/workspaces/{workspace}/tree/{name}?reset&token={token}")
        panels = page.locator(".jp-NotebookPanel")
        panels.first.wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
        while cells.count() < len(nb.cells) and time.monotonic() < deadline:
            time.sleep(0.5)
        page.wait_for_timeout(2000)  # let the MyST renderer finish the last cells
        assert panels.count() == 1, f"{name}: {panels.count()} notebooks open, expected this lesson alone"
        assert cells.count() == len(nb.cells), f"{name}: {cells.count()} of {len(nb.cells)} cells shown"
        problems = []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown":
                continue
            rendered = cells.nth(index)
            rendered.scroll_into_view_if_needed()
            shown, waited = rendered.inner_text(), 0.0
            while not shown.strip() and waited < 20:  # a long page renders its cells as they come into view
                time.sleep(0.25)
                waited += 0.25
                shown = rendered.inner_text()
            errors = [e for e in MYST_ERRORS if e in shown]
            absent = [t for t in _expected_texts(cell) if t not in shown]
            if errors or absent:
                problems.append(
                    f"cell {index} ({cell.get('id')}): {errors or ''} {absent or ''} in {shown[:160]!r}"
                )
        if problems:
            page.screenshot(path=str(tmp_path / "lesson.png"), full_page=True)
        assert not problems, f"{name}: " + "\n".join(problems[:12])
    finally:
        page.close()
