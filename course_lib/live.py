"""Live widgets for the static book: the synthesizer and the decoders run in the reader's browser.

Taught in chapters/01_toy_dataset.ipynb and the tour (the synthesizer), chapters/02_vae_mnist.ipynb
(the 2-D latent plane of MNIST) and chapters/03_1_beta_vae.ipynb (two published decoders side by side).

Each function returns one self-contained HTML/JavaScript output (an ``IPython.display.HTML``): no
kernel, no server, no download. It works in the built book opened from ``file://`` (where ``fetch`` of
local files is blocked) and from a web server, and in JupyterLab (trusted output).

* :func:`decoder_widget` exports an MLP decoder's weights as float16 (base64, inline); the page runs the
  forward pass in plain JavaScript over typed arrays, draws the log-mel (or the image) on a canvas with
  the course's colour map and scale, and on a slider's release turns the log-mel into sound: the mel
  bands back to an STFT magnitude (non-negative least squares by multiplicative updates) and the phase
  by Griffin-Lim (with librosa's momentum) over a small JavaScript FFT. Web Audio plays the clip at one
  fixed gain, never normalised, so a loudness latent stays audible.
* :func:`synth_widget` has one slider per factor of a preset and renders the sound in JavaScript with
  :mod:`course_lib.synth`'s model (same partials, envelope, noise numbers and RMS level), then its log-mel.

The JavaScript lives in ``course_lib/live_js/`` (one file per idea); every widget carries the bundle
(about 25 kB), run once per page. The tests (``tests/test_live*.py``) check the browser against
PyTorch, :mod:`course_lib.synth` and librosa; ``python -m course_lib.bench`` times a slider's release.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from IPython.display import HTML
from torch import nn

from course_lib.factors import FactorSpace
from course_lib.features import LogMel
from course_lib.figures import SEQUENTIAL
from course_lib.loudness import LevelChannelModel
from course_lib.presets import get_preset

JS_DIR = Path(__file__).with_name("live_js")
JS_FILES = ("fft.js", "features.js", "griffinlim.js", "mlp.js", "synth.js", "widget.js")
"""The JavaScript bundle, in load order."""

_ACTIVATIONS = {
    nn.ReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.ELU: "elu",
    nn.Softplus: "softplus",
}


@dataclass(frozen=True)
class ExportedDecoder:
    """A decoder ready for the page: its layers, the float16 weights, and how to read its output."""

    layers: list[dict[str, Any]]
    weights: bytes
    output: dict[str, Any]
    shape: tuple[int, int]
    z_dim: int


def bundle() -> str:
    """The widgets' JavaScript, defined once per page (``window.CourseLive``)."""
    body = "\n".join((JS_DIR / name).read_text(encoding="utf-8") for name in JS_FILES)
    head = "if (!window.CourseLive) { (function () {\nconst CL = (window.CourseLive = {});\n"
    return f"{head}{body}\n}})(); }}"


def _linear_layers(decoder: nn.Module) -> list[tuple[nn.Linear, str]]:
    """The Linear layers of an MLP decoder in order, each with the activation that follows it."""
    layers: list[tuple[nn.Linear, str]] = []
    for module in decoder.modules():
        if isinstance(module, nn.Linear):
            layers.append((module, "identity"))
        elif type(module) in _ACTIVATIONS:
            if not layers or layers[-1][1] != "identity":
                raise ValueError(f"an activation {type(module).__name__} without a Linear layer before it.")
            layers[-1] = (layers[-1][0], _ACTIVATIONS[type(module)])
        elif list(module.children()) == [] and not isinstance(module, nn.Identity):
            raise ValueError(
                f"the live decoder runs Linear layers and {list(_ACTIVATIONS.values())} only, "
                f"found {type(module).__name__}."
            )
    if not layers:
        raise ValueError("the decoder has no Linear layer.")
    return layers


