"""Does a sound have an attribute? Decided by measurement, with thresholds from the attributes' definitions.

Taught in chapters/05_2_scan.ipynb (judging the sounds SCAN imagines from words). A judge reads the
audio only. Each attribute has one measurement and one threshold, placed halfway (in the unit
where the two words' definitions are equally spaced) between what its two words are defined to be
(see :mod:`course_lib.composed_sounds` and :mod:`course_lib.effects`); no threshold was fitted to data.

Measurements from :func:`course_lib.descriptors.measure` (chapter 1):

* onset: ``rise_ms`` >= 26 ms means gradual: the 10-90 % rise of a linear attack is 0.8 of it,
  so abrupt (5 ms) reads about 4 ms and gradual (60 ms) about 48 ms; 26 ms is their middle (in
  linear time: the descriptor's 20 ms frames add up to about 10 ms to a click, so log time would
  put the threshold too close to it);
* loudness: ``rms_db`` >= -26 dB, the level before the gain, halfway between soft (-34) and loud (-18).

Measurements added here (envelopes: RMS of 20 ms frames every 5 ms, in dB; spectra: the long-term
power spectrum, 4096-point frames):

* register: ``series_f0_hz`` (the fundamental of the strongest harmonic series, see
  :func:`harmonic_series`; pYIN's ``f0_hz`` jumps an octave down on the breathy, darkened flute)
  >= 214 Hz, the geometric middle of the closest low and high pitches, 147 Hz (D3) and 311 Hz (D#4);
* brightness: :func:`spectral_slope_db` >= -9 dB/octave, the sources' own tilt, halfway between dark
  (-15) and bright (-3): the slope of the mean power per frequency bin (2048-point frames) in
  half-octave bands from the filter's 500 Hz corner to 4 kHz. It needs no pitch (chapter 1's
  ``slope`` needs pYIN's f0, which a mix of two notes lacks) and no resolved peak, so it also reads
  sounds rebuilt from log-mels by Griffin-Lim (all 1056 sounds right, as rendered and through
  Griffin-Lim);
* partials: :func:`partial_stretch` B >= 5e-4, half of the inharmonic B = 1e-3 (harmonic: 0). It is
  chapter 1's ``stiffness`` fitted on the strongest harmonic series instead of pYIN's pitch,
  which misses some breathy or inharmonic notes (97.9 % of the solos right, against 89.6 %);
* noise: :func:`peak_to_floor_db` < 12 dB means breathy: breathy is defined as an HNR of 6 dB
  (clean: no noise at all); 12 dB is the breathy value plus 6 dB, a quarter of its noise power.
  Chapter 1's ``hnr_db`` (autocorrelation) also counts stretched partials as noise: it read the
  clean bell at 4.9 dB and got 87.5 % of the solos right, against 100 % for this one;
* motion: :func:`tremolo_depth_db`, the peak-to-peak level swing inside the notes, >= 6 dB, half of the
  wobbling tremolo (12 dB; steady: 0);
* space: :func:`tail_t60`, the decay time of the tail after the last note, >= 0.25 s, half of the
  wet room's T60 (0.5 s; a dry note ends with a 30 ms release);
* structure: :func:`active_span_s`, the time from the first to the last frame within 15 dB of the
  loudest, >= 1.5 notes (0.525 s) means a **succession** (THEN: two notes one after the other, 0.7 s;
  one note, alone or mixed, lasts 0.35 s, plus at most about 0.07 s of reverberation above -15 dB);
  otherwise the share of the partials' energy in a second harmonic series
  (:func:`harmonic_series`) >= 0.25 means a **mix** (PLUS: two sounds at equal level give about 0.5,
  one sound 0); else **solo**. Known limit: a room's frequency response has notches, and a wet
  mix can lose the fundamental of one part in one.

Measured on the whole compositional dataset (1056 sounds, seed 0): brightness, space and loudness
100 % right; motion 99.6 % (4 misses: the darkened, wobbling gong at one transposition reads 5.1
to 6.0 dB); structure 96.4 % (every solo and every succession right; 38 of the 288 mixes, all wet
and all with the gong, read as solo). Source attributes describe one note: judge them on solo
sounds. On the 192 solos: register 95.8 %, onset 99.0 %, partials 97.9 %, noise 100 %. Every
register and partials miss is the wet gong transposed up (165 Hz), whose fundamental falls in a
notch of the room (seed 0): its strongest series then starts at the second partial.
"""

