"""Measured reasons why an MLP beta-VAE over log-mels misses pitch and loudness.

Taught in chapters/03_2_pitch_and_loudness.ipynb. Three claims, each turned into a number:

1. **Level moves every bin.** Between two sounds that differ only in level, a log spectrogram moves by
   the same number of dB in every band above the floor: :func:`one_factor_pairs` finds such rows,
   :func:`bin_change_fraction` counts the bins that moved.
2. **Pitch is a translation along log-frequency.** Harmonic partials sit at h f0, so on a log-frequency
   axis a change of f0 by s semitones shifts the whole pattern by s * bins_per_octave / 12 bins. An
   MLP has a separate weight for every bin and cannot share what it learns across positions; a
   convolution along frequency can. :func:`to_log_frequency` resamples a mel profile onto a log axis,
   :func:`best_shift` finds the shift that best aligns two profiles (correlation there vs at zero).
3. **The effective beta.** With a Gaussian decoder of standard deviation sigma over D bins, the loss
   is ``sum_d (x_d - mu_d)^2 / (2 sigma^2) + beta KL`` (+ const): :func:`effective_beta` expresses the
   same objective in per-bin units, and says how many nats of KL a given reconstruction error pays for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from course_lib.factors import FactorSpace
from course_lib.validation import (
    integer,
    non_negative_int,
    non_negative_number,
    positive_int,
    positive_number,
)


# ------------------------------------------------------------------------------------------- level
def one_factor_pairs(space: FactorSpace, factor: str, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of grid indices ``(a, b)`` differing only in ``factor``, by ``step`` classes (b = a + step).

    Both arrays are int64 ``[n_pairs]``; on the full toy dataset grid indices are row indices.
    """
    k = space.index_of(factor)
    size = space.sizes[k]
    step = integer(step, "step", 1, size - 1)
    classes = space.all_classes()
    first = classes[classes[:, k] + step < size]
    a = np.asarray(space.classes_to_index(first), dtype=np.int64)
    return a, a + int(step) * int(space.bases[k])


def bin_change_fraction(
    a: np.ndarray, b: np.ndarray, threshold: float, floor: float | None = None
) -> np.ndarray:
    """Fraction of bins with ``|b - a| > threshold``, one value per row: float64 ``[n]``.

    ``a`` and ``b`` are ``[n, ...]`` (e.g. ``[n, n_mels, frames]`` features). With ``floor``, bins where
    either value is at or below it (clamped to the floor, so their change is not seen) are left out;
    a row with no bin left gives nan.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"a and b must share one [n, ...] shape, got {a.shape} and {b.shape}.")
    non_negative_number(threshold, "threshold")
    moved = (np.abs(b - a) > threshold).reshape(len(a), -1)
    if floor is None:
        return moved.mean(1)
    live = ~((a <= floor) | (b <= floor)).reshape(len(a), -1)
    return np.divide((moved & live).sum(1), live.sum(1), out=np.full(len(a), np.nan), where=live.sum(1) > 0)


# ------------------------------------------------------------------------------------------- pitch
def frame_profile(features: np.ndarray) -> np.ndarray:
    """The spectral profile of each clip: the mean over frames (last axis), ``[..., n_mels]``."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim < 2:
        raise ValueError(f"features must be [..., n_mels, frames], got shape {features.shape}.")
    return features.mean(-1)


def to_log_frequency(
    profile: np.ndarray, band_freqs: np.ndarray, fmin: float, fmax: float, bins_per_octave: int = 24
) -> tuple[np.ndarray, np.ndarray]:
    """Resample profiles ``[..., n_bands]`` given at ``band_freqs`` (Hz) onto a log-frequency axis.

    Returns ``(profiles [..., n_bins], freqs [n_bins])`` with ``freqs = fmin * 2 ** (i / bins_per_octave)``
    up to ``fmax`` (linear interpolation in log-frequency; ``fmin`` and ``fmax`` inside the bands' range).
    On this axis a pitch change of s semitones is a shift of ``s * bins_per_octave / 12`` bins.
    """
    profile = np.asarray(profile, dtype=np.float64)
    band_freqs = np.asarray(band_freqs, dtype=np.float64)
    if band_freqs.ndim != 1 or profile.shape[-1] != len(band_freqs) or np.any(np.diff(band_freqs) <= 0):
        raise ValueError("band_freqs must be increasing, one per band (the last axis of profile).")
    if not (band_freqs[0] <= fmin < fmax <= band_freqs[-1]) or fmin <= 0:
        raise ValueError(
            f"need 0 < fmin < fmax inside the bands' range {band_freqs[0]:g}..{band_freqs[-1]:g} Hz, "
            f"got fmin={fmin!r}, fmax={fmax!r}."
        )
    positive_int(bins_per_octave, "bins_per_octave")
    n_bins = int(math.floor(bins_per_octave * math.log2(fmax / fmin))) + 1
    freqs = fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)
    flat = profile.reshape(-1, len(band_freqs))
    log_f, log_bands = np.log2(freqs), np.log2(band_freqs)
    out = np.stack([np.interp(log_f, log_bands, row) for row in flat])
    return out.reshape(*profile.shape[:-1], n_bins), freqs


@dataclass(frozen=True)
class Shift:
    """Result of :func:`best_shift`: the ``shift`` (bins) and the correlation there and at zero shift."""

    shift: int
    corr_best: float
    corr_zero: float


