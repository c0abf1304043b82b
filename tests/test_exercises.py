"""The exercise generator, and the committed exercises/ it must reproduce exactly."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_core.paths import jupyter_config_path
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib import exercises
from course_lib.config import REPO_ROOT

SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _solution_notebook() -> nbformat.NotebookNode:
    code = new_code_cell(
        "def f(x):\n    ### BEGIN SOLUTION: return twice x\n    y = 2 * x\n    return y\n"
        "    ### END SOLUTION\n"
        "\n### BEGIN SOLUTION: set the answer\nanswer = 42\n### END SOLUTION",
        execution_count=3,
        outputs=[new_output("stream", name="stdout", text="secret output")],
    )
    answer = new_markdown_cell("Why?\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->\nNext.")
    return new_notebook(cells=[new_markdown_cell("# Title"), code, answer])


def test_code_blocks_become_numbered_stubs_at_their_indentation():
    exercise = exercises.make_exercise(_solution_notebook(), "07_demo.ipynb")
    code = exercise.cells[2]
    assert code.source.splitlines() == [
        "def f(x):",
        '    raise NotImplementedError("Exercise 7.1: return twice x")',
        "",
        'raise NotImplementedError("Exercise 7.2: set the answer")',
    ]
    assert code.outputs == [] and code.execution_count is None


def test_markdown_answers_become_prompts_and_a_note_follows_the_title():
    exercise = exercises.make_exercise(_solution_notebook(), "07_demo.ipynb")
    assert exercise.cells[0].source == "# Title"
    assert "generated from `solutions/07_demo.ipynb`" in exercise.cells[1].source
    assert exercise.cells[3].source == f"Why?\n{exercises.ANSWER_PROMPT}\nNext."


def test_the_solution_notebook_is_left_unchanged():
    solution = _solution_notebook()
    before = nbformat.writes(solution)
    exercises.make_exercise(solution, "07_demo.ipynb")
    assert nbformat.writes(solution) == before


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION: a\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without a matching BEGIN"),
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "after a colon"),
        ("### BEGIN SOLUTION: a\n### BEGIN SOLUTION: b\n### END SOLUTION", "inside an open"),
        ("x = 1", "no '### BEGIN SOLUTION"),
    ],
)
def test_malformed_markers_are_reported(source, message):
    with pytest.raises(ValueError, match=message):
        exercises.make_exercise(new_notebook(cells=[new_code_cell(source)]), "01_x.ipynb")


def test_unclosed_markdown_answer_is_reported():
    notebook = new_notebook(cells=[new_markdown_cell("<!-- BEGIN SOLUTION -->\nsecret")])
    with pytest.raises(ValueError, match="never closed"):
        exercises.make_exercise(notebook, "01_x.ipynb")


def test_file_names_must_carry_a_chapter_number():
    with pytest.raises(ValueError, match="NN_topic"):
        exercises.chapter_number("vae.ipynb")


def test_committed_exercises_match_a_fresh_generation(tmp_path):
    generated = tmp_path / "exercises"
    exercises.generate_all(exercises_dir=generated)
    committed = sorted(p.name for p in (REPO_ROOT / "exercises").glob("*.ipynb"))
    assert committed == sorted(p.name for p in generated.glob("*.ipynb")), "exercises/ and solutions/ differ"
    stale = [
        name
        for name in committed
        if (generated / name).read_text() != (REPO_ROOT / "exercises" / name).read_text()
    ]
    assert not stale, f"exercises out of date (run `make exercises`): {stale}"


def _solution_lines(notebook: nbformat.NotebookNode) -> tuple[set[str], set[str]]:
    """Distinctive lines inside solution blocks, and every line outside them."""
    inside, outside = set(), set()
    for cell in notebook.cells:
        in_block = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if "BEGIN SOLUTION" in stripped:
                in_block = True
            elif "END SOLUTION" in stripped:
                in_block = False
            elif in_block:
                inside.add(stripped)
            else:
                outside.add(stripped)
    return {line for line in inside - outside if len(line) >= 12}, outside


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_no_solution_code_is_left_in_an_exercise(solution):
    secret, _ = _solution_lines(nbformat.read(solution, as_version=4))
    exercise = nbformat.read(REPO_ROOT / "exercises" / solution.name, as_version=4)
    text = "\n".join(cell.source for cell in exercise.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    leaked = sorted(line for line in secret if line in text)
    assert not leaked, f"solution lines found in exercises/{solution.name}: {leaked[:3]}"
    assert all(not cell.get("outputs") for cell in exercise.cells), "exercises must carry no outputs"


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_each_exercise_runs_until_its_first_stub(solution):
    """Everything before the first stub works; the first failure is the stub's NotImplementedError,
    shown to the student as one line."""
    exercise = nbformat.read(REPO_ROOT / "exercises" / solution.name, as_version=4)
    client = NotebookClient(
        exercise, timeout=600, resources={"metadata": {"path": str(REPO_ROOT / "exercises")}}
    )
    with pytest.raises(CellExecutionError) as failure:
        client.execute()
    assert failure.value.ename == "NotImplementedError", (
        f"first failure was {failure.value.ename}: {failure.value}"
    )
    assert f"Exercise {exercises.chapter_number(solution)}.1:" in failure.value.evalue
    assert f"Exercise {exercises.chapter_number(solution)}.1 is not done yet" in failure.value.traceback
    assert "course_lib/" not in failure.value.traceback and "Traceback" not in failure.value.traceback


ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_an_unfilled_sheet_run_to_the_end_shows_one_line_per_stub(solution, monkeypatch):
    """Every cell that meets a stub shows one line; no error anywhere goes through course_lib."""
    monkeypatch.setenv("COURSE_FAST", "1")
    exercise = nbformat.read(REPO_ROOT / "exercises" / solution.name, as_version=4)
    client = NotebookClient(
        exercise,
        timeout=600,
        allow_errors=True,
        resources={"metadata": {"path": str(REPO_ROOT / "exercises")}},
    )
    client.execute()
    errors = [
        (index, output)
        for index, cell in enumerate(exercise.cells)
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert errors, "an unfilled sheet must stop at its stubs"
    for index, error in errors:
        text = ANSI.sub("", "\n".join(error.traceback))
        assert "course_lib/" not in text, f"cell {index}: a traceback through course_lib:\n{text}"
        if error.ename == "NotImplementedError":
            assert len(error.traceback) == 1 and "is not done yet" in text, f"cell {index}: {text}"
    stderr = [o.text for c in exercise.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not [text for text in stderr if "Warning" in text], stderr


# --------------------------------------------------------------- the student's own workspace (make lab)


def _sheets(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(f"generated {name}")
    return folder


def test_workspace_gets_a_copy_of_every_sheet(tmp_path):
    source = _sheets(tmp_path / "exercises", ["01_a.ipynb", "02_b.ipynb"])
    copied, kept = exercises.copy_to_workspace(tmp_path / "work", source)
    assert [p.name for p in copied] == ["01_a.ipynb", "02_b.ipynb"] and kept == []
    assert (tmp_path / "work" / "02_b.ipynb").read_text() == "generated 02_b.ipynb"


def test_workspace_never_overwrites_the_students_work_and_adds_new_sheets(tmp_path):
    source = _sheets(tmp_path / "exercises", ["01_a.ipynb"])
    work = tmp_path / "work"
    exercises.copy_to_workspace(work, source)
    (work / "01_a.ipynb").write_text("my answers")
    _sheets(source, ["01_a.ipynb", "02_b.ipynb"])  # regenerated, plus a new sheet
    copied, kept = exercises.copy_to_workspace(work, source)
    assert [p.name for p in copied] == ["02_b.ipynb"] and [p.name for p in kept] == ["01_a.ipynb"]
    assert (work / "01_a.ipynb").read_text() == "my answers"
    assert (work / "02_b.ipynb").read_text() == "generated 02_b.ipynb"


def test_workspace_command_line(tmp_path, monkeypatch, capsys):
    source = _sheets(tmp_path / "exercises", ["01_a.ipynb"])
    monkeypatch.setattr(exercises, "EXERCISES_DIR", source)
    monkeypatch.chdir(tmp_path)
    assert exercises.main(["--workspace", "work"]) == 0
    assert "copied: work/01_a.ipynb" in capsys.readouterr().out
    assert exercises.main(["--workspace", "work"]) == 0
    assert "kept as you left them: 1 notebook(s) already in work" in capsys.readouterr().out


def test_an_empty_exercises_folder_is_reported(tmp_path):
    with pytest.raises(ValueError, match="no exercise sheets"):
        exercises.copy_to_workspace(tmp_path / "work", tmp_path)


# ------------------------------------------------------------- JupyterLab renders the notebooks' MyST


def _pinned(package: str) -> str:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    match = re.search(rf'"{re.escape(package)}==([^"]+)"', text)
    assert match, f"{package} is not pinned in pyproject.toml"
    return match.group(1)


def _disabled_lab_extensions() -> set[str]:
    disabled: set[str] = set()
    for folder in jupyter_config_path():
        page_config = Path(folder) / "labconfig" / "page_config.json"
        if page_config.exists():
            entries = json.loads(page_config.read_text()).get("disabledExtensions", {})
            if isinstance(entries, list):  # older JupyterLab wrote a list of names
                entries = dict.fromkeys(entries, True)
            disabled |= {name for name, off in entries.items() if off}
    return disabled


def test_jupyterlab_myst_is_installed_at_its_pin_and_enabled():
    """Without jupyterlab-myst, JupyterLab shows the exercises' {note} blocks as literal backticks."""
    package_json = (
        Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-myst" / "package.json"
    )
    assert package_json.exists(), "jupyterlab-myst's JupyterLab extension is missing: run `make setup`"
    assert json.loads(package_json.read_text())["version"] == _pinned("jupyterlab-myst")
    assert "jupyterlab-myst" not in _disabled_lab_extensions()


