"""The notebook runner behind `make book` (course_lib.execute): sliced waits, watchdog, cache, staging.

The stress tests execute real kernels: a notebook that floods IOPub with widget messages (what
made the Sphinx-driven build stall: the execute reply sat queued until the cell timeout) and the
tour, several rounds, two runners at once. With nbclient's single long wait, nearly every round of
the flood notebook loses one cell timeout; with the sliced waits none does.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Empty

import nbformat
import pytest
import yaml
import zmq

from course_lib import execute
from course_lib.config import REPO_ROOT

# --------------------------------------------------------------------------------------------
# Sliced waits and the watchdog, on fakes (no kernel)
# --------------------------------------------------------------------------------------------


class _MissedWakeupSocket:
    """A socket whose event-loop poll never wakes up, although a message is ready (the bug)."""

    def __init__(self, ready: bool) -> None:
        self.ready = ready
        self.polls = 0

    def poll(self, timeout_ms: int):
        self.polls += 1

        async def wait() -> int:
            await asyncio.sleep(timeout_ms / 1000)
            return 0  # the wake-up was missed

        return asyncio.ensure_future(wait())

    def getsockopt(self, option: int) -> int:
        assert option == zmq.EVENTS
        return zmq.POLLIN if self.ready else 0


class _FakeChannel:
    def __init__(self, ready: bool) -> None:
        self.socket = _MissedWakeupSocket(ready)

    async def _recv(self) -> dict:
        return {"msg_type": "execute_reply"}


def _run(coroutine):
    """Run a coroutine to completion in a thread of its own.

    Other tests of the session (the browser tests) keep an event loop running in the main thread,
    where ``asyncio.run`` refuses to start another.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _watchdog(stall_seconds: float = 60.0, cpu=lambda: None) -> execute.Watchdog:
    return execute.Watchdog(stall_seconds, cpu)


def test_a_missed_wakeup_costs_one_slice_not_the_timeout(monkeypatch):
    monkeypatch.setattr(execute, "POLL_SLICE_S", 0.2)
    channel = _FakeChannel(ready=True)
    get_msg = execute.sliced_get_msg(channel, _watchdog(), end_on_stall=True)
    start = time.monotonic()
    message = _run(get_msg(timeout=1200))
    assert message == {"msg_type": "execute_reply"}
    assert time.monotonic() - start < 1.0
    assert channel.socket.polls == 1


def test_a_timeout_still_raises_empty(monkeypatch):
    monkeypatch.setattr(execute, "POLL_SLICE_S", 0.1)
    channel = _FakeChannel(ready=False)
    get_msg = execute.sliced_get_msg(channel, _watchdog(), end_on_stall=False)
    start = time.monotonic()
    with pytest.raises(Empty):
        _run(get_msg(timeout=0.35))
    assert 0.3 <= time.monotonic() - start < 1.0
    assert channel.socket.polls >= 3  # waited in slices


def test_watchdog_flags_a_silent_idle_kernel_only():
    idle = _watchdog(stall_seconds=0.1, cpu=lambda: 5.0)
    assert not idle.check()
    time.sleep(0.15)
    assert idle.check() and "no CPU" in idle.stall

    clock = iter(range(100))
    busy = _watchdog(stall_seconds=0.1, cpu=lambda: float(next(clock)))
    time.sleep(0.15)
    assert not busy.check(), "CPU time grew: it is computing, not stalled"

    talking = _watchdog(stall_seconds=0.1, cpu=lambda: 5.0)
    time.sleep(0.15)
    talking.saw_message()
    assert not talking.check()


def test_a_stall_ends_the_wait_on_the_shell_channel(monkeypatch):
    monkeypatch.setattr(execute, "POLL_SLICE_S", 0.05)
    channel = _FakeChannel(ready=False)
    watchdog = _watchdog(stall_seconds=0.2, cpu=lambda: 1.0)
    get_msg = execute.sliced_get_msg(channel, watchdog, end_on_stall=True)
    start = time.monotonic()
    with pytest.raises(Empty):
        _run(get_msg(timeout=10))
    assert time.monotonic() - start < 1.0 and watchdog.stall


# --------------------------------------------------------------------------------------------
# The cache key
# --------------------------------------------------------------------------------------------


