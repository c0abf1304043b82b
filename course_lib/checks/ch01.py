"""Self-checks of chapter 1 (solutions/01_toy_dataset.ipynb): procedural functions of the toy dataset.

Taught in chapters/01_toy_dataset.ipynb::

    from course_lib.checks import ch01
    ch01.check_oscillator_bank(oscillator_bank)   # (freqs, amps, n_samples, sr, phases) -> [n_samples]
    ch01.check_envelope(envelope)                 # (t, attack_ms, t60, release_ms, duration) -> [len(t)]
    ch01.check_mix_at_hnr(mix_at_hnr)             # (harmonic, noise, hnr_db) -> [n]
    ch01.check_index_mapping(index_to_classes, classes_to_index)   # dSprites order, last factor fastest
    ch01.check_new_factor(render, values, descriptor)              # your own factor: monotone, audible
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.stats

from course_lib import synth
from course_lib.checks import Hint, call_student, compare, fail, in_turn, self_check
from course_lib.factors import Factor, FactorSpace

SR = 16000

BANK_HINT = Hint(
    nudge=(
        "each partial's phase must grow with its own frequency, start at phases[k] on the first sample,"
        " and a partial at or above the Nyquist frequency (sr / 2) must be silent."
    ),
    formula=(
        "for partial k and sample n: phase_k[n] = phases[k] + 2 pi sum_{m<n} f_k[m] / sr (a running sum"
        " that starts at zero on sample 0); out[n] = sum_k amps[k] sin(phase_k[n]), with amps[k] counted"
        " as 0 wherever f_k[n] >= sr / 2. freqs is [K] (constant) or [K, n_samples] (vibrato)."
    ),
)
ENVELOPE_HINT = Hint(
    nudge=(
        "the envelope is a product of three pieces (a rise, a decay, a fall), each between 0 and 1, and"
        " it is zero before t = 0 and after t = duration; times arrive in milliseconds and seconds."
    ),
    formula=(
        "env(t) = rise(t) decay(t) fall(t) for 0 <= t <= duration, else 0, with times in seconds"
        " (attack = attack_ms / 1000, release = release_ms / 1000): rise = clip(t / attack, 0, 1);"
        " decay = exp(-max(t - attack, 0) ln(1000) / t60) (1 when t60 is infinite);"
        " fall = clip((duration - t) / release, 0, 1)."
    ),
)
MIX_HINT = Hint(
    nudge="only the noise is scaled; choose its gain from the two signals' mean powers and the HNR in dB.",
    formula=(
        "with P_h = mean(harmonic^2) and P_n = mean(noise^2), the gain c must satisfy"
        " 10 log10(P_h / (c^2 P_n)) = hnr_db, so c = sqrt(P_h / (P_n 10^(hnr_db / 10)));"
        " return harmonic + c noise."
    ),
)
MAPPING_HINT = Hint(
    nudge="the order is the one of dSprites: row-major, the last factor changes fastest.",
    formula=(
        "with bases[k] = product of sizes[k+1:] (so the last base is 1): index = sum_k classes[k] bases[k];"
        " going back, classes[k] = floor(index / bases[k]) mod sizes[k]."
    ),
)


def _bank_inputs(rng: np.random.Generator, trial: int) -> tuple:
    """Random partials, some above Nyquist, at 8, 16 or 22.05 kHz; constant frequencies on even trials,
    per-sample (vibrato) frequencies on odd ones."""
    n, k, sr = int(rng.integers(200, 800)), int(rng.integers(2, 12)), int(rng.choice([8000, SR, 22050]))
    freqs = rng.uniform(50.0, 9000.0, size=k)
    if trial % 2:
        wobble = 1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 8) * np.arange(n) / sr)
        freqs = freqs[:, None] * wobble[None, :]
    return freqs, rng.uniform(0.1, 1.0, size=k), n, sr, rng.uniform(-np.pi, np.pi, size=k)


@self_check
def check_oscillator_bank(oscillator_bank: Callable) -> None:
    """Compare ``oscillator_bank(freqs, amps, n_samples, sr, phases)`` with the course's reference."""
    compare(
        oscillator_bank,
        synth.oscillator_bank,
        in_turn(_bank_inputs),
        name="oscillator_bank",
        hint=BANK_HINT,
        atol=1e-6,
    )


