"""Pitch-ready features: a constant-Q profile, the frame envelope and the level, and their way back.

Taught in chapters/03_3_seven_factors.ipynb ("A representation in which pitch is a translation").
The 64 mel bands blur what separates inharmonicity, odd/even and noise (partials 110 Hz apart share a
band above about 1 kHz), and on the mel axis a pitch step moves low and high partials by different
numbers of bands. A **constant-Q transform** (librosa's ``cqt``) has bins equally spaced in log
frequency: ``bins_per_octave`` per octave from ``fmin``, so a change of f0 by ``s`` semitones moves
every partial by the same ``s * bins_per_octave / 12`` bins, and at 36 bins per octave the partials of
the toy sounds stay resolved up to about the 17th.

The toy sounds hold a static spectrum and one envelope (the attack), so the features split time and
frequency (:func:`pitch_inputs`), with the level channel of :mod:`course_lib.loudness`:

* the **profile**: the CQT power averaged over the clip, in dB relative to its own level (floor 55 dB
  below it), ``n_bins`` values;
* the **envelope**: the level of each log-mel frame relative to the clip's level, 32 values;
* the **level**: the clip's level (:func:`course_lib.loudness.power_level`), standardised, times a gain.

:func:`to_logmel` goes back to the course's log-mels (to hear a decoded code with the same inversion as
every other model). Scale: like :class:`course_lib.features.LogMel`, ``(dB - floor) / -floor`` with the
floor at -100 dB, calibrated so that a full-scale sine at a bin's centre reads 1 (0 dB) in that bin.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import torch
from tqdm.auto import tqdm

from course_lib.config import data_dir
from course_lib.files import atomic_path
from course_lib.loudness import RELATIVE_RANGE, LevelScale, level_scale, power_level, relative_features
from course_lib.validation import positive_int

PROFILE_FORMAT = 2
"""The version of :func:`dataset_profiles`' computation (in the cache's name: a change makes a new file)."""
N_FRAMES = 32
"""The envelope's frames: those of the course's log-mels (hop 512 at 16 kHz)."""


class CQTProfile:
    """``CQTProfile()(audio [N, samples]) -> [N, n_bins]``: each clip's time-averaged CQT power.

    Bins ``b = 0 .. n_bins - 1`` are centred at ``fmin * 2 ** (b / bins_per_octave)`` Hz (default
    55 Hz, 36 per octave, 7 octaves: 55 Hz to 6.9 kHz). Values in the course's feature scale, each bin
    calibrated so that a full-scale sine at its centre reads 1 (0 dB) there.
    """

    def __init__(
        self,
        sr: int = 16000,
        fmin: float = 55.0,
        bins_per_octave: int = 36,
        n_octaves: int = 7,
        hop_length: int = 512,
        floor_db: float = -100.0,
    ) -> None:
        self.sr = positive_int(sr, "sr")
        self.bins_per_octave = positive_int(bins_per_octave, "bins_per_octave")
        self.n_bins = positive_int(n_octaves, "n_octaves") * self.bins_per_octave
        self.hop_length = positive_int(hop_length, "hop_length")
        if not (isinstance(fmin, (int, float)) and fmin > 0):
            raise ValueError(f"fmin must be a positive frequency in Hz, got {fmin!r}.")
        self.fmin = float(fmin)
        if self.frequencies[-1] * (1 + 1 / self.bins_per_octave) >= sr / 2:
            raise ValueError(
                f"the top bin ({self.frequencies[-1]:.0f} Hz) must stay below the Nyquist frequency "
                f"({sr / 2:g} Hz): lower fmin or n_octaves."
            )
        if not (np.isfinite(floor_db) and floor_db < 0):
            raise ValueError(f"floor_db must be a negative number of dB, got {floor_db!r}.")
        self.floor_db = float(floor_db)
        self._reference = np.ones(self.n_bins)
        self._reference = np.diag(self._power(np.stack([_sine(f, self.sr) for f in self.frequencies]))).copy()

    @property
    def settings(self) -> dict[str, Any]:
        """The settings (``CQTProfile(**settings)`` rebuilds the same transform)."""
        return {
            "sr": self.sr,
            "fmin": self.fmin,
            "bins_per_octave": self.bins_per_octave,
            "n_octaves": self.n_bins // self.bins_per_octave,
            "hop_length": self.hop_length,
            "floor_db": self.floor_db,
        }

    @property
    def frequencies(self) -> np.ndarray:
        """The centre frequency of every bin (Hz)."""
        return self.fmin * 2.0 ** (np.arange(self.n_bins) / self.bins_per_octave)

    def bin_of(self, frequency: float | np.ndarray) -> np.ndarray:
        """The (fractional) bin of ``frequency`` Hz: ``bins_per_octave * log2(frequency / fmin)``."""
        return self.bins_per_octave * np.log2(np.asarray(frequency, dtype=np.float64) / self.fmin)

    def _power(self, audio: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # librosa warns about its shortest filters in the top octave
            warnings.simplefilter("ignore", UserWarning)
            cqt = self._cqt(audio)
        return (np.abs(cqt) ** 2).mean(axis=-1) / self._reference

    def _cqt(self, audio: np.ndarray) -> np.ndarray:
        return librosa.cqt(
            np.asarray(audio, dtype=np.float32),
            sr=self.sr,
            hop_length=self.hop_length,
            fmin=self.fmin,
            n_bins=self.n_bins,
            bins_per_octave=self.bins_per_octave,
        )

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        audio = np.asarray(audio)
        if audio.ndim not in (1, 2) or audio.shape[-1] < self.sr // 10:
            raise ValueError(f"audio must be [samples] or [clips, samples] with >= 0.1 s, got {audio.shape}.")
        db = 10.0 * np.log10(np.maximum(self._power(audio), 1e-30))
        return ((np.maximum(db, self.floor_db) - self.floor_db) / -self.floor_db).astype(np.float32)


def _sine(frequency: float, sr: int) -> np.ndarray:
    t = np.arange(sr) / sr
    return np.sin(2 * np.pi * frequency * t).astype(np.float32)


def profiles_path(dataset, transform: CQTProfile) -> Path:
    """Where :func:`dataset_profiles` caches a dataset's profiles (data folder; named by a digest)."""
    key = json.dumps(
        {"dataset": Path(dataset.path).name, "cqt": transform.settings, "format": PROFILE_FORMAT},
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return data_dir() / f"cqt_{dataset.preset}_{digest}.npy"


def dataset_profiles(
    dataset, transform: CQTProfile | None = None, batch_size: int = 500, progress: bool = True
) -> np.ndarray:
    """The profiles ``[clips, n_bins]`` (float16) of every clip of a :class:`~course_lib.datasets.ToyDataset`.

    Synthesised again batch by batch; the whole grid's are cached in the data folder (written
    atomically: about 80 CPU seconds for the 54,000 sounds of the default grid, then read back in a
    second), and a subset reads its rows there when they exist.
    """
    transform = CQTProfile(sr=dataset.sr) if transform is None else transform
    path = profiles_path(dataset, transform)
    if path.exists():  # the whole grid's profiles: a subset reads its rows (its ids)
        profiles = np.load(path, mmap_mode="r")
        if profiles.shape == (dataset.factor_space.n_combinations, transform.n_bins):
            return np.array(profiles[dataset.ids])
    profiles = np.empty((len(dataset), transform.n_bins), dtype=np.float16)
    bar = tqdm(total=len(dataset), desc="constant-Q profiles", unit="clip", disable=not progress)
    for start in range(0, len(dataset), batch_size):
        rows = np.arange(start, min(start + batch_size, len(dataset)))
        profiles[rows] = transform(dataset.render_audio(rows))
        bar.update(len(rows))
    bar.close()
    if dataset.path is not None and len(dataset) == dataset.factor_space.n_combinations:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, profiles)
    return profiles


