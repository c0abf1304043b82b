"""A VAE that uses the translation: pitch is where the profile peaks, and the decoder moves a template.

Taught in chapters/03_3_seven_factors.ipynb ("A model that knows pitch is a translation"). Its
inputs are :func:`course_lib.cqt.pitch_inputs` (a constant-Q profile, the envelope and the level), on
whose log-frequency axis a change of f0 moves every partial by the same number of bins.

* :func:`fractional_shift` moves each row of a batch by a (fractional, differentiable) number of bins.
* :class:`ShiftEncoder` reads *where* the pitch sits, ``p`` bins: the bin where the profile peaks
  (the fundamental of every toy sound, whose partials fall in level), refined by a soft-argmax over
  the bins around it. This read-out has no weights: the same at every frequency. The pitch latent's
  mean is ``(p - c) / PITCH_SCALE`` (``c``: the training set's mean ``p``): a profile shifted by
  ``n`` bins moves it by exactly ``n / PITCH_SCALE``, away from the edges. The profile, moved back by
  ``p - c`` so that its pitch sits at ``c`` (less an octave at each end, :data:`EDGE`), the envelope
  and the level go through an MLP to the other latents (and the pitch latent's variance).
* :class:`ShiftDecoder`: an MLP of the other latents draws a *template* profile whose pitch sits at
  ``c``, the envelope and the level; the template is moved by ``PITCH_SCALE * z_pitch`` bins. The
  pitch latent can only transpose, and no other latent can; besides, it sets one offset for the whole
  profile (:attr:`ShiftDecoder.offset`), because the profile is relative to its own level and the
  partials that a higher pitch pushes past the top bin no longer count in that level.

No labels are used: the structure only knows that a pitch change is a translation of the profile.
Inputs may be standardised per value (``mean``, ``std``): the profile is moved in its own units (the
encoder undoes the standardisation before reading the pitch, the decoder applies it after moving the
template), so that the loss is computed on standardised values; the envelope and level are used as
they come.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from course_lib.models.vae import VAE, _mlp

PITCH_SCALE = 18.0
"""Bins per unit of the pitch latent: 18 bins = half an octave at 36 bins per octave."""
WINDOW = 4
"""The soft-argmax reads the peak bin and ``WINDOW`` bins on each side."""
EDGE = 36
"""Bins dropped at each end of the moved-back profile (an octave): where a shift brings in empty bins,
which would tell the other latents how far the profile was moved, that is the pitch."""
SHARPNESS = 50.0
"""The soft-argmax's scale: a bin 10 dB (0.1 unit) above its neighbour weighs e^5 = 148 times more."""


def fractional_shift(x: Tensor, shift: Tensor, fill: float = 0.0) -> Tensor:
    """``y[b, i] = x[b, i - shift[b]]``, linearly interpolated; bins that come from outside read ``fill``.

    ``x`` [B, L], ``shift`` [B] (bins, any real number). Differentiable in ``x`` and in ``shift``.
    """
    if x.dim() != 2 or shift.shape != (x.shape[0],):
        raise ValueError(f"need x [B, L] and shift [B], got {tuple(x.shape)} and {tuple(shift.shape)}.")
    length = x.shape[1]
    position = torch.arange(length, dtype=x.dtype, device=x.device)[None, :] - shift[:, None].to(x.dtype)
    left = torch.floor(position)
    weight = position - left
    padded = torch.cat([torch.full_like(x[:, :1], fill), x, torch.full_like(x[:, :1], fill)], dim=1)
    left_index = (left.long() + 1).clamp(0, length + 1)
    right_index = (left.long() + 2).clamp(0, length + 1)
    return (1 - weight) * padded.gather(1, left_index) + weight * padded.gather(1, right_index)


def pitch_position(profile: Tensor) -> Tensor:
    """``p`` [B]: the bin where each profile [B, bins] peaks, refined by a soft-argmax around that bin."""
    peak = profile.argmax(1, keepdim=True).clamp(WINDOW, profile.shape[1] - 1 - WINDOW)
    around = peak + torch.arange(-WINDOW, WINDOW + 1, device=profile.device)[None, :]
    weights = torch.softmax(SHARPNESS * profile.gather(1, around), dim=1)
    return (weights * around.to(profile.dtype)).sum(1)


