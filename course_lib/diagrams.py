r"""Architecture diagrams: labelled boxes joined by arrows, drawn with matplotlib alone.

Taught in chapters/02_vae_mnist.ipynb (:func:`vae_diagram`), chapters/04_1_recurrent_attention.ipynb
(:func:`recurrent_attention_diagram`) and chapters/05_2_scan.ipynb (:func:`scan_diagram`); each chapter
shows its figure where it first describes the model. All three are built by one generic helper,
:func:`block_diagram`:

* a **block** is ``(name, x, y, label, kind)``: a rounded box centred at ``(x, y)`` inches from the
  bottom-left corner, sized to its label, filled with the colour of its kind (:data:`KINDS`: data,
  network, latent, loss);
* an **arrow** is ``(source, target)``, ``(source, target, label)`` or ``(source, target, label,
  side)``: it runs between the edges of the two boxes, and its label sits beside its middle
  (``side``: ``"above"``, ``"below"``, ``"left"``, ``"right"``; ``"auto"`` puts it above a flat arrow
  and to the right of a steep one; beside a slanted arrow the label moves into the corner away from
  the line). Arrows that touch a loss block are dashed: they carry a training signal, not data;
* a **group** is ``(label, names)`` or ``(label, names, where)``: a dashed frame around the named
  blocks, labelled at its top left (``where="top"``) or bottom left (``where="bottom"``).

Every part keeps its role in its ``gid``: ``"block:<name>"`` (a label), ``"box:<name>"`` (its box),
``"arrow:<source>-><target>"`` (an arrow), ``"arrow label:<source>-><target>"``, ``"group:<label>"``
(a group's label), so tests and readers can find it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Patch
from matplotlib.transforms import Bbox

KINDS: dict[str, tuple[str, str]] = {
    "data": ("#e6edf5", "#4a6a8a"),
    "network": ("#fbe5c8", "#b8741a"),
    "latent": ("#dcefdc", "#3f7f3f"),
    "loss": ("#f7dada", "#a33b3b"),
}
"""Fill and edge colour of each kind of block: one colour per kind."""

KIND_NAMES = {"data": "data", "network": "network", "latent": "latent", "loss": "training loss"}
"""Legend entry of each kind."""

BLOCK_FONTSIZE = 10.0
LABEL_FONTSIZE = 9.0
TEXT_COLOUR = "#1f1f1f"
ARROW_COLOUR = "#3d3d3d"
GROUP_COLOUR = "#6b6b6b"
BOX_PAD = 0.09
"""Inches between a block's label and its box."""
GROUP_PAD = 0.14
"""Inches between a group's blocks and its frame."""
GROUP_LABEL_ROOM = 0.26
"""Inches added above (or below) a group's blocks for its label."""
LEGEND_ROOM = 0.42
"""Inches below the drawing where the legend of the kinds sits."""
SIDES = ("auto", "above", "below", "left", "right")
WHERES = ("top", "bottom")


class Block(NamedTuple):
    """A box: its name (for arrows), centre in inches, label (mathtext allowed) and kind."""

    name: str
    x: float
    y: float
    label: str
    kind: str


class Arrow(NamedTuple):
    """An arrow from block ``source`` to block ``target``, with an optional label and its side."""

    source: str
    target: str
    label: str = ""
    side: str = "auto"


class Group(NamedTuple):
    """A dashed frame around the blocks ``names``, labelled at its ``where`` ("top" or "bottom") left."""

    label: str
    names: Sequence[str]
    where: str = "top"


def _as_blocks(blocks: Iterable[Sequence], size: tuple[float, float]) -> list[Block]:
    """Check the block specs and return them as :class:`Block`; raise ``ValueError`` naming the fault."""
    out: list[Block] = []
    seen: set[str] = set()
    for spec in blocks:
        if len(spec) != 5:
            raise ValueError(f"a block is (name, x, y, label, kind), got {spec!r}.")
        block = Block(*spec)
        if not isinstance(block.name, str) or not block.name:
            raise ValueError(f"a block's name must be a non-empty string, got {block.name!r}.")
        if block.name in seen:
            raise ValueError(f"duplicate block name {block.name!r}: every block needs its own name.")
        seen.add(block.name)
        if block.kind not in KINDS:
            raise ValueError(
                f"block {block.name!r} has unknown kind {block.kind!r}; use one of {list(KINDS)}."
            )
        if not (0 <= block.x <= size[0] and 0 <= block.y <= size[1]):
            raise ValueError(
                f"block {block.name!r} is centred at ({block.x}, {block.y}), outside the "
                f"{size[0]} x {size[1]} inch drawing."
            )
        out.append(block)
    if not out:
        raise ValueError("a diagram needs at least one block.")
    return out


