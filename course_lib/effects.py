"""Sound effects and composition operators: real DSP on the synthesizer's output, each one named.

Taught in chapters/05_1_composed_sounds.ipynb (the composed sounds of SCAN). Every function takes audio
``x`` as a float array ``[..., samples]`` (one clip or a batch) and returns a new float64 array of
the same shape; ``sr`` is the sample rate in Hz.

Effects (one *attribute* of a sound each; the "colour" effects keep the clip's RMS so that
loudness stays a separate attribute):

* :func:`tilt_filter`: a linear-phase FIR filter whose gain is 0 dB below ``corner_hz`` and
  ``db_per_octave * log2(f / corner_hz)`` above: it adds ``db_per_octave`` to the spectral slope
  (negative: **dark**, positive: **bright**);
* :func:`gain`: multiply by ``10 ** (db / 20)`` (**loud** / **soft**);
* :func:`reverb`: convolution with a synthetic impulse response, exponentially decaying Gaussian
  noise that falls by 60 dB in ``t60`` seconds (**wet**; no reverb: **dry**);
* :func:`tremolo`: a sinusoidal level swing of ``depth_db`` dB peak to peak (**wobbling**).

Composition operators, on two sounds of one length:

* :func:`mix` (``PLUS``): both at once, ``a + b``;
* :func:`then` (``THEN``): succession, ``b`` delayed to start at ``offset`` seconds, added to ``a``
  (``a`` is a note that has ended by then, so the second part starts where the first ends).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.signal

FIR_TAPS: int = 511
"""Length of the tilt filter (odd: linear phase, delay of 255 samples, compensated)."""


# ---------------------------------------------------------------------------------------- checks
def _audio(x: Any) -> np.ndarray:
    """``x`` as a float64 array ``[..., samples]`` of finite values (``ValueError`` otherwise)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"audio must be an array [..., samples] with at least one sample, got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError("audio must hold finite samples only (found NaN or inf).")
    return arr


def _check_sr(sr: Any) -> int:
    if not isinstance(sr, (int, np.integer)) or isinstance(sr, bool) or not 1000 <= sr <= 192000:
        raise ValueError(f"sr must be an integer sample rate between 1000 and 192000 Hz, got {sr!r}.")
    return int(sr)


def _check_range(name: str, value: Any, low: float, high: float, unit: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number ({unit}), got {value!r}.") from None
    if not (math.isfinite(v) and low <= v <= high):
        raise ValueError(f"{name} = {value!r} {unit} is outside the allowed range [{low:g}, {high:g}].")
    return v


def rms(x: np.ndarray) -> np.ndarray:
    """RMS of each clip (over the last axis)."""
    return np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64)), axis=-1))