# ------------------------------------------------------------------------------ grading with nbval


def _checked_solution() -> nbformat.NotebookNode:
    checked = new_code_cell(
        "# NBVAL_CHECK_OUTPUT\nprint(answer)", outputs=[new_output("stream", name="stdout", text="42\n")]
    )
    checked.id = "checked"
    plain = new_code_cell("answer = 42", outputs=[])
    plain.id = "plain"
    return new_notebook(cells=[plain, checked])


def test_grading_copy_carries_the_solutions_checked_outputs():
    solution = _checked_solution()
    student = nbformat.from_dict(solution)
    student.cells[0].source = "answer = 41"  # the student's own code stays
    student.cells[1].outputs = [new_output("stream", name="stdout", text="41\n")]
    graded, missing = exercises.prepare_for_grading(student, solution)
    assert missing == []
    assert graded.cells[0].source == "answer = 41"
    assert graded.cells[1].outputs[0]["text"] == "42\n"
    assert "nbval-check-output" in graded.cells[1].metadata["tags"]
    assert student.cells[1].outputs[0]["text"] == "41\n", "the student's notebook must not change"


def test_grading_reports_a_deleted_checked_cell():
    student = _checked_solution()
    del student.cells[1]
    _, missing = exercises.prepare_for_grading(student, _checked_solution())
    assert missing == ["checked"]