def _as_arrows(arrows: Iterable[Sequence], names: set[str]) -> list[Arrow]:
    """Check the arrow specs against the block names and return them as :class:`Arrow`."""
    out: list[Arrow] = []
    for spec in arrows:
        if not 2 <= len(spec) <= 4:
            raise ValueError(f"an arrow is (source, target[, label[, side]]), got {spec!r}.")
        arrow = Arrow(*spec)
        for end in (arrow.source, arrow.target):
            if end not in names:
                raise ValueError(
                    f"arrow {arrow.source!r} -> {arrow.target!r} names an unknown block {end!r}; "
                    f"the blocks are {sorted(names)}."
                )
        if arrow.source == arrow.target:
            raise ValueError(f"arrow from {arrow.source!r} to itself: an arrow joins two blocks.")
        if arrow.side not in SIDES:
            raise ValueError(f"arrow {arrow.source!r} -> {arrow.target!r}: side must be one of {SIDES}.")
        out.append(arrow)
    return out


def _as_groups(groups: Iterable[Sequence], names: set[str]) -> list[Group]:
    """Check that every group names at least one block, and only known blocks."""
    out: list[Group] = []
    for spec in groups:
        if not 2 <= len(spec) <= 3:
            raise ValueError(f"a group is (label, names[, where]), got {spec!r}.")
        group = Group(*spec)
        if isinstance(group.names, str) or not group.names:
            raise ValueError(f"group {group.label!r} needs a list of block names, got {group.names!r}.")
        unknown = [m for m in group.names if m not in names]
        if unknown:
            raise ValueError(
                f"group {group.label!r} names unknown block(s) {unknown}; the blocks are {sorted(names)}."
            )
        if group.where not in WHERES:
            raise ValueError(f"group {group.label!r}: where must be one of {WHERES}, got {group.where!r}.")
        out.append(group)
    return out


def _exit_fraction(box: Bbox, start: tuple[float, float], end: tuple[float, float]) -> float:
    """Fraction along start -> end (start inside ``box``) where the segment leaves the box."""
    fractions = [1.0]
    for axis, (low, high) in enumerate(((box.x0, box.x1), (box.y0, box.y1))):
        delta = end[axis] - start[axis]
        if delta > 0:
            fractions.append((high - start[axis]) / delta)
        elif delta < 0:
            fractions.append((low - start[axis]) / delta)
    return max(0.0, min(fractions))


def _label_arrow(
    ax: Axes, arrow: Arrow, boxes: dict[str, Bbox], centres: dict[str, tuple[float, float]]
) -> None:
    """Write ``arrow.label`` beside the middle of the visible part of the arrow."""
    start, end = centres[arrow.source], centres[arrow.target]
    leave = _exit_fraction(boxes[arrow.source], start, end)
    enter = 1.0 - _exit_fraction(boxes[arrow.target], end, start)
    middle = 0.5 * (leave + enter)
    x = start[0] + middle * (end[0] - start[0])
    y = start[1] + middle * (end[1] - start[1])
    run, rise = abs(end[0] - start[0]), abs(end[1] - start[1])
    side = arrow.side
    if side == "auto":
        side = "above" if run >= rise else "right"
    gap = 0.07
    dx, dy, ha, va = {
        "above": (0, gap, "center", "bottom"),
        "below": (0, -gap, "center", "top"),
        "left": (-gap, 0, "right", "center"),
        "right": (gap, 0, "left", "center"),
    }[side]
    if min(run, rise) > 0.25 * max(run, rise):  # slanted: use the corner on that side away from the line
        rising = (end[0] - start[0]) * (end[1] - start[1]) > 0
        if side in ("left", "right"):
            dy = gap if (side == "left") == rising else -gap
            va = "bottom" if dy > 0 else "top"
        else:
            dx = -gap if (side == "above") == rising else gap
            ha = "right" if dx < 0 else "left"
    ax.text(
        x + dx,
        y + dy,
        arrow.label,
        ha=ha,
        va=va,
        fontsize=LABEL_FONTSIZE,
        color=TEXT_COLOUR,
        zorder=4,
        gid=f"arrow label:{arrow.source}->{arrow.target}",
    )


