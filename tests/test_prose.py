"""Computed numbers in prose ({eval} roles) and figure captions: one text for the book and JupyterLab."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy

import nbformat
import pytest

from course_lib import execute, prose


def _ok(text: str) -> dict:
    return {"status": "ok", "data": {"text/plain": text}, "metadata": {}}


def _markdown(source: str, values: dict[str, dict] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    if values is not None:
        prose.store_results(cell, values)
    return cell


def _figure_cell(outputs: int = 1) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})
        for _ in range(outputs)
    ]
    return cell


def test_expressions_are_found_in_order_and_once():
    assert prose.expressions("a {eval}`x`, b {eval}`y_2` and {eval}`x` again") == ["x", "y_2"]
    assert prose.expressions("no roles, `code` and {cite:p}`kingma2013`") == []


@pytest.mark.parametrize(
    ("plain", "shown"),
    [("'0.31'", "0.31"), ('"it\'s"', "it's"), ("7", "7"), ("0.5", "0.5"), ("'a\\nb'", "a\nb")],
)
def test_a_value_reads_as_jupyterlab_shows_it(plain, shown):
    assert prose.as_text(_ok(plain)) == shown


def test_values_are_written_into_the_text():
    cell = _markdown("MIG {eval}`mig` at β = {eval}`beta`.", {"mig": _ok("'0.42'"), "beta": _ok("4")})
    assert prose.with_values(cell) == "MIG 0.42 at β = 4."
    assert cell.metadata["user_expressions"][0] == {"expression": "mig", "result": _ok("'0.42'")}


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (None, "never evaluated"),
        ({"mig": {"status": "error", "ename": "NameError", "evalue": "no 'mig'"}}, "NameError"),
        ({"mig": {"status": "ok", "data": {"image/png": "..."}, "metadata": {}}}, "no text value"),
    ],
)
def test_a_value_that_is_missing_or_failed_is_an_error_naming_it(values, complaint):
    cell = _markdown("MIG {eval}`mig`.", values)
    with pytest.raises(prose.UnresolvedExpression, match=complaint):
        prose.with_values(cell)
    nb = nbformat.v4.new_notebook(cells=[cell])
    with pytest.raises(prose.UnresolvedExpression, match=r"chapters/x, cell 0 .*mig"):
        prose.for_the_book(nb, "chapters/x")


def test_a_caption_cell_becomes_its_figures_caption_in_the_book():
    figure = _figure_cell()
    caption = _markdown("**Figure.** The sweep: MIG {eval}`mig` (colour: β).", {"mig": _ok("'0.42'")})
    after = _markdown("Next paragraph.")
    nb = nbformat.v4.new_notebook(cells=[figure, caption, after])
    book = prose.for_the_book(copy.deepcopy(nb), "chapters/x")
    assert [c.cell_type for c in book.cells] == ["code", "markdown"]
    options = book.cells[0].metadata["mystnb"]["figure"]
    assert options == {"caption": "The sweep: MIG 0.42 (colour: β).", "name": f"fig-{figure.id}"}
    assert prose.for_the_book(copy.deepcopy(book), "chapters/x") == book  # applying it again changes nothing


@pytest.mark.parametrize("before", ["markdown", "no output", "two outputs"])
def test_a_caption_without_exactly_one_figure_above_it_is_an_error(before):
    above = {
        "markdown": _markdown("Text."),
        "no output": _figure_cell(outputs=0),
        "two outputs": _figure_cell(outputs=2),
    }[before]
    nb = nbformat.v4.new_notebook(cells=[above, _markdown("**Figure.** Caption.")])
    with pytest.raises(ValueError, match="exactly one output"):
        prose.for_the_book(nb, "chapters/x")


def _run(coroutine):
    """Run a coroutine to its end in a thread of its own (the session may hold a running event loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.mark.slow
def test_the_executor_evaluates_each_role_in_reading_order(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("x = f'{3.14159:.2f}'"),
        nbformat.v4.new_markdown_cell("First {eval}`x`."),
        nbformat.v4.new_code_cell("x = 'changed'"),
        nbformat.v4.new_markdown_cell("Then {eval}`x`."),
    ]
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    executed, _, _ = _run(execute.execute_notebook(path, fast=True))
    shown = [prose.with_values(c) for c in executed.cells if c.cell_type == "markdown"]
    assert shown == ["First 3.14.", "Then changed."]

    nb.cells.append(nbformat.v4.new_markdown_cell("Unknown {eval}`nope`."))
    nbformat.write(nb, path)
    with pytest.raises(execute.NotebookFailed, match="nope: NameError"):
        _run(execute.execute_notebook(path, fast=True, attempts=1))


@pytest.mark.parametrize("lesson", execute.toc_notebooks(), ids=lambda p: p.name)
def test_lessons_use_eval_roles_and_store_their_values(lesson):
    """No myst-nb glue (JupyterLab cannot render it); every {eval} has its value stored in the file."""
    nb = nbformat.read(lesson, as_version=4)
    glued = [
        c.get("id")
        for c in nb.cells
        if "glue" in c.source and ("{glue" in c.source or "import glue" in c.source)
    ]
    assert not glued, f"{lesson.name}: cells {glued} still use myst-nb glue; write {{eval}}`name` instead"
    unevaluated = [
        (cell.get("id"), prose.failed(cell))
        for cell in nb.cells
        if cell.cell_type == "markdown" and prose.failed(cell)
    ]
    assert not unevaluated, f"{lesson.name}: execute it to store its values: {unevaluated[:5]}"