def _write_notebook(path: Path, sources: list[str], tags: list[list[str]] | None = None) -> Path:
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    for cell, cell_tags in zip(cells, tags or [], strict=False):
        cell.metadata["tags"] = cell_tags
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_key_follows_cells_mode_and_environment_not_outputs(tmp_path):
    path = _write_notebook(tmp_path / "a.ipynb", ["x = 1", "print(x)"])
    key = execute.notebook_key(path, fast=True, environment="env")
    assert execute.notebook_key(path, fast=True, environment="env") == key
    assert execute.notebook_key(path, fast=False, environment="env") != key
    assert execute.notebook_key(path, fast=True, environment="other") != key

    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[1].execution_count = 7
    nbformat.write(nb, path)
    assert execute.notebook_key(path, fast=True, environment="env") == key, "outputs must not matter"

    nb.cells[1].metadata["tags"] = ["raises-exception"]
    nbformat.write(nb, path)
    assert execute.notebook_key(path, fast=True, environment="env") != key, "tags change execution"

    _write_notebook(path, ["x = 2", "print(x)"])
    assert execute.notebook_key(path, fast=True, environment="env") != key


def test_environment_digest_follows_library_pins_and_results(tmp_path):
    (tmp_path / "course_lib").mkdir()
    (tmp_path / "course_lib" / "a.py").write_text("A = 1\n")
    (tmp_path / "pyproject.toml").write_text('dependencies = ["torch==2.13.0"]\n')
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.csv").write_text("a\n1\n")
    digests = {execute.environment_digest(tmp_path)}
    for path, text in [
        ("course_lib/a.py", "A = 2\n"),
        ("course_lib/new.py", "B = 1\n"),
        ("pyproject.toml", 'dependencies = ["torch==2.14.1"]\n'),
        ("results/r.csv", "a\n2\n"),
    ]:
        (tmp_path / path).write_text(text)
        digests.add(execute.environment_digest(tmp_path))
    assert len(digests) == 5, "every change must change the digest"


def test_toc_notebooks_are_the_course_notebooks_in_reading_order():
    names = [p.relative_to(REPO_ROOT).as_posix() for p in execute.toc_notebooks()]
    assert names[0] == "book/tour.ipynb"
    assert names[1:] == sorted(
        p.relative_to(REPO_ROOT).as_posix() for p in REPO_ROOT.glob("chapters/*.ipynb")
    )


# --------------------------------------------------------------------------------------------
# Staging the book
# --------------------------------------------------------------------------------------------


