"""Self-check cells: compare a student's function with the course's reference on random inputs.

Taught in book/tour.ipynb (and in book/exercises.md). Each chapter has a module
``course_lib.checks.chNN`` whose functions wrap :func:`compare` for that chapter's exercises::

    from course_lib.checks import ch02
    ch02.check_kl(kl_divergence)   # prints a clear pass, or raises SelfCheckFailed with a hint

A failing check shows one short message in the notebook (what went wrong, what was expected, a
hint) instead of a traceback through this library: :class:`SelfCheckFailed` tells IPython how to
display itself. Hints are graded: the first failure of a check gives a nudge, a later failure of the
same check gives the formula (:class:`Hint`); no hint ever gives the code.

Every public check is wrapped in :func:`self_check`: library warnings (e.g. scikit-learn's) stay out
of its output. Importing this package inside IPython also installs :func:`install_stub_handler`, so an
unfilled stub (``raise NotImplementedError("Exercise 3.1: ...")``) shows one line, "Exercise 3.1 is
not done yet", wherever it is called from, instead of a traceback through this library.
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import numpy as np

from course_lib.config import seed_everything

_LIBRARY_DIR = str(Path(__file__).resolve().parents[1])


@dataclass(frozen=True)
class Hint:
    """A graded hint: ``nudge`` on a check's first failure, ``formula`` on every later failure."""

    nudge: str
    formula: str


_failures: Counter[str] = Counter()
"""How many times each check (by name) has failed in this Python session."""


def reset_hints() -> None:
    """Forget every failure, so the next failure of each check gives its first hint again."""
    _failures.clear()


def hint_for(name: str, hint: str | Hint) -> str:
    """Count one failure of check ``name`` and return the hint text for this failure."""
    _failures[name] += 1
    if isinstance(hint, str):
        return hint
    if _failures[name] == 1:
        return f"{hint.nudge}\n(If the check fails again, the hint will give the formula.)"
    return hint.formula


def _ipython() -> Any:
    """The running IPython shell, or ``None`` (IPython is never imported here just to ask)."""
    module = sys.modules.get("IPython")
    return module.get_ipython() if module is not None else None


def _where(filename: str, lineno: int | None) -> str:
    """``Cell In[7], line 3`` for code typed in a notebook cell, else ``File "name", line 3``."""
    shell = _ipython()
    label = shell.compile.format_code_name(filename) if shell is not None else None
    if label:
        return f"{label[0]} {label[1]}, line {lineno}"
    return f'File "{filename}", line {lineno}'


