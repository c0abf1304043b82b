r"""Architecture diagrams: labelled boxes joined by arrows, drawn with matplotlib alone.

Taught in chapters/02_vae_mnist.ipynb (:func:`vae_diagram`), chapters/04_1_recurrent_attention.ipynb
(:func:`recurrent_attention_diagram`) and chapters/05_2_scan.ipynb (:func:`scan_diagram`), where each
chapter first describes its model. All three are lists drawn by :func:`block_diagram`:

* a **block** ``(name, x, y, label, kind)``: a rounded box sized to its label, centred at ``(x, y)``
  inches from the bottom-left corner, coloured by its kind (:data:`KINDS`);
* an **arrow** ``(source, target[, label[, side]])`` between the edges of two boxes, its label beside
  the middle of the visible line (``side``: a key of :data:`SIDES`); arrows to or from a loss are
  dashed: they carry a training signal, not data;
* a **group** ``(label, names[, "top" | "bottom"])``: a dashed frame around blocks, labelled inside it.

Every part keeps its role in its ``gid`` (``"block:<name>"``, ``"box:<name>"``, ``"arrow:<a>-><b>"``,
``"arrow label:<a>-><b>"``, ``"group:<label>"``), so tests and readers can find it again.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch
from matplotlib.transforms import Bbox

KINDS: dict[str, tuple[str, str, str]] = {
    "data": ("#e6edf5", "#4a6a8a", "data"),
    "network": ("#fbe5c8", "#b8741a", "network"),
    "latent": ("#dcefdc", "#3f7f3f", "latent"),
    "loss": ("#f7dada", "#a33b3b", "training loss"),
}
"""Fill colour, edge colour and legend entry of each kind of block."""

GAP = 0.07
SIDES: dict[str, tuple[float, float, str, str]] = {
    "above": (0, GAP, "center", "bottom"),
    "below": (0, -GAP, "center", "top"),
    "left": (-GAP, 0, "right", "center"),
    "right": (GAP, 0, "left", "center"),
    "above left": (-GAP, GAP, "right", "bottom"),
    "below right": (GAP, -GAP, "left", "top"),
}
"""Where an arrow's label sits from the middle of the arrow: (dx, dy) inches and its alignment."""

FONTSIZE, SMALL = 10.0, 9.0
"""Font sizes of block labels, and of arrow, group and legend labels."""
GREY, DARK = "#6b6b6b", "#3d3d3d"
ROUND = "round,pad=0,rounding_size=0.07"


def _leaves(box: Bbox, start: tuple[float, float], end: tuple[float, float]) -> float:
    """Fraction of the way from ``start`` (inside ``box``) to ``end`` where the line leaves the box."""
    limits = zip(((box.x0, box.x1), (box.y0, box.y1)), start, end, strict=True)
    return min([1.0] + [((hi if b > a else lo) - a) / (b - a) for (lo, hi), a, b in limits if b != a])


