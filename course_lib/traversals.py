"""Latent traversals you can see and hear: decode a line through one latent, plot it, listen, measure it.

Taught in chapters/03_1_beta_vae.ipynb (Q3 and Q5); :mod:`course_lib.listening` (chapters 3 and 4) builds
its listening test on it. A *traversal* starts from a base code (for instance the mean code of one
clip), moves ONE latent dimension through a range of values while the others stay fixed, and decodes
every step.
Three views of the same traversal:

* :func:`decode_traversals` -> spectrogram frames ``[dims, steps, mels, frames]``, drawn by
  :func:`plot_traversal_grid` (one row per latent) and fed to :func:`course_lib.widgets.static_explorer`;
* :func:`traversal_audio` -> Griffin-Lim audio of each frame, for :func:`course_lib.audio.player_grid`;
* :func:`descriptor_curves` -> the audio measured back with :func:`course_lib.descriptors.measure`
  (f0, level, centroid, HNR...), one curve per latent: which factor does this latent control?

Clips go onto a page through :func:`course_lib.audio.for_the_page`; the latents are named by the factor
they share most with by :func:`course_lib.metrics.information.factor_labels`.

Plotting libraries are imported inside the plotting functions only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib.figures import SEQUENTIAL

DEFAULT_DESCRIPTORS: tuple[str, ...] = ("f0_hz", "rms_db", "centroid_hz", "hnr_db", "slope")
"""Descriptor columns drawn by :func:`plot_descriptor_curves` by default."""
DESCRIPTOR_AXES: dict[str, str] = {
    "f0_hz": "pitch, pYIN f0 (Hz)",
    "rms_db": "RMS level (dB)",
    "centroid_hz": "spectral centroid (Hz)",
    "hnr_db": "HNR estimate (dB)",
    "slope": "spectral slope (dB/octave)",
}
"""Axis labels with units for the descriptor columns (others are drawn under their column name)."""


def traversal_codes(base: np.ndarray, dims: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """Codes ``[len(dims), len(values), z_dim]``: ``base`` with latent ``dims[i]`` set to ``values[j]``."""
    base = np.asarray(base, dtype=np.float64)
    if base.ndim != 1 or base.size == 0:
        raise ValueError(f"base must be a 1-D code vector, got shape {base.shape}.")
    dims = [int(d) for d in dims]
    values = np.asarray(values, dtype=np.float64)
    if not dims or values.ndim != 1 or values.size == 0:
        raise ValueError("need at least one latent dimension and one value.")
    if any(d < 0 or d >= base.size for d in dims):
        raise ValueError(f"dims must lie in 0..{base.size - 1}, got {dims}.")
    codes = np.tile(base, (len(dims), values.size, 1))
    for i, d in enumerate(dims):
        codes[i, :, d] = values
    return codes


@torch.no_grad()
def decode_traversals(
    model: nn.Module, base: np.ndarray, dims: Sequence[int], values: Sequence[float]
) -> np.ndarray:
    """Decoded means ``[len(dims), len(values), *x_shape]`` (float32 NumPy) along each traversal.

    ``model`` is a :class:`~course_lib.models.vae.VAE` (``decode`` then ``mean``).
    """
    codes = traversal_codes(base, dims, values)
    n_dims, n_steps, z_dim = codes.shape
    model.eval()
    z = torch.as_tensor(codes.reshape(-1, z_dim), dtype=torch.float32)
    frames = model.mean(model.decode(z)).float().numpy()
    return frames.reshape(n_dims, n_steps, *frames.shape[1:])


def traversal_audio(
    frames: np.ndarray, to_audio: Callable[[np.ndarray], np.ndarray] | None = None, **settings
) -> np.ndarray:
    """Audio ``[dims, steps, samples]`` of every traversal frame ``[dims, steps, mels, frames]``.

    ``to_audio`` maps a batch of log-mels ``[N, mels, frames]`` to clips ``[N, samples]``; the default is
    Griffin-Lim, :func:`course_lib.features.logmel_to_audio` with ``settings`` (for instance the
    dataset's ``metadata["features"]`` settings).
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 4:
        raise ValueError(f"frames must be [dims, steps, mels, frames], got shape {frames.shape}.")
    if to_audio is None:
        from course_lib.features import logmel_to_audio

        def to_audio(batch: np.ndarray) -> np.ndarray:
            return logmel_to_audio(np.clip(batch, 0.0, 1.0), **settings)

    clips = np.asarray(to_audio(frames.reshape(-1, *frames.shape[2:])))
    return clips.reshape(frames.shape[0], frames.shape[1], -1)


def check_grid(
    array: np.ndarray, name: str, trailing: str, values: Sequence[float], dim_labels: Sequence[str]
) -> tuple[int, int]:
    """Check a traversal grid ``[dims, steps, *trailing]`` against its step values and latent labels.

    ``trailing`` names the per-clip axes (``"samples"`` or ``"mels, frames"``). Returns ``(dims, steps)``.
    """
    ndim = 2 + len(trailing.split(","))
    if array.ndim != ndim:
        raise ValueError(f"{name} must be [dims, steps, {trailing}], got shape {array.shape}.")
    n_dims, n_steps = array.shape[:2]
    if len(values) != n_steps or len(dim_labels) != n_dims:
        raise ValueError(
            f"need {n_steps} values and {n_dims} labels, got {len(values)} and {len(dim_labels)}."
        )
    return n_dims, n_steps


def descriptor_curves(
    audio: np.ndarray,
    sr: int,
    values: Sequence[float],
    dim_labels: Sequence[str],
    measure: Callable[..., pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Measure every traversal clip ``audio[d, s]``: a long DataFrame (latent, step, value, descriptors...).

    One row per clip with columns ``latent`` (from ``dim_labels``), ``step``, ``value`` and the
    descriptor columns of ``measure`` (default :func:`course_lib.descriptors.measure`).
    """
    audio = np.asarray(audio)
    n_dims, n_steps = check_grid(audio, "audio", "samples", values, dim_labels)
    if measure is None:
        from course_lib.descriptors import measure
    measured = measure(audio.reshape(n_dims * n_steps, -1), sr).reset_index(drop=True)
    index = pd.DataFrame(
        {
            "latent": np.repeat(list(dim_labels), n_steps),
            "step": np.tile(np.arange(n_steps), n_dims),
            "value": np.tile(np.asarray(values, dtype=np.float64), n_dims),
        }
    )
    return pd.concat([index, measured], axis=1)


def curve_ranges(curves: pd.DataFrame, descriptors: Sequence[str] = DEFAULT_DESCRIPTORS) -> pd.DataFrame:
    """How far each descriptor moves along each latent's traversal: max - min, [latents x descriptors].

    NaNs (an unvoiced clip has no f0) are skipped.
    """
    missing = [c for c in (*descriptors, "latent") if c not in curves.columns]
    if missing:
        raise ValueError(f"curves lacks the columns {missing}.")
    grouped = curves.groupby("latent", sort=False)[list(descriptors)]
    return grouped.max() - grouped.min()


def plot_traversal_grid(
    frames: np.ndarray,
    values: Sequence[float],
    dim_labels: Sequence[str],
    *,
    title: str | None = None,
    cell_size: tuple[float, float] = (1.1, 0.8),
):
    """Spectrogram grid: one row per latent, one column per traversal value; returns the figure."""
    import matplotlib.pyplot as plt

    frames = np.asarray(frames)
    n_dims, n_steps = check_grid(frames, "frames", "mels, frames", values, dim_labels)
    fig, axes = plt.subplots(
        n_dims,
        n_steps,
        figsize=(cell_size[0] * n_steps + 0.8, cell_size[1] * n_dims + 0.6),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    vmin, vmax = float(frames.min()), float(frames.max())
    for d in range(n_dims):
        for s in range(n_steps):
            ax = axes[d, s]
            ax.imshow(frames[d, s], origin="lower", aspect="auto", cmap=SEQUENTIAL, vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if s == 0:
                ax.set_ylabel(dim_labels[d], rotation=0, ha="right", va="center", fontsize=8)
            if d == n_dims - 1:
                ax.set_xlabel(f"{values[s]:+.1f}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(wspace=0.05, hspace=0.08)
    return fig


def plot_descriptor_curves(curves: pd.DataFrame, descriptors: Sequence[str] = DEFAULT_DESCRIPTORS):
    """One panel per descriptor, one line per latent: each descriptor along each traversal (a figure)."""
    import matplotlib.pyplot as plt

    missing = [c for c in (*descriptors, "latent", "value") if c not in curves.columns]
    if missing:
        raise ValueError(f"curves lacks the columns {missing}.")
    fig, axes = plt.subplots(1, len(descriptors), figsize=(3.0 * len(descriptors), 2.8), squeeze=False)
    for ax, name in zip(axes[0], descriptors, strict=True):
        for label, group in curves.groupby("latent", sort=False):
            ax.plot(group["value"], group[name], marker="o", ms=3, label=label)
        ax.set(xlabel="latent value", ylabel=DESCRIPTOR_AXES.get(name, name))
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig
