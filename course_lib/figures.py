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


def bars_with_seeds(data, x: str, y: str, hue: str, ax: Axes, **bar_options) -> Axes:
    """Bars of the mean of ``y`` over seeds (one standard deviation drawn), with each seed as a dot.

    ``data`` is a long DataFrame (one row per run); bars are grouped by ``x`` and coloured by ``hue``
    (seaborn's ``barplot`` with ``bar_options``), the dots (black) sit on their bar. The figure of
    choice for a comparison over a few seeds (chapter 4): the spread of the dots says how large a
    difference between two bars must be to mean anything.
    """
    import seaborn as sns

    sns.barplot(data=data, x=x, y=y, hue=hue, ax=ax, errorbar="sd", **bar_options)
    sns.stripplot(
        data=data,
        x=x,
        y=y,
        hue=hue,
        hue_order=bar_options.get("hue_order"),
        order=bar_options.get("order"),
        dodge=True,
        ax=ax,
        palette="dark:k",
        size=3,
        legend=False,
    )
    return ax
