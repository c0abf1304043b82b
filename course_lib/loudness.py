"""Loudness-normalised log-mels with the level as a channel of its own.

Taught in chapters/03_2_pitch_and_loudness.ipynb (the representation of its first remedy; trained by
``python -m course_lib.experiments.weak_sweep``). Chapter 3 measures that a level step moves nearly every
log-mel value at once, and that with a fixed floor (-100 dB) the level also changes *which* values sit at
the floor: level leaks into the spectrum's shape. This module separates the two:

* :func:`power_level`: the clip's level from its log-mel, the decibel mean of the power over all bands
  and frames (the toy synthesizer normalises the RMS, so this is its level factor, up to a constant);
* :func:`relative_features`: the log-mel minus that level, with a floor at a fixed distance below it,
  the same for every clip, so that a change of gain leaves these values exactly unchanged;
* :func:`level_channel_inputs`: both, flattened into one vector per clip, the level standardised
  (mean 0, standard deviation 1 over the set, :func:`level_scale`) so that it weighs like the other
  values; :func:`from_level_channel` goes back to log-mels (to hear a decoded code).

Features are the course's log-mels in [0, 1] (1 unit = 100 dB).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from course_lib.validation import positive_number

RELATIVE_RANGE: float = 0.55
"""How far below its level a clip's values are kept (0.55 = 55 dB); anything lower reads as the floor."""


def _as_features(features: Tensor | np.ndarray) -> Tensor:
    x = torch.as_tensor(np.asarray(features) if not isinstance(features, Tensor) else features)
    if x.dim() < 2:
        raise ValueError(
            f"features must be [clips, ...] with at least one value per clip, got {tuple(x.shape)}."
        )
    return x.detach().to(torch.float64)


def power_level(features: Tensor | np.ndarray) -> Tensor:
    """The level of each clip, ``[clips]``, in feature units: ``log10(mean 10^(10 x)) / 10``.

    The mean power over all values, back to the log-mel's 100-dB unit; a gain of g dB on a clip whose
    values all stay above the floor raises it by exactly g / 100.
    """
    x = _as_features(features).flatten(1)
    return (torch.logsumexp(x * (10 * np.log(10)), dim=1) - np.log(x.shape[1])) / (10 * np.log(10))


def relative_features(
    features: Tensor | np.ndarray, level: Tensor | None = None, relative_range: float = RELATIVE_RANGE
) -> Tensor:
    """Each clip's values relative to its level, floored ``relative_range`` below it, shifted to [0, ...].

    ``x - level`` clipped below at ``-relative_range``, plus ``relative_range``: the floor reads 0 for
    every clip, whatever its level. Same shape as ``features``, float32.
    """
    if not 0 < relative_range <= 1:
        raise ValueError(f"relative_range must lie in (0, 1] (up to 100 dB), got {relative_range!r}.")
    x = _as_features(features)
    level = power_level(x) if level is None else torch.as_tensor(level, dtype=torch.float64)
    if level.shape != (x.shape[0],):
        raise ValueError(
            f"level must hold one value per clip, shape ({x.shape[0]},), got {tuple(level.shape)}."
        )
    shifted = x - level.reshape(-1, *([1] * (x.dim() - 1)))
    return (torch.clamp(shifted, min=-relative_range) + relative_range).to(torch.float32)


class LevelScale(NamedTuple):
    """How :func:`level_channel_inputs` standardised the level: its ``mean`` and ``std`` over the set."""

    mean: float
    std: float


def level_scale(features: Tensor | np.ndarray) -> LevelScale:
    """The mean and standard deviation of :func:`power_level` over a set (std 1 if the set has one level)."""
    return _scale_of(power_level(features))


def _scale_of(level: Tensor) -> LevelScale:
    std = float(level.std()) if len(level) > 1 else 0.0
    return LevelScale(float(level.mean()), std if std > 0 else 1.0)


def _check_gain(level_gain: float) -> None:
    positive_number(level_gain, "level_gain")


def level_channel_inputs(
    features: Tensor | np.ndarray,
    relative_range: float = RELATIVE_RANGE,
    *,
    level_gain: float,
    scale: LevelScale | None = None,
) -> Tensor:
    """``[clips, values + 1]``: the flattened :func:`relative_features` and the standardised level last.

    The level is standardised, then multiplied by ``level_gain``: with a Gaussian decoder of fixed
    scale, a gain g makes an error on the level cost g^2 times more, as if it were g^2 values. The gain
    has no default: the recipe's (:attr:`course_lib.recipe.Recipe.level_gain`) is not 1, and a model
    must be fed the gain it was trained with. ``scale``: the mean and standard deviation to standardise
    with (default: those of ``features``; pass a trained model's own to encode new clips the way it was
    trained).
    """
    _check_gain(level_gain)
    x = _as_features(features)
    level = power_level(x)
    scale = _scale_of(level) if scale is None else LevelScale(*scale)
    standard = level_gain * (level - scale.mean) / scale.std
    flat = relative_features(x, level, relative_range).flatten(1)
    return torch.cat([flat, standard.to(torch.float32)[:, None]], dim=1)


