"""Measure sounds back with audio descriptors: pitch (pYIN), level, centroid, slope, HNR, partials, attack.

Taught in chapters/01_toy_dataset.ipynb (labelling and analysis of the toy dataset); chapter 3
reuses :func:`measure` to draw descriptor curves along latent traversals. Every descriptor is
computed from the audio alone (no access to the factors), one value per clip:

* ``f0_hz``: median over voiced frames of the pYIN fundamental (Mauch & Dixon 2014; librosa);
  NaN when no frame is voiced;
* ``rms_db``: the clip's RMS level in dB re full scale, from librosa's frame RMS
  (``10 log10(mean(rms^2))``, frames of 1024 samples, hop 256, centred with zero padding, so that
  every sample counts the same);
* ``a_weighted_db``: the same level after A-weighting the long-term spectrum (``librosa.A_weighting``),
  a rough proxy of loudness: at equal RMS, brighter and higher sounds score higher;
* ``centroid_hz``: librosa's spectral centroid, averaged over frames weighted by frame energy;
* ``slope``: spectral slope in **dB per octave**: a straight line fitted to the upper envelope of
  the long-term average spectrum (its maximum within +-f0/2, which follows the partials and
  ignores the valleys between them) against log2(frequency), from 1.5 f0 to 7 kHz; for the toy
  dataset it estimates the ``tilt`` factor directly;
* ``hnr_db``: harmonic-to-noise ratio from the normalised autocorrelation (Boersma 1993): in each
  voiced frame (2048 samples, Hann window) the autocorrelation of the frame divided by that of
  the window, ``r``, is read at the lag of the pYIN period (parabolic peak), and
  ``HNR = 10 log10(r / (1 - r))``; the clip's value is the median over voiced frames with at
  least 1 % of the loudest frame's energy. Only periodic energy counts as harmonic, so stretched
  (inharmonic) partials and pitch glides lower the estimate too;
* ``even_odd_db``, ``stiffness``: from the first 12 partials, tracked in the long-term average
  spectrum (2048-point frames): partial k is the highest peak within +-f1/4 of
  ``k f1 sqrt((1 + B k^2) / (1 + B))``, B being refitted as partials are found (least squares of
  ``(f_k / (k f1))^2 - 1`` on ``k^2 - 1``; the last fit is ``stiffness``). ``even_odd_db`` is
  the mean over even k of ``dB_k - (dB_{k-1} + dB_{k+1}) / 2``, the level of even partials against
  their odd neighbours;
* ``rise_ms``: time for the frame RMS (20 ms frames, 2 ms hop) to rise from 10 % to 90 % of the
  clip's steady level (its 90th percentile), the usual attack-time descriptor (about 0.8 times a
  linear attack, plus the frame's smear).

Times are in the docstring of :func:`measure`; pYIN dominates (tens of ms per clip).
"""

from __future__ import annotations

import librosa
import numpy as np
import pandas as pd
import scipy.ndimage

COLUMNS: tuple[str, ...] = (
    "f0_hz",
    "rms_db",
    "a_weighted_db",
    "centroid_hz",
    "slope",
    "hnr_db",
    "even_odd_db",
    "stiffness",
    "rise_ms",
)
"""The descriptor columns of :func:`measure`, in order."""

_N_PARTIALS = 12
_HNR_FRAME = 2048
_HOP = 1024  # pYIN and HNR frames every 64 ms at 16 kHz (pYIN's cost grows with frames)
_CHUNK = 32


