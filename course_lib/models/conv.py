"""A convolutional encoder and decoder over log-mel spectrograms: drop-in parts for the course VAE.

Taught in chapters/03_2_pitch_and_loudness.ipynb (the MLP against a convolutional VAE). The encoder treats a
log-mel ``[mels, frames]`` as a one-channel image: strided 4 x 4 convolutions halve both axes at each
layer (as in the dSprites beta-VAE of Higgins et al. 2017), then a linear layer gives ``(mu, logvar)``.
The decoder mirrors it with transposed convolutions. Both follow the encoder/decoder contract of
:mod:`course_lib.models.vae`, so ``VAE(ConvEncoder(...), ConvDecoder(...), "gaussian")`` trains with the
same losses and loop as the MLP.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from course_lib.loudness import split_level_channel
from course_lib.validation import positive_int


def _check(
    in_shape: Sequence[int], channels: Sequence[int], z_dim: int
) -> tuple[tuple[int, int], tuple[int, ...]]:
    shape = tuple(int(s) for s in in_shape)
    channels = tuple(int(c) for c in channels)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"in_shape must be (mels, frames), got {in_shape!r}.")
    if not channels or min(channels) < 1:
        raise ValueError(f"channels must be a non-empty sequence of positive ints, got {channels!r}.")
    factor = 2 ** len(channels)
    if shape[0] % factor or shape[1] % factor:
        raise ValueError(
            f"in_shape {shape} must be divisible by 2**len(channels) = {factor} on both axes "
            f"(each layer halves mels and frames)."
        )
    positive_int(z_dim, "z_dim")
    return shape, channels


class ConvEncoder(nn.Module):
    """q(z|x) from a log-mel ``[B, mels, frames]``: strided convolutions, then linear heads (mu, logvar)."""

    def __init__(
        self, in_shape: Sequence[int] = (64, 32), channels: Sequence[int] = (8, 16, 16), z_dim: int = 10
    ):
        super().__init__()
        self.in_shape, channels = _check(in_shape, channels, z_dim)
        self.z_dim = z_dim
        layers: list[nn.Module] = []
        previous = 1
        for c in channels:
            layers += [nn.Conv2d(previous, c, kernel_size=4, stride=2, padding=1), nn.ELU()]
            previous = c
        self.body = nn.Sequential(*layers)
        factor = 2 ** len(channels)
        flat = previous * (self.in_shape[0] // factor) * (self.in_shape[1] // factor)
        self.mu = nn.Linear(flat, z_dim)
        self.logvar = nn.Linear(flat, z_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(mu, logvar)``, each ``[B, z_dim]``."""
        if x.dim() != 3 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"x must be [batch, *{self.in_shape}], got {tuple(x.shape)}.")
        h = self.body(x.unsqueeze(1)).flatten(1)
        return self.mu(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """p(x|z): a linear layer to a small map, then transposed convolutions up to ``[B, mels, frames]``.

    The output is unsquashed (Gaussian means).
    """

    def __init__(
        self, z_dim: int = 10, channels: Sequence[int] = (16, 16, 8), out_shape: Sequence[int] = (64, 32)
    ):
        super().__init__()
        self.out_shape, channels = _check(out_shape, channels, z_dim)
        self.z_dim = z_dim
        factor = 2 ** len(channels)
        self.start = (channels[0], self.out_shape[0] // factor, self.out_shape[1] // factor)
        self.project = nn.Sequential(nn.Linear(z_dim, channels[0] * self.start[1] * self.start[2]), nn.ELU())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels, (*channels[1:], 1), strict=True):
            layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1))
            if c_out != 1:
                layers.append(nn.ELU())
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """Map ``z`` ``[B, z_dim]`` to means ``[B, mels, frames]``."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [batch, z_dim={self.z_dim}], got {tuple(z.shape)}.")
        h = self.project(z).reshape(z.shape[0], *self.start)
        return self.body(h).squeeze(1)


def make_conv_vae(
    in_shape: Sequence[int] = (64, 32),
    z_dim: int = 10,
    channels: Sequence[int] = (8, 16, 16),
    scale: float = 0.1,
):
    """A convolutional VAE with a fixed-variance Gaussian decoder (the conv twin of ``vae.mlp_vae``)."""
    return _conv_vae(ConvEncoder, ConvDecoder, in_shape, z_dim, channels, scale)


def _conv_vae(encoder_class, decoder_class, in_shape, z_dim, channels, scale):
    """A Gaussian VAE of fixed ``scale`` whose decoder mirrors the encoder's ``channels``."""
    from course_lib.models.vae import VAE

    channels = tuple(channels)
    encoder = encoder_class(in_shape, channels, z_dim)
    decoder = decoder_class(z_dim, channels[::-1], in_shape)
    return VAE(encoder, decoder, likelihood="gaussian", scale=scale)


class LevelChannelConvEncoder(nn.Module):
    """:class:`ConvEncoder` over chapter 3's level-channel inputs ``[B, mels * frames + 1]``.

    The convolutions read the relative log-mel (the first ``mels * frames`` values, as an image); the
    level, the last value, joins the flattened feature maps before the linear heads. Taught in
    chapters/04_2_recipe.ipynb (the networks compared with chapter 3's recipe).
    """

    def __init__(
        self, in_shape: Sequence[int] = (64, 32), channels: Sequence[int] = (8, 16, 16), z_dim: int = 10
    ):
        super().__init__()
        inner = ConvEncoder(in_shape, channels, z_dim)
        self.in_shape, self.z_dim, self.body = inner.in_shape, z_dim, inner.body
        self.mu = nn.Linear(inner.mu.in_features + 1, z_dim)
        self.logvar = nn.Linear(inner.mu.in_features + 1, z_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(mu, logvar)``, each ``[B, z_dim]``."""
        mel, level = split_level_channel(x, self.in_shape)
        h = torch.cat([self.body(mel.unsqueeze(1)).flatten(1), level], dim=1)
        return self.mu(h), self.logvar(h)


class LevelChannelConvDecoder(nn.Module):
    """:class:`ConvDecoder` for level-channel outputs: the log-mel maps, flattened, and a linear level."""

    def __init__(
        self, z_dim: int = 10, channels: Sequence[int] = (16, 16, 8), out_shape: Sequence[int] = (64, 32)
    ):
        super().__init__()
        self.maps = ConvDecoder(z_dim, channels, out_shape)
        self.z_dim = z_dim
        self.level = nn.Linear(z_dim, 1)

    def forward(self, z: Tensor) -> Tensor:
        """Map ``z`` ``[B, z_dim]`` to means ``[B, mels * frames + 1]`` (the level last)."""
        return torch.cat([self.maps(z).flatten(1), self.level(z)], dim=1)


def level_channel_conv_vae(
    in_shape: Sequence[int] = (64, 32),
    z_dim: int = 10,
    channels: Sequence[int] = (8, 16, 16),
    scale: float = 0.1,
):
    """The convolutional VAE over chapter 3's level-channel inputs (flat in, flat out)."""
    return _conv_vae(LevelChannelConvEncoder, LevelChannelConvDecoder, in_shape, z_dim, channels, scale)


__all__ = [
    "ConvDecoder",
    "ConvEncoder",
    "LevelChannelConvDecoder",
    "LevelChannelConvEncoder",
    "level_channel_conv_vae",
    "make_conv_vae",
]
