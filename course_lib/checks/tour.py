"""Self-checks of the tour notebook (book/tour.ipynb, solutions/00_tour.ipynb)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_lib.checks import Hint, compare, self_check

TONE_HINT = Hint(
    nudge="check the loudness: the level in dB is the sine's RMS, not its amplitude.",
    formula="a sine of amplitude A has an RMS of A / sqrt(2), and L dB means an RMS of 10^(L / 20).",
)


def reference_tone(f0: float, level_db: float, sr: int, duration: float) -> np.ndarray:
    """A sine at ``f0`` Hz whose RMS level is ``level_db`` dB re full scale (the tour's exercise)."""
    t = np.arange(int(round(sr * duration))) / sr
    return np.sqrt(2.0) * 10.0 ** (level_db / 20.0) * np.sin(2.0 * np.pi * f0 * t)


@self_check
def check_tone(tone: Callable[[float, float, int, float], np.ndarray]) -> None:
    """Compare a student's ``tone(f0, level_db, sr, duration)`` with :func:`reference_tone`."""
    compare(
        tone,
        reference_tone,
        lambda rng: (
            float(rng.uniform(50, 2000)),
            float(rng.uniform(-40, -3)),
            int(rng.choice([8000, 16000, 22050])),
            float(rng.uniform(0.1, 0.4)),
        ),
        name="tone",
        hint=TONE_HINT,
    )
