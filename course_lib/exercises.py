"""Generate the student notebooks in ``exercises/`` from the instructor notebooks in ``solutions/``.

Taught in book/instructor.md. ``solutions/NN_name.ipynb`` is the single source of truth; run
``python -m course_lib.exercises`` after editing it (``--check`` only reports stale exercises).
``exercises/`` is generated and overwritten: students never edit it. They work in their own copy,
made by ``python -m course_lib.exercises --workspace work`` (what ``make lab`` runs): each sheet is
copied once, a sheet already in the workspace is never overwritten, and new sheets are added.
``--grade work/NN_topic.ipynb`` prepares a student's notebook for grading with nbval (see
:func:`prepare_for_grading`).

Markers in a solution notebook:

* code cells: the lines between ``### BEGIN SOLUTION: <what to do>`` and ``### END SOLUTION`` are
  replaced by ``raise NotImplementedError("Exercise N.k: <what to do>")`` at the marker's
  indentation (N is the chapter number from the file name, k counts the exercises in order);
* markdown cells: the lines between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` are
  replaced by an answer prompt.

Every output and execution count is cleared, so the exercise shows no solution output either.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from course_lib.config import REPO_ROOT
from course_lib.files import atomic_path

CODE_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?P<rest>.*)$")
CODE_END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
MARKDOWN_BEGIN = "<!-- BEGIN SOLUTION -->"
MARKDOWN_END = "<!-- END SOLUTION -->"
ANSWER_PROMPT = "> \N{WRITING HAND} **Your answer:** *write it here, then compare with a classmate.*"
GENERATED_NOTE = (
    "```{{note}}\nStudent version, generated from `solutions/{name}` by `python -m course_lib.exercises`. "
    "Replace each `NotImplementedError` stub with your code and run the self-check cell below it. "
    "In JupyterLab (`make lab`) the file browser opens on your folder `work/`: one level up are the "
    "lessons, in `chapters/`, and (after `make book`) the built book, `_build/html/index.html`.\n```"
)
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
WORKSPACE_DIR = REPO_ROOT / "work"
GRADING_DIR = REPO_ROOT / "_build" / "grading"
CHECK_OUTPUT_MARKER = "# NBVAL_CHECK_OUTPUT"
CHECK_OUTPUT_TAG = "nbval-check-output"


def chapter_number(path: Path) -> int:
    """Chapter number from a file name like ``02_vae_mnist.ipynb``."""
    match = re.match(r"^(\d+)_", Path(path).name)
    if not match:
        raise ValueError(
            f"{Path(path).name}: solution notebooks are named NN_topic.ipynb (e.g. 02_vae_mnist.ipynb)."
        )
    return int(match.group(1))


def _strip_code(source: str, chapter: int, counter: list[int], where: str) -> str:
    """Replace each marked block of a code cell by a NotImplementedError stub."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        begin = CODE_BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"{where}: '### BEGIN SOLUTION' inside an open solution block.")
            task = begin.group("rest").strip().lstrip(":").strip()
            if not begin.group("rest").strip().startswith(":") or not task:
                raise ValueError(
                    f"{where}: write the task after a colon, "
                    "e.g. '### BEGIN SOLUTION: implement kl_divergence'."
                )
            counter[0] += 1
            message = f"Exercise {chapter}.{counter[0]}: {task}".replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'{begin.group("indent")}raise NotImplementedError("{message}")')
            inside = True
        elif CODE_END.match(line):
            if not inside:
                raise ValueError(f"{where}: '### END SOLUTION' without a matching BEGIN.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '### BEGIN SOLUTION' is never closed by '### END SOLUTION'.")
    return "\n".join(out)