def level_channel_meta(scale: LevelScale, level_gain: float) -> dict[str, Any]:
    """The checkpoint meta of a model trained on :func:`level_channel_inputs`: its scale and gain together.

    ``{"level_scale": [mean, std], "level_gain": gain}``, read back by :meth:`LevelChannelModel.from_meta`.
    """
    _check_gain(level_gain)
    return {"level_scale": [float(v) for v in LevelScale(*scale)], "level_gain": float(level_gain)}


def split_level_channel(inputs: Tensor, shape: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """:func:`level_channel_inputs` (or a decoder's output) taken apart: ``[clips, *shape]``, ``[clips, 1]``.

    The first values are the relative log-mel, reshaped to ``shape``; the last is the level. Shared by
    :func:`from_level_channel` and by chapter 4's recurrent and convolutional models, which read the two
    parts differently.
    """
    n_values = int(np.prod(shape))
    if inputs.dim() != 2 or inputs.shape[1] != n_values + 1:
        raise ValueError(
            f"inputs must be [clips, {n_values} + 1] (the flat log-mel and the level; log-mel "
            f"{tuple(shape)}), got {tuple(inputs.shape)}."
        )
    return inputs[:, :n_values].reshape(-1, *shape), inputs[:, n_values:]


def from_level_channel(
    inputs: Tensor | np.ndarray,
    shape: tuple[int, ...],
    scale: LevelScale,
    relative_range: float = RELATIVE_RANGE,
    *,
    level_gain: float,
) -> np.ndarray:
    """From :func:`level_channel_inputs` (or a decoder's output) back to log-mels ``[clips, *shape]``.

    The inverse on the values above the floor: relative values are shifted down by
    ``relative_range`` and up by the clip's level (divided by ``level_gain``, de-standardised with
    ``scale``; ``level_gain`` must be the gain the inputs were made with, so it has no default); the
    result is clipped to [0, 1]. Used to turn a decoded code into a sound (chapter 3's traversals).
    """
    _check_gain(level_gain)
    relative, level = split_level_channel(_as_features(inputs), shape)
    level = level / level_gain * scale.std + scale.mean
    absolute = relative - relative_range + level.reshape(-1, *([1] * len(shape)))
    return torch.clamp(absolute, 0.0, 1.0).to(torch.float32).numpy()


class LevelChannelModel(nn.Module):
    """A VAE trained on :func:`level_channel_inputs`, seen from log-mels: log-mels in, log-mels out.

    ``encode(features)`` takes log-mels ``[clips, *shape]`` (standardised with the model's own
    ``scale``) and returns ``(mu, logvar)``; ``decode(z)`` returns log-mels ``[codes, *shape]`` in
    [0, 1] (:func:`from_level_channel`). Chapter 5 grounds its words in chapter 3's model through it.
    """

    def __init__(
        self,
        vae: nn.Module,
        shape: tuple[int, ...],
        scale: LevelScale,
        level_gain: float,
        relative_range: float = RELATIVE_RANGE,
    ) -> None:
        super().__init__()
        _check_gain(level_gain)
        self.vae = vae
        self.shape = tuple(int(n) for n in shape)
        self.scale = LevelScale(*scale)
        self.level_gain = level_gain
        self.relative_range = relative_range

    @classmethod
    def from_meta(
        cls, vae: nn.Module, shape: tuple[int, ...], meta: dict[str, Any], source: Any = "the checkpoint"
    ) -> LevelChannelModel:
        """``vae`` seen from log-mels with the scale and gain in a checkpoint's meta .

        ``source`` names the checkpoint in the error raised when its meta lacks either.
        """
        missing = [key for key in ("level_scale", "level_gain") if key not in meta]
        if missing:
            raise ValueError(f"{source} has no {' or '.join(missing)} in its meta: publish it again.")
        return cls(vae, shape, LevelScale(*meta["level_scale"]), meta["level_gain"])

    def encode(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x) of log-mels ``[clips, *shape]``: ``(mu, logvar)``."""
        if tuple(features.shape[1:]) != self.shape:
            raise ValueError(f"features must be [clips, {self.shape}], got {tuple(features.shape)}.")
        inputs = level_channel_inputs(
            features, self.relative_range, level_gain=self.level_gain, scale=self.scale
        )
        return self.vae.encode(inputs.to(next(self.vae.parameters()).device))

    def decode(self, z: Tensor) -> Tensor:
        """Log-mels ``[codes, *shape]`` of the decoder's means (clipped to [0, 1])."""
        decoded = self.vae.decode(z).cpu()
        return torch.from_numpy(
            from_level_channel(
                decoded, self.shape, self.scale, self.relative_range, level_gain=self.level_gain
            )
        )