def _pyin(audio: np.ndarray, sr: int, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame-wise pYIN f0 (NaN when unvoiced) and the frame centres in samples."""
    f0, _, _ = librosa.pyin(
        audio, fmin=fmin, fmax=fmax, sr=sr, frame_length=_HNR_FRAME, hop_length=_HOP, center=True
    )
    centres = np.arange(f0.shape[-1]) * _HOP
    return f0, centres


def _hnr(audio: np.ndarray, sr: int, f0_frames: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Autocorrelation HNR (dB) of each clip, median over its voiced, non-silent frames."""
    window = np.hanning(_HNR_FRAME)
    n_fft = 2 * _HNR_FRAME
    bins = np.arange(n_fft // 2 + 1)
    weights = np.where((bins == 0) | (bins == n_fft // 2), 1.0, 2.0) / n_fft  # one-sided inverse DFT
    power_w = np.abs(np.fft.rfft(window, n_fft)) ** 2 * weights
    padded = np.pad(audio, ((0, 0), (_HNR_FRAME // 2, _HNR_FRAME // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, _HNR_FRAME, axis=1)[:, centres]  # [N, F, L]
    energy = (frames**2).sum(axis=2)
    power = np.abs(np.fft.rfft(frames * window, n_fft, axis=2)) ** 2 * weights  # [N, F, bins]
    offsets = np.linspace(-1.5, 1.5, 31)  # lags searched around the pYIN period, in samples
    out = np.full(len(audio), np.nan)
    for i in range(len(audio)):
        use = np.flatnonzero(np.isfinite(f0_frames[i]) & (energy[i] > 0.01 * energy[i].max()))
        lags = sr / f0_frames[i, use][:, None] + offsets[None, :]  # [F', 31]
        use, lags = use[lags[:, 0] >= 2], lags[lags[:, 0] >= 2]
        if not len(use):
            continue
        # the autocorrelation at any real lag: sum_k P_k cos(2 pi k lag / n_fft) (Boersma's interpolation)
        phase = np.cos(2 * np.pi * lags[:, :, None] * bins[None, None, :] / n_fft)  # [F', 31, bins]
        acf = np.einsum("fb,flb->fl", power[i, use], phase) / power[i, use].sum(axis=1, keepdims=True)
        acf_w = np.einsum("b,flb->fl", power_w, phase) / power_w.sum()
        r = np.clip((acf / acf_w).max(axis=1), 1e-6, 1 - 1e-6)
        out[i] = float(np.median(10 * np.log10(r / (1 - r))))
    return out


def _slope(power: np.ndarray, freqs: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """dB/octave slope of the upper spectral envelope between 1.5 f0 and 7 kHz (NaN without f0)."""
    out = np.full(len(power), np.nan)
    df = freqs[1] - freqs[0]
    for i, f in enumerate(f0):
        if not np.isfinite(f):
            continue
        envelope = scipy.ndimage.maximum_filter1d(power[i], size=max(3, int(f / df)), mode="nearest")
        band = (freqs >= 1.5 * f) & (freqs <= min(7000.0, freqs[-1] * 0.9))
        if band.sum() < 4:
            continue
        db = 10 * np.log10(np.maximum(envelope[band], 1e-20))
        out[i] = np.polyfit(np.log2(freqs[band]), db, 1)[0]
    return out


def _parabolic(y: np.ndarray, i: int) -> tuple[float, float]:
    """Offset (bins) and height of the parabola through ``y[i-1:i+2]``."""
    a, b, c = y[i - 1 : i + 2]
    denom = a - 2 * b + c
    if denom >= 0:
        return 0.0, float(b)
    offset = 0.5 * (a - c) / denom
    return float(offset), float(b - 0.25 * (a - c) * offset)


def _partials(power: np.ndarray, freqs: np.ndarray, f0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Even/odd balance (dB) and stiffness B of each clip from its tracked partials (NaN without f0)."""
    even_odd = np.full(len(power), np.nan)
    stiffness = np.full(len(power), np.nan)
    df = freqs[1] - freqs[0]
    for i, guess in enumerate(f0):
        if not np.isfinite(guess):
            continue
        db = 10 * np.log10(np.maximum(power[i], 1e-30))
        found_f, found_db, b = {}, {}, 0.0
        f1 = guess
        for k in range(1, _N_PARTIALS + 1):
            predicted = k * f1 * np.sqrt((1 + b * k**2) / (1 + b))
            lo, hi = int((predicted - f1 / 4) / df), int((predicted + f1 / 4) / df) + 1
            if hi >= len(freqs) - 1 or lo < 1:
                break
            j = lo + int(np.argmax(db[lo:hi]))
            offset, height = _parabolic(db, j)
            found_f[k], found_db[k] = (j + offset) * df, height
            if k == 1:
                f1 = found_f[1]
            elif k >= 3:
                ks = np.array(sorted(found_f))[1:]
                y = (np.array([found_f[q] for q in ks]) / (ks * f1)) ** 2 - 1
                b = max(float(np.sum(y * (ks**2 - 1)) / np.sum((ks**2 - 1) ** 2)), 0.0)
        stiffness[i] = b
        evens = [
            found_db[k] - (found_db[k - 1] + found_db[k + 1]) / 2
            for k in range(2, _N_PARTIALS, 2)
            if k + 1 in found_db
        ]
        if evens:
            even_odd[i] = float(np.mean(evens))
    return even_odd, stiffness


def _rise_ms(x: np.ndarray, sr: int) -> np.ndarray:
    """10-90 % rise time (ms) of the frame RMS of each clip, relative to its 90th-percentile level."""
    hop = max(1, sr // 500)
    rms = librosa.feature.rms(y=x, frame_length=10 * hop, hop_length=hop, center=True, pad_mode="constant")[
        :, 0
    ]
    env = rms / np.maximum(np.percentile(rms, 90, axis=1, keepdims=True), 1e-30)
    t10 = np.argmax(env >= 0.1, axis=1)
    t90 = np.argmax(env >= 0.9, axis=1)
    return (t90 - t10) * hop / sr * 1000.0


def measure(audio: np.ndarray, sr: int, fmin: float = 55.0, fmax: float = 1760.0) -> pd.DataFrame:
    """Descriptors of each clip of ``audio`` ``[N, samples]`` (or one clip ``[samples]``): a DataFrame.

    Columns: :data:`COLUMNS` (see the module docstring for the definitions). ``fmin``/``fmax``
    bound the pYIN search (A1..A6; its pitch grid has 10-cent steps from ``fmin``, so the toy
    dataset's whole tones above A1 fall on grid points). About 60 ms per one-second clip at
    16 kHz on the course's CPU, mostly pYIN.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] < _HNR_FRAME:
        raise ValueError(f"audio must be [N, samples] with at least {_HNR_FRAME} samples, got {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("audio must hold finite samples only (found NaN or inf).")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ValueError(f"sr must be a positive integer sample rate, got {sr!r}.")
    if not 0 < fmin < fmax < sr / 2:
        raise ValueError(f"need 0 < fmin < fmax < sr/2, got fmin={fmin}, fmax={fmax}.")
    parts = [_measure_chunk(x[i : i + _CHUNK], sr, fmin, fmax) for i in range(0, len(x), _CHUNK)]
    return pd.concat(parts, ignore_index=True)


def _measure_chunk(x: np.ndarray, sr: int, fmin: float, fmax: float) -> pd.DataFrame:
    """:func:`measure` on a few clips (bounded memory)."""
    f0_frames, centres = _pyin(x, sr, fmin, fmax)
    with np.errstate(all="ignore"):
        voiced = np.isfinite(f0_frames)
        f0 = np.array(
            [np.median(row[ok]) if ok.any() else np.nan for row, ok in zip(f0_frames, voiced, strict=True)]
        )
    rms = librosa.feature.rms(y=x, frame_length=1024, hop_length=256, center=True, pad_mode="constant")[:, 0]
    rms_db = 10 * np.log10(np.maximum(np.mean(rms**2, axis=1), 1e-20))
    spec = np.abs(librosa.stft(x, n_fft=2048, hop_length=512)) ** 2  # [N, bins, frames]
    centroid = librosa.feature.spectral_centroid(S=np.sqrt(spec), sr=sr)[:, 0]
    weights = spec.sum(axis=1)
    centroid_hz = (centroid * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-30)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=2048)
    average = spec.mean(axis=2)
    slope = _slope(average, freqs, f0)
    with np.errstate(divide="ignore"):
        gain = 10.0 ** (librosa.A_weighting(freqs) / 10.0)  # 0 at 0 Hz
    a_weighted = rms_db + 10 * np.log10(
        np.maximum((average * gain).sum(1), 1e-30) / np.maximum(average.sum(1), 1e-30)
    )
    hnr = _hnr(x, sr, f0_frames, centres)
    even_odd, stiffness = _partials(average, freqs, f0)
    return pd.DataFrame(
        {
            "f0_hz": f0,
            "rms_db": rms_db,
            "a_weighted_db": a_weighted,
            "centroid_hz": centroid_hz,
            "slope": slope,
            "hnr_db": hnr,
            "even_odd_db": even_odd,
            "stiffness": stiffness,
            "rise_ms": _rise_ms(x, sr),
        },
        columns=list(COLUMNS),
    )


def explained_variance(classes: pd.DataFrame, measured: pd.DataFrame, adjust: bool = True) -> pd.DataFrame:
    """Share of each descriptor's variance explained by each factor, ``[factors x descriptors]``.

    ``eta^2 = SS_between / SS_total`` of a one-way ANOVA of the descriptor on the factor's
    classes: 1 means the factor determines the descriptor, 0 that the descriptor ignores it. With
    ``adjust=True`` it is omega squared, ``(SS_between - (k - 1) MS_within) / (SS_total +
    MS_within)``, which removes the share that k classes explain by chance in a finite sample
    (about (k - 1) / n), clipped at 0. On a sample drawn uniformly from a full factorial grid the
    factors are independent, so a column sums to at most about 1. NaN descriptors are left out pair
    by pair.
    """
    if len(classes) != len(measured):
        raise ValueError(f"classes has {len(classes)} rows and measured {len(measured)}: they must match.")
    table = {}
    for factor in classes.columns:
        row = {}
        for column in measured.columns:
            ok = measured[column].notna().to_numpy()
            d = measured[column].to_numpy(dtype=np.float64)[ok]
            groups = pd.Series(d).groupby(classes[factor].to_numpy()[ok])
            ss_total = float(((d - d.mean()) ** 2).sum())
            ss_between = float(((groups.mean() - d.mean()) ** 2 * groups.size()).sum())
            k, n = groups.ngroups, len(d)
            if ss_total == 0 or n <= k:
                row[column] = np.nan
                continue
            if adjust:
                ms_within = (ss_total - ss_between) / (n - k)
                row[column] = max(0.0, (ss_between - (k - 1) * ms_within) / (ss_total + ms_within))
            else:
                row[column] = ss_between / ss_total
        table[factor] = row
    return pd.DataFrame(table).T
