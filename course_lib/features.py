"""Log-mel spectrograms in batch (torch.stft + a librosa mel matrix) and their inversion (Griffin-Lim).

Taught in chapters/01_toy_dataset.ipynb; every model of the course reads these features.

The default features (:class:`LogMel` with no arguments) are **64 mel bands x 32 frames** for one
second at 16 kHz: a 1024-sample Hann window (64 ms: partials 110 Hz apart are resolved in the low
bands), a hop of 512 samples (32 ms, so 1 + 16000 // 512 = 32 frames, centred, zero-padded at
the edges) and 64 bands from 0 Hz to 8 kHz. That is 2,048 numbers per clip: small enough for MLP
VAEs to train on a CPU, rich enough to show pitch, brightness, noise, and envelopes.

Scale. The power spectrum is normalised so that a full-scale sine has a peak-bin power of 1
(``|X|^2 / (sum(w) / 2)^2``); mel bands are triangles of height 1 (``norm=None``) summing that
power; then

    feature = (max(10 log10(mel_power), floor_db) - floor_db) / (-floor_db)

so **0 is the floor** (-100 dB re full scale by default) and **1 is 0 dB** (a full-scale sine in
one band). The toy dataset's clips stay below about -15 dB in any band, so features lie in [0, 1]
and a decoder with a sigmoid output (or a Gaussian on [0, 1]) can model them; the absolute
reference keeps the clip level visible (no per-clip normalisation).
"""

from __future__ import annotations

from typing import Any

import librosa
import numpy as np
import torch

_CHUNK = 128