class _Shared(nn.Module):
    """What encoder and decoder share: the inputs' per-value mean and standard deviation (buffers; 0 and
    1 when not standardised) and the centre ``c``, the bin that a pitch latent of 0 stands for."""

    def __init__(self, n_inputs: int, centre: float, mean: Tensor | None, std: Tensor | None) -> None:
        super().__init__()
        self.register_buffer("centre", torch.tensor(float(centre)))
        self.register_buffer("mean", torch.zeros(n_inputs) if mean is None else torch.as_tensor(mean).float())
        self.register_buffer("std", torch.ones(n_inputs) if std is None else torch.as_tensor(std).float())

    def profile_scale(self, n_bins: int) -> tuple[Tensor, Tensor]:
        """One mean and one (root-mean-square) standard deviation for the whole profile (shift-proof)."""
        return self.mean[:n_bins].mean(), self.std[:n_bins].pow(2).mean().sqrt()


class ShiftEncoder(nn.Module):
    """q(z|x): the pitch latent from where the profile peaks; the others from the profile moved back."""

    def __init__(
        self,
        n_bins: int,
        n_frames: int,
        z_dim: int,
        hidden: Sequence[int],
        standardiser: _Shared,
    ) -> None:
        super().__init__()
        self.n_bins, self.z_dim, self.standardiser = n_bins, z_dim, standardiser
        if n_bins <= 2 * EDGE:
            raise ValueError(f"n_bins must exceed twice EDGE ({2 * EDGE}), got {n_bins!r}.")
        self.rest = _mlp([n_bins - 2 * EDGE + n_frames + 1, *hidden], "relu")
        self.head = nn.Linear(hidden[-1], 2 * z_dim - 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n, std = self.n_bins, self.standardiser
        profile = x[:, :n] * std.std[:n] + std.mean[:n]
        position = pitch_position(profile)
        mean, scale = std.profile_scale(n)
        aligned = (fractional_shift(profile, std.centre - position) - mean)[:, EDGE:-EDGE] / scale
        out = self.head(self.rest(torch.cat([aligned, x[:, n:]], dim=1)))
        mu_pitch = (position - std.centre) / PITCH_SCALE
        mu = torch.cat([mu_pitch[:, None], out[:, : self.z_dim - 1]], dim=1)
        return mu, out[:, self.z_dim - 1 :]


class ShiftDecoder(nn.Module):
    """p(x|z): a template profile, envelope and level from the other latents; the pitch latent transposes."""

    def __init__(
        self,
        n_bins: int,
        n_frames: int,
        z_dim: int,
        hidden: Sequence[int],
        standardiser: _Shared,
        margin: int = 72,
    ) -> None:
        super().__init__()
        self.n_bins, self.margin, self.z_dim, self.standardiser = n_bins, margin, z_dim, standardiser
        self.net = nn.Sequential(
            _mlp([z_dim - 1, *hidden], "relu"), nn.Linear(hidden[-1], n_bins + 2 * margin + n_frames + 1)
        )
        self.offset = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, z: Tensor) -> Tensor:
        n, std = self.n_bins, self.standardiser
        out = self.net(z[:, 1:])
        width = n + 2 * self.margin
        mean, scale = std.profile_scale(n)
        template, rest = mean + scale * out[:, :width], out[:, width:]
        shift = (PITCH_SCALE * z[:, 0]).clamp(-self.margin, self.margin)
        profile = fractional_shift(template, shift)[:, self.margin : self.margin + n] + self.offset(z[:, :1])
        return torch.cat([(profile - std.mean[:n]) / std.std[:n], rest], dim=1)


def shift_vae(
    n_bins: int,
    n_frames: int,
    z_dim: int = 10,
    hidden: Sequence[int] = (256, 256),
    *,
    centre: float | None = None,
    mean: Tensor | None = None,
    std: Tensor | None = None,
    scale: float = 0.1,
) -> VAE:
    """The translation-aware VAE over ``n_bins + n_frames + 1`` inputs (latent 0 is the pitch latent).

    ``centre``: the bin a pitch latent of 0 stands for (default the middle bin; the training set's mean
    :func:`pitch_position` centres the latent); ``mean``/``std``: the per-value standardisation of the
    inputs (default none); Gaussian decoder of fixed standard deviation ``scale`` on the inputs.
    """
    if z_dim < 2:
        raise ValueError(f"z_dim must be at least 2 (a pitch latent and another), got {z_dim!r}.")
    standardiser = _Shared(n_bins + n_frames + 1, n_bins / 2 if centre is None else centre, mean, std)
    encoder = ShiftEncoder(n_bins, n_frames, z_dim, hidden, standardiser)
    decoder = ShiftDecoder(n_bins, n_frames, z_dim, hidden, standardiser)
    return VAE(encoder, decoder, "gaussian", scale=scale, z_dim=z_dim)
