"""A batched sinusoidal-modelling synthesizer: the DSP behind the toy dataset ("audio dSprites").

Taught in chapters/01_toy_dataset.ipynb; the dataset's factor grids (which parameters vary, over
which values) are the presets of :mod:`course_lib.presets`. A sound is

    x(t) = g * env(t) * [ sum_k a_k sin(phi_k + r_k Phi(t)) + c * n(t) ],   Phi(t) = 2 pi int_0^t f0(u) du

* **harmonic partials** k = 1..64 with frequency ratios ``r_k = k sqrt(1 + B k^2)`` (B: the
  inharmonicity of a stiff string; B = 0 gives exact harmonics), amplitudes from a **spectral
  envelope** in dB: ``tilt * log2(r_k)`` (dB per octave, brightness) + ``odd_even`` on even partials
  + an optional Gaussian **formant** bump; partials whose highest instantaneous frequency reaches
  the Nyquist frequency are dropped (no aliasing), and partials 80 dB below the strongest too;
  Schroeder start phases ``phi_k = -pi k (k - 1) / K`` keep the crest factor low;
* **filtered noise** ``n(t)``: white noise shaped in the frequency domain by the same envelope
  (``tilt`` dB/octave above f0, rising 12 dB/octave below f0, the formant), mixed so that the
  power ratio of the two parts is exactly the **harmonic-to-noise ratio** ``hnr`` (dB);
* an **amplitude envelope** per note (linear attack, exponential decay with time ``t60`` to -60 dB,
  linear release), **tremolo** (level swing in dB, peak to peak) and **vibrato** (cents, peak);
* **note sequences**: ``note_rate`` notes per second, each ``interval`` semitones from the last,
  centred on ``f0`` (geometric middle), each sounding ``gate`` of the inter-onset interval;
* finally the clip's RMS is set exactly to ``level`` dB re full scale.

Speed: the phase is accumulated from the instantaneous frequency at a control rate of one value per
block of :data:`BLOCK` samples (2 ms at 16 kHz); inside a block each partial is a complex rotation
``z <- z * w`` (4 multiplies and 2 adds, no ``sin``), the rotations of all partials updated in a
fused Numba kernel that runs across the clips in parallel. The straightforward reference,
:func:`render_naive` (one ``sin`` per partial per sample, one clip at a time), defines the same
sound; the unit tests check the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import scipy.fft
from tqdm.auto import tqdm

SR: int = 16000
"""Sample rate of every preset (Hz)."""
BLOCK: int = 32
"""Control block in samples: frequency and envelope are updated once per block (2 ms at 16 kHz)."""
MAX_PARTIALS: int = 64
"""Most partials a note can have (fewer when they would reach the Nyquist frequency)."""
PARTIAL_FLOOR_DB: float = -80.0
"""Partials this far below a note's strongest partial are dropped (inaudible, and saves time)."""
SYNTH_VERSION: int = 1
"""Bump when the sound of a preset changes: dataset cache files carry it in their key."""
_RESYNC_BLOCKS = 64  # re-derive the rotation state from the exact phase every 64 blocks (float32 drift)
_LN1000 = math.log(1000.0)


@dataclass(frozen=True)
class Param:
    """One synthesis parameter: default value, unit, allowed closed range, meaning."""

    name: str
    default: float
    unit: str
    low: float
    high: float
    meaning: str