def _corr(u: np.ndarray, v: np.ndarray) -> float:
    u, v = u - u.mean(), v - v.mean()
    denom = math.sqrt(float(u @ u) * float(v @ v))
    return float(u @ v) / denom if denom > 0 else float("nan")


def best_shift(a: np.ndarray, b: np.ndarray, max_shift: int) -> Shift:
    """The integer shift s in ``-max_shift..max_shift`` that maximises corr(a[m - s], b[m]) over the overlap.

    A positive s means b is a moved up by s bins. Pearson correlation over the overlapping bins.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D profiles of the same length, got {a.shape} and {b.shape}.")
    non_negative_int(max_shift, "max_shift")
    if max_shift > len(a) - 2:
        raise ValueError(f"max_shift must leave at least 2 overlapping bins: at most {len(a) - 2}.")
    corrs = {}
    for s in range(-int(max_shift), int(max_shift) + 1):
        corrs[s] = _corr(a[: len(a) - s], b[s:]) if s >= 0 else _corr(a[-s:], b[: len(b) + s])
    best = max(corrs, key=lambda s: -np.inf if math.isnan(corrs[s]) else corrs[s])
    return Shift(int(best), corrs[best], corrs[0])


def semitone_shift_bins(f0_a: float, f0_b: float, bins_per_octave: int = 24) -> float:
    """The shift in log-frequency bins expected between pitches f0_a and f0_b: ``12 log2(b/a)`` semitones."""
    if not (f0_a > 0 and f0_b > 0):
        raise ValueError(f"f0 values must be positive, got {f0_a!r} and {f0_b!r}.")
    return bins_per_octave * math.log2(f0_b / f0_a)


# ------------------------------------------------------------------------------------ effective beta
@dataclass(frozen=True)
class EffectiveBeta:
    """The weights of ``recon + beta * KL`` in per-bin units (see :func:`effective_beta`)."""

    beta: float
    n_bins: int
    variance: float
    """sigma^2 of the Gaussian decoder (for a Bernoulli decoder, the local p (1 - p))."""
    recon_weight_per_bin: float
    """1 / (2 sigma^2): nats of loss per unit of squared error in one bin."""
    beta_sse: float
    """KL weight per latent / reconstruction weight per bin = 2 sigma^2 beta: loss ~ SSE + beta_sse KL."""
    beta_mse: float
    """2 sigma^2 beta / D: the beta of a loss written ``mean_d (x_d - mu_d)^2 + beta_mse KL``."""
    beta_norm: float | None
    """Higgins et al.'s normalised beta, beta * z_dim / D (None without z_dim)."""
    kl_nats_per_unit_sse: float
    """1 / (2 sigma^2 beta): nats of KL worth spending to remove one unit of summed squared error."""

    def kl_nats_for_error(self, error: float, n_bins: int | None = None) -> float:
        """Nats of KL that removing an error of ``error`` (feature units) in each of ``n_bins`` bins pays for.

        ``n_bins`` defaults to all D bins (a level change moves them all): ``n error^2 / (2 sigma^2 beta)``.
        """
        n = self.n_bins if n_bins is None else int(n_bins)
        return n * float(error) ** 2 * self.kl_nats_per_unit_sse


def effective_beta(
    beta: float,
    n_bins: int,
    likelihood: str = "gaussian",
    scale: float = 0.1,
    z_dim: int | None = None,
    bernoulli_mean: float = 0.5,
) -> EffectiveBeta:
    """How heavy the KL is against the reconstruction, per latent and per bin.

    Gaussian decoder (standard deviation ``scale``): -log p(x|z) = sum_d (x_d - mu_d)^2 / (2 sigma^2)
    + const, so the reconstruction weight per bin is 1 / (2 sigma^2) and the loss is proportional to
    ``SSE + 2 sigma^2 beta KL`` (= ``D * (MSE + (2 sigma^2 beta / D) KL)``). Bernoulli decoder: the
    cross-entropy's curvature at mean p is 1 / (p (1 - p)), so locally it acts as a Gaussian with
    sigma^2 = p (1 - p) (``bernoulli_mean`` p, default 0.5: sigma^2 = 1/4).
    """
    positive_number(beta, "beta")
    positive_int(n_bins, "n_bins")
    if likelihood == "gaussian":
        positive_number(scale, "scale")
        variance = float(scale) ** 2
    elif likelihood == "bernoulli":
        if not 0 < bernoulli_mean < 1:
            raise ValueError(f"bernoulli_mean must be in (0, 1), got {bernoulli_mean!r}.")
        variance = bernoulli_mean * (1 - bernoulli_mean)
    else:
        raise ValueError(f"likelihood must be 'gaussian' or 'bernoulli', got {likelihood!r}.")
    if z_dim is not None:
        positive_int(z_dim, "z_dim")
    beta_sse = 2 * variance * beta
    return EffectiveBeta(
        beta=float(beta),
        n_bins=int(n_bins),
        variance=variance,
        recon_weight_per_bin=1 / (2 * variance),
        beta_sse=beta_sse,
        beta_mse=beta_sse / n_bins,
        beta_norm=None if z_dim is None else beta * z_dim / n_bins,
        kl_nats_per_unit_sse=1 / beta_sse,
    )