def _student_frames(error: BaseException | None) -> list[str]:
    """The traceback lines of ``error`` in the student's code (not in this library, nor in torch).

    A frame in a notebook cell is named like IPython names it (``Cell In[7], line 3``), not by the
    kernel's temporary file.
    """
    if error is None or error.__traceback__ is None:
        return []
    lines = []
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename.startswith(_LIBRARY_DIR) or "site-packages" in frame.filename:
            continue
        lines.append(f"{_where(frame.filename, frame.lineno)}, in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    return lines


STUB_MESSAGE = re.compile(r"^Exercise (?P<number>\d+\.\d+): (?P<task>.*)$", re.DOTALL)
"""The message of an unfilled stub, as ``course_lib.exercises`` writes it."""


def stub_message(error: BaseException) -> str | None:
    """The one line shown for an unfilled stub's ``NotImplementedError``, or ``None`` for any other error."""
    match = STUB_MESSAGE.match(str(error)) if isinstance(error, NotImplementedError) else None
    if match is None:
        return None
    return (
        f"\N{HOURGLASS WITH FLOWING SAND} Exercise {match['number']} is not done yet: {match['task']}."
        " Replace its NotImplementedError line with your code, run that cell, then run this one again."
    )


def _show_stub(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> None:
    """IPython's handler for ``NotImplementedError``: one line for a stub, the usual traceback otherwise.

    IPython ignores what a custom handler returns, so the handler shows the lines itself (through the
    shell's ``_showtraceback``, which the kernel sends to the notebook as the cell's error).
    """
    message = stub_message(value)
    if message is not None:
        lines = [message]
    else:
        lines = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    shell._showtraceback(etype, value, lines)


def install_stub_handler() -> bool:
    """In IPython, show an unfilled stub as one line (see :func:`stub_message`); False outside IPython.

    The error still reaches the notebook's runner as a ``NotImplementedError`` (nbclient and nbval see
    the same error name and message); only what the student reads changes.
    """
    shell = _ipython()
    if shell is None:
        return False
    shell.set_custom_exc((NotImplementedError,), _show_stub)
    return True


P = ParamSpec("P")
R = TypeVar("R")


def self_check(check: Callable[P, R]) -> Callable[P, R]:
    """Decorate a public check: no library warnings in its output (its verdict is the message)."""

    @functools.wraps(check)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return check(*args, **kwargs)

    return run


class SelfCheckFailed(AssertionError):
    """Raised by a self-check when the student's answer differs from the reference.

    ``str(error)`` is the whole message; in IPython the error shows only that message (and, when the
    student's own function crashed, the lines of the student's code that raised), no library frames.
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython displays instead of a traceback (IPython calls this hook when it exists)."""
        lines = ["\N{CROSS MARK} Self-check failed", *(f"  {line}" for line in str(self).splitlines())]
        cause = self.__cause__
        frames = _student_frames(cause)
        if cause is not None and frames:
            lines += ["", f"Your code raised {type(cause).__name__} here:", *frames]
        return lines


def fail(
    name: str, problem: str, hint: str | Hint | None = None, *, cause: BaseException | None = None
) -> NoReturn:
    """Raise :class:`SelfCheckFailed` for check ``name``: ``problem`` says what differed, then the hint."""
    message = f"{name}: {problem}"
    if hint is not None:
        message += f"\nHint: {hint_for(name, hint)}"
    raise SelfCheckFailed(message) from cause


def in_turn(
    make_inputs: Callable[[np.random.Generator, int], tuple],
) -> Callable[[np.random.Generator], tuple]:
    """Inputs for :func:`compare` that also depend on the trial number (0, 1, ...), e.g. to take turns.

    A check that must try several kinds of input (with and without a mask, finite and infinite decay)
    takes them in turn instead of by chance, so that every kind is tried whatever the seed.
    """
    trials = itertools.count()
    return lambda rng: make_inputs(rng, next(trials))


def call_student(
    name: str, fn: Callable[..., Any], *args: Any, hint: str | Hint | None = None, what: str = "your function"
) -> Any:
    """``fn(*args)``, or a failed check that names the student's exception (a stub passes through)."""
    try:
        return fn(*args)
    except (NotImplementedError, SelfCheckFailed):
        raise
    except Exception as error:
        fail(name, f"{what} raised {error!r}.", hint, cause=error)


def _to_numpy(value: Any) -> Any:
    """Turn tensors (and tuples/lists/dicts of them) into NumPy arrays for comparison."""
    if isinstance(value, Mapping):
        return {key: _to_numpy(v) for key, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to_numpy(v) for v in value)
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value) if isinstance(value, (int, float, np.number, np.ndarray)) else value


def _first_difference(got: np.ndarray, want: np.ndarray, atol: float, rtol: float) -> str:
    """Where two same-shape arrays differ most: index, expected and received values, tolerance."""
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    where = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    at = f" at index {tuple(int(i) for i in where)}" if where else ""
    return (
        f"values differ{at}: expected {want[where]:.6g}, got {got[where]:.6g} "
        f"(tolerance {atol:g} + {rtol:g}*|expected|){_constant_ratio(got, want)}"
    )


def _constant_ratio(got: np.ndarray, want: np.ndarray) -> str:
    """``"; every value is 4 times the expected one"`` when ``got`` is ``want`` times one constant, else ''.

    A constant ratio points at a missing or extra factor, a wrong sign, or a mean taken for a sum.
    """
    got, want = np.asarray(got, dtype=np.float64).ravel(), np.asarray(want, dtype=np.float64).ravel()
    scale = np.abs(want).max(initial=0.0)
    usable = np.abs(want) > 1e-3 * scale
    if not usable.any() or not np.all(np.isfinite(got)):
        return ""
    ratios = got[usable] / want[usable]
    ratio = float(np.median(ratios))
    if abs(ratio - 1.0) < 1e-2 or ratio == 0 or not np.allclose(ratios, ratio, rtol=1e-3, atol=0.0):
        return ""
    if got.size == 1:
        return f"; that is {ratio:.4g} times the expected value"
    return f"; every value is {ratio:.4g} times the expected one"


def difference(got: Any, want: Any, atol: float, rtol: float, path: str = "") -> str | None:
    """Return ``None`` when ``got`` matches ``want``, otherwise a one-line description of the difference.

    ``path`` names the part being compared (``returned[1]['kl']``) so a nested mismatch says where it is.
    """
    got, want = _to_numpy(got), _to_numpy(want)
    where = f"{path}: " if path else ""
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping):
            return f"{where}expected a dict with the keys {sorted(want)}, got {type(got).__name__}"
        missing = sorted(set(want) - set(got))
        if missing:
            return f"{where}the dict lacks the keys {missing} (expected the keys {sorted(want)})"
        for key in want:
            problem = difference(got[key], want[key], atol, rtol, f"{path or 'returned'}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"{where}expected a sequence of {len(want)} values, got {type(got).__name__}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            problem = difference(g, w, atol, rtol, f"{path or 'returned'}[{i}]")
            if problem:
                return problem
        return None
    if not isinstance(want, np.ndarray):
        return None if got == want else f"{where}expected {want!r}, got {got!r}"
    if not isinstance(got, np.ndarray):
        return f"{where}expected an array or tensor, got {type(got).__name__}"
    if got.shape != want.shape:
        return f"{where}expected shape {want.shape}, got shape {got.shape}"
    if not np.allclose(got, want, atol=atol, rtol=rtol, equal_nan=False):
        return where + _first_difference(got, want, atol, rtol)
    return None


def compare(
    student_fn: Callable[..., Any],
    reference_fn: Callable[..., Any],
    make_inputs: Callable[[np.random.Generator], tuple],
    *,
    name: str,
    hint: str | Hint,
    trials: int = 5,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> None:
    """Run ``student_fn`` and ``reference_fn`` on ``trials`` random inputs and compare the outputs.

    ``make_inputs(rng)`` returns the positional arguments of one call. Prints a one-line pass, or
    raises :class:`SelfCheckFailed` with what differed and the ``hint`` (graded when it is a
    :class:`Hint`). A ``NotImplementedError`` from an unfinished exercise is passed through
    unchanged so the stub's message stays visible.
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}.")
    rng = seed_everything(seed)
    for trial in range(trials):
        args = make_inputs(rng)
        want = reference_fn(*args)
        try:
            got = student_fn(*args)
        except (NotImplementedError, SelfCheckFailed):
            raise
        except Exception as error:  # a crash is a failed check with its cause attached
            fail(name, f"your function raised {error!r} on trial {trial + 1}.", hint, cause=error)
        problem = difference(got, want, atol, rtol)
        if problem:
            fail(name, f"{problem}, on trial {trial + 1} of {trials}.", hint)
    print(f"\N{WHITE HEAVY CHECK MARK} {name}: matches the reference on {trials} random inputs.")


install_stub_handler()
