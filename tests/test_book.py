"""Build the book (warnings are errors) and look at the built pages in a real headless Chromium.

The test build renders the outputs stored in the notebooks (every lesson is stored executed with the
book's settings, and nbval re-executes each one with the quick settings in the same `make test`);
`make book` executes every page again. Executing inside the test build as well doubled the notebooks'
cost and, on this machine, the kernels of the Sphinx build intermittently stopped answering (the book
build then waits for its cell timeout), while nbval's kernels never did.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
import yaml

from course_lib import execute, live
from course_lib.config import REPO_ROOT


def _toc_files() -> list[str]:
    """Every document listed in _toc.yml, root first."""
    return execute.toc_documents()


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """Build the whole book once per session with -W -n --keep-going; return the HTML folder.

    The source is staged by ``course_lib.execute --stored``, as ``make book`` stages its executed
    copies, but from the notebooks stored in the repository (see the module docstring).
    """
    out = tmp_path_factory.mktemp("book")
    store = execute.stage_book(out / "source", execute_outcomes_of_stored(), as_stored=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book), "build", str(store), "--path-output", str(out)]
    command += ["--warningiserror", "--nitpick", "--keep-going"]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    log = result.stdout + result.stderr
    (out / "build.log").write_text(log)
    assert result.returncode == 0, f"book build failed (log in {out / 'build.log'}):\n{log[-6000:]}"
    return out / "_build" / "html"


def execute_outcomes_of_stored() -> list[execute.Outcome]:
    """Outcomes for the execution page of the test build: the stored notebooks, no run times."""
    return [
        execute.Outcome(name.relative_to(REPO_ROOT).as_posix(), "stored", 0.0)
        for name in execute.toc_notebooks()
    ]


def test_every_toc_page_is_built(built_book):
    missing = [name for name in _toc_files() if not (built_book / f"{name}.html").exists()]
    assert not missing, f"pages missing from the build: {missing}"


def test_every_notebook_page_is_stored_executed_without_error():
    """The test build renders stored outputs: every code cell must have run, none may hold an error."""
    notebooks = execute.toc_notebooks()  # the exercise sheets are shown unexecuted, on purpose
    assert notebooks, "no notebook in the table of contents"
    for path in notebooks:
        name = path.relative_to(REPO_ROOT).as_posix()
        cells = nbformat.read(path, as_version=4).cells
        code = [cell for cell in cells if cell.cell_type == "code" and cell.source.strip()]
        unrun = [i for i, cell in enumerate(code) if cell.execution_count is None]
        assert not unrun, f"{name}: code cells {unrun} were never run; execute it and store it in place"
        errors = [
            i
            for i, cell in enumerate(code)
            if any(o.output_type == "error" for o in cell.outputs)
            and "raises-exception" not in cell.metadata.get("tags", [])  # failures shown on purpose
        ]
        assert not errors, f"{name}: code cells {errors} stored an unexpected error"


PAGE_BUDGET_BYTES = 3 * 2**20
"""Largest page a reader downloads: its HTML (sounds are embedded in it) plus its images."""


def test_every_page_stays_under_its_weight_budget(built_book):
    """Sounds, images and text under one budget; the live widgets' model weights under their own."""
    heavy, weighty = {}, {}
    for name in _toc_files():
        page = built_book / f"{name}.html"
        html = page.read_text(encoding="utf-8")
        images = re.findall(r'<img[^>]+src="([^"]+)"', html)
        files = [page] + [
            (page.parent / src).resolve() for src in images if not src.startswith(("data:", "http"))
        ]
        weights = live.weights_bytes(html)
        weight = sum(f.stat().st_size for f in files if f.is_file()) - weights
        if weight > PAGE_BUDGET_BYTES:
            heavy[name] = f"{weight / 2**20:.1f} MiB"
        if weights > live.WEIGHTS_BUDGET_BYTES:
            weighty[name] = f"{weights / 2**20:.1f} MiB"
    assert not heavy, f"pages over {PAGE_BUDGET_BYTES / 2**20:.0f} MiB (shorter or fewer sounds?): {heavy}"
    assert not weighty, f"live widgets' weights over {live.WEIGHTS_BUDGET_BYTES / 2**20:.0f} MiB: {weighty}"