def _keep_rms(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y`` rescaled to the RMS of ``x`` clip by clip (silent clips stay silent)."""
    ry, rx = rms(y)[..., None], rms(x)[..., None]
    return np.where(ry > 0, y * rx / np.where(ry > 0, ry, 1.0), y)


# ---------------------------------------------------------------------------------------- effects
def tilt_response(freqs: np.ndarray, db_per_octave: float, corner_hz: float) -> np.ndarray:
    """Gain (linear) of the tilt filter at ``freqs``: 1 below the corner, ``db_per_octave`` above."""
    octaves = np.log2(np.maximum(np.asarray(freqs, dtype=np.float64), corner_hz) / corner_hz)
    return 10.0 ** (db_per_octave * octaves / 20.0)


def tilt_filter(
    x: Any, sr: int, db_per_octave: float, corner_hz: float = 500.0, keep_rms: bool = True
) -> np.ndarray:
    """Add ``db_per_octave`` dB/octave to the spectrum above ``corner_hz`` (linear-phase FIR, no delay).

    The filter is designed by frequency sampling (``scipy.signal.firwin2``, :data:`FIR_TAPS` taps)
    and applied by FFT convolution; its delay is removed, so the output lines up with the input.
    With ``keep_rms`` the output has the input's RMS (the filter changes the colour, not the level).
    """
    sr = _check_sr(sr)
    x = _audio(x)
    slope = _check_range("db_per_octave", db_per_octave, -24.0, 24.0, "dB/octave")
    corner = _check_range("corner_hz", corner_hz, 20.0, sr / 2 * 0.9, "Hz")
    grid = np.linspace(0.0, sr / 2, 257)
    taps = scipy.signal.firwin2(FIR_TAPS, grid, tilt_response(grid, slope, corner), fs=sr)
    full = scipy.signal.fftconvolve(x, taps.reshape((1,) * (x.ndim - 1) + (-1,)), axes=-1)
    delay = FIR_TAPS // 2
    y = full[..., delay : delay + x.shape[-1]]
    return _keep_rms(y, x) if keep_rms else y


def gain(x: Any, db: float) -> np.ndarray:
    """Multiply by ``10 ** (db / 20)``: the level moves by exactly ``db`` dB."""
    return _audio(x) * 10.0 ** (_check_range("db", db, -60.0, 40.0, "dB") / 20.0)


def impulse_response(sr: int, t60: float, seed: int = 0) -> np.ndarray:
    """A synthetic room: Gaussian noise times ``exp(-ln(1000) t / t60)``, ``t60`` long, unit energy.

    The same ``seed`` gives the same response (a room is a fixed object).
    """
    sr = _check_sr(sr)
    t60 = _check_range("t60", t60, 0.01, 10.0, "s")
    n = int(round(t60 * sr))
    t = np.arange(n) / sr
    h = np.random.default_rng(seed).standard_normal(n) * np.exp(-math.log(1000.0) * t / t60)
    return h / np.sqrt(np.sum(h**2))


def reverb(
    x: Any, sr: int, t60: float, wet_db: float = 0.0, seed: int = 0, keep_rms: bool = True
) -> np.ndarray:
    """``x + 10**(wet_db/20) * (x * h)``: the dry sound plus its convolution with :func:`impulse_response`.

    The response has unit energy, so at ``wet_db = 0`` the reverberant part carries about as much
    energy as the direct sound. The tail is cut at the end of the clip (same length out as in).
    """
    x = _audio(x)
    wet = _check_range("wet_db", wet_db, -60.0, 20.0, "dB")
    h = impulse_response(sr, t60, seed)
    tail = scipy.signal.fftconvolve(x, h.reshape((1,) * (x.ndim - 1) + (-1,)), axes=-1)[..., : x.shape[-1]]
    y = x + 10.0 ** (wet / 20.0) * tail
    return _keep_rms(y, x) if keep_rms else y


def tremolo(x: Any, sr: int, depth_db: float, rate_hz: float, keep_rms: bool = True) -> np.ndarray:
    """Multiply by ``10 ** (depth_db / 2 * sin(2 pi rate t) / 20)``: ``depth_db`` dB peak to peak."""
    sr = _check_sr(sr)
    x = _audio(x)
    depth = _check_range("depth_db", depth_db, 0.0, 40.0, "dB peak to peak")
    rate = _check_range("rate_hz", rate_hz, 0.0, 40.0, "Hz")
    t = np.arange(x.shape[-1]) / sr
    y = x * 10.0 ** (depth / 2.0 * np.sin(2 * np.pi * rate * t) / 20.0)
    return _keep_rms(y, x) if keep_rms else y


# ------------------------------------------------------------------------------------ composition
def mix(a: Any, b: Any) -> np.ndarray:
    """``a PLUS b``: both sounds at once, the sample-wise sum (same shapes required)."""
    a, b = _audio(a), _audio(b)
    if a.shape != b.shape:
        raise ValueError(f"mix needs two sounds of one shape, got {a.shape} and {b.shape}.")
    return a + b


def then(a: Any, b: Any, sr: int, offset: float) -> np.ndarray:
    """``a THEN b``: ``b`` delayed by ``offset`` seconds and added to ``a`` (same shapes; the end is cut).

    For a note ``a`` that is silent from ``offset`` on, the result is ``a`` up to ``offset``
    and ``b`` from there: the second part starts where the first ends.
    """
    sr = _check_sr(sr)
    a, b = _audio(a), _audio(b)
    if a.shape != b.shape:
        raise ValueError(f"then needs two sounds of one shape, got {a.shape} and {b.shape}.")
    n = a.shape[-1]
    start = int(round(_check_range("offset", offset, 0.0, n / sr, "s") * sr))
    out = a.copy()
    out[..., start:] += b[..., : n - start]
    return out


# ---------------------------------------------------------------------------------- named operators
@dataclass(frozen=True)
class EffectOperator:
    """An effect with a word: ``apply(x, sr)`` runs ``function(x, sr, **params)`` (identity when None)."""

    word: str
    attribute: str
    meaning: str
    function: Callable[..., np.ndarray] | None = None
    params: dict[str, float] = field(default_factory=dict)

    def apply(self, x: Any, sr: int) -> np.ndarray:
        """The effect applied to ``x``."""
        if self.function is None:
            return _audio(x).copy()
        if self.function is gain:
            return gain(x, **self.params)
        return self.function(x, sr, **self.params)


DARK_DB_PER_OCTAVE: float = -6.0
BRIGHT_DB_PER_OCTAVE: float = 6.0
TILT_CORNER_HZ: float = 500.0
"""Above every fundamental of the dataset (98-392 Hz): a mix keeps its two notes at equal level."""
SOFT_DB: float = -8.0
LOUD_DB: float = 8.0
WET_T60: float = 0.5
WET_DB: float = -6.0
WOBBLE_DEPTH_DB: float = 12.0
WOBBLE_RATE_HZ: float = 8.0

EFFECTS: dict[str, EffectOperator] = {
    op.word: op
    for op in [
        EffectOperator(
            "dark",
            "brightness",
            f"tilt filter {DARK_DB_PER_OCTAVE:+g} dB/octave above {TILT_CORNER_HZ:g} Hz",
            tilt_filter,
            {"db_per_octave": DARK_DB_PER_OCTAVE, "corner_hz": TILT_CORNER_HZ},
        ),
        EffectOperator(
            "bright",
            "brightness",
            f"tilt filter {BRIGHT_DB_PER_OCTAVE:+g} dB/octave above {TILT_CORNER_HZ:g} Hz",
            tilt_filter,
            {"db_per_octave": BRIGHT_DB_PER_OCTAVE, "corner_hz": TILT_CORNER_HZ},
        ),
        EffectOperator("soft", "loudness", f"gain {SOFT_DB:+g} dB", gain, {"db": SOFT_DB}),
        EffectOperator("loud", "loudness", f"gain {LOUD_DB:+g} dB", gain, {"db": LOUD_DB}),
        EffectOperator("dry", "space", "no reverb"),
        EffectOperator(
            "wet",
            "space",
            f"reverb: decaying-noise room, T60 {WET_T60:g} s, reverberant part {WET_DB:+g} dB",
            reverb,
            {"t60": WET_T60, "wet_db": WET_DB},
        ),
        EffectOperator("steady", "motion", "no tremolo"),
        EffectOperator(
            "wobbling",
            "motion",
            f"tremolo {WOBBLE_DEPTH_DB:g} dB peak to peak at {WOBBLE_RATE_HZ:g} Hz",
            tremolo,
            {"depth_db": WOBBLE_DEPTH_DB, "rate_hz": WOBBLE_RATE_HZ},
        ),
    ]
}
"""The effect operators by word; each attribute (brightness, loudness, space, motion) has two words."""

COMPOSITIONS: dict[str, str] = {
    "PLUS": "mix: both sounds at once (effects.mix)",
    "THEN": "succession: the second starts where the first ends (effects.then)",
}
"""The composition operators on sounds."""


def effect(word: str) -> EffectOperator:
    """The effect operator called ``word`` (``ValueError`` naming the allowed words otherwise)."""
    if word not in EFFECTS:
        raise ValueError(f"unknown effect {word!r}; the effects are {sorted(EFFECTS)}.")
    return EFFECTS[word]


def compose(operator: str, a: Any, b: Any, sr: int, offset: float) -> np.ndarray:
    """``a <operator> b``, ``operator`` in :data:`COMPOSITIONS` (``offset``: THEN's second start, s)."""
    if operator == "PLUS":
        return mix(a, b)
    if operator == "THEN":
        return then(a, b, sr, offset)
    raise ValueError(f"unknown composition operator {operator!r}; the operators are {sorted(COMPOSITIONS)}.")