PARAMS: dict[str, Param] = {
    p.name: p
    for p in [
        Param("f0", 220.0, "Hz", 20.0, 4000.0, "fundamental frequency (centre pitch of a sequence)"),
        Param("level", -20.0, "dB FS (RMS)", -120.0, 0.0, "RMS level of the whole clip"),
        Param("tilt", -9.0, "dB/octave", -40.0, 12.0, "spectral slope of partials and noise (brightness)"),
        Param("odd_even", 0.0, "dB", -60.0, 12.0, "gain of the even partials (negative: hollow)"),
        Param("inharmonicity", 0.0, "B", 0.0, 0.01, "stiffness B: partial k at k f0 sqrt(1 + B k^2)"),
        Param("hnr", math.inf, "dB", -30.0, math.inf, "harmonic-to-noise power ratio (inf: no noise)"),
        Param("attack", 10.0, "ms", 0.0, 5000.0, "linear rise time of each note"),
        Param("t60", math.inf, "s", 0.01, math.inf, "decay time to -60 dB after the attack (inf: sustain)"),
        Param("release", 30.0, "ms", 0.0, 1000.0, "linear fade at the end of each note"),
        Param("vibrato_rate", 0.0, "Hz", 0.0, 20.0, "rate of the pitch modulation"),
        Param("vibrato_depth", 0.0, "cents", 0.0, 200.0, "peak pitch deviation"),
        Param("tremolo_rate", 0.0, "Hz", 0.0, 20.0, "rate of the level modulation"),
        Param("tremolo_depth", 0.0, "dB", 0.0, 24.0, "peak-to-peak level swing"),
        Param("formant_freq", 1000.0, "Hz", 50.0, 8000.0, "centre of the formant bump"),
        Param("formant_bw", 300.0, "Hz", 10.0, 4000.0, "width (standard deviation) of the formant bump"),
        Param("formant_gain", 0.0, "dB", -40.0, 40.0, "height of the formant bump (0: no formant)"),
        Param("interval", 0.0, "semitones", -12.0, 12.0, "pitch step between successive notes"),
        Param("note_rate", 0.0, "notes/s", 0.0, 20.0, "notes per second (0: one note for the whole clip)"),
        Param("gate", 0.9, "fraction", 0.05, 1.0, "part of the inter-onset interval a note sounds"),
    ]
}
"""Every parameter of the generator; a preset fixes some (``constants``) and varies others (factors)."""


# ----------------------------------------------------------------------------------------- checks
def check_params(params: Mapping[str, Any], sr: int = SR, duration: float = 1.0) -> dict[str, np.ndarray]:
    """Validate and complete ``params`` (scalars or 1-D arrays of one length N): float64 ``[N]`` arrays.

    Raises ``ValueError`` naming the parameter for unknown names, wrong shapes, NaN, values outside
    the allowed range of :data:`PARAMS`, or notes whose fundamental reaches the Nyquist frequency.
    """
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or not 1000 <= sr <= 192000:
        raise ValueError(f"sr must be an integer sample rate between 1000 and 192000 Hz, got {sr!r}.")
    if not isinstance(duration, (int, float, np.floating)) or not 0.01 <= float(duration) <= 60.0:
        raise ValueError(f"duration must be a number of seconds between 0.01 and 60, got {duration!r}.")
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise ValueError(f"unknown synthesis parameter(s) {unknown}; the parameters are {list(PARAMS)}.")
    arrays = {}
    for name, value in params.items():
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim > 1:
            raise ValueError(f"parameter {name!r} must be a scalar or a 1-D array, got shape {arr.shape}.")
        arrays[name] = arr
    lengths = {a.shape[0] for a in arrays.values() if a.ndim == 1}
    if len(lengths) > 1:
        raise ValueError(f"parameter arrays must share one length, got lengths {sorted(lengths)}.")
    n = lengths.pop() if lengths else 1
    out = {}
    for name, spec in PARAMS.items():
        arr = np.broadcast_to(arrays.get(name, np.float64(spec.default)), (n,)).astype(np.float64)
        if np.any(np.isnan(arr)) or np.any(arr < spec.low) or np.any(arr > spec.high):
            bad = arr[np.isnan(arr) | (arr < spec.low) | (arr > spec.high)][0]
            raise ValueError(
                f"parameter {name!r} = {bad!r} {spec.unit} is outside the allowed range "
                f"[{spec.low:g}, {spec.high:g}] ({spec.meaning})."
            )
        out[name] = arr
    nyquist = sr / 2
    top = _note_f0s(out, duration).max(axis=1) * 2.0 ** (out["vibrato_depth"] / 1200.0)
    if np.any(top >= nyquist):
        raise ValueError(
            f"a note's fundamental reaches {top.max():.1f} Hz, at or above the Nyquist frequency "
            f"{nyquist:g} Hz (lower f0, the interval or the vibrato depth)."
        )
    return out


# ----------------------------------------------------------------------------- shared definitions
def _n_notes(p: Mapping[str, np.ndarray], duration: float) -> np.ndarray:
    """Number of notes per clip: one when ``note_rate`` is 0, else every onset inside the clip."""
    rate = p["note_rate"]
    return np.where(rate > 0, np.ceil(np.round(rate * duration, 9)), 1).astype(np.int64)


