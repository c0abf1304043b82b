"""Listening in notebooks and in the published book: one player, or a labelled grid of players.

Taught in book/tour.ipynb and used by every chapter. Players embed the sound in the page as a
16-bit WAV, so keep clips short and the rate low (the default caps a clip at 2 s): one second
at 16 kHz costs about 43 kB of page.

Sounds that are compared play at **one fixed gain**: a grid of players (:func:`player_grid`) scales
all its clips by the same factor (:func:`common_gain`, the loudest clip's peak to :data:`PEAK`), never
each clip to its own peak, or a change of loudness between clips could not be heard.

Pages with dozens of players stay small with :func:`for_the_page` (first used in
chapters/01_toy_dataset.ipynb): clips resampled to 8 kHz and cut short before they are embedded.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
from IPython.display import HTML, Audio

MAX_SECONDS: float = 2.0
"""Longest clip a player embeds; longer clips are cut (with a warning in the label)."""

PEAK: float = 0.9
"""Peak sample value of the loudest clip in a group played at one gain (about -1 dB full scale)."""


def _as_clip(signal: object, sr: int, max_seconds: float) -> np.ndarray:
    """Check one clip and return it as a 1-D float64 array cut to ``max_seconds``."""
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or sr <= 0:
        raise ValueError(f"sr must be a positive integer sample rate in Hz, got {sr!r}.")
    clip = np.asarray(signal, dtype=np.float64)
    if clip.ndim != 1:
        raise ValueError(f"a clip must be a 1-D array of samples, got shape {clip.shape}.")
    if clip.size == 0:
        raise ValueError("a clip must hold at least one sample, got an empty array.")
    if not np.all(np.isfinite(clip)):
        raise ValueError("a clip must hold finite samples only (found NaN or inf).")
    return clip[: int(round(max_seconds * sr))]


def play(signal: object, sr: int, *, normalize: bool = True, max_seconds: float = MAX_SECONDS) -> Audio:
    """Return an audio player for a 1-D signal (display it, or leave it last in a cell).

    ``normalize=True`` scales the peak to full scale, as IPython does; pass ``False`` to hear
    level differences between clips (the samples must then lie in [-1, 1]).
    """
    clip = _as_clip(signal, sr, max_seconds)
    if not normalize and np.max(np.abs(clip)) > 1.0:
        raise ValueError("with normalize=False the samples must lie in [-1, 1]; scale the clip or normalize.")
    if normalize and not np.any(clip):
        normalize = False  # a silent clip has no peak to scale to: play it as it is
    return Audio(clip, rate=int(sr), normalize=normalize)


def common_gain(clips: Sequence[object], peak: float = PEAK) -> float:
    """The one gain that brings the loudest of ``clips`` to ``peak``; 1.0 when every clip is silent.

    Multiply every clip of a group by it: their levels relative to each other are kept.
    """
    if not 0 < peak <= 1:
        raise ValueError(f"peak must lie in (0, 1], got {peak!r}.")
    loudest = max((float(np.max(np.abs(np.asarray(c, dtype=np.float64)))) for c in clips), default=0.0)
    if not np.isfinite(loudest):
        raise ValueError("clips must hold finite samples only (found NaN or inf).")
    return peak / loudest if loudest > 0 else 1.0


def at_gain(clip: object, gain: float) -> np.ndarray:
    """``clip`` multiplied by ``gain``, limited to [-1, 1]: the samples a fixed-gain player embeds."""
    return np.clip(np.asarray(clip, dtype=np.float64) * gain, -1.0, 1.0)


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


def player_grid(
    signals: object,
    sr: int,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    *,
    gain: float | None = None,
    max_seconds: float = MAX_SECONDS,
) -> HTML:
    """Return an HTML table of players: rows x columns, with optional labels and a caption.

    ``signals`` is a nested list (rows of 1-D clips), a 2-D array (one row of clips) or a 3-D
    array ``[rows, columns, samples]``. Used for latent traversals (a row per latent, a column
    per step) and for walks along one factor of the toy dataset. Every clip is multiplied by one
    ``gain`` (default: :func:`common_gain` of the whole grid), so louder clips sound louder.
    """
    rows = [[_as_clip(clip, sr, max_seconds) for clip in row] for row in _as_rows(signals)]
    clips = [clip for row in rows for clip in row]
    gain = common_gain(clips) if gain is None else float(gain)
    if not np.isfinite(gain) or gain <= 0:
        raise ValueError(f"gain must be a positive number, got {gain!r}.")
    if max(np.max(np.abs(c)) for c in clips) * gain > 1.0 + 1e-9:
        raise ValueError(f"gain {gain:g} would push samples beyond [-1, 1]; use a smaller gain or None.")
    n_cols = max(len(row) for row in rows)
    if row_labels is not None and len(row_labels) != len(rows):
        raise ValueError(f"row_labels has {len(row_labels)} labels for {len(rows)} rows.")
    if col_labels is not None and len(col_labels) != n_cols:
        raise ValueError(f"col_labels has {len(col_labels)} labels for {n_cols} columns.")
    parts = ['<table class="course-player-grid" style="border-collapse:collapse">']
    if title:
        parts.append(f'<caption style="caption-side:top;font-weight:bold">{html.escape(title)}</caption>')
    if col_labels is not None:
        head = "".join(f"<th>{html.escape(str(label))}</th>" for label in col_labels)
        parts.append(f"<tr>{'<th></th>' if row_labels is not None else ''}{head}</tr>")
    for i, row in enumerate(rows):
        cells = []
        if row_labels is not None:
            cells.append(f'<th style="text-align:right">{html.escape(str(row_labels[i]))}</th>')
        for clip in row:
            player = play(at_gain(clip, gain), sr, normalize=False, max_seconds=max_seconds)._repr_html_()
            player = player.replace("<audio ", '<audio preload="none" style="width:150px" ', 1)
            cells.append(f'<td style="padding:2px">{player}</td>')
        parts.append(f"<tr>{''.join(cells)}</tr>")
    parts.append("</table>")
    return HTML("".join(parts))


def _as_rows(signals: object) -> list[list[object]]:
    """Normalise the accepted layouts of ``player_grid`` to a list of rows of clips."""
    if isinstance(signals, np.ndarray):
        if signals.ndim == 2:
            return [list(signals)]
        if signals.ndim == 3:
            return [list(row) for row in signals]
        raise ValueError(
            f"an array of clips must be 2-D or 3-D [rows, columns, samples], got {signals.shape}."
        )
    if not isinstance(signals, Sequence) or len(signals) == 0:
        raise ValueError("signals must be a non-empty nested list of clips or a 2-D/3-D array.")
    rows = [list(row) for row in signals]
    if any(len(row) == 0 for row in rows):
        raise ValueError("every row of signals must hold at least one clip.")
    return rows
