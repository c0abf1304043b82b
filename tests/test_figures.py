"""Tests of the shared figure helpers (course_lib.figures)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from course_lib import figures


def test_legend_below_gathers_one_legend_under_the_panels():
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.plot([0, 1], label="mlp")
        ax.plot([1, 0], label="recurrent")
        ax.legend()
    plt.tight_layout()
    figures.legend_below(fig, axes, title="model")
    assert all(ax.get_legend() is None for ax in axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["mlp", "recurrent"]
    assert legend.get_title().get_text() == "model"
    fig.canvas.draw()  # the legend sits below every panel: it hides no data
    top = legend.get_window_extent().y1
    assert all(top <= ax.get_window_extent().y0 for ax in axes)
    plt.close(fig)


def test_legend_below_needs_labelled_artists():
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    with pytest.raises(ValueError, match="no labelled artists|none of the axes"):
        figures.legend_below(fig, ax)
    plt.close(fig)


def test_bars_with_seeds_draw_the_mean_of_each_group_and_one_dot_per_seed():
    import numpy as np
    import pandas as pd

    runs = pd.DataFrame(
        {
            "factor": ["f0"] * 6 + ["level"] * 6,
            "model": (["mlp"] * 3 + ["rnn"] * 3) * 2,
            "MIG": [0.1, 0.2, 0.3, 0.5, 0.5, 0.8, 0.9, 0.9, 0.6, 0.0, 0.3, 0.3],
        }
    )
    fig, ax = plt.subplots()
    figures.bars_with_seeds(runs, "factor", "MIG", "model", ax)
    heights = sorted(round(p.get_height(), 6) for p in ax.patches if p.get_height() > 0)
    means = runs.groupby(["factor", "model"])["MIG"].mean()
    assert heights == sorted(round(v, 6) for v in means)
    dots = sum(len(c.get_offsets()) for c in ax.collections)
    assert dots == len(runs)
    assert np.isclose(ax.get_ylim()[0], 0.0)
    plt.close(fig)