class LogMel:
    """Batched log-mel features: ``LogMel()(audio [N, samples]) -> [N, n_mels, frames]`` float32.

    Accepts a NumPy array (returns a NumPy array) or a torch tensor (returns a tensor); a 1-D clip
    gives ``[n_mels, frames]``.
    """

    def __init__(
        self,
        sr: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 512,
        n_mels: int = 64,
        fmin: float = 0.0,
        fmax: float | None = None,
        floor_db: float = -100.0,
    ) -> None:
        for name, value in (("sr", sr), ("n_fft", n_fft), ("hop_length", hop_length), ("n_mels", n_mels)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if hop_length > n_fft:
            raise ValueError(f"hop_length ({hop_length}) must not exceed n_fft ({n_fft}).")
        fmax = sr / 2 if fmax is None else float(fmax)
        if not 0 <= fmin < fmax <= sr / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sr/2 = {sr / 2:g}, got fmin={fmin!r}, fmax={fmax!r}.")
        if not (np.isfinite(floor_db) and floor_db < 0):
            raise ValueError(f"floor_db must be a negative number of dB, got {floor_db!r}.")
        if n_mels > n_fft // 2 + 1:
            raise ValueError(f"n_mels ({n_mels}) cannot exceed the {n_fft // 2 + 1} FFT bins.")
        self.sr, self.n_fft, self.hop_length, self.n_mels = int(sr), int(n_fft), int(hop_length), int(n_mels)
        self.fmin, self.fmax, self.floor_db = float(fmin), fmax, float(floor_db)
        self.mel_basis = librosa.filters.mel(
            sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, norm=None
        ).astype(np.float32)
        self._basis = torch.from_numpy(self.mel_basis)
        self._window = torch.hann_window(self.n_fft, periodic=True)
        self._scale = float(self._window.sum()) / 2.0  # a full-scale sine's peak-bin magnitude

    @property
    def settings(self) -> dict[str, Any]:
        """The feature settings (saved in dataset metadata; ``LogMel(**settings)`` rebuilds the same)."""
        return {
            "sr": self.sr,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "n_mels": self.n_mels,
            "fmin": self.fmin,
            "fmax": self.fmax,
            "floor_db": self.floor_db,
        }

    def n_frames(self, n_samples: int) -> int:
        """Frames for a clip of ``n_samples`` (centred frames: ``1 + n_samples // hop_length``)."""
        return 1 + int(n_samples) // self.hop_length

    def mel_frequencies(self) -> np.ndarray:
        """Centre frequency (Hz) of each mel band."""
        return librosa.mel_frequencies(n_mels=self.n_mels + 2, fmin=self.fmin, fmax=self.fmax)[1:-1]

    def power(self, audio: torch.Tensor) -> torch.Tensor:
        """Normalised power spectrogram ``[N, 1 + n_fft//2, frames]`` (float32 tensor)."""
        spec = torch.stft(
            audio,
            self.n_fft,
            self.hop_length,
            window=self._window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return (spec.real**2 + spec.imag**2) / self._scale**2

    def __call__(self, audio: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        is_numpy = not isinstance(audio, torch.Tensor)
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32) if is_numpy else audio, dtype=torch.float32)
        if x.ndim not in (1, 2):
            raise ValueError(f"audio must be [samples] or [N, samples], got shape {tuple(x.shape)}.")
        if x.shape[-1] < self.n_fft // 2 + 1:
            raise ValueError(
                f"clips must have more than n_fft/2 = {self.n_fft // 2} samples, got {x.shape[-1]}."
            )
        single = x.ndim == 1
        x = x[None] if single else x
        out = torch.empty((x.shape[0], self.n_mels, self.n_frames(x.shape[-1])), dtype=torch.float32)
        with torch.no_grad():
            for start in range(0, x.shape[0], _CHUNK):  # chunks that stay in cache are ~2x faster
                mel = torch.matmul(self._basis, self.power(x[start : start + _CHUNK]))
                db = 10.0 * torch.log10(mel.clamp_min(10.0 ** (self.floor_db / 10.0)))
                out[start : start + _CHUNK] = (db - self.floor_db) / (-self.floor_db)
        if not torch.isfinite(out).all():
            raise ValueError("audio must hold finite samples only (found NaN or inf).")
        out = out[0] if single else out
        return out.numpy() if is_numpy else out

    def to_db(self, features: np.ndarray) -> np.ndarray:
        """Features back to dB re full scale (undo the floor scaling)."""
        return np.asarray(features, dtype=np.float64) * (-self.floor_db) + self.floor_db

    def invert(
        self, features: np.ndarray, n_iter: int = 32, length: int | None = None, seed: int = 0
    ) -> np.ndarray:
        """Audio from features: mel -> magnitude (NNLS) -> Griffin-Lim phase (see :func:`logmel_to_audio`)."""
        if not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
            raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}.")
        feats = np.asarray(features.detach().cpu() if isinstance(features, torch.Tensor) else features)
        if feats.ndim not in (2, 3) or feats.shape[-2] != self.n_mels:
            raise ValueError(
                f"features must be [n_mels={self.n_mels}, frames] or [N, n_mels, frames], got {feats.shape}."
            )
        mel_power = 10.0 ** (self.to_db(feats) / 10.0)
        magnitude = librosa.feature.inverse.mel_to_stft(
            mel_power.astype(np.float32),
            sr=self.sr,
            n_fft=self.n_fft,
            power=2.0,
            fmin=self.fmin,
            fmax=self.fmax,
            norm=None,
        )
        magnitude = magnitude * self._scale
        if length is None:
            length = (feats.shape[-1] - 1) * self.hop_length
        audio = librosa.griffinlim(
            magnitude,
            n_iter=int(n_iter),
            hop_length=self.hop_length,
            n_fft=self.n_fft,
            window="hann",
            center=True,
            pad_mode="constant",
            length=length,
            random_state=seed,
        )
        return audio.astype(np.float32)


def logmel_to_audio(
    logmel: np.ndarray | torch.Tensor, n_iter: int = 32, length: int | None = None, **settings: Any
) -> np.ndarray:
    """Listen to a log-mel (a decoder's output, a dataset row): Griffin-Lim via librosa.

    ``logmel`` is ``[n_mels, frames]`` or ``[N, n_mels, frames]`` in the :class:`LogMel` scale;
    ``settings`` are :class:`LogMel`'s arguments (default: the course's default features). The
    magnitude is recovered from the mel bands by non-negative least squares
    (``librosa.feature.inverse.mel_to_stft``) and the phase by ``n_iter`` Griffin-Lim iterations
    (Griffin & Lim 1984) from a seeded random start, so the result is deterministic. Expect a
    recognisable but smeared sound: 64 bands cannot hold the exact partials, and the phase is
    estimated.
    """
    return LogMel(**settings).invert(logmel, n_iter=n_iter, length=length)
