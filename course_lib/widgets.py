"""Latent explorers: move a latent coordinate, see the decoded spectrogram and hear it.

Taught in chapters/03_beta_vae.ipynb (and reused in chapter 4). Two versions of one idea:

* :func:`latent_sliders` — ipywidgets, one slider per latent dimension, decoding live. It needs a
  running kernel (JupyterLab).
* :func:`static_explorer` — a self-contained HTML/JavaScript page element built from precomputed
  traversal frames: it works in the published book, where no kernel runs.
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
from course_lib.traversals import check_grid


def _spectrogram_png(spec: np.ndarray, vmin: float, vmax: float, scale: int = 3) -> bytes:
    """Encode a [mels, frames] array as a small PNG (low frequencies at the bottom)."""
    from matplotlib import colormaps
    from PIL import Image

    norm = np.clip((np.asarray(spec, dtype=np.float64) - vmin) / max(vmax - vmin, 1e-9), 0.0, 1.0)
    rgba = colormaps["magma"](norm[::-1])
    image = Image.fromarray((rgba[..., :3] * 255).astype(np.uint8))
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _wav_base64(clip: np.ndarray, sr: int, gain: float) -> str:
    """Encode ``clip * gain`` as base64 WAV, as it is (no normalisation: one gain for a whole explorer)."""
    return base64.b64encode(Audio(at_gain(clip, gain), rate=sr, normalize=False).data).decode("ascii")


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
    vmin, vmax = float(np.min(frames)), float(np.max(frames))
    images = [
        ["data:image/png;base64," + base64.b64encode(_spectrogram_png(frames[d, s], vmin, vmax)).decode()]
        for d in range(n_dims)
        for s in range(n_steps)
    ]
    gain = common_gain(list(np.asarray(audio).reshape(n_dims * n_steps, -1))) if audio is not None else 1.0
    sounds = (
        [
            ["data:audio/wav;base64," + _wav_base64(audio[d, s], sr, gain)]
            for d in range(n_dims)
            for s in range(n_steps)
        ]
        if audio is not None
        else []
    )
    uid = "explorer-" + hashlib.sha1(frames.tobytes()).hexdigest()[:10]  # stable across runs
    options = "".join(
        f'<option value="{d}">{html.escape(str(label))}</option>' for d, label in enumerate(dim_labels)
    )
    data = json.dumps({"images": [i[0] for i in images], "sounds": [s[0] for s in sounds], "steps": n_steps})
    labels = json.dumps([f"{v:+.2f}" for v in values])
    middle = n_steps // 2
    player = f'<audio id="{uid}-audio" controls src="{sounds[middle][0]}"></audio>' if sounds else ""
    markup = f"""
<div class="course-static-explorer" id="{uid}" style="font-family:sans-serif;max-width:640px">
  <div style="font-weight:bold">{html.escape(title)}</div>
  <label>latent <select id="{uid}-dim">{options}</select></label>
  <label style="margin-left:1em">value <input id="{uid}-step" type="range" min="0" max="{n_steps - 1}"
    value="{middle}" step="1" style="vertical-align:middle"></label>
  <span id="{uid}-value"></span>
  <div><img id="{uid}-img" src="{images[middle][0]}" alt="decoded spectrogram"
    style="image-rendering:pixelated;height:320px;width:auto;max-width:100%"></div>
  {player}
</div>
<script>
(function() {{
  const data = {data}, labels = {labels}, uid = "{uid}";
  const dim = document.getElementById(uid + "-dim"), step = document.getElementById(uid + "-step");
  function show() {{
    const k = Number(dim.value) * data.steps + Number(step.value);
    document.getElementById(uid + "-img").src = data.images[k];
    document.getElementById(uid + "-value").textContent = labels[Number(step.value)];
    const player = document.getElementById(uid + "-audio");
    if (player && data.sounds.length) {{ player.src = data.sounds[k]; }}
  }}
  dim.addEventListener("change", show); step.addEventListener("input", show); show();
}})();
</script>"""
    return HTML(markup)


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
            ax.imshow(spec, origin="lower", aspect="auto", cmap="magma")
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
