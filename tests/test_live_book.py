"""A small book built with the course's _config.yml: live widgets and ipywidgets pages log no console error.

Two pages, in ``chapters/`` as the lessons are: one with a saved ipywidgets slider and math (the
``MathJax.Hub.Queue`` error of chapters 3 and 4), one with the live synthesizer and a live decoder.
Every page also carried sphinx-thebe's script twice (``THEBE_JS_URL``); course_lib.book_pages fixes both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from course_lib import live

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS = REPO_ROOT / "book" / "_js_assets"


@pytest.fixture(scope="module")
def small_book(tmp_path_factory, tiny_vae) -> Path:
    if not (ASSETS / ".complete").exists():
        pytest.skip("the book's JavaScript is not fetched (make js-assets)")
    root = tmp_path_factory.mktemp("book")
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))
    (root / "refs.bib").write_text("")
    config["bibtex_bibfiles"] = ["refs.bib"]
    config["exclude_patterns"] = ["_build/*"]
    config["sphinx"]["config"]["html_extra_path"] = [str(ASSETS)]
    (root / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nchapters:\n- file: chapters/sliders\n- file: chapters/live\n"
    )
    (root / "index.md").write_text("# A small book\n\nMath: $x^2$.\n")
    (root / "chapters").mkdir()
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    sliders = nbformat.v4.new_notebook(metadata={"kernelspec": kernel})
    sliders.cells = [
        nbformat.v4.new_markdown_cell("# Sliders\n\nMath: $a + b$."),
        nbformat.v4.new_code_cell("import ipywidgets\nipywidgets.FloatSlider(description='$z_0$')"),
    ]
    NotebookClient(sliders, store_widget_state=True, timeout=120).execute()
    nbformat.write(sliders, root / "chapters" / "sliders.ipynb")
    widgets = [
        live.synth_widget(),
        live.decoder_widget(tiny_vae(in_shape=(64, 32), z_dim=3, hidden=(8,), likelihood="gaussian")),
    ]
    page = nbformat.v4.new_notebook(metadata={"kernelspec": kernel})
    page.cells = [nbformat.v4.new_markdown_cell("# Live\n\nMath: $c$.")] + [
        nbformat.v4.new_code_cell(
            "widget",
            execution_count=i + 1,
            outputs=[nbformat.v4.new_output("display_data", data={"text/html": w.data})],
        )
        for i, w in enumerate(widgets)
    ]
    nbformat.write(page, root / "chapters" / "live.ipynb")
    build = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "--warningiserror"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield root / "_build" / "html"
    shutil.rmtree(root / "_build", ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["index", "chapters/sliders", "chapters/live"])
def test_a_built_page_opened_from_file_logs_no_console_error(browser, small_book, name):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((small_book / f"{name}.html").as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(1500)  # the widget manager and MathJax start after the load event
    if name == "chapters/live":
        assert page.evaluate("Object.keys(CourseLive.widgets).length") == 2
    if name == "chapters/sliders":
        assert page.locator(".widget-slider").count() == 1
    page.close()
    assert not errors, errors
    html = (small_book / f"{name}.html").read_text(encoding="utf-8")
    assert html.count("const THEBE_JS_URL") == 1