def _strip_markdown(source: str, where: str) -> str:
    """Replace each marked answer of a markdown cell by the answer prompt."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        if line.strip() == MARKDOWN_BEGIN:
            if inside:
                raise ValueError(f"{where}: '{MARKDOWN_BEGIN}' inside an open answer.")
            out.append(ANSWER_PROMPT)
            inside = True
        elif line.strip() == MARKDOWN_END:
            if not inside:
                raise ValueError(f"{where}: '{MARKDOWN_END}' without a matching BEGIN.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{MARKDOWN_BEGIN}' is never closed by '{MARKDOWN_END}'.")
    return "\n".join(out)


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Return the student notebook for a solution notebook called ``name`` (the input is not changed)."""
    chapter = chapter_number(Path(name))
    exercise = nbformat.v4.new_notebook(metadata=solution.metadata)
    counter = [0]
    for index, cell in enumerate(solution.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(_strip_code(cell.source, chapter, counter, where))
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(_strip_markdown(cell.source, where))
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        new.id = cell.get("id", f"cell-{index}")
        tags = cell.get("metadata", {}).get("tags")
        if tags:
            new.metadata["tags"] = list(tags)
        exercise.cells.append(new)
    if counter[0] == 0:
        raise ValueError(f"{name}: no '### BEGIN SOLUTION: ...' block found, so the exercise would be empty.")
    note = nbformat.v4.new_markdown_cell(GENERATED_NOTE.format(name=name))
    note.id = "generated-note"
    title_at = 1 if exercise.cells and exercise.cells[0].cell_type == "markdown" else 0
    exercise.cells.insert(title_at, note)
    return exercise


def render(notebook: nbformat.NotebookNode) -> str:
    """The exact text a notebook is written as (used to compare generated and committed files)."""
    return nbformat.writes(notebook, version=4) + "\n"


def generate_all(
    solutions_dir: Path = SOLUTIONS_DIR, exercises_dir: Path = EXERCISES_DIR, check: bool = False
) -> list[Path]:
    """Regenerate every exercise; return the paths that were (or, with ``check``, would be) changed."""
    sources = sorted(Path(solutions_dir).glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise ValueError(f"no solution notebooks (NN_topic.ipynb) found in {solutions_dir}.")
    changed = []
    for source in sources:
        target = Path(exercises_dir) / source.name
        text = render(make_exercise(nbformat.read(source, as_version=4), source.name))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(target)
            if not check:
                with atomic_path(target) as tmp:
                    tmp.write_text(text, encoding="utf-8")
    return changed


def copy_to_workspace(
    workspace: Path = WORKSPACE_DIR, exercises_dir: Path = EXERCISES_DIR
) -> tuple[list[Path], list[Path]]:
    """Copy each exercise sheet into the student's ``workspace``, never overwriting a file already there.

    Returns ``(copied, kept)``: the sheets copied now, and the sheets left as they were because the
    workspace already has a file of that name (the student's work). Run it again after a new sheet
    appears in ``exercises/``: only the new sheet is copied.
    """
    sheets = sorted(Path(exercises_dir).glob("[0-9][0-9]_*.ipynb"))
    if not sheets:
        raise ValueError(f"no exercise sheets (NN_topic.ipynb) found in {exercises_dir}.")
    workspace = Path(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    copied, kept = [], []
    for sheet in sheets:
        target = workspace / sheet.name
        try:
            with target.open("xb") as out:  # "x": fails if the file exists, so nothing is ever overwritten
                out.write(sheet.read_bytes())
        except FileExistsError:
            kept.append(target)
        else:
            copied.append(target)
    return copied, kept


def is_checked(cell: nbformat.NotebookNode) -> bool:
    """True for a code cell whose output nbval compares (``# NBVAL_CHECK_OUTPUT`` or its tag)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return cell.cell_type == "code" and (CHECK_OUTPUT_MARKER in cell.source or CHECK_OUTPUT_TAG in tags)


def prepare_for_grading(
    student: nbformat.NotebookNode, solution: nbformat.NotebookNode
) -> tuple[nbformat.NotebookNode, list[str]]:
    """The student's notebook carrying the solution's outputs in every checked cell, ready for nbval.

    Exercise cells keep their ids, so each checked cell of the solution is found in the student's
    notebook by id; it receives the solution's stored outputs and the ``nbval-check-output`` tag.
    ``pytest --nbval-lax`` on the result then runs the student's code, fails on any error (a failed
    self-check included) and compares each checked cell with the solution's numbers. Returns the
    notebook and the ids of checked cells the student deleted. Taught in book/instructor.md.
    """
    graded = nbformat.from_dict(student)  # a deep copy: the student's notebook is not changed
    by_id = {cell.get("id"): cell for cell in graded.cells}
    missing = []
    for cell in solution.cells:
        if not is_checked(cell):
            continue
        target = by_id.get(cell.get("id"))
        if target is None or target.cell_type != "code":
            missing.append(cell.get("id"))
            continue
        target.outputs = nbformat.from_dict(cell.outputs)
        tags = target.metadata.setdefault("tags", [])
        if CHECK_OUTPUT_TAG not in tags:
            tags.append(CHECK_OUTPUT_TAG)
    return graded, missing


def grade_copy(student_path: Path, out_dir: Path = GRADING_DIR, solutions_dir: Path = SOLUTIONS_DIR) -> Path:
    """Write the grading copy of ``student_path`` (see :func:`prepare_for_grading`) into ``out_dir``."""
    student_path = Path(student_path)
    solution_path = Path(solutions_dir) / student_path.name
    if not solution_path.exists():
        raise ValueError(f"{student_path.name}: no solution notebook of that name in {solutions_dir}.")
    graded, missing = prepare_for_grading(
        nbformat.read(student_path, as_version=4), nbformat.read(solution_path, as_version=4)
    )
    if missing:
        print(f"{student_path.name}: the student deleted {len(missing)} checked cell(s): {missing}")
    target = Path(out_dir) / student_path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_text(render(graded), encoding="utf-8")
    return target


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.exercises [--check | --workspace DIR | --grade NOTEBOOK]``."""
    parser = argparse.ArgumentParser(
        description="Generate exercises/ from solutions/ (the source of truth), or copy the exercises into "
        "a student's own workspace."
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report exercises that are out of date")
    mode.add_argument(
        "--workspace",
        type=Path,
        metavar="DIR",
        help="copy exercises/ into DIR (e.g. work), never overwriting a notebook already there",
    )
    mode.add_argument(
        "--grade",
        type=Path,
        metavar="NOTEBOOK",
        help="write a copy of a student's notebook with the solution's checked outputs into _build/grading/",
    )
    args = parser.parse_args(argv)
    if args.grade is not None:
        target = grade_copy(args.grade)
        print(
            f"wrote {_shown(target)}; grade it with:\n  COURSE_FAST=1 .venv/bin/pytest --nbval-lax "
            f"--nbval-sanitize-with tests/sanitize.cfg {_shown(target)}"
        )
        return 0
    if args.workspace is not None:
        copied, kept = copy_to_workspace(args.workspace, EXERCISES_DIR)
        for path in copied:
            print(f"copied: {_shown(path)}")
        if kept:
            print(f"kept as you left them: {len(kept)} notebook(s) already in {_shown(args.workspace)}")
        return 0
    changed = generate_all(check=args.check)
    for path in changed:
        print(f"{'out of date' if args.check else 'wrote'}: {path.relative_to(REPO_ROOT)}")
    if not changed:
        print("exercises/ is up to date with solutions/.")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