def reference_envelope(
    t: np.ndarray, attack_ms: float, t60: float, release_ms: float, duration: float
) -> np.ndarray:
    """One note's envelope (the course's :func:`course_lib.synth.note_envelope` for a single note)."""
    params = synth.check_params({"attack": attack_ms, "t60": t60, "release": release_ms}, duration=duration)
    return synth.note_envelope(np.asarray(t, dtype=np.float64), params, duration)[0]


def _envelope_inputs(rng: np.random.Generator, trial: int) -> tuple:
    """A time axis around one note; the decay is infinite on every third trial, finite otherwise."""
    duration = float(rng.uniform(0.3, 1.5))
    t = np.linspace(-0.05, duration + 0.05, 801)
    t60 = np.inf if trial % 3 == 2 else float(rng.uniform(0.1, 3.0))
    return t, float(rng.uniform(1.0, 300.0)), t60, float(rng.uniform(5.0, 100.0)), duration


@self_check
def check_envelope(envelope: Callable) -> None:
    """Compare ``envelope(t, attack_ms, t60, release_ms, duration)`` with the course's note envelope."""
    compare(
        envelope,
        reference_envelope,
        in_turn(_envelope_inputs),
        name="envelope",
        hint=ENVELOPE_HINT,
        atol=1e-9,
    )


def _mix_inputs(rng: np.random.Generator) -> tuple:
    n = int(rng.integers(100, 2000))
    harmonic = np.sin(np.arange(n) * rng.uniform(0.01, 1.0)) * rng.uniform(0.1, 2.0)
    return harmonic, rng.normal(size=n) * rng.uniform(0.01, 3.0), float(rng.uniform(-20.0, 40.0))


@self_check
def check_mix_at_hnr(mix_at_hnr: Callable) -> None:
    """Compare ``mix_at_hnr(harmonic, noise, hnr_db)`` with :func:`course_lib.synth.mix_at_hnr`."""
    compare(
        mix_at_hnr,
        synth.mix_at_hnr,
        _mix_inputs,
        name="mix_at_hnr",
        hint=MIX_HINT,
        atol=1e-9,
    )


def _space(sizes: Sequence[int]) -> FactorSpace:
    return FactorSpace(
        [Factor(f"f{i}", tuple(range(s)), "class", "test", "frame") for i, s in enumerate(sizes)]
    )


def _mapping_inputs(rng: np.random.Generator) -> tuple:
    sizes = tuple(int(s) for s in rng.integers(2, 7, size=int(rng.integers(2, 6))))
    return rng.integers(0, int(np.prod(sizes)), size=int(rng.integers(1, 50))), sizes


@self_check
def check_index_mapping(index_to_classes: Callable, classes_to_index: Callable) -> None:
    """Check ``index_to_classes(index [n], sizes) -> [n, K]`` and its inverse ``classes_to_index``."""
    hint = MAPPING_HINT
    compare(
        index_to_classes,
        lambda idx, sizes: _space(sizes).index_to_classes(idx),
        _mapping_inputs,
        name="index_to_classes",
        hint=hint,
    )

    def classes_inputs(rng: np.random.Generator) -> tuple:
        idx, sizes = _mapping_inputs(rng)
        return _space(sizes).index_to_classes(idx), sizes

    compare(
        classes_to_index,
        lambda classes, sizes: _space(sizes).classes_to_index(classes),
        classes_inputs,
        name="classes_to_index",
        hint=hint,
    )