LESSONS = ["book/tour", *[name for name in _toc_files() if name.startswith("chapters/")]]
"""The pages a learner reads as lessons (the instructor and build pages may talk about tooling)."""

PROCESS_WORDS = (
    "nbval",
    "verdict",
    "seed assignment",
    "the issue",
    "honest shortfall",
    "bonus",
    "fast mode",
    "course_fast",
    "quick mode",
    "quick run",
    "this page ran in",
    "bench target",
)
"""Words about how the course was made or tested, never about the subject: a lesson has none."""


def _prose(page: Path) -> str:
    """The prose of a built page: no code or printed output, scripts, styles, tags or embedded data."""
    html = page.read_text(encoding="utf-8")
    html = re.sub(r"<(script|style|pre)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("name", LESSONS)
def test_lessons_speak_to_the_learner_not_about_the_process(built_book, name):
    text = _prose(built_book / f"{name}.html").lower()
    found = {word: text.count(word) for word in PROCESS_WORDS if word in text}
    assert not found, f"{name} talks about the process: {found}"


@pytest.mark.parametrize("name", LESSONS)
def test_every_figure_of_a_lesson_has_a_caption(built_book, name):
    """Every plot is a numbered figure with a caption (a '**Figure.**' cell), never a bare cell output."""
    html = (built_book / f"{name}.html").read_text(encoding="utf-8")
    html = re.sub(r"<figure\b.*?</figure>", " ", html, flags=re.S)  # captioned figures
    html = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)  # widget state (the tour's slider)
    bare = re.findall(r'<img[^>]+src="([^"]*_images/[^"]+)"', html)
    assert not bare, f"{name} shows {len(bare)} figure(s) without a caption: {bare[:3]}"


@pytest.fixture(scope="session")
def served_book(built_book):
    """Serve the built site on a loopback port, like a static web host would."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _open(browser, url: str, screenshot: Path):
    """Open a page, wait until it is quiet, save a screenshot; return (page, failed requests)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(url, wait_until="networkidle")
    page.screenshot(path=str(screenshot), full_page=False)
    return page, failed


@pytest.mark.parametrize("name", _toc_files())
def test_page_loads_everything_from_the_site_itself(browser, served_book, built_book, name):
    page, failed = _open(browser, f"{served_book}/{name}.html", built_book / f"{name.replace('/', '_')}.png")
    try:
        assert not failed, f"{name}: requests failed (offline site must serve everything): {failed}"
        broken = page.eval_on_selector_all(
            "img", "imgs => imgs.filter(i => i.naturalWidth === 0).map(i => i.src)"
        )
        assert not broken, f"{name}: images that did not load: {[src[:80] for src in broken]}"
        if page.locator("div.math, span.math").count():
            assert page.locator("mjx-container").count() > 0, f"{name}: MathJax did not typeset the math"
        assert page.locator("mjx-merror").count() == 0, f"{name}: MathJax could not parse an equation"
    finally:
        page.close()


