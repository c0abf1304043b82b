"""Execute the book's notebooks outside Sphinx: stall-proof, cached by content, two at a time.

``make book`` runs ``python -m course_lib.execute`` and then builds the HTML with Jupyter Book
from the executed copies it stores (``execute_notebooks: off``), so no kernel ever runs inside
Sphinx. Three things make the build reliable and quick:

* **No lost replies.** nbclient waits for a cell's reply with one long ZeroMQ poll on the asyncio
  event loop; after a cell that floods the kernel's IOPub channel (dozens of widget messages),
  that poll can miss its wake-up, and the reply then sits queued until the cell timeout fires
  (pyzmq's own last ``poll(0)`` finds it: the wait ends silently, 20 minutes late). Here every
  channel waits in one-second slices, so a missed wake-up costs at most a second.
* **A watchdog.** A kernel that sends nothing and uses no CPU for ``stall_seconds`` is declared
  stalled; its notebook is executed once more from a fresh kernel, and a second stall fails with
  the notebook and cell named.
* **A cache that cannot lie.** A notebook is executed again only when its key changes: a hash of
  its cells, every file of ``course_lib``, ``pyproject.toml`` (the pins), the committed results
  files and published checkpoints, and the fast/full mode. Otherwise the stored executed copy is reused.

The executed copies, with a ``_config.yml`` and ``_toc.yml`` for Jupyter Book, live in
``_build/executed`` (see :func:`stage_book`). Taught nowhere: this is the course's build tooling.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
import yaml
import zmq
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from course_lib import prose
from course_lib.config import REPO_ROOT
from course_lib.files import atomic_path

POLL_SLICE_S = 1.0
"""Longest single wait on a kernel channel; a missed event-loop wake-up costs at most this."""

STALL_SECONDS = 60.0
"""A kernel silent (no message) and idle (no CPU) for this long is declared stalled."""

CELL_TIMEOUT_S = 1800
"""Backstop for a cell that keeps computing (the watchdog catches a stalled kernel much sooner)."""

KEY_VERSION = "1"
"""Bump to invalidate every stored executed notebook (e.g. when this module's output changes)."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")

DEFAULT_STORE = REPO_ROOT / "_build" / "executed"


class NotebookFailed(RuntimeError):
    """A notebook could not be executed: a cell raised, or its kernel stalled twice."""


# --------------------------------------------------------------------------------------------
# The stall-proof client
# --------------------------------------------------------------------------------------------


class Watchdog:
    """Remember when a kernel last showed life: a message received, or CPU time consumed."""

    def __init__(self, stall_seconds: float, cpu_seconds: Callable[[], float | None]) -> None:
        self.stall_seconds = stall_seconds
        self._cpu_seconds = cpu_seconds
        self._last_cpu = cpu_seconds()
        self._last_life = time.monotonic()
        self.stall = ""
        """Why the kernel was declared stalled (empty while it is alive)."""
        self.late_wakeups = 0
        """Replies found only by the poll's final check at the end of a slice (missed wake-ups)."""

    def saw_message(self) -> None:
        self._last_life = time.monotonic()

    def check(self) -> bool:
        """True (and ``stall`` says why) once the kernel has been silent and idle for too long."""
        cpu = self._cpu_seconds()
        if cpu is not None and (self._last_cpu is None or cpu > self._last_cpu + 0.01):
            self._last_cpu = cpu
            self._last_life = time.monotonic()
        silent = time.monotonic() - self._last_life
        if silent > self.stall_seconds:
            self.stall = f"the kernel sent nothing and used no CPU for {silent:.0f} s"
        return bool(self.stall)


def sliced_get_msg(channel: Any, watchdog: Watchdog, end_on_stall: bool) -> Callable[..., Any]:
    """Return a replacement for ``channel.get_msg`` that waits in slices of ``POLL_SLICE_S``.

    Each slice ends with a synchronous look at the socket (``zmq.EVENTS``), so a message whose
    event-loop wake-up was missed is picked up within one slice instead of at the timeout.
    ``end_on_stall`` is set on the shell channel only: a stalled kernel ends the wait for the
    reply as a timeout would (nbclient then cleans up and raises its ``CellTimeoutError``).
    """
    socket = channel.socket

    async def get_msg(timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = (
                POLL_SLICE_S if deadline is None else max(0.0, min(POLL_SLICE_S, deadline - time.monotonic()))
            )
            started = time.monotonic()
            ready = await socket.poll(int(wait * 1000))
            if ready and wait > 0 and time.monotonic() - started >= wait - 0.02:
                watchdog.late_wakeups += 1
            if not ready:
                ready = socket.getsockopt(zmq.EVENTS) & zmq.POLLIN
            if ready:
                watchdog.saw_message()
                return await channel._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty
            if end_on_stall and watchdog.check():
                raise Empty

    return get_msg


def _kernel_cpu_seconds(client: NotebookClient) -> Callable[[], float | None]:
    """CPU seconds used so far by the kernel process and its children (None if unknown)."""
    import psutil

    def cpu_seconds() -> float | None:
        pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        if pid is None:
            return None
        try:
            process = psutil.Process(pid)
            total = sum(process.cpu_times()[:2])
            for child in process.children(recursive=True):
                total += sum(child.cpu_times()[:2])
        except psutil.Error:
            return None
        return total

    return cpu_seconds


class StallProofClient(NotebookClient):
    """An nbclient ``NotebookClient`` whose channel waits are sliced and watched (see module doc)."""

    def __init__(self, nb: nbformat.NotebookNode, stall_seconds: float = STALL_SECONDS, **kwargs: Any):
        super().__init__(nb, **kwargs)
        self.stall_seconds = stall_seconds
        self.watchdog: Watchdog | None = None
        self.current_cell = -1

    async def async_start_new_kernel_client(self):  # noqa: D102 (nbclient's hook)
        kc = await super().async_start_new_kernel_client()
        self.watchdog = Watchdog(self.stall_seconds, _kernel_cpu_seconds(self))
        kc.shell_channel.get_msg = sliced_get_msg(kc.shell_channel, self.watchdog, end_on_stall=True)
        kc.iopub_channel.get_msg = sliced_get_msg(kc.iopub_channel, self.watchdog, end_on_stall=False)
        return kc

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self.current_cell = cell_index
        if self.watchdog is not None:
            self.watchdog.saw_message()  # a new cell starts the silence clock afresh
        if cell.cell_type == "markdown" and prose.expressions(cell.source):
            await self.evaluate_inline_expressions(cell, cell_index)
            return cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    async def evaluate_inline_expressions(self, cell: nbformat.NotebookNode, cell_index: int) -> None:
        """Evaluate a markdown cell's ``{eval}`` roles now, in reading order, and store the values.

        Raises :class:`CellExecutionError` naming the expressions that did not evaluate.
        """
        wanted = prose.expressions(cell.source)
        msg_id = self.kc.execute(
            "", silent=True, store_history=False, user_expressions={f"e{i}": e for i, e in enumerate(wanted)}
        )
        reply = await self.async_wait_for_reply(msg_id, cell)
        results = (reply or {}).get("content", {}).get("user_expressions", {})
        missing = {"status": "missing"}
        prose.store_results(cell, {e: results.get(f"e{i}", missing) for i, e in enumerate(wanted)})
        problems = prose.failed(cell)
        if problems:
            raise CellExecutionError(
                f"inline expressions of markdown cell {cell_index} did not evaluate: {'; '.join(problems)}",
                "InlineExpressionError",
                "; ".join(problems),
            )


# --------------------------------------------------------------------------------------------
# What to execute, and the cache key
# --------------------------------------------------------------------------------------------


def toc_documents(root: Path = REPO_ROOT) -> list[str]:
    """Every document of ``_toc.yml`` (paths without suffix, root first, sections after their page)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))

    def walk(entries: list[dict]) -> list[str]:
        documents = []
        for entry in entries:
            documents.append(entry["file"])
            documents += walk(entry.get("sections", []))
        return documents

    return [toc["root"], *walk([c for part in toc.get("parts", []) for c in part.get("chapters", [])])]


RENDERED_AS_STORED = ("exercises/",)
"""Documents shown as they are stored, never executed: the exercise sheets (their stubs raise)."""


def toc_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """The notebooks of the table of contents that the book executes, in reading order."""
    return [
        root / f"{doc}.ipynb"
        for doc in toc_documents(root)
        if (root / f"{doc}.ipynb").exists() and not doc.startswith(RENDERED_AS_STORED)
    ]


def _files_under(folder: Path, suffixes: tuple[str, ...]) -> Iterable[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in suffixes)


def environment_digest(root: Path = REPO_ROOT) -> str:
    """Hash of everything outside a notebook that can change its outputs.

    ``course_lib`` (all Python files), ``pyproject.toml`` (the exact pins), the committed results
    files the chapters plot and the published checkpoints they load.
    """
    digest = hashlib.sha256()
    sources = [*_files_under(root / "course_lib", (".py",)), root / "pyproject.toml"]
    sources += _files_under(root / "results", (".csv", ".json", ".pt"))
    for path in (p for p in sources if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def notebook_key(path: Path, fast: bool, environment: str) -> str:
    """The cache key of one notebook: its cells (not its outputs), the environment and the mode."""
    nb = nbformat.read(path, as_version=4)
    cells = [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]
    payload = json.dumps(
        {"cells": cells, "environment": environment, "fast": fast, "version": KEY_VERSION},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _stored_key(stored: Path) -> tuple[str | None, float | None]:
    if not stored.exists():
        return None, None
    try:
        meta = nbformat.read(stored, as_version=4).metadata.get("course_execution", {})
    except Exception:  # an unreadable copy is simply executed again
        return None, None
    return meta.get("key"), meta.get("seconds")


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to one notebook."""

    notebook: str
    status: str  # "executed", "cached" or "failed"
    seconds: float
    attempts: int = 0
    late_wakeups: int = 0
    error: str = ""


def kernel_environment(fast: bool, threads: int) -> dict[str, str]:
    """The kernel's environment: the fast/full switch and a thread cap per kernel."""
    env = dict(os.environ)
    env["COURSE_FAST"] = "1" if fast else "0"
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return env


WARM_NUMBA = (
    "import numpy as np\n"
    "from course_lib import descriptors\n"
    "from course_lib.presets import get_preset\n"
    "preset = get_preset('default')\n"
    "clip = preset.render_classes(np.zeros((1, len(preset.factor_space.sizes)), dtype=int))\n"
    "descriptors.measure(clip, preset.sr)\n"
    "descriptors.measure(clip.astype(np.float64), preset.sr)\n"
)
"""Compiles, once and alone, the numba functions the notebooks share: the synthesizer's and pYIN's."""


def warm_numba_caches(timeout: float = 600.0) -> None:
    """Fill the numba caches before kernels run side by side (in a process of its own, one at a time).

    Two kernels that first compiled librosa's pYIN into its shared cache at the same moment left the
    cache corrupt here, and every later pYIN call crashed the kernel. Once the functions are compiled,
    kernels only read the cache. Taught nowhere: the course's build tooling.
    """
    subprocess.run([sys.executable, "-c", WARM_NUMBA], cwd=REPO_ROOT, check=True, timeout=timeout)


def _cell_label(nb: nbformat.NotebookNode, index: int) -> str:
    if not 0 <= index < len(nb.cells):
        return "before the first cell"
    first_line = nb.cells[index].source.strip().splitlines()[:1]
    return f"cell {index} ({first_line[0][:70]!r})" if first_line else f"cell {index}"


async def execute_notebook(
    path: Path,
    *,
    fast: bool,
    threads: int = 1,
    stall_seconds: float = STALL_SECONDS,
    cell_timeout: int | None = None,
    attempts: int = 2,
    log: Callable[[str], None] = print,
) -> tuple[nbformat.NotebookNode, int, int]:
    """Execute ``path`` in a fresh kernel; retry once from scratch if the kernel stalls.

    Returns ``(executed notebook, attempts used, late wake-ups seen)``. Raises
    :class:`NotebookFailed` naming the notebook and the cell on an error or a second stall.
    """
    name = _display_name(path)
    cell_timeout = cell_timeout or CELL_TIMEOUT_S
    for attempt in range(1, attempts + 1):
        nb = nbformat.read(path, as_version=4)
        client = StallProofClient(
            nb,
            stall_seconds=stall_seconds,
            timeout=cell_timeout,
            kernel_name="python3",
            allow_errors=False,
            record_timing=True,
            resources={"metadata": {"path": str(path.parent)}},
        )
        try:
            await client.async_execute(env=kernel_environment(fast, threads))
        except CellTimeoutError as timeout:
            where = _cell_label(nb, client.current_cell)
            stall = client.watchdog.stall if client.watchdog else ""
            if not stall:
                raise NotebookFailed(f"{name}: {where} ran over {cell_timeout} s:\n{timeout}") from None
            if attempt < attempts:
                log(f"  {name}: {stall} in {where}; executing it again in a fresh kernel")
                continue
            raise NotebookFailed(f"{name}: {stall} in {where}, twice; giving up") from None
        except CellExecutionError as error:
            where = _cell_label(nb, client.current_cell)
            raise NotebookFailed(f"{name}: {where} raised an error:\n{error}") from None
        late = client.watchdog.late_wakeups if client.watchdog else 0
        return nb, attempt, late
    raise AssertionError("unreachable")


def _display_name(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _stored_path(path: Path, store: Path, root: Path) -> Path:
    return store / path.resolve().relative_to(root.resolve())


async def execute_all(
    notebooks: list[Path],
    store: Path = DEFAULT_STORE,
    *,
    fast: bool,
    jobs: int = 2,
    force: bool = False,
    stall_seconds: float = STALL_SECONDS,
    root: Path = REPO_ROOT,
    log: Callable[[str], None] = print,
) -> list[Outcome]:
    """Execute the notebooks whose key changed, ``jobs`` at a time; store each executed copy.

    The longest notebooks (by their last stored run time) start first. Each kernel gets
    ``cores // jobs`` threads so that parallel kernels do not oversubscribe the CPU.
    """
    environment = environment_digest(root)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    outcomes: dict[Path, Outcome] = {}
    todo: list[tuple[float, Path, str]] = []
    for path in notebooks:
        key = notebook_key(path, fast, environment)
        stored_key, last_seconds = _stored_key(_stored_path(path, store, root))
        if stored_key == key and not force:
            outcomes[path] = Outcome(_display_name(path), "cached", last_seconds or 0.0)
        else:
            todo.append((last_seconds or 0.0, path, key))
    todo.sort(key=lambda item: -item[0])  # longest first; unknown (fresh clone) in reading order
    if len(todo) > 1 and jobs > 1:
        warm_numba_caches()

    semaphore = asyncio.Semaphore(max(1, jobs))

    async def run(path: Path, key: str) -> None:
        async with semaphore:
            name = _display_name(path)
            log(f"  executing {name} ...")
            start = time.perf_counter()
            try:
                nb, attempts, late = await execute_notebook(
                    path, fast=fast, threads=threads, stall_seconds=stall_seconds, log=log
                )
            except NotebookFailed as failure:
                outcomes[path] = Outcome(name, "failed", time.perf_counter() - start, error=str(failure))
                log(f"  FAILED {failure}")
                return
            seconds = time.perf_counter() - start
            nb.metadata["course_execution"] = {
                "key": key,
                "seconds": round(seconds, 1),
                "mode": "fast" if fast else "full",
                "threads": threads,
            }
            target = _stored_path(path, store, root)
            with atomic_path(target) as tmp:
                nbformat.write(nb, tmp)
            outcomes[path] = Outcome(name, "executed", seconds, attempts, late)
            log(f"  {name} executed in {seconds:.1f} s")

    await asyncio.gather(*(run(path, key) for _, path, key in todo))
    return [outcomes[path] for path in notebooks]


# --------------------------------------------------------------------------------------------
# Staging the book
# --------------------------------------------------------------------------------------------


def stage_book(
    store: Path = DEFAULT_STORE,
    outcomes: list[Outcome] | None = None,
    *,
    root: Path = REPO_ROOT,
    as_stored: bool = False,
) -> Path:
    """Lay out a Jupyter Book source tree in ``store`` and return it.

    ``store`` gets the table of contents, a ``_config.yml`` with every path made absolute and
    ``execute_notebooks: off``, a copy of each page, and each notebook: the executed copy already
    stored there or, with ``as_stored`` (the test build) and for :data:`RENDERED_AS_STORED`, the
    notebook as the repository stores it. Each notebook is then made ready for Sphinx by
    :func:`course_lib.prose.for_the_book` (computed values written into the prose, figure captions
    folded into their figures). ``book/execution.md`` gets the timings of ``outcomes``.
    """
    if Path(store).resolve() == Path(root).resolve():
        raise ValueError(
            f"the book is staged in a folder of its own, not in the repository ({root}): "
            "it would overwrite _config.yml and _toc.yml."
        )
    store.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    config["bibtex_bibfiles"] = [str((root / bib).resolve()) for bib in config.get("bibtex_bibfiles", [])]
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx["html_extra_path"] = [str((root / p).resolve()) for p in sphinx.get("html_extra_path", [])]
    (store / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    shutil.copyfile(root / "_toc.yml", store / "_toc.yml")
    for doc in toc_documents(root):
        source = next(root.glob(f"{doc}.*"))
        target = store / source.relative_to(root)
        executed = source.suffix == ".ipynb" and not (as_stored or doc.startswith(RENDERED_AS_STORED))
        if executed:
            if not target.exists():
                raise FileNotFoundError(f"{doc}.ipynb has no executed copy in {store}: execute it first.")
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        if source.suffix == ".ipynb":
            nb = nbformat.read(target, as_version=4)
            with atomic_path(target) as tmp:
                nbformat.write(prose.for_the_book(nb, doc), tmp)
    if outcomes is not None:
        execution_page = store / "book" / "execution.md"
        if execution_page.exists():
            execution_page.write_text(
                execution_page.read_text(encoding="utf-8") + timing_table(outcomes, store), encoding="utf-8"
            )
    return store


def timing_table(outcomes: list[Outcome], store: Path) -> str:
    """A Markdown table of each notebook's last execution time and mode."""
    lines = ["", "| notebook | executed in (s) | settings |", "|---|---:|---|"]
    for outcome in outcomes:
        meta: dict[str, Any] = {}
        stored = store / outcome.notebook
        if stored.exists():
            meta = nbformat.read(stored, as_version=4).metadata.get("course_execution", {})
        seconds = meta.get("seconds", outcome.seconds if outcome.status == "executed" else None)
        shown = "–" if seconds is None else f"{seconds:.1f}"
        lines.append(f"| {outcome.notebook} | {shown} | {meta.get('mode', 'as stored')} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def report(outcomes: list[Outcome], wall_seconds: float) -> str:
    """One line per notebook (status, time, retries), then the total."""
    lines = ["Notebook execution:"]
    for o in outcomes:
        extra = []
        if o.attempts > 1:
            extra.append(f"{o.attempts - 1} retry")
        if o.late_wakeups:
            extra.append(f"{o.late_wakeups} late wake-up(s) recovered")
        note = f"  ({', '.join(extra)})" if extra else ""
        if o.status == "cached":
            note = "  (stored copy reused: nothing it depends on changed; time of its last run)"
        lines.append(f"  {o.notebook:42s} {o.status:9s} {o.seconds:7.1f} s{note}")
    lines.append(f"  {'total (wall clock)':42s} {'':9s} {wall_seconds:7.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.execute [--fast] [--jobs 2] [--force] [--stored] [NOTEBOOK ...]``."""
    from course_lib import config

    parser = argparse.ArgumentParser(prog="python -m course_lib.execute", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook of _toc.yml")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="where executed copies live")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed side by side")
    parser.add_argument("--force", action="store_true", help="execute even when the cache is valid")
    parser.add_argument("--stall-seconds", type=float, default=STALL_SECONDS, help="watchdog limit")
    parser.add_argument(
        "--stored", action="store_true", help="stage the stored (fast-mode) notebooks without executing"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    notebooks = [p.resolve() for p in args.notebooks] or toc_notebooks()
    for path in notebooks:
        if path.suffix != ".ipynb" or not path.exists():
            parser.error(f"{path} is not a notebook file (expected an existing .ipynb)")
    if args.stored:
        stage_book(args.store, as_stored=True)
        print(f"Book source (stored notebooks) ready in {args.store}")
        return 0
    fast = config.is_fast()
    print(
        f"Executing {len(notebooks)} notebooks ({'fast' if fast else 'full'} settings, {args.jobs} at a time)"
    )
    start = time.perf_counter()
    outcomes = asyncio.run(
        execute_all(
            notebooks,
            args.store,
            fast=fast,
            jobs=args.jobs,
            force=args.force,
            stall_seconds=args.stall_seconds,
        )
    )
    print(report(outcomes, time.perf_counter() - start))
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        for o in failed:
            print(f"\n{o.error}", file=sys.stderr)
        return 1
    if not args.notebooks and args.store.resolve() != REPO_ROOT.resolve():  # --store . refreshes in place
        stage_book(args.store, outcomes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