def export_decoder(model: nn.Module, shape: Sequence[int] | None = None) -> ExportedDecoder:
    """Export an MLP decoder for the page: float16 weights and what its output means.

    ``model``: a :class:`~course_lib.models.vae.VAE` with an MLP decoder (Gaussian: log-mel means;
    Bernoulli: an image, ``sigmoid(logits)``), or a :class:`~course_lib.loudness.LevelChannelModel`
    (chapter 3's published models: the level channel is turned back into a log-mel in the page).
    ``shape``: ``(rows, columns)`` of the output (default: the decoder's, 784 read as 28 x 28).
    """
    if isinstance(model, LevelChannelModel):
        vae, out_shape = model.vae, model.shape
        output: dict[str, Any] = {
            "type": "level_channel",
            "mean": model.scale.mean,
            "std": model.scale.std,
            "level_gain": float(model.level_gain),
            "relative_range": float(model.relative_range),
        }
    else:
        vae = model
        out_shape = tuple(getattr(vae.decoder, "out_shape", ()))
        output = {"type": "image" if getattr(vae, "likelihood", "gaussian") == "bernoulli" else "logmel"}
    if shape is None:
        shape = (28, 28) if math.prod(out_shape) == 784 else out_shape
    if len(tuple(shape)) != 2:
        raise ValueError(f"give the output's (rows, columns) as shape, got {tuple(shape)}.")
    layers = _linear_layers(vae.decoder)
    if vae.likelihood == "bernoulli":
        layers[-1] = (layers[-1][0], "sigmoid")
    spec, weights = _export_layers(layers)
    return ExportedDecoder(spec, weights, output, tuple(int(s) for s in shape), spec[0]["n_in"])


def _export_layers(layers: list[tuple[nn.Linear, str]]) -> tuple[list[dict[str, Any]], bytes]:
    """Each layer's sizes and activation, and every weight then bias in float16 (little-endian)."""
    spec, chunks = [], []
    for linear, activation in layers:
        spec.append({"n_in": linear.in_features, "n_out": linear.out_features, "activation": activation})
        for tensor in (linear.weight, linear.bias):
            chunks.append(tensor.detach().cpu().to(torch.float16).numpy().astype("<f2").tobytes())
    return spec, b"".join(chunks)


def _mel_bands(features: LogMel) -> list[dict[str, Any]]:
    """The mel matrix as one ``{start, weights}`` run of non-zero weights per band (a few kB of JSON)."""
    bands = []
    for row in features.mel_basis:
        nonzero = np.flatnonzero(row)
        start, stop = int(nonzero[0]), int(nonzero[-1]) + 1
        bands.append({"start": start, "weights": [float(f"{w:.7g}") for w in row[start:stop]]})
    return bands


def _colour_table(cmap: str) -> list[int]:
    """256 RGB colours of a matplotlib colour map, flattened (``[r0, g0, b0, r1, ...]``)."""
    from matplotlib import colormaps

    rgb = colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return [int(v) for v in np.round(rgb * 255).astype(np.uint8).ravel()]


def _json_script(data: Any) -> str:
    return json.dumps(data).replace("</", "<\\/")


def _axes_note(features: LogMel, frames: int) -> str:
    seconds = (frames - 1) * features.hop_length / features.sr
    return f"time 0-{seconds:.1f} s (right), mel bands 0-{features.fmax / 1000:g} kHz (up); level:"


def _colour_bar(lut: list[int], low: str, high: str, width: int, note: str = "") -> str:
    stops = ", ".join(f"rgb({lut[3 * i]},{lut[3 * i + 1]},{lut[3 * i + 2]})" for i in range(0, 256, 32))
    return (
        f'<div style="width:{width}px;font-size:11px;color:#444">{html.escape(note)}'
        f'<div style="height:8px;background:linear-gradient(to right, {stops}, '
        f'rgb({lut[-3]},{lut[-2]},{lut[-1]}))"></div>'
        f'<div style="display:flex;justify-content:space-between"><span>{low}</span><span>{high}</span></div>'
        "</div>"
    )