def test_tour_shows_figure_audio_and_a_working_slider(browser, served_book, built_book):
    page, failed = _open(browser, f"{served_book}/book/tour.html", built_book / "tour.png")
    try:
        page.wait_for_selector(".widget-slider", timeout=20_000)
        assert page.locator(".widget-slider").count() == 1
        assert page.locator("audio").count() >= 10  # one player, a 3x3 grid, and the slider's output
        sizes = page.eval_on_selector_all("article img", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(sizes) >= 2 and min(sizes) > 100, f"figures missing or empty: {sizes}"
        assert page.locator("mjx-container").count() > 0, "MathJax did not typeset the equations"
        page.locator(".widget-slider").first.scroll_into_view_if_needed()
        page.screenshot(path=str(built_book / "tour_slider.png"))
        assert not failed, failed
    finally:
        page.close()


def _chapters() -> list[str]:
    return [name for name in _toc_files() if name.startswith("chapters/")]


@pytest.mark.parametrize("name", _chapters())
def test_chapter_shows_figures_sounds_and_equations(browser, served_book, built_book, name):
    page, failed = _open(browser, f"{served_book}/{name}.html", built_book / f"{name.replace('/', '_')}.png")
    try:
        sizes = page.eval_on_selector_all("article img", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(sizes) >= 3 and min(sizes) > 0, f"{name}: figures missing or empty: {sizes}"
        assert page.locator("article audio").count() >= 1, f"{name}: no audio player"
        assert page.locator("mjx-container").count() > 0, f"{name}: MathJax did not typeset the equations"
        assert not failed, failed
    finally:
        page.close()


def _move_slider(page, uid: str, slider: str) -> tuple[bool, bool | None]:
    """Move an explorer's range input ``#<uid>-<slider>`` to 0; did its image and its sound change?

    The sound is None when the explorer has no player.
    """
    image, player = page.locator(f"#{uid}-img"), page.locator(f"#{uid}-audio")
    before = (image.get_attribute("src"), player.get_attribute("src") if player.count() else None)
    page.locator(f"#{uid}-{slider}").fill("0")
    page.locator(f"#{uid}-{slider}").dispatch_event("input")
    after = (image.get_attribute("src"), player.get_attribute("src") if player.count() else None)
    return after[0] != before[0], (after[1] != before[1]) if player.count() else None


# Chapters whose traversals must be explorable without a kernel.
EXPLORER_PAGES = ("chapters/03_1_beta_vae", "chapters/04_1_recurrent_attention")


@pytest.mark.parametrize("name", [name for name in _chapters() if name in EXPLORER_PAGES])
def test_static_explorers_switch_image_and_sound(browser, served_book, built_book, name):
    """Kernel-free latent explorers (course_lib.widgets.static_explorer): moving the slider swaps both."""
    page, _ = _open(browser, f"{served_book}/{name}.html", built_book / f"{name.replace('/', '_')}.png")
    try:
        explorers = page.locator(".course-static-explorer")
        assert explorers.count() >= 1, f"{name}: no kernel-free latent explorer on the page"
        uid = explorers.first.get_attribute("id")
        image_changed, sound_changed = _move_slider(page, uid, "step")
        assert image_changed, f"{name}: the explorer's image did not change"
        assert sound_changed is not False, f"{name}: the explorer's sound did not change"
        explorers.first.scroll_into_view_if_needed()
        page.screenshot(path=str(built_book / f"{name.replace('/', '_')}_explorer.png"))
    finally:
        page.close()


GRID_EXPLORER_PAGES = ("chapters/01_toy_dataset",)
"""Chapters with a kernel-free 2-D explorer (course_lib.widgets.grid_explorer)."""


@pytest.mark.parametrize("name", [name for name in _chapters() if name in GRID_EXPLORER_PAGES])
def test_grid_explorers_switch_image_with_either_slider(browser, served_book, built_book, name):
    """Each of the two sliders of a grid explorer swaps the picture (and the sound, where there is one)."""
    page, _ = _open(browser, f"{served_book}/{name}.html", built_book / f"{name.replace('/', '_')}.png")
    try:
        explorers = page.locator(".course-grid-explorer")
        assert explorers.count() >= 1, f"{name}: no kernel-free grid explorer on the page"
        uid = explorers.first.get_attribute("id")
        for slider in ("row", "col"):
            image_changed, sound_changed = _move_slider(page, uid, slider)
            assert image_changed, f"{name}: the {slider} slider did not change the picture"
            assert sound_changed is not False, f"{name}: the {slider} slider did not change the sound"
        explorers.first.scroll_into_view_if_needed()
        page.screenshot(path=str(built_book / f"{name.replace('/', '_')}_grid.png"))
    finally:
        page.close()


CHOICE_EXPLORER_PAGES = ("chapters/05_2_scan",)
"""Chapters with a kernel-free explorer of choices (course_lib.widgets.choice_explorer)."""


@pytest.mark.parametrize("name", [name for name in _chapters() if name in CHOICE_EXPLORER_PAGES])
def test_choice_explorers_switch_image_and_sound_with_each_menu(browser, served_book, built_book, name):
    """Every menu of a choice explorer swaps the picture and the sound."""
    page, _ = _open(browser, f"{served_book}/{name}.html", built_book / f"{name.replace('/', '_')}.png")
    try:
        explorers = page.locator(".course-choice-explorer")
        assert explorers.count() >= 1, f"{name}: no kernel-free choice explorer on the page"
        uid = explorers.first.get_attribute("id")
        menus = page.locator(f"#{uid} select")
        assert menus.count() >= 2, f"{name}: the choice explorer has fewer than two menus"
        image, player = page.locator(f"#{uid}-img"), page.locator(f"#{uid}-audio")
        for k in range(menus.count()):
            before = (image.get_attribute("src"), player.get_attribute("src"))
            menus.nth(k).select_option(index=1)
            after = (image.get_attribute("src"), player.get_attribute("src"))
            assert after[0] != before[0], f"{name}: menu {k} did not change the picture"
            assert after[1] != before[1], f"{name}: menu {k} did not change the sound"
        explorers.first.scroll_into_view_if_needed()
        page.screenshot(path=str(built_book / f"{name.replace('/', '_')}_choices.png"))
    finally:
        page.close()


LIVE_PAGES = (
    "book/tour",
    "chapters/01_toy_dataset",
    "chapters/02_vae_mnist",
    "chapters/03_2_pitch_and_loudness",
    "chapters/05_2_scan",
)
"""Pages whose synthesizer or decoders run in the reader's browser (course_lib.live)."""


@pytest.mark.parametrize("name", LIVE_PAGES)
def test_live_widgets_play_in_the_built_page(browser, built_book, name):
    """Opened from file://, every live widget of the page redraws and re-renders its sound on a slider."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto((built_book / f"{name}.html").as_uri(), wait_until="load")
        widgets = page.locator(".course-live")
        assert widgets.count() >= 1, f"{name}: no live widget on the page"
        for index in range(widgets.count()):
            uid = widgets.nth(index).get_attribute("id")
            canvas = page.locator(f"#{uid} canvas").first
            canvas.scroll_into_view_if_needed()
            before = canvas.evaluate("c => c.toDataURL()")
            slider = page.locator(f"#{uid} input[type=range]").first
            box = slider.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
            page.wait_for_timeout(300)
            assert canvas.evaluate("c => c.toDataURL()") != before, f"{name}: widget {uid} did not redraw"
        page.screenshot(path=str(built_book / f"{name.replace('/', '_')}_live.png"))
        assert not errors, f"{name}: console errors {errors[:5]}"
    finally:
        page.close()


def test_publishing_workflow_builds_with_make_book_and_publishes_the_html():
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    assert any(step.get("run", "").startswith("make book") for step in steps), (
        "publish what `make book` builds"
    )
    upload = [step for step in steps if step.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert "deploy-pages" in str(workflow["jobs"]["deploy"]["steps"])


def _course_notebooks() -> list[Path]:
    return [*execute.toc_notebooks(), *sorted((REPO_ROOT / "solutions").glob("*.ipynb"))]


@pytest.mark.parametrize("path", _course_notebooks(), ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_nbval_markers_are_cell_tags_not_code_comments(path):
    """nbval reads cell tags; a reader should never see NBVAL comments. Key numbers stay checked."""
    cells = [cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    commented = [i for i, cell in enumerate(cells) if "NBVAL" in cell.source]
    assert not commented, f"code cells {commented} carry NBVAL comments: use nbval-* cell tags"
    checked = [cell for cell in cells if "nbval-check-output" in cell.metadata.get("tags", [])]
    assert checked, "no cell's output is checked by nbval (tag key numbers with nbval-check-output)"


@pytest.mark.parametrize("name", _toc_files())
def test_pages_hold_no_control_characters(name):
    """A backslash lost to a Python string ('\\approx' written as '\\a' + 'pprox') breaks MathJax."""
    source = next(REPO_ROOT.glob(f"{name}.*"))
    if source.suffix == ".ipynb":
        cells = nbformat.read(source, as_version=4).cells
        text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    else:
        text = source.read_text(encoding="utf-8")
    bad = sorted({f"{ord(ch):#04x}" for ch in text if ord(ch) < 32 and ch not in "\n\r"})
    assert not bad, f"{name}: control characters {bad} in the text"
