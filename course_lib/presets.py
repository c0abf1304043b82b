"""The presets of the toy dataset ("audio dSprites"): which factors vary, over which values, per level.

Taught in chapters/01_toy_dataset.ipynb (chapter 4 uses the temporal presets, chapter 5 the static
and default ones). This is the dataset's design; the sound itself is made by :mod:`course_lib.synth`.
A :class:`Preset` is a level of complexity (static tone -> envelope -> modulation -> note sequences):
a :class:`~course_lib.factors.FactorSpace` of independent factors, the synthesis parameters held
constant, the sample rate and the duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from course_lib.factors import Factor, FactorSpace
from course_lib.synth import PARAMS, SR, check_params, render_naive, synthesize

F0_WHOLE_TONES: tuple[float, ...] = tuple(round(110.0 * 2.0 ** (2 * i / 12), 3) for i in range(12))
"""The 12 notes of the whole-tone scale from A2 (110 Hz) to G4 (392 Hz)."""


def _f(name: str, values: Any, meaning: str, timescale: str) -> Factor:
    return Factor(name, tuple(values), PARAMS[name].unit, meaning, timescale)


F0 = _f("f0", F0_WHOLE_TONES, "pitch, on a whole-tone scale A2..G4 (equal steps in log frequency)", "period")


@dataclass(frozen=True)
class Preset:
    """A level of complexity of the generator: a factor space, fixed ``constants``, sample rate, duration.

    ``render(latents_values)`` maps each row of factor
    values (columns in ``factor_space.names`` order) to a clip.
    """

    name: str
    description: str
    factor_space: FactorSpace
    constants: Mapping[str, float] = field(default_factory=dict)
    sr: int = SR
    duration: float = 1.0

    def __post_init__(self) -> None:
        clash = set(self.constants) & set(self.factor_space.names)
        if clash:
            raise ValueError(f"preset {self.name!r}: {sorted(clash)} are both factors and constants.")
        check_params(dict(self.constants), self.sr, self.duration)
        unknown = set(self.factor_space.names) - set(PARAMS)
        if unknown:
            raise ValueError(f"preset {self.name!r}: factors {sorted(unknown)} are not synthesis parameters.")
        object.__setattr__(self, "constants", MappingProxyType(dict(self.constants)))

    @property
    def n_samples(self) -> int:
        """Samples per clip."""
        return int(round(self.sr * self.duration))

    def params(self, latents_values: np.ndarray) -> dict[str, np.ndarray]:
        """Synthesis parameters of each row of ``latents_values`` ``[N, K]`` (factors, then constants)."""
        values = np.asarray(latents_values, dtype=np.float64)
        k = self.factor_space.n_factors
        if values.ndim != 2 or values.shape[1] != k:
            raise ValueError(
                f"preset {self.name!r}: latents_values must be [N, {k}] "
                f"(columns {list(self.factor_space.names)}), got shape {values.shape}."
            )
        params: dict[str, Any] = dict(self.constants)
        params.update({name: values[:, i] for i, name in enumerate(self.factor_space.names)})
        return params

    def render(
        self,
        latents_values: np.ndarray,
        *,
        seed: int = 0,
        ids: np.ndarray | None = None,
        batch_size: int = 256,
        progress: bool = False,
    ) -> np.ndarray:
        """Clips ``[N, n_samples]`` float32 for the rows of ``latents_values`` (``synth.synthesize``)."""
        return synthesize(
            self.params(latents_values),
            sr=self.sr,
            duration=self.duration,
            seed=seed,
            ids=ids,
            batch_size=batch_size,
            progress=progress,
        )

    def render_parts(
        self, latents_values: np.ndarray, *, seed: int = 0, ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(clips, harmonic part, noise part)``, each ``[N, n_samples]``."""
        return synthesize(
            self.params(latents_values),
            sr=self.sr,
            duration=self.duration,
            seed=seed,
            ids=ids,
            return_parts=True,
        )

    def render_classes(
        self, classes: np.ndarray, *, seed: int = 0, ids: np.ndarray | None = None
    ) -> np.ndarray:
        """Clips for rows of factor classes; ``ids`` default to the rows' grid indices (as in the dataset)."""
        classes = np.asarray(classes)
        if ids is None:
            ids = np.atleast_1d(self.factor_space.classes_to_index(classes))
        return self.render(self.factor_space.classes_to_values(classes), seed=seed, ids=ids)

    def render_naive(
        self, latents_values: np.ndarray, *, seed: int = 0, ids: np.ndarray | None = None
    ) -> np.ndarray:
        """The same clips as :meth:`render`, one at a time by ``synth.render_naive`` (slow reference)."""
        params = self.params(latents_values)
        n = len(np.asarray(latents_values))
        ids = np.arange(n) if ids is None else np.asarray(ids, dtype=np.int64)
        rows = [{k: np.asarray(v)[i] if np.ndim(v) else v for k, v in params.items()} for i in range(n)]
        return np.stack(
            [
                render_naive(row, sr=self.sr, duration=self.duration, seed=seed, clip_id=int(i))
                for row, i in zip(rows, ids, strict=True)
            ]
        )


