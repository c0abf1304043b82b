"""The course's colour policy and small helpers shared by the chapters' figures.

One colour scale per kind of value, in every chapter (chapters 1-5 and the library's plots):

* :data:`SEQUENTIAL` (magma) for every image or heatmap of a quantity from zero up: spectrograms,
  mutual information, MIG, r², attention weights, σ. Dark is low, bright is high.
* :data:`DIVERGING` (vlag) for signed quantities centred on zero: correlations.
* :data:`ORDERED` (viridis) for lines or points coloured by an ordered value (a factor's classes,
  β): magma's bright end would vanish on the white background.

:func:`legend_below` (chapter 4) gathers the legends of a row of panels into one legend under the
figure, so that no legend hides data.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

SEQUENTIAL = "magma"
"""Images and heatmaps of a quantity from zero up (dark = low, bright = high)."""
DIVERGING = "vlag"
"""Heatmaps of a signed quantity centred on zero (blue = negative, red = positive)."""
ORDERED = "viridis"
"""Lines and points coloured by an ordered value."""


def legend_below(
    fig: Figure, axes: Axes | Iterable[Axes], *, ncol: int | None = None, title: str | None = None
) -> None:
    """Replace the legends of ``axes`` by one legend centred under ``fig``, outside every panel.

    The entries are those of the first panel that has any (each label once); the panels' own
    legends are removed. Call it after ``plt.tight_layout()``: the legend is anchored below the
    panels and saved with the figure (``bbox_inches="tight"`` keeps it).
    """
    panels = list(np.ravel(axes))
    handles, labels = [], []
    for ax in panels:
        h, lab = ax.get_legend_handles_labels()
        if h:
            handles, labels = h, lab
            break
    if not handles:
        raise ValueError("none of the axes has labelled artists: nothing to put in a legend.")
    unique = dict(zip(labels, handles, strict=True))
    for ax in panels:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(
        list(unique.values()),
        list(unique.keys()),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=ncol or min(len(unique), 6),
        frameon=False,
        title=title,
        fontsize="small",
    )