def _note_f0s(p: Mapping[str, np.ndarray], duration: float) -> np.ndarray:
    """Fundamental of every note ``[N, J]``: ``f0 * 2**(interval * (j - (n-1)/2) / 12)`` (centred)."""
    n = _n_notes(p, duration)
    j = np.arange(int(n.max()))[None, :]
    steps = np.minimum(j, n[:, None] - 1) - (n[:, None] - 1) / 2.0
    return p["f0"][:, None] * 2.0 ** (p["interval"][:, None] * steps / 12.0)


def _note_times(p: Mapping[str, np.ndarray], duration: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onsets, sounding lengths (s) and validity ``[N, J]`` of the notes of each clip."""
    n = _n_notes(p, duration)
    j = np.arange(int(n.max()))[None, :]
    rate = p["note_rate"][:, None]
    single = rate == 0
    safe_rate = np.where(single, 1.0, rate)
    onsets = np.where(single, 0.0, j / safe_rate)
    lengths = np.where(single, duration, p["gate"][:, None] / safe_rate)
    return onsets, lengths, j < n[:, None]


def note_envelope(t: np.ndarray, p: Mapping[str, np.ndarray], duration: float) -> np.ndarray:
    """Amplitude envelope ``[N, len(t)]`` at times ``t`` (s): notes' attack-decay-release, times tremolo."""
    onsets, lengths, valid = _note_times(p, duration)
    u = t[None, None, :] - onsets[:, :, None]  # time since each onset [N, J, T]
    length = lengths[:, :, None]
    attack = np.maximum(p["attack"] / 1000.0, 1e-6)[:, None, None]
    release = np.maximum(p["release"] / 1000.0, 1e-6)[:, None, None]
    t60 = p["t60"][:, None, None]
    rise = np.clip(u / attack, 0.0, 1.0)
    decay = np.exp(-np.maximum(u - attack, 0.0) * (_LN1000 / t60))
    fall = np.clip((length - u) / release, 0.0, 1.0)
    inside = (u >= 0) & (u <= length) & valid[:, :, None]
    env = np.where(inside, rise * decay * fall, 0.0).sum(axis=1)
    swing = p["tremolo_depth"][:, None] / 2.0 * np.sin(2 * np.pi * p["tremolo_rate"][:, None] * t[None, :])
    return env * 10.0 ** (swing / 20.0)


def vibrato_factor(t: np.ndarray, p: Mapping[str, np.ndarray]) -> np.ndarray:
    """Frequency multiplier ``[N, len(t)]``: ``2**(depth/1200 * sin(2 pi rate t))``."""
    if not np.any(p["vibrato_depth"]):
        return np.ones((len(p["vibrato_depth"]), len(t)))
    arg = np.sin(2 * np.pi * p["vibrato_rate"][:, None] * t[None, :])
    return 2.0 ** (p["vibrato_depth"][:, None] / 1200.0 * arg)


def partial_ratios(inharmonicity: np.ndarray, n_partials: int = MAX_PARTIALS) -> np.ndarray:
    """Frequency ratios ``r_k = k sqrt(1 + B k^2)``, k = 1..n, shape ``[N, n]`` (stiff-string model)."""
    k = np.arange(1, n_partials + 1, dtype=np.float64)
    return k * np.sqrt(1.0 + np.asarray(inharmonicity, dtype=np.float64)[..., None] * k**2)


def _formant_db(freqs: np.ndarray, p: Mapping[str, np.ndarray], extra_dims: int) -> np.ndarray:
    """Gaussian formant bump in dB at ``freqs`` (parameters broadcast over ``extra_dims`` trailing axes)."""
    shape = (-1,) + (1,) * extra_dims
    centre, width = p["formant_freq"].reshape(shape), p["formant_bw"].reshape(shape)
    return p["formant_gain"].reshape(shape) * np.exp(-0.5 * ((freqs - centre) / width) ** 2)


def partial_amplitudes(p: Mapping[str, np.ndarray], sr: int, duration: float) -> np.ndarray:
    """Amplitudes ``[N, J, K]`` of the partials of every note (unit harmonic power per note, 0 = dropped)."""
    ratios = partial_ratios(p["inharmonicity"])[:, None, :]  # [N, 1, K]
    freqs = _note_f0s(p, duration)[:, :, None] * ratios  # [N, J, K]
    k = np.arange(1, MAX_PARTIALS + 1)
    db = p["tilt"][:, None, None] * np.log2(ratios) + np.where(k % 2 == 0, p["odd_even"][:, None, None], 0.0)
    db = db + _formant_db(freqs, p, 2)
    top = freqs * 2.0 ** (p["vibrato_depth"][:, None, None] / 1200.0)
    db = np.where(top < sr / 2, db, -np.inf)  # no partial may reach the Nyquist frequency
    db = np.where(db >= db.max(axis=2, keepdims=True) + PARTIAL_FLOOR_DB, db, -np.inf)
    amps = 10.0 ** (db / 20.0)
    return amps / np.sqrt(0.5 * (amps**2).sum(axis=2, keepdims=True))


def schroeder_phases(n_partials: np.ndarray, n_max: int = MAX_PARTIALS) -> np.ndarray:
    """Start phases ``-pi k (k-1) / K`` ``[N, n_max]`` (Schroeder 1970: a low crest factor)."""
    k = np.arange(1, n_max + 1, dtype=np.float64)
    return -np.pi * k * (k - 1) / np.maximum(np.asarray(n_partials, dtype=np.float64)[:, None], 1.0)


def noise_envelope(freqs: np.ndarray, p: Mapping[str, np.ndarray]) -> np.ndarray:
    """Noise magnitude ``[N, len(freqs)]``: ``tilt`` dB/octave above f0, +12 dB/octave below, formant."""
    octaves = (np.log2(np.maximum(freqs, 1e-9))[None, :] - np.log2(p["f0"])[:, None]).astype(np.float32)
    db = octaves * np.where(octaves > 0, p["tilt"][:, None], 20 * np.log10(4.0)).astype(np.float32)
    if np.any(p["formant_gain"] != 0):
        db = db + _formant_db(freqs[None, :], p, 1)
    return np.where(freqs[None, :] > 0, np.exp2(db * np.float32(np.log2(10) / 20)), np.float32(0))


# ------------------------------------------------------------------------------- the naive reference
def oscillator_bank(
    freqs: np.ndarray, amps: np.ndarray, n_samples: int, sr: int, phases: np.ndarray | None = None
) -> np.ndarray:
    """Sum of sinusoids, one ``sin`` per partial per sample: the straightforward additive synthesizer.

    ``freqs`` and ``amps`` are ``[K]`` (constant) or ``[K, n_samples]`` (per sample); the phase of
    partial k is ``phases[k] + 2 pi sum_{m<n} f_k[m] / sr`` (accumulated from the instantaneous
    frequency). A partial is silenced wherever it reaches the Nyquist frequency. Returns float64
    ``[n_samples]``.
    """
    freqs = np.broadcast_to(
        np.asarray(freqs, dtype=np.float64).reshape(len(freqs), -1), (len(freqs), n_samples)
    )
    amps = np.broadcast_to(np.asarray(amps, dtype=np.float64).reshape(len(amps), -1), (len(amps), n_samples))
    phases = np.zeros(len(freqs)) if phases is None else np.asarray(phases, dtype=np.float64)
    out = np.zeros(n_samples)
    for k in range(len(freqs)):
        phase = phases[k] + 2 * np.pi * np.concatenate([[0.0], np.cumsum(freqs[k][:-1])]) / sr
        out += np.where(freqs[k] < sr / 2, amps[k], 0.0) * np.sin(phase)
    return out


def mix_at_hnr(harmonic: np.ndarray, noise: np.ndarray, hnr_db: float) -> np.ndarray:
    """``harmonic + c * noise`` with c chosen so the power ratio of the two parts is ``hnr_db`` dB."""
    harmonic, noise = np.asarray(harmonic, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    if math.isinf(hnr_db) and hnr_db > 0:
        return harmonic.copy()
    p_h, p_n = np.mean(harmonic**2), np.mean(noise**2)
    if p_n == 0:
        raise ValueError("the noise is silent: cannot mix it at a finite HNR.")
    return harmonic + noise * np.sqrt(p_h / (p_n * 10.0 ** (hnr_db / 10.0)))


def render_naive(
    params: Mapping[str, float], *, sr: int = SR, duration: float = 1.0, seed: int = 0, clip_id: int = 0
) -> np.ndarray:
    """One clip, computed the straightforward way (sample-rate controls, one ``sin`` per partial per sample).

    The reference that :func:`synthesize` must match, and the baseline of ``make bench``.
    Returns float32 ``[round(duration * sr)]``.
    """
    p = check_params(params, sr, duration)
    if len(p["f0"]) != 1:
        raise ValueError("render_naive renders one clip: give scalar parameters.")
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    env = note_envelope(t, p, duration)[0]
    amps = partial_amplitudes(p, sr, duration)[0]  # [J, K]
    onsets, _, valid = _note_times(p, duration)
    note = np.clip(np.searchsorted(onsets[0][valid[0]], t, side="right") - 1, 0, None)
    f0 = _note_f0s(p, duration)[0][note] * vibrato_factor(t, p)[0]
    ratios = partial_ratios(p["inharmonicity"])[0]
    n_kept = int((amps > 0).any(axis=0).nonzero()[0].max()) + 1
    phases = schroeder_phases(np.array([n_kept]))[0]
    harmonic = env * oscillator_bank(ratios[:, None] * f0[None, :], amps[note].T, n, sr, phases)
    if math.isinf(p["hnr"][0]):
        x = harmonic
    else:
        n_fft = _padded_length(n)
        spectrum = noise_spectra(
            seed, np.array([clip_id]), n_fft, noise_envelope(np.fft.rfftfreq(n_fft, 1 / sr), p)
        )
        noise = env * np.fft.irfft(spectrum[0], n=n_fft)[:n]
        x = mix_at_hnr(harmonic, noise, float(p["hnr"][0]))
    return (x * 10.0 ** (p["level"][0] / 20.0) / np.sqrt(np.mean(x**2))).astype(np.float32)


# ---------------------------------------------------------------------------------- fast kernels
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(inline="always")
def _mix64(x: np.uint64) -> np.uint64:
    """SplitMix64 finaliser: a good 64-bit hash (counter-based random numbers, the same on every thread)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(parallel=True, fastmath=True, cache=True)
def _noise_spectra_kernel(seed, ids, env, rows, out):
    scale = np.float32(2.0**-31)
    for i in numba.prange(out.shape[0]):
        key = _mix64(_mix64(np.uint64(seed) + _GOLDEN) ^ np.uint64(ids[i]))
        a = env[rows[i]]
        for b in range(out.shape[1]):
            h = _mix64(key + np.uint64(b) * _GOLDEN)
            re = np.float32(np.int32(h & np.uint64(0xFFFFFFFF))) * scale
            im = np.float32(np.int32(h >> np.uint64(32))) * scale
            out[i, b] = a[b] * (re + 1j * im)


def noise_spectra(seed: int, ids: np.ndarray, n_fft: int, envelope: np.ndarray) -> np.ndarray:
    """Random spectra ``[N, n_fft//2 + 1]`` (complex64): uniform real and imaginary parts times ``envelope``.

    The random numbers are a hash of (seed, clip id, bin), so a clip's noise does not depend on
    the batch it is rendered in. ``envelope`` is ``[N, bins]`` or ``[U, bins]`` with N == U.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if np.any(ids < 0):
        raise ValueError("clip ids must be non-negative integers.")
    env = np.ascontiguousarray(envelope, dtype=np.float32)
    out = np.empty((len(ids), n_fft // 2 + 1), dtype=np.complex64)
    _noise_spectra_kernel(int(seed), ids, env, np.arange(len(ids), dtype=np.int64), out)
    out[:, 0] = 0
    return out


@numba.njit(parallel=True, fastmath=True, cache=True)
def _harmonic_kernel(out, amps, w0r, w0i, ratios, theta, phases, vib, env, note_of_block, n_partials):

    n_clips, n_blocks = vib.shape
    width = amps.shape[2]
    for i in numba.prange(n_clips):
        zr = np.zeros(width, np.float32)
        zi = np.zeros(width, np.float32)
        wr = np.zeros(width, np.float32)
        wi = np.zeros(width, np.float32)
        a = np.zeros(width, np.float32)
        kp = min(width, ((n_partials[i] + 15) // 16) * 16)  # padded with zero amplitudes
        phi = 0.0  # exact accumulated phase of the fundamental (float64)
        note = -1
        fresh = True
        for b in range(n_blocks):
            e0 = env[i, b]
            e1 = env[i, b + 1]
            j = note_of_block[i, b]
            if j != note:
                note = j
                for k in range(kp):
                    a[k] = amps[i, j, k]
            if e0 == 0.0 and e1 == 0.0:  # silence: skip, and resume from the exact phase
                for n in range(BLOCK):
                    out[i, b * BLOCK + n] = 0.0
                fresh = True
            else:
                if fresh or b % _RESYNC_BLOCKS == 0:
                    for k in range(kp):
                        ang = phases[i, k] + ratios[i, k] * phi
                        zr[k] = math.cos(ang)
                        zi[k] = math.sin(ang)
                    fresh = False
                eps = theta[i, j] * (vib[i, b] - 1.0)
                for k in range(kp):  # w = w0 * exp(i r_k eps), the small rotation by a Taylor series
                    e = ratios[i, k] * eps
                    e2 = e * e
                    c = 1.0 - e2 * (0.5 - e2 * (1.0 / 24.0 - e2 * (1.0 / 720.0)))
                    s = e * (1.0 - e2 * (1.0 / 6.0 - e2 * (1.0 / 120.0 - e2 * (1.0 / 5040.0))))
                    wr[k] = w0r[i, j, k] * c - w0i[i, j, k] * s
                    wi[k] = w0r[i, j, k] * s + w0i[i, j, k] * c
                de = (e1 - e0) / BLOCK
                for n in range(BLOCK):
                    acc = np.float32(0.0)
                    for k in range(kp):
                        re = zr[k]
                        im = zi[k]
                        acc += a[k] * im
                        zr[k] = re * wr[k] - im * wi[k]
                        zi[k] = re * wi[k] + im * wr[k]
                    out[i, b * BLOCK + n] = acc * (e0 + de * n)
            phi += BLOCK * theta[i, j] * vib[i, b]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _mix_kernel(harm, noise, env, hnr, level, n_samples, has_noise, keep_parts, out):
    n_blocks = env.shape[1] - 1
    for i in numba.prange(harm.shape[0]):
        h = harm[i, :n_samples]
        p_h = 0.0
        for t in range(n_samples):
            p_h += np.float64(h[t]) * h[t]
        p_n = 0.0
        p_hn = 0.0
        if has_noise:
            v = noise[i]
            for b in range(n_blocks):  # the noise follows the same envelope as the partials
                e0 = env[i, b]
                de = (env[i, b + 1] - e0) / BLOCK
                for n in range(BLOCK):
                    v[b * BLOCK + n] *= e0 + de * n
            for t in range(n_samples):
                p_n += np.float64(v[t]) * v[t]
                p_hn += np.float64(h[t]) * v[t]
        c = 0.0
        if has_noise and p_n > 0.0 and not math.isinf(hnr[i]):
            c = math.sqrt(p_h / (p_n * 10.0 ** (hnr[i] / 10.0)))
        total = p_h + c * c * p_n + 2.0 * c * p_hn
        g = np.float32(math.sqrt(n_samples * 10.0 ** (level[i] / 10.0) / total) if total > 0.0 else 0.0)
        gc = np.float32(g * c)
        o = out[i]
        if has_noise:
            v = noise[i]
            for t in range(n_samples):
                o[t] = g * h[t] + gc * v[t]
            if keep_parts:
                for t in range(n_samples):
                    v[t] *= gc
        else:
            for t in range(n_samples):
                o[t] = g * h[t]
        if keep_parts:
            for t in range(n_samples):
                h[t] *= g


def _padded_length(n_samples: int) -> int:
    """Samples rendered: a whole number of control blocks."""
    return -(-n_samples // BLOCK) * BLOCK


def _render_chunk(
    p: dict[str, np.ndarray],
    sr: int,
    duration: float,
    seed: int,
    ids: np.ndarray,
    out: np.ndarray,
    parts: tuple[np.ndarray, np.ndarray] | None,
) -> None:
    """Render a chunk of clips with the fast kernels (parameters already checked)."""
    n_clips = len(p["f0"])
    n_samples = int(round(duration * sr))
    n_pad = _padded_length(n_samples)
    n_blocks = n_pad // BLOCK
    edges = np.arange(n_blocks + 1) * BLOCK / sr
    env = note_envelope(edges, p, duration)
    centres = (np.arange(n_blocks) * BLOCK + (BLOCK - 1) / 2) / sr
    vib = vibrato_factor(centres, p)
    onsets, _, valid = _note_times(p, duration)
    started = (onsets[:, None, :] < edges[None, 1:, None]) & valid[:, None, :]
    note_of_block = np.maximum(started.sum(axis=2) - 1, 0).astype(np.int64)

    amps = partial_amplitudes(p, sr, duration)  # [N, J, K]
    kept = (amps > 0).any(axis=1)
    n_partials = np.where(kept.any(axis=1), MAX_PARTIALS - np.argmax(kept[:, ::-1], axis=1), 0).astype(
        np.int64
    )
    ratios = partial_ratios(p["inharmonicity"])
    theta = 2 * np.pi * _note_f0s(p, duration) / sr  # [N, J] rad / sample
    rot = ratios[:, None, :] * theta[:, :, None]
    harm = np.empty((n_clips, n_pad), dtype=np.float32)
    _harmonic_kernel(
        harm,
        amps.astype(np.float32),
        np.cos(rot),
        np.sin(rot),
        ratios,
        theta,
        schroeder_phases(n_partials),
        vib,
        env,
        note_of_block,
        n_partials,
    )
    has_noise = bool(np.any(np.isfinite(p["hnr"])))
    if has_noise:
        freqs = np.fft.rfftfreq(n_pad, 1 / sr)
        keys = np.stack([p[name] for name in ("f0", "tilt", "formant_freq", "formant_bw", "formant_gain")], 1)
        unique, rows = np.unique(keys, axis=0, return_inverse=True)
        shapes = noise_envelope(
            freqs,
            dict(zip(("f0", "tilt", "formant_freq", "formant_bw", "formant_gain"), unique.T, strict=True)),
        )
        spectra = np.empty((n_clips, len(freqs)), dtype=np.complex64)
        _noise_spectra_kernel(
            int(seed), ids, shapes.astype(np.float32), rows.reshape(-1).astype(np.int64), spectra
        )
        spectra[:, 0] = 0
        noise = scipy.fft.irfft(spectra, n=n_pad, axis=1, workers=-1).astype(np.float32, copy=False)
    else:
        noise = np.zeros((1, 1), dtype=np.float32)
    _mix_kernel(harm, noise, env, p["hnr"], p["level"], n_samples, has_noise, parts is not None, out)
    if parts is not None:
        parts[0][:] = harm[:, :n_samples]
        parts[1][:] = noise[:, :n_samples] if has_noise else 0.0


def synthesize(
    params: Mapping[str, Any],
    *,
    sr: int = SR,
    duration: float = 1.0,
    seed: int = 0,
    ids: np.ndarray | None = None,
    batch_size: int = 256,
    return_parts: bool = False,
    progress: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render clips from synthesis parameters (see :data:`PARAMS`): float32 ``[N, round(duration * sr)]``.

    Each parameter is a scalar or an ``[N]`` array; missing ones take their defaults. ``ids`` (default
    ``0..N-1``) and ``seed`` select each clip's noise, so a clip sounds the same in any batch.
    ``return_parts=True`` also returns the harmonic and noise parts (``out = harmonic + noise``).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    p = check_params(params, sr, duration)
    n_clips = len(p["f0"])
    ids = np.arange(n_clips, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) != n_clips:
        raise ValueError(f"ids has {len(ids)} entries for {n_clips} clips.")
    if np.any(ids < 0):
        raise ValueError("clip ids must be non-negative integers.")
    n_samples = int(round(duration * sr))
    out = np.empty((n_clips, n_samples), dtype=np.float32)
    parts = (np.empty_like(out), np.empty_like(out)) if return_parts else None
    starts = range(0, n_clips, batch_size)
    for start in tqdm(starts, desc="synthesis", unit="batch", disable=not progress):
        sl = slice(start, start + batch_size)
        chunk = {name: value[sl] for name, value in p.items()}
        chunk_parts = None if parts is None else (parts[0][sl], parts[1][sl])
        _render_chunk(chunk, sr, duration, seed, ids[sl], out[sl], chunk_parts)
    return (out, *parts) if parts is not None else out