from __future__ import annotations

import librosa
import numpy as np
import pandas as pd
import scipy.ndimage
import scipy.signal

from course_lib.composed_sounds import BASE_TILT, NOTE, REF_LEVEL
from course_lib.descriptors import measure
from course_lib.effects import WET_T60, WOBBLE_DEPTH_DB

FRAME_S: float = 0.02
HOP_S: float = 0.005

THRESHOLDS: dict[str, tuple[str, float, str, str]] = {
    # attribute: (measurement, threshold, word at or above, word below)
    "register": ("series_f0_hz", float(np.sqrt(146.832 * 311.127)), "high", "low"),
    "partials": ("stretch_b", 5e-4, "inharmonic", "harmonic"),
    "onset": ("rise_ms", 26.0, "gradual", "abrupt"),
    "noise": ("peak_to_floor_db", 12.0, "clean", "breathy"),
    "brightness": ("spectral_slope_db", BASE_TILT, "bright", "dark"),
    "loudness": ("rms_db", REF_LEVEL, "loud", "soft"),
    "motion": ("tremolo_db", WOBBLE_DEPTH_DB / 2, "wobbling", "steady"),
    "space": ("tail_t60_s", WET_T60 / 2, "wet", "dry"),
}
"""Per attribute: the measurement column, the threshold, the word at or above it and the word below."""

SPAN_THRESHOLD_S: float = 1.5 * NOTE
PEAK_OVER_FLOOR: float = 10.0  # a partial stands 10 dB above the local median of the spectrum
SECOND_SOURCE_THRESHOLD: float = 0.25