def block_diagram(
    blocks: Iterable[Sequence],
    arrows: Iterable[Sequence] = (),
    groups: Iterable[Sequence] = (),
    size: tuple[float, float] = (9.6, 3.0),
    legend: bool = True,
) -> Figure:
    """Draw boxes, arrows and group frames on a ``size`` (width, height in inches) drawing.

    ``blocks``: ``(name, x, y, label, kind)``, centres in inches from the bottom-left corner;
    ``arrows``: ``(source, target[, label[, side]])`` between block names; ``groups``: ``(label,
    names[, where])``. With ``legend``, a strip below the drawing names the colour of each kind
    used. Raises ``ValueError`` for a duplicate block name, an unknown kind, a block centred outside
    the drawing, or an arrow or group that names an unknown block. Returns the Figure (close it when
    done).
    """
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be two positive numbers of inches, got {size!r}.")
    blocks = _as_blocks(blocks, size)
    names = {b.name for b in blocks}
    arrows = _as_arrows(arrows, names)
    groups = _as_groups(groups, names)

    room = LEGEND_ROOM if legend else 0.0
    fig = plt.figure(figsize=(width, height + room))
    ax = fig.add_axes((0, room / (height + room), 1, height / (height + room)))
    ax.set(xlim=(0, width), ylim=(0, height))
    ax.set_axis_off()

    for block in blocks:
        ax.text(
            block.x,
            block.y,
            block.label,
            ha="center",
            va="center",
            multialignment="center",
            fontsize=BLOCK_FONTSIZE,
            color=TEXT_COLOUR,
            zorder=3,
            gid=f"block:{block.name}",
        )
    fig.draw_without_rendering()  # lays the labels out, to size each box to its label
    to_data = ax.transData.inverted()  # data units are inches: the boxes keep their size at any dpi
    boxes, patches = {}, {}
    for block, text in zip(blocks, ax.texts, strict=True):
        box = to_data.transform_bbox(text.get_window_extent()).padded(BOX_PAD)
        face, edge = KINDS[block.kind]
        boxes[block.name] = box
        patches[block.name] = ax.add_patch(
            FancyBboxPatch(
                (box.x0, box.y0),
                box.width,
                box.height,
                boxstyle="round,pad=0,rounding_size=0.07",
                facecolor=face,
                edgecolor=edge,
                linewidth=1.2,
                zorder=2.5,
                gid=f"box:{block.name}",
            )
        )
    centres = {b.name: (b.x, b.y) for b in blocks}

    for group in groups:
        frame = Bbox.union([boxes[m] for m in group.names]).padded(GROUP_PAD)
        top = group.where == "top"
        frame = Bbox.from_extents(
            frame.x0,
            frame.y0 - (0 if top else GROUP_LABEL_ROOM),
            frame.x1,
            frame.y1 + (GROUP_LABEL_ROOM if top else 0),
        )
        ax.add_patch(
            FancyBboxPatch(
                (frame.x0, frame.y0),
                frame.width,
                frame.height,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor="none",
                edgecolor=GROUP_COLOUR,
                linestyle=(0, (4, 3)),
                linewidth=0.9,
                zorder=1,
            )
        )
        ax.text(
            frame.x0 + 0.1,
            frame.y1 - 0.05 if top else frame.y0 + 0.05,
            group.label,
            ha="left",
            va="top" if top else "bottom",
            fontsize=LABEL_FONTSIZE,
            style="italic",
            color=GROUP_COLOUR,
            zorder=4,
            gid=f"group:{group.label}",
        )

    kinds = {b.name: b.kind for b in blocks}
    for arrow in arrows:
        training = "loss" in (kinds[arrow.source], kinds[arrow.target])
        ax.annotate(
            "",
            xy=centres[arrow.target],
            xytext=centres[arrow.source],
            zorder=2,
            gid=f"arrow:{arrow.source}->{arrow.target}",
            arrowprops={
                "arrowstyle": "-|>",
                "mutation_scale": 12,
                "color": KINDS["loss"][1] if training else ARROW_COLOUR,
                "linewidth": 1.2,
                "linestyle": (0, (4, 2.5)) if training else "-",
                "patchA": patches[arrow.source],
                "patchB": patches[arrow.target],
                "shrinkA": 2,
                "shrinkB": 2,
            },
        )
        if arrow.label:
            _label_arrow(ax, arrow, boxes, centres)

    if legend:
        used = [kind for kind in KINDS if kind in kinds.values()]
        handles = [Patch(facecolor=KINDS[k][0], edgecolor=KINDS[k][1], label=KIND_NAMES[k]) for k in used]
        fig.legend(
            handles=handles,
            loc="lower center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=len(handles),
            frameon=False,
            fontsize=LABEL_FONTSIZE,
            handlelength=1.6,
            columnspacing=2.0,
        )
    return fig