def test_every_checked_solution_cell_is_in_the_exercise_with_the_same_id():
    """Grading matches cells by id, so the generated exercise must keep the solution's checked cells."""
    for solution in SOLUTIONS:
        _, missing = exercises.prepare_for_grading(
            nbformat.read(REPO_ROOT / "exercises" / solution.name, as_version=4),
            nbformat.read(solution, as_version=4),
        )
        assert missing == [], f"{solution.name}: checked cells missing from the exercise: {missing}"


SHEETS = sorted(exercises.SOLUTIONS_DIR.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("solution", SHEETS, ids=lambda p: p.name)
def test_exercise_numbers_never_collide(solution):
    """A heading 'Exercise N.k' names its first stub (stubs are numbered in order); questions come after.

    A sheet once labelled its second heading 4.2 while its stubs said 4.3/4.4, and its questions were
    numbered 4.3/4.4 too.
    """
    exercise = exercises.make_exercise(nbformat.read(solution, as_version=4), solution.name)
    stubs, headings, questions = [], [], []
    for cell in exercise.cells:
        if cell.cell_type == "code":
            stubs += re.findall(r'NotImplementedError\("Exercise (\d+\.\d+)', cell.source)
        else:
            for kind, number in re.findall(r"\*\*(Exercise|Question) (\d+\.\d+)", cell.source):
                (headings if kind == "Exercise" else questions).append((number, len(stubs)))
    for number, stubs_before in headings:
        assert stubs_before < len(stubs) and stubs[stubs_before] == number, (
            f"heading Exercise {number} is not the number of the stub that follows it"
        )
    numbers = stubs + [number for number, _ in questions]
    assert len(numbers) == len(set(numbers)), f"a number is used twice: {sorted(numbers)}"


@pytest.mark.parametrize("solution", SHEETS, ids=lambda p: p.name)
def test_an_answer_has_a_cell_of_its_own(solution):
    """A student writes an answer over the prompt: a cell that held the next question too could lose it."""
    for index, cell in enumerate(nbformat.read(solution, as_version=4).cells):
        if cell.cell_type == "markdown" and exercises.MARKDOWN_BEGIN in cell.source:
            source = cell.source.strip()
            assert source.startswith(exercises.MARKDOWN_BEGIN) and source.endswith(exercises.MARKDOWN_END), (
                f"{solution.name}, cell {index} ({cell.get('id')}): text outside the answer block"
            )
            assert source.count(exercises.MARKDOWN_BEGIN) == 1, f"{solution.name}, cell {index}: two answers"


def _chapter_headings() -> dict[str, tuple[str, set[str]]]:
    """Chapter page number ('3.1', '4') -> (its title, the titles of its sections), from chapters/."""
    pages = {}
    for path in sorted((REPO_ROOT / "chapters").glob("*.ipynb")):
        text = "\n".join(
            c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
        )
        title = re.search(r"^# (\d+(?:\.\d+)?)\.? (.+)$", text, re.MULTILINE)
        if title:
            pages[title.group(1)] = (
                title.group(2).strip(),
                set(re.findall(r"^## (.+?)\s*$", text, re.MULTILINE)),
            )
    return pages


@pytest.mark.parametrize("solution", SHEETS, ids=lambda p: p.name)
def test_pointers_name_real_chapter_and_section_titles(solution):
    """'chapter 3.1, *Title*' names a chapter page by its title; 'section(s) *X*' a section of that page."""
    pages = _chapter_headings()
    for cell in nbformat.read(solution, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        text = " ".join(cell.source.split())
        for number, title, sections in re.findall(
            r"[Cc]hapter (\d+(?:\.\d+)?), \*([^*]+)\*(?:,? \(?sections? ((?:\*[^*]+\*(?: and )?)+))?", text
        ):
            assert number in pages, f"{solution.name}: no chapter page {number}"
            assert title == pages[number][0], (
                f"{solution.name}: chapter {number} is titled {pages[number][0]!r}"
            )
            for section in re.findall(r"\*([^*]+)\*", sections):
                assert section in pages[number][1], (
                    f"{solution.name}: chapter {number} has no section {section!r}"
                )