def _clips(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] < 2048:
        raise ValueError(f"audio must be [N, samples] or [samples] with >= 2048 samples, got {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("audio must hold finite samples only (found NaN or inf).")
    return x


def envelope_db(audio: np.ndarray, sr: int) -> np.ndarray:
    """Level in dB of 20 ms frames every 5 ms, ``[N, frames]`` (-200 dB for silence)."""
    x = _clips(audio)
    frame, hop = int(FRAME_S * sr), int(HOP_S * sr)
    rms = librosa.feature.rms(y=x, frame_length=frame, hop_length=hop, center=True, pad_mode="constant")[:, 0]
    return 20 * np.log10(np.maximum(rms, 1e-10))


def _segments(active: np.ndarray) -> list[tuple[int, int]]:
    """Start and end (exclusive) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2], strict=True))


def tremolo_depth_db(audio: np.ndarray, sr: int, band_hz: tuple[float, float] = (4.0, 16.0)) -> np.ndarray:
    """Peak-to-peak level swing (dB) inside the notes of each clip, at tremolo rates (``band_hz``).

    Frames within 20 dB of the clip's loudest are the notes; in each run of them the level in dB is
    band-passed to ``band_hz`` (second-order Butterworth, forward and backward: a slow decay or an
    attack is not a tremolo), 40 ms are dropped at both ends, and the swing is
    ``2 sqrt(2) * median |residual|`` (exact for a sinusoid; the median ignores a few odd frames
    such as the joint of two notes).
    """
    env = envelope_db(audio, sr)
    sos = scipy.signal.butter(2, band_hz, btype="bandpass", fs=1.0 / HOP_S, output="sos")
    trim = int(round(0.04 / HOP_S))
    out = np.zeros(len(env))
    for i, e in enumerate(env):
        residuals = [
            scipy.signal.sosfiltfilt(sos, e[a:b])[trim:-trim]
            for a, b in _segments(e >= e.max() - 20.0)
            if b - a >= 4 * trim
        ]
        if residuals:
            r = np.concatenate(residuals)
            out[i] = 2 * np.sqrt(2) * np.median(np.abs(r - np.median(r)))
    return out


def active_span_s(audio: np.ndarray, sr: int, within_db: float = 15.0) -> np.ndarray:
    """Time (s) from the first to the last frame within ``within_db`` of the clip's loudest frame."""
    env = envelope_db(audio, sr)
    out = np.zeros(len(env))
    for i, e in enumerate(env):
        frames = np.flatnonzero(e >= e.max() - within_db)
        out[i] = (frames[-1] - frames[0]) * HOP_S
    return out


def tail_t60(audio: np.ndarray, sr: int) -> np.ndarray:
    """Decay time (s, to -60 dB) of the tail after the last note, from the slope of the envelope.

    The tail starts at the last frame within 20 dB of the clip's loudest and runs until the level
    is 50 dB below it (or the clip ends); a line fitted to it in dB against time gives
    ``T60 = 60 / (dB lost per second)``. A tail shorter than 4 frames gives twice its length (an upper bound).
    """
    env = envelope_db(audio, sr)
    out = np.full(len(env), np.nan)
    for i, e in enumerate(env):
        top = e.max()
        start = int(np.flatnonzero(e >= top - 20.0)[-1])
        below = np.flatnonzero(e[start:] < top - 50.0)
        stop = start + (int(below[0]) + 1 if len(below) else len(e) - start)
        seg = e[start:stop]
        if len(seg) < 4:  # gone within 20 ms: at most twice that to lose 30 dB and more
            out[i] = 2 * len(seg) * HOP_S
            continue
        slope = np.polyfit(np.arange(len(seg)) * HOP_S, seg, 1)[0]
        out[i] = 60.0 / -slope if slope < 0 else np.inf
    return out


def _peaks(power: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (parabolic interpolation in dB) and powers of the peaks 10 dB above the local median."""
    df = freqs[1] - freqs[0]
    floor = scipy.ndimage.median_filter(power, size=max(3, int(100.0 / df)), mode="nearest")
    local_max = (power >= np.roll(power, 1)) & (power > np.roll(power, -1))
    ok = np.flatnonzero(local_max & (power > PEAK_OVER_FLOOR * floor) & (freqs > 40.0) & (freqs < 5000.0))
    db = 10 * np.log10(np.maximum(power, 1e-30))
    a, b, c = db[ok - 1], db[ok], db[ok + 1]
    denom = np.where(a - 2 * b + c < 0, a - 2 * b + c, -1.0)
    return (ok + 0.5 * (a - c) / denom) * df, power[ok]


def _explained(f0: float, freqs: np.ndarray, tolerance: float) -> np.ndarray:
    """Which peaks lie within ``tolerance`` (relative, or 1 Hz) of a harmonic of ``f0``."""
    k = np.maximum(np.round(freqs / f0), 1.0)
    return np.abs(freqs - k * f0) <= np.maximum(tolerance * k * f0, 1.0)


def harmonic_series(audio: np.ndarray, sr: int, tolerance: float = 0.006) -> tuple[np.ndarray, np.ndarray]:
    """Fundamental (Hz) of the strongest harmonic series, and the share of the partials' energy in a second.

    From the long-term power spectrum (4096-point frames, 4 Hz bins, peaks interpolated): the peaks
    10 dB above their local median are the partials; every peak below 1 kHz is tried as a
    fundamental, the one whose harmonics (within ``tolerance``, 0.6 % or 1 Hz: stretched partials up
    to the 4th of the inharmonic sources) hold the most energy is the first source; the same search
    on the peaks it leaves gives the second. A fundamental must itself be a peak (NaN: no peak).
    """
    x = _clips(audio)
    spec = np.abs(librosa.stft(x, n_fft=4096, hop_length=512)) ** 2
    power = spec.mean(axis=-1)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=4096)
    f0 = np.full(len(x), np.nan)
    second = np.zeros(len(x))
    for i, p in enumerate(power):
        f, e = _peaks(p, freqs)
        left = np.ones(len(f), dtype=bool)
        for rank in range(2):
            candidates = np.flatnonzero(left & (f < 1000.0))
            if not len(candidates):
                break
            scores = [e[left & _explained(f[c], f, tolerance)].sum() for c in candidates]
            best = candidates[int(np.argmax(scores))]
            if rank == 0:
                f0[i] = f[best]
            else:
                second[i] = float(max(scores)) / e.sum()
            left &= ~_explained(f[best], f, tolerance)
    return f0, second


def spectral_slope_db(
    audio: np.ndarray, sr: int, band_hz: tuple[float, float] = (500.0, 4000.0)
) -> np.ndarray:
    """Spectral slope (dB/octave) of the long-term spectrum: mean power per bin in half-octave bands.

    A straight line fitted to the bands' levels in dB against log2(centre frequency), from 500 Hz
    (the tilt filter's corner) to 4 kHz. The mean power *per frequency bin* of a harmonic spectrum
    falls with frequency as its partials do (their density per bin is the same in every band), so
    the line reads the tilt without finding a single peak: it needs no pitch, reads a mix of two
    notes, and reads sounds rebuilt from a log-mel by Griffin-Lim, where the partials are smeared.
    """
    x = _clips(audio)
    power = (np.abs(librosa.stft(x, n_fft=2048, hop_length=512)) ** 2).mean(axis=-1)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=2048)
    edges = band_hz[0] * 2.0 ** np.arange(0.0, np.log2(band_hz[1] / band_hz[0]) + 1e-9, 0.5)
    bands = [(freqs >= a) & (freqs < b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    centres = np.log2(np.sqrt(edges[:-1] * edges[1:]))
    levels = 10 * np.log10(np.stack([power[:, band].mean(axis=1) for band in bands], axis=1) + 1e-20)
    return np.polyfit(centres, levels.T, 1)[0]


def peak_to_floor_db(audio: np.ndarray, sr: int, half_width: int = 3) -> np.ndarray:
    """Energy in the partials against the energy between them (dB): an HNR that needs no pitch.

    In the long-term power spectrum (as in :func:`harmonic_series`), bins within ``half_width``
    (3 bins, 12 Hz: the window's main lobe and an 8 Hz tremolo's sidebands) of a partial peak are
    partial energy and the other bins from 50 Hz to 5 kHz are noise. Stretched partials are peaks
    too, so inharmonicity does not read as noise (it does for the autocorrelation HNR of chapter 1).
    """
    x = _clips(audio)
    spec = np.abs(librosa.stft(x, n_fft=4096, hop_length=512)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=4096)
    band = (freqs >= 50.0) & (freqs <= 5000.0)
    df = freqs[1] - freqs[0]
    out = np.full(len(x), np.nan)
    for i, p in enumerate(spec.mean(axis=-1)):
        f, _ = _peaks(p, freqs)
        near = np.zeros(len(freqs), dtype=bool)
        for centre in np.round(f / df).astype(int):
            near[max(centre - half_width, 0) : centre + half_width + 1] = True
        harmonic, noise = p[band & near].sum(), p[band & ~near].sum()
        if harmonic > 0:
            out[i] = 10 * np.log10(harmonic / max(noise, 1e-30))
    return out


def partial_stretch(audio: np.ndarray, sr: int, n_partials: int = 8) -> np.ndarray:
    """Stiffness B of the strongest series (``f_k = k f0 sqrt(1 + B k^2)``), from its partial peaks.

    Partial k is the strongest peak within 5 % of ``k f1`` (``f1``: the series' fundamental from
    :func:`harmonic_series`; B = 1e-3 stretches the 8th by 3.2 %); with ``y_k = (f_k / (k f1))^2 - 1``
    the least-squares fit of ``y_k = B (k^2 - 1)`` (as chapter 1's ``stiffness``, without pYIN).
    NaN without a series or with fewer than 3 partials found.
    """
    x = _clips(audio)
    f1s, _ = harmonic_series(x, sr)
    spec = np.abs(librosa.stft(x, n_fft=4096, hop_length=512)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=4096)
    out = np.full(len(x), np.nan)
    for i, p in enumerate(spec.mean(axis=-1)):
        if not np.isfinite(f1s[i]):
            continue
        f, e = _peaks(p, freqs)
        ks, ys = [], []
        for k in range(2, n_partials + 1):
            near = np.flatnonzero(np.abs(f / (k * f1s[i]) - 1.0) <= 0.05)
            if len(near):
                fk = f[near[np.argmax(e[near])]]
                ks.append(k)
                ys.append((fk / (k * f1s[i])) ** 2 - 1.0)
        if len(ks) >= 2:
            k2 = np.asarray(ks, dtype=np.float64) ** 2 - 1.0
            out[i] = max(float(np.sum(np.asarray(ys) * k2) / np.sum(k2**2)), 0.0)
    return out


def structure(span_s: np.ndarray, second_share: np.ndarray) -> np.ndarray:
    """``THEN``, ``PLUS`` or ``solo`` from the two measurements (see the module docstring)."""
    span_s, second_share = np.asarray(span_s), np.asarray(second_share)
    return np.where(
        span_s >= SPAN_THRESHOLD_S,
        "THEN",
        np.where(second_share >= SECOND_SOURCE_THRESHOLD, "PLUS", "solo"),
    )


def decide(attribute: str, value: float | np.ndarray) -> np.ndarray:
    """The word of ``attribute`` that the measured ``value`` means (:data:`THRESHOLDS`)."""
    if attribute not in THRESHOLDS:
        raise ValueError(
            f"no judge for attribute {attribute!r}; the judged attributes are {list(THRESHOLDS)}."
        )
    _, threshold, above, below = THRESHOLDS[attribute]
    return np.where(np.asarray(value) >= threshold, above, below)


def measure_all(audio: np.ndarray, sr: int, descriptors: bool = True) -> pd.DataFrame:
    """Every measurement of each clip: chapter 1's descriptors (optional: pYIN is the slow part) and ours."""
    x = _clips(audio)
    table = measure(x, sr) if descriptors else pd.DataFrame(index=range(len(x)))
    if not descriptors:
        rms = np.sqrt(np.mean(x**2, axis=1))
        table["rms_db"] = 20 * np.log10(np.maximum(rms, 1e-10))
    table["tremolo_db"] = tremolo_depth_db(x, sr)
    table["tail_t60_s"] = tail_t60(x, sr)
    table["span_s"] = active_span_s(x, sr)
    table["series_f0_hz"], table["second_share"] = harmonic_series(x, sr)
    table["spectral_slope_db"] = spectral_slope_db(x, sr)
    table["peak_to_floor_db"] = peak_to_floor_db(x, sr)
    table["stretch_b"] = partial_stretch(x, sr)
    return table


def judge(audio: np.ndarray, sr: int, descriptors: bool = True) -> pd.DataFrame:
    """Measurements plus one decided word per attribute (columns named after the attributes).

    Source attributes (register, partials, onset, noise) describe one note: trust them on
    solo sounds. With ``descriptors=False`` (no pYIN: about 20 ms a one-second clip instead of
    about 90) every attribute but the onset is judged.
    """
    table = measure_all(audio, sr, descriptors)
    for attribute, (column, *_rest) in THRESHOLDS.items():
        if column in table:
            table[attribute] = decide(attribute, table[column].to_numpy(dtype=np.float64))
    table["structure"] = structure(table["span_s"].to_numpy(), table["second_share"].to_numpy())
    return table
