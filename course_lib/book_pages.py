"""A small Sphinx extension that keeps the built book's pages free of console errors (``_config.yml``).

Three errors every reader's browser console showed, opened from ``file://`` or from a server:

* ``Identifier 'THEBE_JS_URL' has already been declared`` on every page: sphinx-thebe adds its inline
  script with ``app.add_js_file(None, body=...)`` after the builder is set up, so Sphinx 7.4 keeps it
  twice: once in the builder (file name ``None``) and once re-added from the registry before writing
  (file name ``""``), which the builder's duplicate check takes for a different script. The builder's
  copy is dropped; the registry's is written once.
* ``Cannot read properties of undefined (reading 'Queue')`` on pages with ipywidgets (chapters 3 and 4):
  the ipywidgets 8 html-manager typesets widget labels with MathJax 2's ``MathJax.Hub.Queue``, and the
  book loads MathJax 3, which has no ``Hub``. :data:`MATHJAX_HUB_SHIM` maps that call onto MathJax 3's
  ``typesetPromise``.
* ``Got invalid theme mode: .`` (pydata-sphinx-theme, under sphinx-book-theme): the template's
  ``default_mode`` is empty unless ``html_context`` sets it; it is set to ``auto``.
"""

from __future__ import annotations

from typing import Any

MATHJAX_HUB_SHIM = """(function () {
  function queue(job) {
    var mj = window.MathJax, element = job && job[2];
    if (mj && mj.typesetPromise) mj.typesetPromise(element ? [element] : undefined).catch(function () {});
  }
  var mj = (window.MathJax = window.MathJax || {});
  mj.Hub = mj.Hub || { Queue: queue };
  if (mj.version) return;
  mj.startup = mj.startup || {};
  var ready = mj.startup.ready;
  mj.startup.ready = function () {
    if (ready) ready(); else window.MathJax.startup.defaultReady();
    window.MathJax.Hub = window.MathJax.Hub || { Queue: queue };
  };
})();"""
"""MathJax 2's ``MathJax.Hub.Queue`` on top of MathJax 3 (after the page's MathJax configuration, before
MathJax itself, which Sphinx loads deferred)."""


def _drop_builder_copies(app: Any, env: Any, docnames: list[str]) -> None:
    """Drop inline scripts added to the builder with file name ``None``: the registry re-adds them once."""
    scripts = getattr(app.builder, "_js_files", None)
    if scripts is not None:
        scripts[:] = [script for script in scripts if script.filename is not None]


def _default_mode(app: Any, config: Any) -> None:
    config.html_context.setdefault("default_mode", "auto")


def setup(app: Any) -> dict[str, Any]:
    """Register the three fixes (Sphinx extension entry point)."""
    app.connect("env-before-read-docs", _drop_builder_copies, priority=900)  # after sphinx-thebe's (500)
    app.connect("config-inited", _default_mode)
    app.add_js_file("", body=MATHJAX_HUB_SHIM, priority=600)  # after Sphinx's MathJax configuration (500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