def test_stage_book_turns_execution_off_and_makes_paths_absolute(tmp_path):
    store = execute.stage_book(tmp_path / "store", as_stored=True)
    config = yaml.safe_load((store / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert all(Path(p).is_absolute() for p in config["bibtex_bibfiles"])
    assert all(Path(p).is_absolute() for p in config["sphinx"]["config"]["html_extra_path"])
    for doc in execute.toc_documents():
        assert list(store.glob(f"{doc}.*")), f"{doc} was not staged"


def test_stage_book_refuses_a_notebook_that_was_never_executed(tmp_path):
    with pytest.raises(FileNotFoundError, match="execute it first"):
        execute.stage_book(tmp_path / "empty")


def test_stage_book_never_writes_into_the_repository(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "_config.yml").write_text("title: mine\n")
    with pytest.raises(ValueError, match="folder of its own"):
        execute.stage_book(root, root=root)
    assert (root / "_config.yml").read_text() == "title: mine\n"


def test_timing_table_lists_every_notebook(tmp_path):
    outcomes = [execute.Outcome("book/tour.ipynb", "executed", 3.25), execute.Outcome("x.ipynb", "cached", 0)]
    table = execute.timing_table(outcomes, tmp_path)
    assert "| book/tour.ipynb | 3.2 |" in table or "| book/tour.ipynb | 3.3 |" in table
    assert "x.ipynb" in table


def test_command_line_rejects_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        execute.main(["--jobs", "0"])
    assert "--jobs must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        execute.main([str(tmp_path / "missing.ipynb")])
    assert "is not a notebook file" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Real kernels
# --------------------------------------------------------------------------------------------

FLOOD_CELL = (
    "sliders = [w.FloatSlider(description=str(i)) for i in range(60)]\n"
    "out = w.Output()\n"
    "display(w.VBox(sliders + [out]))\n"
    "for i in range(40):\n"
    "    with out:\n"
    "        print(i)\n"
    "    sliders[i].value = i / 100"
)


def _flood_notebook(path: Path) -> Path:
    sources = ["import ipywidgets as w\nfrom IPython.display import display"]
    for _ in range(5):
        sources += [FLOOD_CELL, "x = 1"]
    return _write_notebook(path, sources)


@pytest.mark.slow
def test_cache_reuses_until_the_notebook_changes(tmp_path):
    notebook = _write_notebook(tmp_path / "nb" / "small.ipynb", ["print(6 * 7)"])
    store = tmp_path / "store"
    lines: list[str] = []

    def run() -> execute.Outcome:
        return _run(execute.execute_all([notebook], store, fast=True, root=tmp_path, log=lines.append))[0]

    first = run()
    assert first.status == "executed"
    stored = nbformat.read(store / "nb" / "small.ipynb", as_version=4)
    assert stored.cells[0].outputs[0]["text"] == "42\n"
    assert run().status == "cached"
    _write_notebook(notebook, ["print(6 * 9)"])
    assert run().status == "executed"


@pytest.mark.slow
def test_a_stalled_kernel_is_retried_once_then_named(tmp_path):
    """A cell that neither talks nor computes (a sleep stands in for a lost kernel) is caught."""
    notebook = _write_notebook(tmp_path / "stall.ipynb", ["x = 1", "import time\ntime.sleep(60)"])
    lines: list[str] = []
    start = time.monotonic()
    outcome = _run(
        execute.execute_all(
            [notebook], tmp_path / "store", fast=True, stall_seconds=3, root=tmp_path, log=lines.append
        )
    )[0]
    assert time.monotonic() - start < 45
    assert outcome.status == "failed"
    assert "stall.ipynb" in outcome.error and "cell 1 ('import time')" in outcome.error
    assert "twice" in outcome.error
    assert any("executing it again" in line for line in lines), lines


@pytest.mark.slow
def test_a_cell_error_names_the_notebook_and_cell(tmp_path):
    notebook = _write_notebook(tmp_path / "bad.ipynb", ["x = 1", "1 / 0"])
    outcome = _run(execute.execute_all([notebook], tmp_path / "store", fast=True, root=tmp_path, log=print))[
        0
    ]
    assert outcome.status == "failed"
    assert "cell 1 ('1 / 0')" in outcome.error and "ZeroDivisionError" in outcome.error


@pytest.mark.slow
def test_no_stall_under_widget_floods_two_runners_at_once(tmp_path):
    """Stress: two runners at once, each executing tour + two flood notebooks twice (--force).

    Each flood notebook runs in about 5 s; with a single long wait per reply, a missed wake-up
    would hold a cell for the whole cell timeout (30 s here), which the time limit below catches.
    """
    flood_a = _flood_notebook(tmp_path / "a" / "flood_a.ipynb")
    flood_b = _flood_notebook(tmp_path / "a" / "flood_b.ipynb")
    tour = tmp_path / "a" / "tour.ipynb"
    shutil.copyfile(REPO_ROOT / "book" / "tour.ipynb", tour)
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from course_lib import execute\n"
        "execute.CELL_TIMEOUT_S = 30\n"
        "store = Path(sys.argv[1])\n"
        "nbs = [Path(p) for p in sys.argv[2:]]\n"
        "for round_ in range(2):\n"
        "    run = execute.execute_all(nbs, store, fast=True, jobs=2, force=True, root=store.parent)\n"
        "    outcomes = asyncio.run(run)\n"
        "    print(execute.report(outcomes, 0.0), flush=True)\n"
        "    for o in outcomes:\n"
        "        assert o.status == 'executed' and o.attempts == 1, o\n"
        "        assert o.seconds < 25, f'{o.notebook}: {o.seconds:.1f} s, a reply waited for the timeout'\n"
    )
    env = dict(os.environ, COURSE_FAST="1")
    runners = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                script,
                str(tmp_path / f"store{i}"),
                str(tour),
                str(flood_a),
                str(flood_b),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    for runner in runners:
        output, _ = runner.communicate(timeout=300)
        assert runner.returncode == 0, output[-4000:]


@pytest.mark.slow
def test_numba_caches_are_filled_before_kernels_run_side_by_side(tmp_path):
    """pYIN's numba functions are compiled, alone, into librosa's cache before parallel kernels start.

    (Two kernels compiling them at the same moment left that cache corrupt, and every later pYIN call
    crashed the kernel.)
    """
    import librosa

    cache = Path(librosa.__file__).parent / "util" / "__pycache__"
    moved = tmp_path / "moved"
    moved.mkdir()
    for index in cache.glob("*localmin*.nb[ic]"):
        shutil.move(str(index), moved / index.name)
    try:
        execute.warm_numba_caches()
        assert list(cache.glob("guf-utils._localmin-*.nbi")), "pYIN's local-minimum gufunc was not cached"
    finally:
        for index in moved.iterdir():
            if not (cache / index.name).exists():
                shutil.move(str(index), cache / index.name)