def vae_diagram() -> Figure:
    """Chapter 2's VAE: x -> encoder -> (mu, log sigma^2) -> z = mu + sigma * eps -> decoder -> p(x|z)."""
    blocks = [
        ("x", 0.6, 1.35, "input\n$x$", "data"),
        ("encoder", 2.05, 1.35, "encoder\nMLP", "network"),
        ("posterior", 3.65, 1.35, r"$\mu$, $\log\sigma^2$", "latent"),
        ("z", 5.5, 1.35, r"$z = \mu + \sigma \odot \varepsilon$", "latent"),
        ("noise", 5.5, 0.3, r"$\varepsilon \sim \mathcal{N}(0, I)$", "data"),
        ("decoder", 7.2, 1.35, "decoder\nMLP", "network"),
        ("output", 8.75, 1.35, "$p_\\theta(x \\mid z)$\nBernoulli\nor Gaussian", "data"),
        (
            "kl",
            3.65,
            2.75,
            "KL to the prior\n" + r"$\mathrm{KL}(q_\phi(z \mid x) \,\|\, \mathcal{N}(0, I))$",
            "loss",
        ),
        ("recon", 8.75, 2.75, "reconstruction of $x$\n" + r"$-\log p_\theta(x \mid z)$", "loss"),
    ]
    arrows = [
        ("x", "encoder"),
        ("encoder", "posterior"),
        ("posterior", "z", "sample"),
        ("noise", "z"),
        ("z", "decoder"),
        ("decoder", "output"),
        ("posterior", "kl"),
        ("output", "recon"),
    ]
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
        ("posterior", "z", "sample"),
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
    blocks = [
        ("sound", 0.85, 5.1, "sound $x$\n(log-mel)", "data"),
        ("sound_encoder", 2.65, 5.1, "β-VAE encoder\n(frozen)", "network"),
        ("q_sound", 4.85, 5.1, r"$q(z_x \mid x)$", "latent"),
        ("sound_decoder", 7.05, 5.1, "β-VAE decoder\n(frozen)", "network"),
        ("logmel", 8.9, 5.1, "log-mel", "data"),
        (
            "ground",
            4.85,
            4.07,
            "grounding\n" + r"$\mathrm{KL}(q(z_x \mid x)$" + "\n" + r"$\|\; q(z_y \mid y))$",
            "loss",
        ),
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
    arrows = [
        ("sound", "sound_encoder"),
        ("sound_encoder", "q_sound"),
        ("q_sound", "sound_decoder"),
        ("sound_decoder", "logmel"),
        ("q_sound", "ground"),
        ("q_symbol", "ground"),
        ("symbol", "symbol_encoder"),
        ("symbol_encoder", "q_symbol"),
        ("q_symbol", "symbol_decoder"),
        ("symbol_decoder", "words"),
        ("q_symbol", "sound_decoder", "symbol → sound:\nsample $z_y$", "right"),
        ("q_sound", "symbol_decoder", "sound → symbol:\n$z = \\mu_x$", "left"),
        ("q1", "recombine"),
        ("q2", "recombine"),
        ("op", "recombine"),
        ("recombine", "result"),
        ("result", "recombine_loss"),
    ]
    groups = [
        (
            "1  β-VAE on sounds: trained first, without labels, then frozen",
            ["sound_encoder", "q_sound", "sound_decoder"],
        ),
        (
            "2  symbol VAE in the same latent space",
            ["symbol_decoder", "q_symbol", "symbol_encoder"],
            "bottom",
        ),
        (
            "3  recombination operators on symbol posteriors",
            ["q1", "q2", "recombine", "result", "op", "recombine_loss"],
        ),
    ]
    return block_diagram(blocks, arrows, groups, size=(9.8, 5.9))
