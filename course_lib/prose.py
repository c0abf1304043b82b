"""Computed numbers and figure captions that read the same in the book and in JupyterLab.

A lesson writes a computed number into its prose with MyST's inline role ``{eval}`name```, where
``name`` is a variable of an earlier code cell. Three readers see the same text:

* **JupyterLab** with jupyterlab-myst evaluates the role in the running kernel, and otherwise shows
  the value stored in the markdown cell's ``user_expressions`` metadata (its own format);
* **the executor** (:mod:`course_lib.execute`) evaluates every role in reading order, right after
  the code cells above it ran, and stores the results in that same metadata;
* **the book** (Sphinx, myst-nb) gets the stored values written into the text when the book's
  source is staged (:func:`for_the_book`), since myst-nb cannot evaluate roles of a notebook it
  does not execute.

A figure is shown by the code cell that draws it; the markdown cell right after it, beginning with
``**Figure.**``, is its caption. JupyterLab shows the pair as it is; for the book the caption is
moved into the code cell's ``mystnb.figure`` metadata, so the figure is numbered and captioned.

Taught nowhere: this is the course's build tooling (see book/engineering.md).
"""

from __future__ import annotations

import ast
import re
from typing import Any

import nbformat

EVAL_ROLE = re.compile(r"\{eval\}`([^`]+)`")
"""MyST's inline expression role; group 1 is the expression."""

CAPTION_MARK = "**Figure.**"
"""How a figure's caption cell begins."""


class UnresolvedExpression(ValueError):
    """An ``{eval}`` role whose value is missing or whose evaluation failed."""


def expressions(markdown: str) -> list[str]:
    """The expressions of the ``{eval}`` roles in ``markdown``, in order, each once."""
    return list(dict.fromkeys(match.group(1) for match in EVAL_ROLE.finditer(markdown)))


def store_results(cell: nbformat.NotebookNode, replies: dict[str, Any]) -> None:
    """Store a kernel's ``user_expressions`` replies in ``cell``'s metadata, jupyterlab-myst's format.

    ``replies`` maps each expression of the cell to the kernel's result
    (``{"status": "ok", "data": {...}, "metadata": {...}}`` or an error).
    """
    cell.metadata["user_expressions"] = [
        {"expression": expression, "result": replies[expression]} for expression in expressions(cell.source)
    ]


def failed(cell: nbformat.NotebookNode) -> list[str]:
    """``'expression: error'`` for each role of ``cell`` whose stored result is not a value."""
    stored = {item["expression"]: item["result"] for item in cell.metadata.get("user_expressions", [])}
    problems = []
    for expression in expressions(cell.source):
        result = stored.get(expression)
        if result is None:
            problems.append(f"{expression}: never evaluated")
        elif result.get("status") != "ok":
            problems.append(f"{expression}: {result.get('ename', 'error')}: {result.get('evalue', '')}")
        elif "text/plain" not in result.get("data", {}):
            problems.append(f"{expression}: no text value")
    return problems


def as_text(result: dict[str, Any]) -> str:
    """The text a reader sees for one stored result: its plain text, a string's quotes removed."""
    text = result["data"]["text/plain"]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            return str(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            return text[1:-1]
    return text


def with_values(cell: nbformat.NotebookNode) -> str:
    """``cell``'s markdown with every ``{eval}`` role replaced by its stored value.

    Raises :class:`UnresolvedExpression` naming the expressions that have no value.
    """
    problems = failed(cell)
    if problems:
        raise UnresolvedExpression("; ".join(problems))
    stored = {item["expression"]: as_text(item["result"]) for item in cell.metadata["user_expressions"]}
    return EVAL_ROLE.sub(lambda match: stored[match.group(1)], cell.source)


def is_caption(cell: nbformat.NotebookNode) -> bool:
    """Whether ``cell`` is the caption cell of the figure above it."""
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith(CAPTION_MARK)


def _figure_outputs(cell: nbformat.NotebookNode) -> int:
    shown = ("display_data", "execute_result")
    return sum(1 for output in cell.get("outputs", []) if output.output_type in shown)


def for_the_book(nb: nbformat.NotebookNode, label: str) -> nbformat.NotebookNode:
    """Prepare an executed notebook for Sphinx: values written in, captions folded into figures.

    ``label`` names the notebook in error messages. A caption cell must follow a code cell with
    exactly one displayed output (the figure). Applying this twice changes nothing more.
    """
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and EVAL_ROLE.search(cell.source):
            try:
                cell.source = with_values(cell)
            except UnresolvedExpression as error:
                where = f"{label}, cell {index} ({cell.get('id', '?')})"
                raise UnresolvedExpression(f"{where}: {error}") from None
        if is_caption(cell):
            figure = cells[-1] if cells else None
            if figure is None or figure.cell_type != "code" or _figure_outputs(figure) != 1:
                raise ValueError(
                    f"{label}, cell {index} ({cell.get('id', '?')}): a '{CAPTION_MARK}' caption must follow "
                    "a code cell that displays exactly one output (its figure)."
                )
            caption = cell.source.lstrip()[len(CAPTION_MARK) :].strip()
            figure.metadata.setdefault("mystnb", {})["figure"] = {
                "caption": caption,
                "name": f"fig-{figure.get('id', index)}",
            }
            continue
        cells.append(cell)
    nb.cells = cells
    return nb