def _page(
    uid: str, title: str, data: dict[str, Any], weights: bytes | None, size: tuple[int, int], bar: str
) -> HTML:
    """The markup every live widget shares: title, canvas and colour bar, sliders, reset and play."""
    label_width = "13em" if any(len(s["label"]) > 4 for s in data["sliders"]) else "3em"
    rows = []
    for s in data["sliders"]:
        rows.append(
            '<label style="display:flex;align-items:center;gap:6px;margin:1px 0">'
            f'<span style="width:{label_width};white-space:nowrap;overflow:hidden">'
            f"{html.escape(s['label'])}</span>"
            f'<input type="range" min="{s["low"]}" max="{s["high"]}" step="{s["step"]}" value="{s["start"]}" '
            f'aria-label="{html.escape(s["label"])}" style="width:150px">'
            '<span class="cl-value" style="width:7em;font-variant-numeric:tabular-nums"></span></label>'
        )
    play = "" if data.get("output", {}).get("type") == "image" else '<button class="cl-play">play</button>'
    if "words" in data:
        boxes = "".join(
            f'<label style="margin-right:6px;white-space:nowrap"><input type="checkbox" class="cl-word" '
            f'value="{i}">{html.escape(word)}</label> '
            for i, word in enumerate(data["words"]["vocabulary"])
        )
        play += ' <button class="cl-sample">sample a sound of these words</button>'
        play += f'<div style="max-width:420px">{boxes}</div>'
    weights_tag = (
        ""
        if weights is None
        else f'<script type="text/plain" class="course-live-weights" id="{uid}-weights">'
        f"{base64.b64encode(weights).decode('ascii')}</script>"
    )
    width, height = size
    return HTML(f"""<div class="course-live" id="{uid}" style="font:13px sans-serif;display:inline-block;\
vertical-align:top;border:1px solid #ddd;border-radius:4px;padding:8px;margin:4px;max-width:100%">
<div style="font-weight:bold;margin-bottom:4px">{html.escape(title)}</div>
<div style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">
<div><canvas role="img" aria-label="{html.escape(title)}" style="width:{width}px;height:{height}px;\
image-rendering:pixelated;display:block"></canvas>{bar}</div>
<div>{"".join(rows)}
<div style="margin-top:4px"><button class="cl-reset">reset</button> {play}
<span class="cl-status" style="color:#a00"></span></div></div></div>
<script type="application/json" id="{uid}-data">{_json_script(data)}</script>
{weights_tag}
<script>{bundle()}
CourseLive.mount("{uid}");</script>
</div>""")


def decoder_widget(
    model: nn.Module,
    *,
    title: str = "decoder, live",
    labels: Sequence[str | None] | Mapping[int, str] | None = None,
    initial: Sequence[float] | np.ndarray | None = None,
    limit: float = 3.0,
    gain: float = 1.0,
    n_iter: int = 32,
    shape: Sequence[int] | None = None,
    features: LogMel | None = None,
    cmap: str | None = None,
    words: tuple[nn.Module, Sequence[str]] | None = None,
) -> HTML:
    """One slider per latent; the decoder runs in the page, its log-mel is drawn and played on release.

    ``labels``: what each latent carries, e.g. ``{3: "pitch (0.72)"}`` -> "z3 ~ pitch (0.72)"
    (:func:`latent_labels` makes them from a factor x latent score matrix). ``initial``: the code the
    sliders start from and reset to (default 0). ``gain``: the one gain every clip plays at (1: the
    samples as decoded). ``n_iter``: Griffin-Lim iterations. ``features``: the log-mel settings the
    model was trained on (default :class:`LogMel`'s). An image decoder (Bernoulli, chapter 2) shows
    its image in grey, with no sound.

    ``words``: ``(scan, vocabulary)`` (chapter 5) adds a tick box per word and a "sample" button:
    the page encodes the ticked phrase with SCAN's symbol encoder (:class:`~course_lib.models.scan.SCAN`,
    exported too), draws a code from q(z|words), sets the sliders to it and plays its sound.
    """
    exported = export_decoder(model, shape)
    z_dim = exported.z_dim
    start = np.zeros(z_dim) if initial is None else np.asarray(initial, dtype=np.float64).reshape(-1)
    if start.shape != (z_dim,):
        raise ValueError(f"initial must hold {z_dim} values (one per latent), got {start.shape}.")
    names = _slider_names(labels, z_dim)
    features = LogMel() if features is None else features
    rows, cols = exported.shape
    is_image = exported.output["type"] == "image"
    lut = _colour_table(cmap or ("gray_r" if is_image else SEQUENTIAL))
    data = {
        "kind": "decoder",
        "output": exported.output,
        "layers": exported.layers,
        "shape": [rows, cols],
        "sliders": [
            {
                "name": f"z{i}",
                "label": name,
                "unit": "",
                "low": -limit,
                "high": limit,
                "step": 0.01,
                "start": float(start[i]),
                "log": False,
            }
            for i, name in enumerate(names)
        ],
        "features": features.settings,
        "mel": [] if is_image else _mel_bands(features),
        "sr": features.sr,
        "length": (cols - 1) * features.hop_length,
        "n_iter": int(n_iter),
        "gain": float(gain),
        "lut": lut,
        "vmin": 0.0,
        "vmax": 1.0,
    }
    weights = exported.weights
    if words is not None:
        data["words"], encoder_weights = _export_words(*words, z_dim)
        weights += encoder_weights
    scale = 8 if is_image else 6
    height = rows * (scale if is_image else 3)
    bar = (
        ""
        if is_image
        else _colour_bar(lut, f"{features.floor_db:g} dB", "0 dB", cols * scale, _axes_note(features, cols))
    )
    return _page(_uid(data, weights), title, data, weights, (cols * scale, height), bar)