def block_diagram(
    blocks: Sequence[tuple],
    arrows: Sequence[tuple] = (),
    groups: Sequence[tuple] = (),
    size: tuple[float, float] = (9.6, 3.0),
) -> Figure:
    """Draw ``blocks``, ``arrows`` and ``groups`` (see the module) on a ``size`` (inches) drawing.

    A legend of the kinds used sits below. Raises ``ValueError``, before any figure is made, for a
    malformed or duplicate block, an unknown kind, a block centred outside the drawing, or an arrow
    or group naming an unknown block. Returns the Figure (close it when done).
    """
    width, height = size
    if not blocks:
        raise ValueError("a diagram needs at least one block.")
    centres, kinds = {}, {}
    for spec in blocks:
        if len(spec) != 5:
            raise ValueError(f"a block is (name, x, y, label, kind), got {spec!r}.")
        name, x, y, _, kind = spec
        if name in centres:
            raise ValueError(f"duplicate block name {name!r}: every block needs its own name.")
        if kind not in KINDS:
            raise ValueError(f"block {name!r} has unknown kind {kind!r}; use one of {list(KINDS)}.")
        if not (0 <= x <= width and 0 <= y <= height):
            raise ValueError(
                f"block {name!r} is centred at ({x}, {y}), outside the {width} x {height} drawing."
            )
        centres[name], kinds[name] = (x, y), kind
    for ends in [a[:2] for a in arrows] + [g[1] for g in groups]:
        unknown = [end for end in ends if end not in centres]
        if unknown or not ends:
            raise ValueError(f"{list(ends)} must name known blocks; unknown: {unknown}.")
    if any(a[0] == a[1] for a in arrows):
        raise ValueError("an arrow joins two blocks, not a block to itself.")

    room = 0.42  # inches below the drawing for the legend
    fig = plt.figure(figsize=(width, height + room))
    ax = fig.add_axes((0, room / (height + room), 1, height / (height + room)))
    ax.set(xlim=(0, width), ylim=(0, height))  # data units are inches
    ax.set_axis_off()
    texts = {
        name: ax.text(x, y, label, ha="center", va="center", fontsize=FONTSIZE, zorder=3, gid=f"block:{name}")
        for name, x, y, label, _ in blocks
    }
    fig.draw_without_rendering()  # lays the labels out, to size each box to its label
    boxes, patches = {}, {}
    for name, text in texts.items():
        box = boxes[name] = ax.transData.inverted().transform_bbox(text.get_window_extent()).padded(0.09)
        face, edge, _ = KINDS[kinds[name]]
        style = {"fc": face, "ec": edge, "lw": 1.2, "zorder": 2.5, "gid": f"box:{name}"}
        patches[name] = ax.add_patch(FancyBboxPatch(box.p0, box.width, box.height, ROUND, **style))
    for label, names, *where in groups:
        top = where != ["bottom"]
        frame = Bbox.union([boxes[m] for m in names]).padded(0.14)
        y0, y1 = frame.y0 - (0 if top else 0.26), frame.y1 + (0.26 if top else 0)
        style = {"fc": "none", "ec": GREY, "ls": (0, (4, 3)), "lw": 0.9, "zorder": 1}
        ax.add_patch(FancyBboxPatch((frame.x0, y0), frame.width, y1 - y0, ROUND, **style))
        y, va = (y1 - 0.05, "top") if top else (y0 + 0.05, "bottom")
        style = {"fontsize": SMALL, "style": "italic", "color": GREY, "zorder": 4, "gid": f"group:{label}"}
        ax.text(frame.x0 + 0.1, y, label, ha="left", va=va, **style)
    for source, target, label, side in ((*a, "", "")[:4] for a in arrows):
        loss = "loss" in (kinds[source], kinds[target])  # a training signal, not data: dashed
        line = {"color": KINDS["loss"][1], "ls": (0, (4, 2.5))} if loss else {"color": DARK}
        ends = {"patchA": patches[source], "patchB": patches[target], "shrinkA": 2, "shrinkB": 2}
        start, end = centres[source], centres[target]
        arrow = {"arrowstyle": "-|>", "mutation_scale": 12, "lw": 1.2, **line, **ends}
        ax.annotate("", xy=end, xytext=start, zorder=2, gid=f"arrow:{source}->{target}", arrowprops=arrow)
        if label:  # beside the middle of the part of the line between the two boxes
            middle = (_leaves(boxes[source], start, end) + 1 - _leaves(boxes[target], end, start)) / 2
            dx, dy, ha, va = SIDES[side or "above"]
            x, y = (a + middle * (b - a) for a, b in zip(start, end, strict=True))
            gid = f"arrow label:{source}->{target}"
            ax.text(x + dx, y + dy, label, ha=ha, va=va, fontsize=SMALL, zorder=4, gid=gid)
    used = [k for k in KINDS if k in kinds.values()]
    handles = [Patch(fc=KINDS[k][0], ec=KINDS[k][1], label=KINDS[k][2]) for k in used]
    style = {"frameon": False, "fontsize": SMALL, "handlelength": 1.6, "columnspacing": 2.0}
    fig.legend(handles=handles, loc="lower center", ncol=len(used), **style)
    return fig


def vae_diagram() -> Figure:
    """Chapter 2's VAE: x -> encoder -> (mu, log sigma^2) -> z = mu + sigma * eps -> decoder -> p(x|z)."""
    kl = "KL to the prior\n" + r"$\mathrm{KL}(q_\phi(z \mid x) \,\|\, \mathcal{N}(0, I))$"
    blocks = [
        ("x", 0.6, 1.35, "input\n$x$", "data"),
        ("encoder", 2.05, 1.35, "encoder\nMLP", "network"),
        ("posterior", 3.65, 1.35, r"$\mu$, $\log\sigma^2$", "latent"),
        ("z", 5.5, 1.35, r"$z = \mu + \sigma \odot \varepsilon$", "latent"),
        ("noise", 5.5, 0.3, r"$\varepsilon \sim \mathcal{N}(0, I)$", "data"),
        ("decoder", 7.2, 1.35, "decoder\nMLP", "network"),
        ("output", 8.75, 1.35, "$p_\\theta(x \\mid z)$\nBernoulli\nor Gaussian", "data"),
        ("kl", 3.65, 2.75, kl, "loss"),
        ("recon", 8.75, 2.75, "reconstruction of $x$\n" + r"$-\log p_\theta(x \mid z)$", "loss"),
    ]
    arrows = [("x", "encoder"), ("encoder", "posterior"), ("posterior", "z", "sample"), ("noise", "z")]
    arrows += [("z", "decoder"), ("decoder", "output"), ("posterior", "kl"), ("output", "recon")]
    groups = [
        (r"encoder $q_\phi(z \mid x)$", ["encoder", "posterior"]),
        (r"decoder $p_\theta(x \mid z)$", ["decoder", "output"]),
    ]
    return block_diagram(blocks, arrows, groups, size=(9.6, 3.15))