@self_check
def check_new_factor(
    render: Callable[[np.ndarray], np.ndarray],
    values: Sequence[float],
    descriptor: Callable[[np.ndarray], np.ndarray],
    min_rho: float = 0.9,
    max_level_change_db: float = 1.0,
) -> None:
    """Check a factor of your own: ``render(values [n]) -> audio [n, samples]`` at 16 kHz.

    Passes when the clips are finite and distinct, ``descriptor(audio) -> [n]`` (a measurement
    you chose, e.g. a spectral centroid) changes monotonically with the value (|Spearman rho| >=
    ``min_rho``), and the RMS level stays within ``max_level_change_db`` (so the factor is not
    just loudness in disguise).
    """
    values = np.asarray(values, dtype=np.float64)
    name = "new factor"
    if values.ndim != 1 or len(values) < 3:
        fail(name, f"give at least 3 values in a 1-D sequence, got shape {values.shape}.")
    audio = np.asarray(call_student(name, render, values, what="render"), dtype=np.float64)
    if audio.ndim != 2 or audio.shape[0] != len(values):
        fail(name, f"render must return [n_values={len(values)}, samples], got shape {audio.shape}.")
    if not np.all(np.isfinite(audio)):
        fail(name, "the audio holds NaN or inf samples; every sample must be a finite number.")
    if np.min(np.abs(np.diff(audio, axis=0)).max(axis=1)) == 0:
        fail(name, "two successive values give identical audio; the factor does nothing.", FACTOR_HINT)
    measured = _measure(descriptor, audio)
    if np.ptp(measured) == 0:
        fail(
            name,
            "the descriptor gives the same number for every clip: it cannot follow the factor.",
            DESCRIPTOR_HINT,
        )
    rho = scipy.stats.spearmanr(values, measured).statistic
    if not np.isfinite(rho) or abs(rho) < min_rho:
        fail(
            name,
            f"the descriptor follows the values with Spearman rho = {rho:.2f}; expected |rho| >= {min_rho}.",
            DESCRIPTOR_HINT,
        )
    _check_descriptor_reads_audio(descriptor, audio, values, rho, min_rho)
    level = 10 * np.log10(np.mean(audio**2, axis=1) + 1e-20)
    if level.max() - level.min() > max_level_change_db:
        fail(
            name,
            f"the RMS level changes by {level.max() - level.min():.1f} dB along the factor; expected at "
            f"most {max_level_change_db:g} dB.",
            LEVEL_HINT,
        )
    print(
        f"\N{WHITE HEAVY CHECK MARK} new factor: monotone descriptor (Spearman rho = {rho:.2f}), level kept."
    )


FACTOR_HINT = Hint(
    nudge="render must use each value to change the sound; print a few clips' first samples to see it.",
    formula="clip_i = synthesis(values[i]): the parameter your factor controls must be set from values[i].",
)
DESCRIPTOR_HINT = Hint(
    nudge="choose a descriptor that measures what your factor changes (or try a wider range of values).",
    formula=(
        "descriptor(audio)[i] must be a number computed from audio[i] alone that rises (or falls) with"
        " values[i]: e.g. the mean spectral centroid for a brightness factor, the f0 for a pitch factor."
    ),
)
LEVEL_HINT = Hint(
    nudge="loudness is its own factor: keep it fixed while your factor varies.",
    formula="divide each clip by its RMS, sqrt(mean(clip^2)), and multiply by one common target RMS.",
)


def _measure(descriptor: Callable[[np.ndarray], np.ndarray], audio: np.ndarray) -> np.ndarray:
    """``descriptor(audio)`` as a float vector with one value per clip, or a failed check."""
    measured = call_student("new factor", descriptor, audio, what="descriptor")
    measured = np.asarray(measured, dtype=np.float64).reshape(-1)
    if measured.shape != (len(audio),):
        fail(
            "new factor", f"descriptor must return one number per clip ({len(audio)}), got {measured.shape}."
        )
    return measured


def _check_descriptor_reads_audio(
    descriptor: Callable[[np.ndarray], np.ndarray],
    audio: np.ndarray,
    values: np.ndarray,
    rho: float,
    min_rho: float,
) -> None:
    """Fail unless the descriptor's numbers follow the clips: clips in reverse order, numbers reversed too."""
    reordered = _measure(descriptor, audio[::-1])[::-1]
    rho_reordered = scipy.stats.spearmanr(values, reordered).statistic
    if not np.isfinite(rho_reordered) or rho_reordered * rho < min_rho**2:
        fail(
            "new factor",
            "with the clips given in reverse order the descriptor's numbers do not follow them (Spearman rho"
            f" {rho:.2f} in order, {rho_reordered:.2f} reversed): it does not measure the audio.",
            DESCRIPTOR_HINT,
        )
