"""Unit tests of the recurrent attention encoder/decoder (course_lib.models.recurrent).

The bottleneck tests prove that the decoder sees the input only through z.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from course_lib.checks import SelfCheckFailed, ch04
from course_lib.models.recurrent import RecurrentAttentionDecoder, RecurrentAttentionEncoder

N_MELS, FRAMES, Z_DIM = 10, 7, 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def pair() -> tuple[RecurrentAttentionEncoder, RecurrentAttentionDecoder]:
    torch.manual_seed(0)
    encoder = RecurrentAttentionEncoder(N_MELS, hidden=8, z_dim=Z_DIM, attn_dim=6)
    decoder = RecurrentAttentionDecoder(Z_DIM, N_MELS, FRAMES, hidden=12, n_slots=4, slot_dim=5, attn_dim=6)
    return encoder, decoder


def _x(batch: int = 4, seed: int = 1, frames: int = FRAMES) -> torch.Tensor:
    return torch.randn(batch, N_MELS, frames, generator=torch.Generator().manual_seed(seed))


def test_encoder_shapes_and_attention_weights(pair):
    encoder, _ = pair
    assert encoder.attention_weights is None
    mu, logvar = encoder(_x(frames=11))
    assert mu.shape == logvar.shape == (4, Z_DIM)
    assert encoder.attention_weights.shape == (4, 11)
    assert not encoder.attention_weights.requires_grad
    torch.testing.assert_close(encoder.attention_weights.sum(dim=1), torch.ones(4))


def test_decoder_shapes_and_attention_weights(pair):
    _, decoder = pair
    out = decoder(torch.randn(5, Z_DIM))
    assert out.shape == (5, N_MELS, FRAMES)
    assert decoder.attention_weights.shape == (5, FRAMES, 4)
    torch.testing.assert_close(decoder.attention_weights.sum(dim=2), torch.ones(5, FRAMES))
    assert decoder.memory(torch.randn(5, Z_DIM)).shape == (5, 4, 5)


def test_the_encoder_reads_frames_in_order(pair):
    encoder, _ = pair
    x = _x()
    mu, _ = encoder(x)
    mu_reversed, _ = encoder(x.flip(-1))
    assert not torch.allclose(mu, mu_reversed, atol=1e-4)


@pytest.mark.parametrize("shape", [(4, N_MELS), (4, N_MELS + 1, FRAMES), (N_MELS, FRAMES)])
def test_encoder_refuses_wrong_shapes(pair, shape):
    with pytest.raises(ValueError, match="frequency first"):
        pair[0](torch.zeros(shape))


@pytest.mark.parametrize("shape", [(4,), (4, Z_DIM + 1), (4, Z_DIM, 1)])
def test_decoder_refuses_wrong_shapes(pair, shape):
    with pytest.raises(ValueError, match="z must be"):
        pair[1](torch.zeros(shape))


def test_sizes_must_be_positive_integers():
    with pytest.raises(ValueError, match="hidden"):
        RecurrentAttentionEncoder(8, hidden=0)
    with pytest.raises(ValueError, match="n_slots"):
        RecurrentAttentionDecoder(2, 8, 4, n_slots=2.5)


# --- the bottleneck: the decoder sees x only through z --------------------------------------------


def test_decoder_forward_takes_z_alone(pair):
    _, decoder = pair
    assert list(inspect.signature(decoder.forward).parameters) == ["z"]


def test_decoder_shares_nothing_with_the_encoder(pair):
    encoder, decoder = pair
    assert not {id(p) for p in encoder.parameters()} & {id(p) for p in decoder.parameters()}
    assert not {id(m) for m in encoder.modules()} & {id(m) for m in decoder.modules()}


def test_same_z_decodes_the_same_whatever_was_encoded(pair):
    encoder, decoder = pair
    with torch.no_grad():
        z, _ = encoder(_x(seed=1))
        first = decoder(z)
        encoder(_x(seed=2) * 3.0)  # a different input through the encoder in between
        second = decoder(z)
        other_z, _ = encoder(_x(seed=2))
    torch.testing.assert_close(second, first, rtol=0, atol=0)
    assert not torch.allclose(decoder(other_z), first)  # ...while a different z does change it


def test_no_gradient_reaches_x_when_z_is_held_fixed(pair):
    encoder, decoder = pair
    x = _x().requires_grad_()
    mu, logvar = encoder(x)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    (through_z,) = torch.autograd.grad(decoder(z).square().sum(), x)
    assert through_z.abs().sum() > 0  # the path x -> z -> output exists...
    (fixed_z,) = torch.autograd.grad(decoder(z.detach()).square().sum(), x, allow_unused=True)
    assert fixed_z is None  # ...and it is the only one


def test_the_jacobian_factors_through_z(pair):
    encoder, decoder = pair
    x = _x(batch=1)

    def reconstruct(flat_x):
        return decoder(encoder(flat_x.view(1, N_MELS, FRAMES))[0]).flatten()

    def encode(flat_x):
        return encoder(flat_x.view(1, N_MELS, FRAMES))[0].flatten()

    jacobian = torch.autograd.functional.jacobian(reconstruct, x.flatten())  # [70, 70]
    z = encode(x.flatten()).detach()
    chained = torch.autograd.functional.jacobian(lambda v: decoder(v.view(1, -1)).flatten(), z) @ (
        torch.autograd.functional.jacobian(encode, x.flatten())
    )
    torch.testing.assert_close(jacobian, chained)
    assert int(torch.linalg.matrix_rank(jacobian)) == Z_DIM  # 70 outputs move along 3 directions only


def test_a_tiny_model_overfits_eight_examples():
    torch.manual_seed(0)
    encoder = RecurrentAttentionEncoder(N_MELS, hidden=16, z_dim=4, attn_dim=16)
    decoder = RecurrentAttentionDecoder(4, N_MELS, FRAMES, hidden=32, n_slots=4, slot_dim=16, attn_dim=16)
    x = _x(batch=8, seed=5)
    baseline = (x - x.mean(dim=0)).square().mean()  # the best output that ignores the input
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-2)
    losses = []
    for _ in range(60):
        mu, _ = encoder(x)
        loss = (decoder(mu) - x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert losses[-1] < 0.7 * float(baseline)  # it uses z: no input-blind decoder gets this low


# --- the self-check of the encoder exercise -------------------------------------------------------


class _EncoderWithMeanPooling(RecurrentAttentionEncoder):
    """Averages the states instead of attending: must fail the check."""

    def forward(self, x):
        states, _ = self.rnn(x.transpose(1, 2))
        self.attention_weights = torch.full(states.shape[:2], 1 / states.shape[1])
        return self.head(states.mean(dim=1)).chunk(2, dim=-1)


class _EncoderWithLSTM(nn.Module):
    def __init__(self, n_mels, hidden, z_dim, attn_dim):
        super().__init__()
        self.rnn = nn.LSTM(n_mels, hidden, batch_first=True, bidirectional=True)


def test_check_encoder_passes_the_reference(capsys):
    ch04.check_encoder(RecurrentAttentionEncoder)
    assert "RecurrentAttentionEncoder: matches the reference" in capsys.readouterr().out


def test_check_encoder_catches_mean_pooling():
    with pytest.raises(SelfCheckFailed, match="values differ"):
        ch04.check_encoder(_EncoderWithMeanPooling)


def test_check_encoder_names_the_missing_parameters():
    with pytest.raises(SelfCheckFailed, match=r"(?s)names and shapes.*attention\.query_proj\.weight"):
        ch04.check_encoder(_EncoderWithLSTM)


def test_check_encoder_needs_the_keyword_arguments():
    class Positional(RecurrentAttentionEncoder):
        def __init__(self, a, b, c, d):
            super().__init__(a, b, c, d)

    with pytest.raises(SelfCheckFailed, match="keyword arguments"):
        ch04.check_encoder(Positional)


def test_level_channel_frames_put_the_level_in_one_more_row_and_back():
    from course_lib.models.recurrent import FramesToLevelChannel, LevelChannelFrames

    mel = torch.arange(N_MELS * FRAMES, dtype=torch.float32).reshape(1, N_MELS, FRAMES)
    flat = torch.cat([mel.flatten(1), torch.tensor([[2.5]])], dim=1)
    frames = LevelChannelFrames(N_MELS, FRAMES)(flat)
    assert frames.shape == (1, N_MELS + 1, FRAMES)
    torch.testing.assert_close(frames[:, :N_MELS], mel)
    assert (frames[0, -1] == 2.5).all()  # the level, repeated along the frames
    torch.testing.assert_close(FramesToLevelChannel()(frames), flat)
    # the decoder side reads the level as the mean of its last row
    frames[0, -1] = torch.linspace(0.0, 2.0, FRAMES)
    assert float(FramesToLevelChannel()(frames)[0, -1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"flat log-mel and the level"):
        LevelChannelFrames(N_MELS, FRAMES)(mel.flatten(1))
    with pytest.raises(ValueError, match=r"n_mels \+ 1"):
        FramesToLevelChannel()(flat)


def test_level_channel_recurrent_vae_maps_flat_inputs_to_flat_means():
    from course_lib.models.recurrent import level_channel_recurrent_vae

    torch.manual_seed(0)
    model = level_channel_recurrent_vae(N_MELS, FRAMES, Z_DIM, hidden=8, decoder_hidden=12, n_slots=4)
    out = model(torch.randn(5, N_MELS * FRAMES + 1))
    assert out.params.shape == (5, N_MELS * FRAMES + 1) and out.mu.shape == (5, Z_DIM)
    assert model.likelihood == "gaussian" and float(model.scale) == pytest.approx(0.1)
    assert isinstance(model.encoder[1], RecurrentAttentionEncoder)
    assert isinstance(model.decoder[0], RecurrentAttentionDecoder)