def _presets() -> dict[str, Preset]:
    level = _f("level", [-40, -34, -28, -22, -16], "loudness: RMS level of the clip", "frame")
    tilt5 = _f("tilt", [-15, -12, -9, -6, -3], "brightness: spectral slope of partials and noise", "frame")
    tilt3 = _f("tilt", [-15, -9, -3], "brightness: spectral slope of partials and noise", "frame")
    odd_even = _f("odd_even", [-24, -12, 0], "hollowness: even partials attenuated (clarinet-like)", "frame")
    inharm = _f("inharmonicity", [0, 2.5e-4, 1e-3], "stiffness: stretched partials (stiff string)", "frame")
    hnr5 = _f("hnr", [0, 6, 12, 18, 24], "breathiness: harmonic-to-noise ratio", "frame")
    hnr3 = _f("hnr", [0, 12, 24], "breathiness: harmonic-to-noise ratio", "frame")
    attack4 = _f("attack", [5, 20, 80, 320], "onset: rise time of the note (click -> swell)", "note")
    presets = [
        Preset(
            "static",
            "Level 0, static tone: a steady spectrum (f0, level, tilt, HNR, inharmonicity), 10 ms attack.",
            FactorSpace(
                [F0, _f("level", [-34, -25, -16], "loudness: RMS level", "frame"), tilt5, hnr5, inharm]
            ),
        ),
        Preset(
            "default",
            "The default toy dataset (54,000 one-second sounds): a static spectrum plus the attack time.",
            FactorSpace([F0, level, tilt5, odd_even, inharm, hnr5, attack4]),
        ),
        Preset(
            "envelope",
            "Level 1, envelope: attack and exponential decay (t60) of the note; pitch, brightness, HNR kept.",
            FactorSpace(
                [F0, tilt3, hnr3, attack4, _f("t60", [0.25, 0.5, 1, 2, 4], "decay time to -60 dB", "note")]
            ),
            {"level": -30.0},
        ),
        Preset(
            "modulation",
            "Level 2, modulation: vibrato (pitch) and tremolo (level) of given rate and depth; HNR 20 dB.",
            FactorSpace(
                [
                    F0,
                    tilt3,
                    _f("vibrato_rate", [3, 5, 7], "speed of the pitch wobble", "note"),
                    _f("vibrato_depth", [25, 50, 100], "width of the pitch wobble", "note"),
                    _f("tremolo_rate", [3, 5, 7], "speed of the loudness wobble", "note"),
                    _f("tremolo_depth", [3, 6, 12], "width of the loudness wobble", "note"),
                ]
            ),
            {"hnr": 20.0, "attack": 20.0, "release": 50.0},
        ),
        Preset(
            "sequence",
            "Level 3, note sequences: a run of notes with a pitch step, a tempo and an articulation.",
            FactorSpace(
                [
                    _f("f0", F0_WHOLE_TONES, "centre pitch of the run of notes", "period"),
                    tilt3,
                    _f(
                        "interval",
                        [-4, -2, 0, 2, 4],
                        "melodic step between notes (down, repeat, up)",
                        "phrase",
                    ),
                    _f("note_rate", [2, 3, 4, 6], "tempo: notes per second", "phrase"),
                    _f("gate", [0.3, 0.6, 0.9], "articulation: staccato -> legato", "phrase"),
                ]
            ),
            {"hnr": 20.0, "attack": 10.0, "t60": 0.5, "release": 20.0, "level": -26.0},
        ),
    ]
    return {preset.name: preset for preset in presets}


PRESETS: dict[str, Preset] = _presets()
"""The presets by name: ``static``, ``default``, ``envelope``, ``modulation``, ``sequence``."""


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {list(PRESETS)}.")
    return PRESETS[name]