def _export_words(scan: nn.Module, vocabulary: Sequence[str], z_dim: int) -> tuple[dict[str, Any], bytes]:
    """SCAN's symbol encoder for the page: its layers (after the decoder's weights) and the vocabulary."""
    encoder = scan.encoder
    if encoder.n_words != len(vocabulary) or encoder.z_dim != z_dim:
        raise ValueError(
            f"SCAN encodes {encoder.n_words} words into {encoder.z_dim} latents; got a vocabulary of "
            f"{len(vocabulary)} words and a decoder of {z_dim} latents."
        )
    layers, weights = _export_layers(_linear_layers(encoder))
    return {"vocabulary": list(vocabulary), "layers": layers}, weights


def _slider_names(labels: Sequence[str | None] | Mapping[int, str] | None, z_dim: int) -> list[str]:
    if labels is None:
        labels = {}
    if not isinstance(labels, Mapping):
        if len(labels) != z_dim:
            raise ValueError(f"labels must have {z_dim} entries (one per latent), got {len(labels)}.")
        labels = dict(enumerate(labels))
    bad = [i for i in labels if not 0 <= int(i) < z_dim]
    if bad:
        raise ValueError(f"labels name latents {bad}; the latents are 0..{z_dim - 1}.")
    return [f"z{i} ~ {labels[i]}" if labels.get(i) else f"z{i}" for i in range(z_dim)]