def recurrent_attention_diagram() -> Figure:
    """Chapter 4's recurrent β-VAE: a bidirectional GRU pooled by attention, a decoder that reads z only."""
    blocks = [
        ("frames", 0.95, 3.55, "frames $x_1 \\dots x_T$\n(64 mel bands each)", "data"),
        ("gru", 2.95, 3.55, "bidirectional\nGRU", "network"),
        ("states", 4.55, 3.55, "states\n$s_1 \\dots s_T$", "data"),
        ("attention", 6.35, 3.55, "additive attention\nfrom a learned query", "network"),
        ("posterior", 8.65, 3.55, r"$\mu$, $\log\sigma^2$", "latent"),
        ("z", 8.65, 2.35, r"$z = \mu + \sigma \odot \varepsilon$", "latent"),
        ("memory", 6.75, 1.4, "memory: 8 slots\n" + r"$M = \tanh(S + W_z z)$", "network"),
        ("init", 6.75, 0.4, r"$h_0 = \tanh(W_0 z)$", "network"),
        ("decoder", 3.75, 0.9, "GRU cell, 32 steps:\n" + r"$h_{t-1}$ attends over $M$", "network"),
        ("output", 0.95, 0.9, "frames $\\hat x_1 \\dots \\hat x_T$\n(Gaussian means)", "data"),
    ]
    arrows = [
        ("frames", "gru"),
        ("gru", "states"),
        ("states", "attention", "keys"),
        ("attention", "posterior", r"$c = \Sigma_t\, \alpha_t s_t$"),
        ("posterior", "z", "sample", "right"),
        ("z", "memory"),
        ("z", "init"),
        ("memory", "decoder", "attention"),
        ("init", "decoder", "first state", "below"),
        ("decoder", "output", "read-out"),
    ]
    groups = [
        (r"encoder $q(z \mid x)$", ["gru", "states", "attention", "posterior"]),
        (
            r"decoder $p(x \mid z)$: its only input is $z$, never the states $s_t$",
            ["memory", "init", "decoder"],
        ),
    ]
    return block_diagram(blocks, arrows, groups, size=(9.6, 4.4))


def scan_diagram() -> Figure:
    """Chapter 5's SCAN: a frozen β-VAE, a symbol VAE grounded in its latents, recombination operators."""
    ground = "grounding\n" + r"$\mathrm{KL}(q(z_x \mid x)$" + "\n" + r"$\|\; q(z_y \mid y))$"
    blocks = [
        ("sound", 0.85, 5.1, "sound $x$\n(log-mel)", "data"),
        ("sound_encoder", 2.65, 5.1, "β-VAE encoder\n(frozen)", "network"),
        ("q_sound", 4.85, 5.1, r"$q(z_x \mid x)$", "latent"),
        ("sound_decoder", 7.05, 5.1, "β-VAE decoder\n(frozen)", "network"),
        ("logmel", 8.9, 5.1, "log-mel", "data"),
        ("ground", 4.85, 4.07, ground, "loss"),
        ("words", 0.85, 3.05, "words\n" + r"$p(y \mid z_y)$", "data"),
        ("symbol_decoder", 2.65, 3.05, "symbol\ndecoder", "network"),
        ("q_symbol", 4.85, 3.05, r"$q(z_y \mid y)$", "latent"),
        ("symbol_encoder", 7.05, 3.05, "symbol\nencoder", "network"),
        ("symbol", 8.9, 3.05, "symbol $y$\n(k-hot words)", "data"),
        ("q1", 1.05, 1.45, r"$q(z_y \mid y_1)$", "latent"),
        ("q2", 1.05, 0.85, r"$q(z_y \mid y_2)$", "latent"),
        ("op", 4.3, 0.35, "operator: AND, IN COMMON, IGNORE or WITH", "data"),
        ("recombine", 4.3, 1.15, "recombination network\n(the same on every latent dimension)", "network"),
        ("result", 7.55, 1.15, r"$r(z \mid y_1, y_2, \mathrm{op})$", "latent"),
        ("recombine_loss", 7.55, 0.35, r"$\mathrm{KL}(q(z_x \mid x) \,\|\, r)$", "loss"),
    ]
    sound = ["sound", "sound_encoder", "q_sound", "sound_decoder", "logmel"]
    symbol = ["symbol", "symbol_encoder", "q_symbol", "symbol_decoder", "words"]
    arrows = [pair for chain in (sound, symbol) for pair in zip(chain, chain[1:], strict=False)]
    arrows += [("q_sound", "ground"), ("q_symbol", "ground")]
    arrows += [("q_symbol", "sound_decoder", "symbol → sound:\nsample $z_y$", "below right")]
    arrows += [("q_sound", "symbol_decoder", "sound → symbol:\n$z = \\mu_x$", "above left")]
    arrows += [("q1", "recombine"), ("q2", "recombine"), ("op", "recombine"), ("recombine", "result")]
    arrows += [("result", "recombine_loss")]
    groups = [
        ("1  β-VAE on sounds: trained first, without labels, then frozen", sound[1:4]),
        ("2  symbol VAE in the same latent space", symbol[1:4], "bottom"),
        (
            "3  recombination operators on symbol posteriors",
            ["q1", "q2", "recombine", "result", "op", "recombine_loss"],
        ),
    ]
    return block_diagram(blocks, arrows, groups, size=(9.8, 5.9))
