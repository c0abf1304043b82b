"""Latent traversals you can see and hear: decode a line through one latent, plot it, listen, measure it.

Taught in chapters/03_1_beta_vae.ipynb (Q3 and Q5); chapters/03_2_pitch_and_loudness.ipynb and chapter 4
reuse it. A *traversal* starts from a base code (for instance the mean code of one clip), moves ONE latent
dimension through a range of values while the others stay fixed, and decodes every step.
Three views of the same traversal:

* :func:`decode_traversals` -> spectrogram frames ``[dims, steps, mels, frames]``, drawn by
  :func:`plot_traversal_grid` (one row per latent) and fed to :func:`course_lib.widgets.static_explorer`;
* :func:`traversal_audio` -> Griffin-Lim audio of each frame, for :func:`course_lib.audio.player_grid`;
* :func:`descriptor_curves` -> the audio measured back with :func:`course_lib.descriptors.measure`
  (f0, level, centroid, HNR...), one curve per latent: which factor does this latent control?

and chapter 3's listening test, shared with chapter 4 so that one model gives one answer:
:func:`factor_latent_audio` traverses the latent that carries each chosen factor (pitch, level) and
:func:`audible_changes` measures each traversal and applies :func:`passes_listening_test`.

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


def for_the_page(audio: np.ndarray, sr: int, target_sr: int = 8000, seconds: float = 0.6) -> np.ndarray:
    """Resample clips ``[..., samples]`` to ``target_sr`` and cut them to ``seconds``: small enough to embed.

    A page with dozens of players stays small (0.6 s at 8 kHz is about 13 kB of page per clip).
    """
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim < 1 or audio.shape[-1] < 2:
        raise ValueError(f"audio must be [..., samples] with at least 2 samples, got shape {audio.shape}.")
    if target_sr <= 0 or seconds <= 0 or sr <= 0:
        raise ValueError("sr, target_sr and seconds must be positive.")
    resampled = (
        librosa.resample(audio, orig_sr=sr, target_sr=target_sr, axis=-1) if target_sr != sr else audio
    )
    return resampled[..., : int(round(seconds * target_sr))]


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


def audible_change(curve: pd.DataFrame) -> dict[str, float | bool]:
    """What one latent's traversal does to pitch and loudness, from its rows of :func:`descriptor_curves`.

    ``f0_octaves``: log2 of the highest over the lowest measured f0 (pYIN; unvoiced steps skipped);
    ``f0_monotonic``: True when every voiced step moves f0 the same way (steps under 10 cents count
    as no move, and a curve without any move is not monotonic); ``f0_span_cents``: the same span in
    cents; ``level_span_db``: highest minus lowest RMS level; ``voiced``: the fraction of steps with a
    pitch. Rows are taken in ``step`` order.
    """
    missing = [c for c in ("step", "f0_hz", "rms_db") if c not in curve.columns]
    if missing:
        raise ValueError(f"curve lacks the columns {missing} (one latent's rows of descriptor_curves).")
    if "latent" in curve.columns and curve["latent"].nunique() > 1:
        raise ValueError("curve must hold the rows of one latent only.")
    ordered = curve.sort_values("step")
    f0 = ordered["f0_hz"].to_numpy(dtype=np.float64)
    voiced = f0[np.isfinite(f0) & (f0 > 0)]
    cents = 1200 * np.log2(voiced / voiced[0]) if len(voiced) else np.zeros(0)
    moves = np.diff(cents)
    moves = moves[np.abs(moves) >= 10]
    span = float(cents.max() - cents.min()) if len(cents) else 0.0
    level = ordered["rms_db"].to_numpy(dtype=np.float64)
    return {
        "f0_octaves": span / 1200,
        "f0_span_cents": span,
        "f0_monotonic": bool(len(moves) > 0 and (np.all(moves > 0) or np.all(moves < 0))),
        "level_span_db": float(np.nanmax(level) - np.nanmin(level)),
        "voiced": float(len(voiced) / len(f0)) if len(f0) else 0.0,
    }


LISTENING_TEST = {
    "pitch": "f0 one way over >= 1 octave, level within 3 dB",
    "level": ">= 20 dB, f0 within 50 cents",
}
"""The listening test of chapter 3, per role of a latent (:func:`passes_listening_test`)."""


def passes_listening_test(role: str, change: dict[str, float | bool]) -> bool:
    """Does a latent's :func:`audible_change` do its job alone? (:data:`LISTENING_TEST`)

    A ``"pitch"`` latent must move the measured f0 one way over at least an octave with the level
    within 3 dB; a ``"level"`` latent must move the level by at least 20 dB with f0 within 50 cents.
    """
    if role == "pitch":
        return bool(change["f0_octaves"] >= 1 and change["f0_monotonic"] and change["level_span_db"] <= 3)
    if role == "level":
        return bool(change["level_span_db"] >= 20 and change["f0_span_cents"] <= 50)
    raise ValueError(f"role must be one of {sorted(LISTENING_TEST)}, got {role!r}.")


@torch.no_grad()
def factor_traversals(
    decode: Callable[[torch.Tensor], torch.Tensor],
    codes: np.ndarray,
    mi: np.ndarray,
    factor_names: Sequence[str],
    factors: Sequence[str],
    base: np.ndarray,
    n_steps: int = 7,
) -> tuple[np.ndarray, list[int]]:
    """Decoded traversals of the latent that carries each of ``factors``, and those latents.

    For each factor, the latent of highest normalised mutual information with it (``mi``
    [latents, factors]) moves from ``base`` across the range its ``codes`` [N, latents] take (1st to
    99th percentile) in ``n_steps``; ``decode(z [M, latents])`` gives the log-mels. Returns the
    log-mels ``[len(factors), n_steps, mels, frames]`` and the latent of each factor.
    """
    codes = np.asarray(codes, dtype=np.float64)
    mi = np.asarray(mi, dtype=np.float64)
    if codes.ndim != 2 or mi.shape != (codes.shape[1], len(factor_names)):
        raise ValueError(
            f"codes must be [N, latents] and mi [latents, {len(factor_names)} factors], "
            f"got {codes.shape} and {mi.shape}."
        )
    unknown = [f for f in factors if f not in factor_names]
    if unknown:
        raise ValueError(f"unknown factors {unknown}; the factors are {list(factor_names)}.")
    dims = [int(mi[:, list(factor_names).index(f)].argmax()) for f in factors]
    z = np.concatenate(
        [traversal_codes(base, [d], np.linspace(*np.percentile(codes[:, d], [1, 99]), n_steps)) for d in dims]
    )
    decoded = np.asarray(decode(torch.as_tensor(z.reshape(-1, z.shape[-1]), dtype=torch.float32)))
    return decoded.reshape(len(dims), n_steps, *decoded.shape[1:]), dims


def audible_changes(
    clips: np.ndarray, sr: int, labels: Sequence[str], roles: Sequence[str], source: str
) -> list[dict]:
    """:func:`audible_change` of each row of ``clips`` [rows, steps, samples], with the listening test.

    One dict per row: ``source``, ``role`` (``"pitch"`` or ``"level"``), ``latent`` (its label), the
    measurements of :func:`audible_change` and ``passes`` (:func:`passes_listening_test`).
    """
    if len(roles) != len(labels):
        raise ValueError(f"need one role per label, got {len(roles)} roles and {len(labels)} labels.")
    clips = np.asarray(clips)
    curves = descriptor_curves(clips, sr, np.arange(clips.shape[1]), labels)
    n_steps = clips.shape[1]
    rows = []
    for d, (label, role) in enumerate(zip(labels, roles, strict=True)):  # by position: labels may repeat
        change = audible_change(curves.iloc[d * n_steps : (d + 1) * n_steps])
        rows.append({"source": source, "role": role, "latent": label, **change})
        rows[-1]["passes"] = passes_listening_test(role, change)
    return rows


def factor_latent_audio(
    model: nn.Module,
    dataset,
    factors: Sequence[str] = ("f0", "level"),
    n_codes: int = 10_000,
    n_steps: int = 7,
    seed: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """Griffin-Lim audio of the traversal of the latent that carries each of ``factors``, and its label.

    Chapter 3's listening protocol, shared by chapters 3 and 4 so that one model gives one answer:
    ``model`` (log-mels in, log-mels out: ``encode`` and ``decode``, e.g. a
    :class:`course_lib.loudness.LevelChannelModel`) encodes ``n_codes`` sounds of ``dataset`` drawn
    with ``seed``; the normalised mutual information of those codes with the factors picks each
    factor's latent; :func:`factor_traversals` moves it from the code of the grid's middle sound
    across its 1st to 99th percentile in ``n_steps``. Returns clips ``[len(factors), n_steps,
    samples]`` at ``dataset.sr`` and labels such as ``"z3 ~ f0 (0.63)"`` (:func:`factor_labels`).
    """
    from course_lib.latents import mean_codes
    from course_lib.metrics import mutual_information_matrix

    space = dataset.factor_space
    rows = np.sort(
        np.random.default_rng(seed).choice(len(dataset), size=min(n_codes, len(dataset)), replace=False)
    )
    codes = mean_codes(model, dataset.features[rows])
    mi = mutual_information_matrix(codes, dataset.latents_classes[rows], normalise=True)
    middle = int(space.classes_to_index(space.middle_classes()))
    base = mean_codes(model, dataset.features[[middle]])[0]
    decoded, dims = factor_traversals(model.decode, codes, mi, space.names, factors, base, n_steps)
    return traversal_audio(decoded, **dataset.logmel_settings()), factor_labels(mi, space.names, dims)


def latent_factor_table(mi: np.ndarray, factor_names: Sequence[str], dim_labels: Sequence[str] | None = None):
    """For each latent: the factor it shares the most normalised mutual information with, and the gap.

    ``mi`` is [latents, factors] (e.g. ``metrics.mutual_information_matrix(..., normalise=True)``).
    Returns a DataFrame with ``best_factor``, ``mi`` (its value) and ``gap`` (minus the second best).
    """
    mi = np.asarray(mi, dtype=np.float64)
    if mi.ndim != 2 or mi.shape[1] != len(factor_names) or mi.shape[1] < 2:
        raise ValueError(f"mi must be [latents, {len(factor_names)} >= 2 factors], got {mi.shape}.")
    labels = list(dim_labels) if dim_labels is not None else [f"z{d}" for d in range(mi.shape[0])]
    if len(labels) != mi.shape[0]:
        raise ValueError(f"need {mi.shape[0]} latent labels, got {len(labels)}.")
    ordered = np.sort(mi, axis=1)
    best = mi.argmax(axis=1)
    return pd.DataFrame(
        {
            "best_factor": [factor_names[k] for k in best],
            "mi": ordered[:, -1],
            "gap": ordered[:, -1] - ordered[:, -2],
        },
        index=pd.Index(labels, name="latent"),
    )


def factor_labels(mi: np.ndarray, factor_names: Sequence[str], dims: Sequence[int]) -> list[str]:
    """Labels such as ``"z3 ~ tilt (0.62)"`` for the latents ``dims``: the factor each shares most with.

    ``mi`` is the normalised [latents, factors] information matrix of :func:`latent_factor_table`; the
    number in brackets is that normalised mutual information (1: the latent determines the factor).
    """
    table = latent_factor_table(mi, factor_names)
    if any(not 0 <= int(d) < len(table) for d in dims):
        raise ValueError(f"dims must index the {len(table)} latents of mi, got {list(dims)}.")
    return [f"z{int(d)} ~ {table.best_factor.iloc[int(d)]} ({table.mi.iloc[int(d)]:.2f})" for d in dims]


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