def frame_levels(logmels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``[clips, frames]``: the power level of each log-mel frame (mean power over its bands)."""
    x = torch.as_tensor(np.asarray(logmels, dtype=np.float32))
    if x.dim() != 3:
        raise ValueError(f"logmels must be [clips, mels, frames], got shape {tuple(x.shape)}.")
    return power_level(x.transpose(1, 2).reshape(-1, x.shape[1])).reshape(x.shape[0], x.shape[2])


def pitch_inputs(
    profiles: np.ndarray,
    logmels: np.ndarray,
    *,
    level_gain: float,
    scale: LevelScale | None = None,
) -> torch.Tensor:
    """``[clips, n_bins + frames + 1]``: relative profile, relative envelope and standardised level.

    The profile and the envelope are each relative to their own level (floored 55 dB below it), so a
    gain leaves them unchanged; the level (:func:`course_lib.loudness.power_level` of the log-mels) is
    standardised with ``scale`` (default: the set's own) and multiplied by ``level_gain``.
    """
    profiles, logmels = np.asarray(profiles), np.asarray(logmels)
    if profiles.ndim != 2 or logmels.ndim != 3 or len(profiles) != len(logmels):
        raise ValueError(
            f"need profiles [clips, bins] and logmels [clips, mels, frames] for the same clips, "
            f"got {profiles.shape} and {logmels.shape}."
        )
    if not (isinstance(level_gain, (int, float)) and level_gain > 0):
        raise ValueError(f"level_gain must be a positive number, got {level_gain!r}.")
    level = power_level(logmels)
    scale = level_scale(logmels) if scale is None else LevelScale(*scale)
    standard = (level_gain * (level - scale.mean) / scale.std).to(torch.float32)
    profile = relative_features(profiles)
    envelope = relative_features(frame_levels(logmels))
    return torch.cat([profile, envelope, standard[:, None]], dim=1)


def split_inputs(inputs: torch.Tensor, n_bins: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The profile ``[N, n_bins]``, envelope ``[N, frames]`` and level ``[N]`` of :func:`pitch_inputs`."""
    inputs = torch.as_tensor(inputs)
    if inputs.dim() != 2 or inputs.shape[1] <= n_bins + 1:
        raise ValueError(f"inputs must be [N, {n_bins} + frames + 1], got {tuple(inputs.shape)}.")
    return inputs[:, :n_bins], inputs[:, n_bins:-1], inputs[:, -1]


def to_logmel(
    inputs: torch.Tensor | np.ndarray,
    transform: CQTProfile,
    scale: LevelScale,
    *,
    level_gain: float,
    n_fft: int = 1024,
    n_mels: int = 64,
) -> np.ndarray:
    """Log-mels ``[N, n_mels, frames]`` of :func:`pitch_inputs` vectors (decoded ones, to hear them).

    Each profile bin's power is put into the STFT bins around its centre frequency (split linearly
    between the two nearest), summed by the mel bands, and each frame scaled by the envelope's power;
    the result is then set to the level the vector holds.
    """
    profile, envelope, level = (
        p.detach().double().numpy() for p in split_inputs(torch.as_tensor(inputs), transform.n_bins)
    )
    position = transform.frequencies * n_fft / transform.sr  # each profile bin's place among the STFT bins
    left = np.floor(position).astype(int)
    deposit = np.zeros((transform.n_bins, n_fft // 2 + 1))
    deposit[np.arange(transform.n_bins), left] = 1.0 - (position - left)
    deposit[np.arange(transform.n_bins), left + 1] = position - left
    profile_power = 10.0 ** (10.0 * (np.clip(profile, 0.0, None) - RELATIVE_RANGE))
    mel_basis = librosa.filters.mel(sr=transform.sr, n_fft=n_fft, n_mels=n_mels, norm=None)
    band_power = profile_power @ deposit @ mel_basis.T  # [N, mels]
    frame_power = 10.0 ** (10.0 * (np.clip(envelope, 0.0, None) - RELATIVE_RANGE))  # [N, frames]
    shape = np.log10(np.maximum(band_power[:, :, None] * frame_power[:, None, :], 1e-30)) / 10.0
    target = scale.mean + level / level_gain * scale.std
    shape = shape - power_level(shape).numpy()[:, None, None] + target[:, None, None]
    return np.clip(shape, 0.0, 1.0).astype(np.float32)
