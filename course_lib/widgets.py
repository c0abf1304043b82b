"""Latent explorers: move a latent coordinate, see the decoded spectrogram and hear it.

Taught in chapters/03_1_beta_vae.ipynb (and reused in chapter 4). Two versions of one idea:

* :func:`latent_sliders` — ipywidgets, one slider per latent dimension, decoding live. It needs a
  running kernel (JupyterLab).
* :func:`static_explorer` — a self-contained HTML/JavaScript page element built from precomputed
  traversal frames: it works in the published book, where no kernel runs.

:func:`grid_explorer` is the kernel-free explorer of a 2-D grid (two sliders): chapter 1's sounds over
two factors, chapter 2's decoded digits over the plane of a two-latent VAE.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from collections.abc import Callable, Sequence

import numpy as np
from IPython.display import HTML, Audio

from course_lib.audio import at_gain, common_gain, play
from course_lib.figures import SEQUENTIAL
from course_lib.traversals import check_grid


def _spectrogram_png(
    spec: np.ndarray, vmin: float, vmax: float, scale: int = 3, cmap: str = SEQUENTIAL, flip: bool = True
) -> bytes:
    """Encode a 2-D array as a small PNG; ``flip`` puts row 0 at the bottom (low frequencies)."""
    from matplotlib import colormaps
    from PIL import Image

    norm = np.clip((np.asarray(spec, dtype=np.float64) - vmin) / max(vmax - vmin, 1e-9), 0.0, 1.0)
    rgba = colormaps[cmap](norm[::-1] if flip else norm)
    image = Image.fromarray((rgba[..., :3] * 255).astype(np.uint8))
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _wav_base64(clip: np.ndarray, sr: int, gain: float) -> str:
    """Encode ``clip * gain`` as base64 WAV, as it is (no normalisation: one gain for a whole explorer)."""
    return base64.b64encode(Audio(at_gain(clip, gain), rate=sr, normalize=False).data).decode("ascii")


def _image_uris(grid: np.ndarray, **png) -> list[str]:
    """Every 2-D array of ``grid`` ``[a, b, height, width]``, row-major, as a PNG data URI.

    One colour scale (the grid's minimum and maximum) for all; ``png`` goes to :func:`_spectrogram_png`.
    """
    vmin, vmax = float(np.min(grid)), float(np.max(grid))
    return [
        "data:image/png;base64," + base64.b64encode(_spectrogram_png(array, vmin, vmax, **png)).decode()
        for array in grid.reshape(-1, *grid.shape[2:])
    ]


def _sound_uris(audio: np.ndarray, sr: int) -> list[str]:
    """Every clip of ``audio`` ``[a, b, samples]``, row-major, as a WAV data URI, all at one gain."""
    clips = list(np.asarray(audio).reshape(-1, np.asarray(audio).shape[-1]))
    gain = common_gain(clips)
    return ["data:audio/wav;base64," + _wav_base64(clip, sr, gain) for clip in clips]


def _explorer_page(
    kind: str, uid: str, title: str, controls: str, data: dict, first: int, *, image_style: str, script: str
) -> HTML:
    """The markup the explorers share: a title, their ``controls``, a picture and a player.

    ``data`` holds the ``images`` and ``sounds`` (data URIs, one per cell) and whatever ``script``
    reads; ``first`` is the cell shown on load. ``script`` is JavaScript that defines ``pick()``,
    returning the index of the chosen cell (and updating its own labels), and ``controls``, the
    elements whose change or input redraws the page.
    """
    sounds = data["sounds"]
    player = f'<audio id="{uid}-audio" controls src="{sounds[first]}"></audio>' if sounds else ""
    return HTML(f"""
<div class="course-{kind}-explorer" id="{uid}" style="font-family:sans-serif;max-width:640px">
  <div style="font-weight:bold">{html.escape(title)}</div>
  {controls}
  <div><img id="{uid}-img" src="{data["images"][first]}" alt="{html.escape(title)}"
    style="image-rendering:pixelated;{image_style};max-width:100%"></div>
  {player}
</div>
<script>
(function() {{
  const data = {json.dumps(data)}, uid = "{uid}";
  {script}
  function show() {{
    const k = pick();
    document.getElementById(uid + "-img").src = data.images[k];
    const player = document.getElementById(uid + "-audio");
    if (player && data.sounds.length) {{ player.src = data.sounds[k]; }}
  }}
  controls.forEach(c => {{ c.addEventListener("change", show); c.addEventListener("input", show); }});
  show();
}})();
</script>""")


def static_explorer(
    frames: np.ndarray,
    values: Sequence[float],
    dim_labels: Sequence[str],
    *,
    audio: np.ndarray | None = None,
    sr: int | None = None,
    title: str = "Latent traversal explorer",
) -> HTML:
    """A kernel-free explorer over precomputed traversals, for the published book.

    ``frames[d, s]`` is the spectrogram ([mels, frames]) decoded when latent ``d`` takes the value
    ``values[s]`` (other latents fixed); ``audio[d, s]`` its sound (optional). The page shows a
    menu to choose the latent and a range slider to move it; JavaScript swaps the image and the
    sound. All sounds play at one gain (:func:`course_lib.audio.common_gain` of the whole set), so a
    latent that changes loudness is heard doing so. Keep it small: every frame is embedded in the page.
    """
    frames = np.asarray(frames)
    n_dims, n_steps = check_grid(frames, "frames", "mels, frames", values, dim_labels)
    if audio is not None and (sr is None or np.asarray(audio).shape[:2] != (n_dims, n_steps)):
        raise ValueError("audio must be [latents, steps, samples] and comes with its sample rate sr.")
    images = _image_uris(frames)
    sounds = _sound_uris(audio, sr) if audio is not None else []
    uid = "explorer-" + hashlib.sha1(frames.tobytes()).hexdigest()[:10]  # stable across runs
    options = "".join(
        f'<option value="{d}">{html.escape(str(label))}</option>' for d, label in enumerate(dim_labels)
    )
    middle = n_steps // 2
    controls = f"""<label>latent <select id="{uid}-dim">{options}</select></label>
  <label style="margin-left:1em">value <input id="{uid}-step" type="range" min="0" max="{n_steps - 1}"
    value="{middle}" step="1" style="vertical-align:middle"></label>
  <span id="{uid}-value"></span>"""
    script = """const dim = document.getElementById(uid + "-dim");
  const step = document.getElementById(uid + "-step");
  const controls = [dim, step];
  function pick() {
    document.getElementById(uid + "-value").textContent = data.labels[Number(step.value)];
    return Number(dim.value) * data.steps + Number(step.value);
  }"""
    data = {"images": images, "sounds": sounds, "steps": n_steps, "labels": [f"{v:+.2f}" for v in values]}
    return _explorer_page(
        "static", uid, title, controls, data, middle, image_style="height:320px;width:auto", script=script
    )


def grid_explorer(
    images: np.ndarray,
    row_values: Sequence[str],
    col_values: Sequence[str],
    row_name: str,
    col_name: str,
    *,
    audio: np.ndarray | None = None,
    sr: int | None = None,
    title: str = "Explorer",
    cmap: str = SEQUENTIAL,
    flip: bool = True,
    scale: int = 3,
    size: tuple[int, int] = (360, 240),
) -> HTML:
    """A kernel-free explorer of a 2-D grid: two sliders choose a cell, the page shows (and plays) it.

    ``images[r, c]`` is a 2-D array (a spectrogram ``[mels, frames]``, drawn with low frequencies at
    the bottom, or an image with ``flip=False``) for row value ``row_values[r]`` and column value
    ``col_values[c]``; ``audio[r, c]`` its sound (optional, with ``sr``). One colour scale for the whole
    grid and one gain for all sounds (:func:`course_lib.audio.common_gain`), so differences in level
    are seen and heard. ``size`` is the (width, height) of the picture on the page, in CSS pixels.
    Every cell is embedded in the page: keep grids small.
    """
    images = np.asarray(images)
    if images.ndim != 4 or min(images.shape) < 1:
        raise ValueError(f"images must be [rows, columns, height, width], got shape {images.shape}.")
    n_rows, n_cols = images.shape[:2]
    if len(row_values) != n_rows or len(col_values) != n_cols:
        raise ValueError(
            f"need {n_rows} row values and {n_cols} column values, "
            f"got {len(row_values)} and {len(col_values)}."
        )
    if audio is not None and (sr is None or np.asarray(audio).shape[:2] != (n_rows, n_cols)):
        raise ValueError("audio must be [rows, columns, samples] and comes with its sample rate sr.")
    pngs = _image_uris(images, scale=scale, cmap=cmap, flip=flip)
    sounds = _sound_uris(audio, sr) if audio is not None else []
    uid = "grid-" + hashlib.sha1(images.tobytes()).hexdigest()[:10]  # stable across runs
    r0, c0 = n_rows // 2, n_cols // 2
    controls = f"""<label>{html.escape(row_name)} <input id="{uid}-row" type="range" min="0"
    max="{n_rows - 1}" value="{r0}" step="1" style="vertical-align:middle"></label>
  <span id="{uid}-rv"></span>
  <label style="margin-left:1em">{html.escape(col_name)} <input id="{uid}-col" type="range" min="0"
    max="{n_cols - 1}" value="{c0}" step="1" style="vertical-align:middle"></label>
  <span id="{uid}-cv"></span>"""
    script = """const row = document.getElementById(uid + "-row");
  const col = document.getElementById(uid + "-col");
  const controls = [row, col];
  function pick() {
    document.getElementById(uid + "-rv").textContent = data.rows[Number(row.value)];
    document.getElementById(uid + "-cv").textContent = data.colv[Number(col.value)];
    return Number(row.value) * data.cols + Number(col.value);
  }"""
    data = {"images": pngs, "sounds": sounds, "cols": n_cols, "rows": [str(v) for v in row_values],
            "colv": [str(v) for v in col_values]}  # fmt: skip
    size_style = f"width:{int(size[0])}px;height:{int(size[1])}px"
    return _explorer_page(
        "grid", uid, title, controls, data, r0 * n_cols + c0, image_style=size_style, script=script
    )


def choice_explorer(
    images: np.ndarray,
    axes: Sequence[tuple[str, Sequence[str]]],
    *,
    audio: np.ndarray | None = None,
    sr: int | None = None,
    title: str = "Explorer",
    size: tuple[int, int] = (360, 240),
) -> HTML:
    """A kernel-free explorer of choices: one menu per axis; the page shows (and plays) the chosen cell.

    ``axes`` names each axis and its choices (``[("concept", ["bass", "bell"]), ("space", ["-", "dry",
    "wet"])]``); ``images[i, j, ...]`` is the spectrogram ``[mels, frames]`` for choice ``i`` of the
    first axis, ``j`` of the second, and so on, and ``audio[i, j, ...]`` its sound (optional, with
    ``sr``). One colour scale and one gain for the whole set (as :func:`grid_explorer`). Chapter 5 uses
    it to let a reader tick words and hear what SCAN imagines for them.
    """
    images = np.asarray(images)
    shape = tuple(len(choices) for _, choices in axes)
    if not axes or images.ndim != len(axes) + 2 or images.shape[: len(axes)] != shape:
        raise ValueError(
            f"images must be [{', '.join(f'{len(c)} {n}' for n, c in axes)}, height, width], "
            f"got {images.shape}."
        )
    if audio is not None and (sr is None or np.asarray(audio).shape[: len(axes)] != shape):
        raise ValueError(f"audio must be [{', '.join(map(str, shape))}, samples] and comes with its rate sr.")
    pngs = _image_uris(images.reshape(1, -1, *images.shape[-2:]), scale=3, cmap=SEQUENTIAL, flip=True)
    sounds = _sound_uris(audio, sr) if audio is not None else []
    uid = "choice-" + hashlib.sha1(images.tobytes()).hexdigest()[:10]  # stable across runs
    strides = [int(np.prod(shape[k + 1 :])) for k in range(len(shape))]
    menus = "".join(
        f'<label style="margin-right:1em">{html.escape(name)} <select id="{uid}-axis{k}">'
        + "".join(
            f'<option value="{c}">{html.escape(str(choice))}</option>' for c, choice in enumerate(choices)
        )
        + "</select></label>"
        for k, (name, choices) in enumerate(axes)
    )
    script = """const controls = data.strides.map((_, k) => document.getElementById(uid + "-axis" + k));
  function pick() {
    return controls.reduce((sum, menu, i) => sum + Number(menu.value) * data.strides[i], 0);
  }"""
    data = {"images": pngs, "sounds": sounds, "strides": strides}
    size_style = f"width:{int(size[0])}px;height:{int(size[1])}px"
    return _explorer_page(
        "choice", uid, title, f"<div>{menus}</div>", data, 0, image_style=size_style, script=script
    )


def latent_sliders(
    decode: Callable[[np.ndarray], np.ndarray],
    z_dim: int,
    *,
    to_audio: Callable[[np.ndarray], np.ndarray] | None = None,
    sr: int | None = None,
    names: Sequence[str] | None = None,
    initial: np.ndarray | None = None,
    limit: float = 3.0,
    step: float = 0.25,
):
    """A live explorer (JupyterLab): one slider per latent; the decoded spectrogram and its sound update.

    ``decode(z)`` maps a code vector [z_dim] to a spectrogram [mels, frames]; ``to_audio`` (for
    example Griffin-Lim) turns that spectrogram into a clip at ``sr`` Hz. Every sound plays at one
    gain, fixed from the starting code's clip (its peak at half full scale, so louder settings have
    6 dB of headroom before they are limited). Returns the widget: :func:`live_note` above, the
    sliders and the decoded output below it.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    if z_dim < 1:
        raise ValueError(f"z_dim must be at least 1, got {z_dim}.")
    if to_audio is not None and sr is None:
        raise ValueError("to_audio needs the sample rate sr of the clips it returns.")
    names = list(names) if names is not None else [f"z{d}" for d in range(z_dim)]
    start = np.zeros(z_dim) if initial is None else np.asarray(initial, dtype=np.float64)
    if len(names) != z_dim or start.shape != (z_dim,):
        raise ValueError(f"names and initial must both have {z_dim} entries.")
    sliders = [
        widgets.FloatSlider(
            value=float(v), min=-limit, max=limit, step=step, description=name, continuous_update=False
        )
        for name, v in zip(names, start, strict=True)
    ]
    out = widgets.Output()
    gain = common_gain([to_audio(decode(start))], peak=0.5) if to_audio is not None else 1.0

    def redraw(_change=None) -> None:
        z = np.array([s.value for s in sliders])
        spec = decode(z)
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(6, 2.6))
            ax.imshow(spec, origin="lower", aspect="auto", cmap=SEQUENTIAL)
            ax.set(xlabel="frame", ylabel="mel band", title="decoded log-mel spectrogram")
            plt.show()
            if to_audio is not None:
                display(play(at_gain(to_audio(spec), gain), sr, normalize=False))

    for slider in sliders:
        slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([live_note(), widgets.HBox([widgets.VBox(sliders), out])])


LIVE_NOTE = (
    "Live in JupyterLab: these sliders decode with a running kernel. On a static page they show "
    "the state they were saved in; use the kernel-free explorer instead."
)


def live_note(text: str = LIVE_NOTE):
    """A visible note above a widget that only works with a running kernel (ipywidgets ``HTML``)."""
    import ipywidgets as widgets

    return widgets.HTML(
        f'<p class="course-live-note" style="margin:0 0 4px;font-size:90%;color:#555">'
        f"&#9889; {html.escape(text)}</p>"
    )
