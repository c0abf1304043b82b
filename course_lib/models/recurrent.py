"""A recurrent attention encoder and decoder over log-mel frames, to drop into the beta-VAE.

Taught in chapters/04_1_recurrent_attention.ipynb. Both follow the VAE's contract (chapter 3):
the encoder maps x [B, n_mels, frames] to (mu, logvar) [B, z_dim], the decoder maps z [B, z_dim]
to Gaussian means shaped like x.

The decoder attends over a memory built from z alone (``n_slots`` learned slot vectors shifted by
a linear map of z), never over the encoder's states: attending over the encoder's states, as
sequence-to-sequence translation models do, would hand the decoder the input itself and let it
reconstruct x without going through the bottleneck z.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib.loudness import split_level_channel
from course_lib.models.attention import AdditiveAttention
from course_lib.models.vae import VAE
from course_lib.validation import positive_ints


class RecurrentAttentionEncoder(nn.Module):
    """Bidirectional GRU over frames, pooled by additive attention with a learned query.

    ``forward(x)`` takes log-mels x
    [B, n_mels, frames] (frequency first, as chapter 1's dataset stores them) and returns
    ``(mu, logvar)``, each [B, z_dim]. After each call, ``attention_weights`` holds the pooling
    weights [B, frames] (detached), for plotting.

    Parameters (their names are part of the exercise): ``rnn`` = GRU(n_mels, hidden,
    bidirectional, batch_first), ``query`` = the learned query [attn_dim], ``attention`` =
    AdditiveAttention(attn_dim, 2 * hidden, attn_dim), ``head`` = Linear(2 * hidden, 2 * z_dim)
    whose output is split into mu (first half) and logvar (second half).
    """

    def __init__(self, n_mels: int, hidden: int = 64, z_dim: int = 8, attn_dim: int = 64) -> None:
        super().__init__()
        positive_ints(n_mels=n_mels, hidden=hidden, z_dim=z_dim, attn_dim=attn_dim)
        self.n_mels, self.z_dim = n_mels, z_dim
        self.rnn = nn.GRU(n_mels, hidden, batch_first=True, bidirectional=True)
        self.query = nn.Parameter(torch.randn(attn_dim))
        self.attention = AdditiveAttention(attn_dim, 2 * hidden, attn_dim)
        self.head = nn.Linear(2 * hidden, 2 * z_dim)
        self.attention_weights: Tensor | None = None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encode ``x`` [B, n_mels, frames] into ``(mu, logvar)`` [B, z_dim] each."""
        if x.dim() != 3 or x.shape[1] != self.n_mels:
            raise ValueError(
                f"x must be [batch, n_mels={self.n_mels}, frames] (frequency first), got {tuple(x.shape)}."
            )
        states, _ = self.rnn(x.transpose(1, 2))  # [B, frames, 2 * hidden]
        query = self.query.expand(x.shape[0], -1)
        context, weights = self.attention(query, states)
        self.attention_weights = weights.detach()
        mu, logvar = self.head(context).chunk(2, dim=-1)
        return mu, logvar


class RecurrentAttentionDecoder(nn.Module):
    """A GRU that unrolls ``frames`` steps, each reading a z-built memory through attention.

    ``forward(z)`` takes z [B, z_dim] and returns
    Gaussian means [B, n_mels, frames]. The memory is ``tanh(slots + W z)`` ([B, n_slots, slot_dim]),
    the initial state ``tanh(W0 z)``; at step t the previous state queries the memory, and the
    context plus a learned time embedding drive the GRU cell; the frame is a linear read-out of the
    new state and the context. After each call, ``attention_weights`` holds the weights
    [B, frames, n_slots] (detached), for plotting. Nothing but z enters: no teacher forcing, no
    encoder states.
    """

    def __init__(
        self,
        z_dim: int,
        n_mels: int,
        frames: int,
        hidden: int = 128,
        n_slots: int = 8,
        slot_dim: int = 32,
        attn_dim: int = 64,
        time_dim: int = 16,
    ) -> None:
        super().__init__()
        positive_ints(
            z_dim=z_dim,
            n_mels=n_mels,
            frames=frames,
            hidden=hidden,
            n_slots=n_slots,
            slot_dim=slot_dim,
            attn_dim=attn_dim,
            time_dim=time_dim,
        )
        self.z_dim, self.n_mels, self.frames = z_dim, n_mels, frames
        self.n_slots, self.slot_dim = n_slots, slot_dim
        self.slots = nn.Parameter(torch.randn(n_slots, slot_dim))
        self.slot_from_z = nn.Linear(z_dim, n_slots * slot_dim, bias=False)
        self.init_state = nn.Linear(z_dim, hidden)
        self.time = nn.Parameter(0.1 * torch.randn(frames, time_dim))
        self.attention = AdditiveAttention(hidden, slot_dim, attn_dim)
        self.cell = nn.GRUCell(slot_dim + time_dim, hidden)
        self.out = nn.Linear(hidden + slot_dim, n_mels)
        self.attention_weights: Tensor | None = None

    def memory(self, z: Tensor) -> Tensor:
        """The decoder's memory [B, n_slots, slot_dim]: learned slots shifted by a linear map of z."""
        shift = self.slot_from_z(z).view(z.shape[0], self.n_slots, self.slot_dim)
        return torch.tanh(self.slots + shift)

    def forward(self, z: Tensor) -> Tensor:
        """Decode ``z`` [B, z_dim] into Gaussian means [B, n_mels, frames]."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [batch, z_dim={self.z_dim}], got {tuple(z.shape)}.")
        memory = self.memory(z)
        keys = self.attention.key_proj(memory)  # projected once, queried at every step
        state = torch.tanh(self.init_state(z))
        states, contexts, weights = [], [], []
        for step in range(self.frames):
            context, weight = self.attention.attend(state, keys, memory)
            time = self.time[step].expand(z.shape[0], -1)
            state = self.cell(torch.cat([context, time], dim=-1), state)
            states.append(state)
            contexts.append(context)
            weights.append(weight)
        self.attention_weights = torch.stack(weights, dim=1).detach()
        features = torch.cat([torch.stack(states, dim=1), torch.stack(contexts, dim=1)], dim=-1)
        return self.out(features).transpose(1, 2)  # [B, n_mels, frames]


class LevelChannelFrames(nn.Module):
    """Chapter 3's flat level-channel inputs as frames: ``[B, M * T + 1]`` to ``[B, M + 1, T]`` (M = n_mels).

    The relative log-mel (:func:`course_lib.loudness.level_channel_inputs`) becomes the first ``n_mels``
    rows and the clip's level, one value, is repeated along the frames as one more row, so that a
    recurrent encoder reads it at every step. Taught in chapters/04_2_recipe.ipynb (chapter 4's
    model with chapter 3's recipe).
    """

    def __init__(self, n_mels: int, frames: int) -> None:
        super().__init__()
        positive_ints(n_mels=n_mels, frames=frames)
        self.n_mels, self.frames = n_mels, frames

    def forward(self, x: Tensor) -> Tensor:
        """``x`` [B, n_mels * frames + 1] -> [B, n_mels + 1, frames]."""
        mel, level = split_level_channel(x, (self.n_mels, self.frames))
        return torch.cat([mel, level.expand(-1, self.frames)[:, None]], dim=1)


class FramesToLevelChannel(nn.Module):
    """The inverse layout for a decoder: ``[B, n_mels + 1, frames] -> [B, n_mels * frames + 1]``.

    The first ``n_mels`` rows are flattened; the level is the mean of the last row over the frames.
    """

    def forward(self, frames: Tensor) -> Tensor:
        """``frames`` [B, n_mels + 1, frames] -> [B, n_mels * frames + 1]."""
        if frames.dim() != 3 or frames.shape[1] < 2:
            raise ValueError(f"frames must be [batch, n_mels + 1, frames], got {tuple(frames.shape)}.")
        level = frames[:, -1].mean(dim=1, keepdim=True)
        return torch.cat([frames[:, :-1].flatten(1), level], dim=1)


def level_channel_recurrent_vae(
    n_mels: int,
    frames: int,
    z_dim: int,
    hidden: int = 64,
    decoder_hidden: int = 128,
    n_slots: int = 8,
    scale: float = 0.1,
) -> VAE:
    """The recurrent attention beta-VAE over chapter 3's level-channel inputs (flat in, flat out).

    Encoder: :class:`LevelChannelFrames` then :class:`RecurrentAttentionEncoder` over ``n_mels + 1``
    rows; decoder: :class:`RecurrentAttentionDecoder` of ``n_mels + 1`` rows then
    :class:`FramesToLevelChannel`. A Gaussian VAE of fixed ``scale``, as chapter 3's MLP, so the two
    differ only in their encoder and decoder.
    """
    encoder = nn.Sequential(
        LevelChannelFrames(n_mels, frames), RecurrentAttentionEncoder(n_mels + 1, hidden, z_dim)
    )
    decoder = nn.Sequential(
        RecurrentAttentionDecoder(z_dim, n_mels + 1, frames, decoder_hidden, n_slots), FramesToLevelChannel()
    )
    return VAE(encoder, decoder, "gaussian", scale=scale, z_dim=z_dim)