def latent_labels(scores: np.ndarray, factor_names: Sequence[str], threshold: float = 0.1) -> dict[int, str]:
    """What each latent carries: its factor of highest score, ``{latent: "pitch (0.72)"}``.

    ``scores`` is ``[latents, factors]``, as :func:`course_lib.metrics.information.mutual_information_matrix`
    returns it (normalised: 1 means the latent determines the factor); a latent whose best score is below
    ``threshold`` gets no label.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(factor_names):
        raise ValueError(f"scores must be [latents, factors={len(factor_names)}], got {scores.shape}.")
    best = scores.argmax(axis=1)
    return {
        d: f"{factor_names[best[d]]} ({scores[d, best[d]]:.2f})"
        for d in range(scores.shape[0])
        if scores[d, best[d]] >= threshold
    }


def factor_words(factor_space: FactorSpace) -> list[str]:
    """The everyday word of each factor ("pitch", "loudness", ...): its meaning up to a colon or comma."""
    return [f.meaning.split(":")[0].split(",")[0] for f in factor_space.factors]


_SYNTH_UNITS = {
    "f0": "Hz",
    "level": "dB",
    "tilt": "dB/oct",
    "odd_even": "dB",
    "inharmonicity": "B",
    "hnr": "dB",
    "attack": "ms",
}
_LOG_SLIDERS = ("f0", "attack")


def synth_widget(
    preset: str = "default",
    *,
    title: str = "the synthesizer, live",
    gain: float = 1.0,
    seed: int = 0,
    clip_id: int = 0,
) -> HTML:
    """One slider per factor of ``preset``, over its range: the page renders the sound and its log-mel.

    The sound is :mod:`course_lib.synth`'s for these parameters (noise of clip ``clip_id`` under
    ``seed``), played at one fixed ``gain`` (1: as rendered, so the level slider is heard). Pitch and
    attack move on a log scale. Supports the static-spectrum presets (one note, no modulation).
    """
    p = get_preset(preset)
    supported = set(_SYNTH_UNITS) | {"release"}
    names = set(p.factor_space.names) | set(p.constants)
    if not names <= supported:
        raise ValueError(
            f"the live synthesizer plays {sorted(supported)}; preset {preset!r} also "
            f"varies or fixes {sorted(names - supported)}."
        )
    defaults = {"attack": 10.0, "release": 30.0, "odd_even": 0.0, "inharmonicity": 0.0, "hnr": math.inf}
    constants = {**defaults, **dict(p.constants)}
    features = LogMel(sr=p.sr)
    sliders = []
    for factor, word in zip(p.factor_space.factors, factor_words(p.factor_space), strict=True):
        low, high = factor.values[0], factor.values[-1]
        middle = factor.values[len(factor.values) // 2]
        if factor.name in _LOG_SLIDERS:
            s = {
                "low": 0,
                "high": 1,
                "step": 0.001,
                "start": math.log(middle / low) / math.log(high / low),
                "log": True,
                "min": low,
                "max": high,
            }
        else:
            s = {"low": low, "high": high, "step": (high - low) / 200, "start": middle, "log": False}
        s.update(
            name=factor.name,
            label=f"{factor.name} ({word})",
            unit=_SYNTH_UNITS.get(factor.name, ""),
        )
        sliders.append(s)
    for name in p.factor_space.names:
        constants.pop(name, None)
    data = {
        "kind": "synth",
        "sliders": sliders,
        "constants": {k: (v if math.isfinite(v) else None) for k, v in constants.items()},
        "shape": [features.n_mels, features.n_frames(p.n_samples)],
        "features": features.settings,
        "mel": _mel_bands(features),
        "sr": p.sr,
        "duration": p.duration,
        "seed": int(seed),
        "clip_id": int(clip_id),
        "gain": float(gain),
        "lut": _colour_table(SEQUENTIAL),
        "vmin": 0.0,
        "vmax": 1.0,
    }
    rows, cols = data["shape"]
    lut = data["lut"]
    bar = _colour_bar(lut, f"{features.floor_db:g} dB", "0 dB", cols * 6, _axes_note(features, cols))
    return _page(_uid(data, None), title, data, None, (cols * 6, rows * 3), bar)


def side_by_side(*widgets: HTML) -> HTML:
    """Several live widgets in one output, next to each other (they wrap on a narrow page)."""
    return HTML(
        '<div style="display:flex;flex-wrap:wrap;gap:8px">' + "".join(w.data for w in widgets) + "</div>"
    )


WEIGHTS_BUDGET_BYTES = 4 * 2**20
"""Exported weights one page may carry (base64 text), counted apart from the page's other weight."""


def weights_bytes(widget: HTML | str) -> int:
    """Bytes of exported weights in a widget, or in a built page's HTML (base64 text, as downloaded)."""
    text = widget if isinstance(widget, str) else widget.data
    total, marker = 0, 'class="course-live-weights"'
    for part in text.split(marker)[1:]:
        total += len(part.split(">", 1)[1].split("</script>", 1)[0])
    return total


def _uid(data: dict[str, Any], weights: bytes | None) -> str:
    """A stable element id (the same widget gets the same id in every build)."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode() + (weights or b""))
    return f"course-live-{digest.hexdigest()[:12]}"
