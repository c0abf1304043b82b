"""Mutation tests of the self-checks: for every exercise of every sheet, plausible wrong answers that its
check must reject, each with one short message of its own, and the right answer, which it must accept.

A mutant is the right answer with one typical slip (a missing factor, a wrong sign, a wrong reduction
or axis, a detached tensor, an argument ignored), or a mistake seen when the sheets were tried as a
student (issue 29: beta forgotten, KL dropped, decoder ignoring z...). ``message`` is a pattern the
failure must contain, so a mutant rejected for an unrelated reason (a crash in the check) still fails.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from IPython.core.interactiveshell import InteractiveShell
from sklearn.metrics import mutual_info_score
from torch import nn

from course_lib import checks, losses
from course_lib import composed_sounds as cs
from course_lib.checks import SelfCheckFailed, ch01, ch02, ch03, ch04, ch05, tour
from course_lib.experiments import beta_sweep
from course_lib.models.attention import AdditiveAttention
from course_lib.models.recurrent import RecurrentAttentionEncoder
from course_lib.models.scan import gaussian_kl_between
from course_lib.models.vae import reparameterize

MAX_LINES = 8
"""A failure shows at most this many lines: the verdict, what differed, the hint and its follow-up."""


@dataclass(frozen=True)
class Mutant:
    exercise: str
    name: str
    run: Callable[[], None]
    message: str


MUTANTS: list[Mutant] = []
RIGHT_ANSWERS: dict[str, Callable[[], None]] = {}


def mutant(exercise: str, name: str, message: str, run: Callable[[], None]) -> None:
    """Register ``run`` (which calls a check with a wrong answer) as the mutant ``name`` of ``exercise``."""
    MUTANTS.append(Mutant(exercise, name, run, message))


def right_answer(exercise: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register ``run`` (which calls a check with the right answer) for ``exercise``."""

    def register(run: Callable[[], None]) -> Callable[[], None]:
        RIGHT_ANSWERS[exercise] = run
        return run

    return register


@pytest.fixture(autouse=True)
def fresh_hints():
    checks.reset_hints()
    yield
    checks.reset_hints()


# ------------------------------------------------------------------------------- tour: the tone


SQRT2, TWO_PI, LN_1000 = np.sqrt(2.0), 2 * np.pi, np.log(1000.0)


def _tone(f0, level_db, sr, duration, *, amplitude=SQRT2, db=20.0, turn=TWO_PI, wave=np.sin):
    t = np.arange(int(round(sr * duration))) / sr
    return amplitude * 10.0 ** (level_db / db) * wave(turn * f0 * t)


right_answer("0.1")(lambda: tour.check_tone(_tone))
mutant(
    "0.1",
    "amplitude_for_rms",
    "0.7071 times the expected",
    lambda: tour.check_tone(lambda *a: _tone(*a, amplitude=1.0)),
)  # the amplitude taken for the RMS
mutant("0.1", "level_over_10", "values differ", lambda: tour.check_tone(lambda *a: _tone(*a, db=10.0)))
mutant("0.1", "no_two_pi", "values differ", lambda: tour.check_tone(lambda *a: _tone(*a, turn=1.0)))
mutant("0.1", "cosine", "values differ", lambda: tour.check_tone(lambda *a: _tone(*a, wave=np.cos)))
mutant(
    "0.1",
    "f0_ignored",
    "values differ",
    lambda: tour.check_tone(lambda f0, level, sr, d: _tone(440.0, level, sr, d)),
)
mutant(
    "0.1",
    "sr_ignored",
    "expected shape",
    lambda: tour.check_tone(lambda f0, level, sr, d: _tone(f0, level, 16000, d)),
)


# ------------------------------------------------------------------ sheet 1: procedural functions


def _bank(freqs, amps, n, sr, phases, *, shift=True, nyquist=True, constant=False):
    freqs = np.asarray(freqs, dtype=np.float64).reshape(len(freqs), -1)
    freqs = np.broadcast_to(freqs[:, :1] if constant else freqs, (len(freqs), n))
    steps = np.cumsum(freqs, axis=1)
    if shift:
        steps = np.concatenate([np.zeros((len(freqs), 1)), steps[:, :-1]], axis=1)
    gain = np.asarray(amps, dtype=np.float64)[:, None] * (freqs < sr / 2 if nyquist else 1.0)
    return (gain * np.sin(np.asarray(phases)[:, None] + 2 * np.pi * steps / sr)).sum(0)


right_answer("1.1")(lambda: ch01.check_oscillator_bank(_bank))
mutant(
    "1.1",
    "nyquist_not_muted",
    "values differ",
    lambda: ch01.check_oscillator_bank(lambda *a: _bank(*a, nyquist=False)),
)
mutant(
    "1.1",
    "phase_counts_current_sample",
    "values differ",
    lambda: ch01.check_oscillator_bank(lambda *a: _bank(*a, shift=False)),
)
mutant(
    "1.1",
    "vibrato_ignored",
    "values differ",
    lambda: ch01.check_oscillator_bank(lambda *a: _bank(*a, constant=True)),
)
mutant(
    "1.1",
    "phases_ignored",
    "values differ",
    lambda: ch01.check_oscillator_bank(lambda f, a, n, sr, p: _bank(f, a, n, sr, 0 * p)),
)  # phases ignored
mutant(
    "1.1",
    "sr_ignored",
    "values differ",
    lambda: ch01.check_oscillator_bank(lambda f, a, n, sr, p: _bank(f, a, n, 16000, p)),
)  # sr ignored
mutant(
    "1.1",
    "amps_ignored",
    "values differ",
    lambda: ch01.check_oscillator_bank(lambda f, a, n, sr, p: _bank(f, np.ones_like(a), n, sr, p)),
)  # amplitudes ignored


def _envelope(t, attack_ms, t60, release_ms, duration, *, ms=1000.0, ln=LN_1000, from_attack=True):
    t = np.asarray(t, dtype=np.float64)
    attack, release = attack_ms / ms, release_ms / ms
    rise = np.clip(t / attack, 0.0, 1.0)
    decay = np.exp(-np.maximum(t - (attack if from_attack else 0.0), 0.0) * ln / t60)
    fall = np.clip((duration - t) / release, 0.0, 1.0)
    return np.where((t >= 0) & (t <= duration), rise * decay * fall, 0.0)


right_answer("1.2")(lambda: ch01.check_envelope(_envelope))
mutant(
    "1.2",
    "ms_taken_for_seconds",
    "values differ",
    lambda: ch01.check_envelope(lambda *a: _envelope(*a, ms=1.0)),
)
mutant("1.2", "no_ln_1000", "values differ", lambda: ch01.check_envelope(lambda *a: _envelope(*a, ln=1.0)))
mutant(
    "1.2",
    "decay_from_zero",
    "values differ",
    lambda: ch01.check_envelope(lambda *a: _envelope(*a, from_attack=False)),
)
mutant(
    "1.2",
    "release_ignored",
    "values differ",
    lambda: ch01.check_envelope(lambda t, a, t60, r, d: _envelope(t, a, t60, 1e-9, d)),
)  # release ignored


def _mix(harmonic, noise, hnr_db, *, db=10.0, sign=1.0, with_harmonic=True):
    p_h = np.mean(np.square(harmonic)) if with_harmonic else 1.0
    return harmonic + noise * np.sqrt(p_h / (np.mean(np.square(noise)) * 10.0 ** (sign * hnr_db / db)))


right_answer("1.3")(lambda: ch01.check_mix_at_hnr(_mix))
mutant(
    "1.3",
    "power_ratio_as_amplitude",
    "values differ",
    lambda: ch01.check_mix_at_hnr(lambda *a: _mix(*a, db=20.0)),
)
mutant(
    "1.3", "hnr_sign_wrong", "values differ", lambda: ch01.check_mix_at_hnr(lambda *a: _mix(*a, sign=-1.0))
)
mutant(
    "1.3",
    "harmonic_power_ignored",
    "values differ",
    lambda: ch01.check_mix_at_hnr(lambda *a: _mix(*a, with_harmonic=False)),
)
mutant(
    "1.3",
    "harmonic_scaled",
    "values differ",
    lambda: ch01.check_mix_at_hnr(lambda h, n, hnr: _mix(n, h, -hnr)),
)  # scales the harmonic part instead of the noise


def _bases(sizes, *, last_fastest=True):
    sizes = np.asarray(sizes)
    if last_fastest:
        return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]])
    return np.concatenate([[1], np.cumprod(sizes)[:-1]])


def _to_classes(index, sizes, *, last_fastest=True, modulo=True):
    quotient = np.asarray(index)[:, None] // _bases(sizes, last_fastest=last_fastest)[None, :]
    return quotient % np.asarray(sizes)[None, :] if modulo else quotient


def _to_index(classes, sizes, *, last_fastest=True):
    return np.asarray(classes) @ _bases(sizes, last_fastest=last_fastest)


def _check_mapping(to_classes=_to_classes, to_index=_to_index):
    ch01.check_index_mapping(to_classes, to_index)


right_answer("1.4")(_check_mapping)
right_answer("1.5")(_check_mapping)
mutant(
    "1.4",
    "first_factor_fastest",
    "index_to_classes: values differ",
    lambda: _check_mapping(lambda i, s: _to_classes(i, s, last_fastest=False)),
)
mutant(
    "1.4",
    "no_modulo",
    "index_to_classes: values differ",
    lambda: _check_mapping(lambda i, s: _to_classes(i, s, modulo=False)),
)
mutant(
    "1.4",
    "transposed",
    "index_to_classes: expected shape",
    lambda: _check_mapping(lambda i, s: _to_classes(i, s).T),
)
mutant(
    "1.4",
    "sizes_for_bases",
    "index_to_classes: values differ",
    lambda: _check_mapping(lambda i, s: np.asarray(i)[:, None] // np.asarray(s)[None, :] % np.asarray(s)),
)  # the sizes taken for the bases
mutant(
    "1.5",
    "first_factor_fastest",
    "classes_to_index: values differ",
    lambda: _check_mapping(to_index=lambda c, s: _to_index(c, s, last_fastest=False)),
)
mutant(
    "1.5",
    "plain_sum",
    "classes_to_index: values differ",
    lambda: _check_mapping(to_index=lambda c, s: c.sum(1)),
)
mutant(
    "1.5",
    "sizes_for_bases",
    "classes_to_index: values differ",
    lambda: _check_mapping(to_index=lambda c, s: c @ np.asarray(s)),
)
mutant(
    "1.5",
    "wrong_axis",
    "classes_to_index: expected shape",
    lambda: _check_mapping(to_index=lambda c, s: (c * _bases(s)).sum(0)),
)  # summed over the wrong axis

SR = ch01.SR


def _render_brightness(values):
    """Clips whose brightness rises with the value (harmonic tilt), RMS-normalised."""
    t = np.arange(SR // 4) / SR
    k = np.arange(1, 21)[:, None]
    clips = [(k**-tilt * np.sin(2 * np.pi * 200 * k * t)).sum(0) for tilt in (3.0 - np.asarray(values))]
    return np.stack([c / np.sqrt(np.mean(c**2)) * 0.1 for c in clips])


def _centroid(audio):
    spectrum = np.abs(np.fft.rfft(audio, axis=1))
    freqs = np.fft.rfftfreq(audio.shape[1], 1 / SR)
    return (spectrum * freqs).sum(1) / spectrum.sum(1)


VALUES = [0.0, 0.5, 1.0, 1.5]
right_answer("1.6")(lambda: ch01.check_new_factor(_render_brightness, VALUES, _centroid))
mutant(
    "1.6",
    "render_ignores_value",
    "identical audio",
    lambda: ch01.check_new_factor(lambda v: _render_brightness(np.zeros(len(v))), VALUES, _centroid),
)
mutant(
    "1.6",
    "descriptor_ignores_audio",
    "does not measure the audio",
    lambda: ch01.check_new_factor(_render_brightness, VALUES, lambda a: np.arange(len(a))),
)
mutant(
    "1.6",
    "loudness_factor",
    "RMS level changes",
    lambda: ch01.check_new_factor(
        lambda v: _render_brightness(v) * (1.0 + np.asarray(v))[:, None], VALUES, _centroid
    ),
)
mutant(
    "1.6",
    "wrong_length",
    "one number per clip",
    lambda: ch01.check_new_factor(_render_brightness, VALUES, lambda a: _centroid(a)[:2]),
)
mutant(
    "1.6",
    "rms_descriptor",
    "the same number for every clip",
    lambda: ch01.check_new_factor(_render_brightness, VALUES, lambda a: np.sqrt(np.mean(a**2, axis=1))),
)  # the RMS does not follow brightness (every clip is normalised)
mutant(
    "1.6",
    "descriptor_not_monotone",
    "Spearman rho",
    lambda: ch01.check_new_factor(
        _render_brightness, VALUES, lambda a: -((_centroid(a) - np.median(_centroid(a))) ** 2)
    ),
)  # distance from the middle: rises then falls
mutant(
    "1.6",
    "wrong_shape",
    r"render must return \[n_values=4",
    lambda: ch01.check_new_factor(lambda v: _render_brightness(v)[0], VALUES, _centroid),
)


# ------------------------------------------------------------------- sheet 2: a VAE from scratch


def _layers(size: int, hidden: tuple[int, ...], activation: type[nn.Module] | None = nn.Tanh) -> list:
    layers = []
    for width in hidden:
        layers += [nn.Linear(size, width)] + ([activation()] if activation else [])
        size = width
    return layers


class Encoder(nn.Module):
    """The right answer (any hidden widths), and the base of the encoder mutants."""

    activation: type[nn.Module] | None = nn.Tanh

    def __init__(self, in_dim, hidden, z_dim):
        super().__init__()
        hidden = self.widths(tuple(hidden))
        self.body = nn.Sequential(*_layers(in_dim, hidden, self.activation))
        self.mu, self.logvar = nn.Linear(hidden[-1], z_dim), nn.Linear(hidden[-1], z_dim)

    def widths(self, hidden):
        return hidden

    def forward(self, x):
        h = self.body(x.reshape(len(x), -1))
        return self.mu(h), self.logvar(h)


class OneHeadEncoder(Encoder):
    """Also right: one linear layer gives [mu, logvar], split in two."""

    def __init__(self, in_dim, hidden, z_dim):
        super().__init__(in_dim, hidden, z_dim)
        self.head = nn.Linear(hidden[-1], 2 * z_dim)
        del self.mu, self.logvar

    def forward(self, x):
        return self.head(self.body(x.flatten(1))).chunk(2, dim=1)


class EncoderIgnoringHidden(Encoder):
    def widths(self, hidden):
        return (400,)


class EncoderWithFirstWidthOnly(Encoder):
    def widths(self, hidden):
        return hidden[:1]


class LinearEncoder(Encoder):
    activation = None


class EncoderWithoutFlatten(Encoder):
    def forward(self, x):
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class SoftplusLogvarEncoder(Encoder):
    def forward(self, x):
        mu, logvar = super().forward(x)
        return mu, F.softplus(logvar)


class SharedHeadEncoder(Encoder):
    def forward(self, x):
        mu, _ = super().forward(x)
        return mu, mu


class EncoderIgnoringX(Encoder):
    def forward(self, x):
        return super().forward(torch.zeros_like(x))


def _right_encoders():
    ch02.check_encoder(Encoder)
    ch02.check_encoder(OneHeadEncoder)


right_answer("2.1")(_right_encoders)
for _cls, _message in [
    (EncoderIgnoringHidden, r"widths are \[400"),
    (EncoderWithFirstWidthOnly, r"widths are \[9, 3"),
    (LinearEncoder, "affine function"),
    (EncoderWithoutFlatten, r"forward on inputs of shape \(5, 1, 3, 4\) raised"),
    (SoftplusLogvarEncoder, "logvar is not the output of a linear layer"),
    (SharedHeadEncoder, "identical"),
    (EncoderIgnoringX, "same mu: forward must compute mu from x"),
]:
    MUTANTS.append(Mutant("2.1", _cls.__name__, lambda cls=_cls: ch02.check_encoder(cls), _message))


class Decoder(nn.Module):
    activation: type[nn.Module] | None = nn.Tanh

    def __init__(self, z_dim, hidden, out_dim):
        super().__init__()
        hidden = self.widths(tuple(hidden))
        self.net = nn.Sequential(*_layers(z_dim, hidden, self.activation), nn.Linear(hidden[-1], out_dim))

    def widths(self, hidden):
        return hidden

    def forward(self, z):
        return self.net(z)


class DecoderIgnoringZ(Decoder):
    def forward(self, z):
        return self.net(torch.zeros_like(z))


class SigmoidDecoder(Decoder):
    def forward(self, z):
        return torch.sigmoid(self.net(z))


class ScaledSigmoidDecoder(Decoder):
    def forward(self, z):
        return 10 * torch.sigmoid(self.net(z)) - 5


class DecoderIgnoringHidden(Decoder):
    def widths(self, hidden):
        return (400,)


class LinearDecoder(Decoder):
    activation = None


right_answer("2.3")(lambda: ch02.check_decoder(Decoder))
for _cls, _message in [
    (DecoderIgnoringZ, "every z gives the same logits"),
    (SigmoidDecoder, "sigmoid"),
    (ScaledSigmoidDecoder, "not the last linear layer's output"),
    (DecoderIgnoringHidden, r"widths are \[400"),
    (LinearDecoder, "affine function"),
]:
    MUTANTS.append(Mutant("2.3", _cls.__name__, lambda cls=_cls: ch02.check_decoder(cls), _message))


NUMPY_RNG = np.random.default_rng(0)


def _reparameterize(
    mu, logvar, *, detach_mu=False, detach_logvar=False, std_power=0.5, noise=torch.randn_like
):
    mu = mu.detach() if detach_mu else mu
    logvar = logvar.detach() if detach_logvar else logvar
    return mu + torch.exp(std_power * logvar) * noise(mu)


right_answer("2.5")(lambda: ch02.check_reparameterize(_reparameterize))
mutant(
    "2.5",
    "detached",
    "no gradient reaches mu or logvar",
    lambda: ch02.check_reparameterize(lambda m, v: _reparameterize(m, v, detach_mu=True, detach_logvar=True)),
)  # a reparameterize that detaches
mutant(
    "2.5",
    "logvar_detached",
    "no gradient reaches logvar",
    lambda: ch02.check_reparameterize(lambda m, v: _reparameterize(m, v, detach_logvar=True)),
)
mutant(
    "2.5",
    "std_is_exp_logvar",
    "gradients are not those",
    lambda: ch02.check_reparameterize(lambda m, v: _reparameterize(m, v, std_power=1.0)),
)  # std = exp(logvar)
mutant(
    "2.5",
    "uniform_noise",
    "values differ",
    lambda: ch02.check_reparameterize(lambda m, v: _reparameterize(m, v, noise=torch.rand_like)),
)  # uniform noise
mutant(
    "2.5", "no_noise", "no gradient reaches logvar", lambda: ch02.check_reparameterize(lambda m, v: m + 0 * m)
)
mutant(
    "2.5",
    "numpy_noise",
    "values differ",
    lambda: ch02.check_reparameterize(
        lambda m, v: _reparameterize(
            m, v, noise=lambda t: torch.from_numpy(NUMPY_RNG.standard_normal(t.shape)).float()
        )
    ),
)  # NumPy's generator: the same torch seed does not give the same z


def _kl(mu, logvar, *, half=0.5, log_sign=-1.0, variance=torch.exp, reduce=lambda t: t.sum(1)):
    return reduce(half * (mu.pow(2) + variance(logvar) - 1.0 + log_sign * logvar))


right_answer("2.6")(lambda: ch02.check_kl(_kl))
mutant("2.6", "no_half", "times the expected", lambda: ch02.check_kl(lambda m, v: _kl(m, v, half=1.0)))
mutant("2.6", "log_sign_wrong", "values differ", lambda: ch02.check_kl(lambda m, v: _kl(m, v, log_sign=1.0)))
mutant(
    "2.6",
    "logvar_as_variance",
    "values differ",
    lambda: ch02.check_kl(lambda m, v: _kl(m, v, variance=lambda t: t)),
)
mutant(
    "2.6",
    "mean_over_latents",
    "values differ",
    lambda: ch02.check_kl(lambda m, v: _kl(m, v, reduce=lambda t: t.mean(1))),
)
mutant(
    "2.6",
    "sum_over_batch",
    "expected shape",
    lambda: ch02.check_kl(lambda m, v: _kl(m, v, reduce=lambda t: t.sum(0))),
)


def _negative_elbo(x, logits, mu, logvar, *, pixels=lambda t: t.sum(1), kl=1.0, batch=torch.mean, sign=1.0):
    recon = pixels(F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(len(x), -1))
    return sign * batch(recon + kl * ch02.reference_kl(mu, logvar))


right_answer("2.7")(lambda: ch02.check_negative_elbo(_negative_elbo))
mutant(
    "2.7",
    "averaged_over_pixels",
    "values differ",
    lambda: ch02.check_negative_elbo(lambda *a: _negative_elbo(*a, pixels=lambda t: t.mean(1))),
)  # averaged over pixels
mutant(
    "2.7",
    "KL_dropped",
    "values differ",
    lambda: ch02.check_negative_elbo(lambda *a: _negative_elbo(*a, kl=0.0)),
)
mutant(
    "2.7",
    "summed_over_batch",
    "values differ",
    lambda: ch02.check_negative_elbo(lambda *a: _negative_elbo(*a, batch=torch.sum)),
)
mutant(
    "2.7",
    "wrong_sign",
    "that is -1 times the expected value",
    lambda: ch02.check_negative_elbo(lambda *a: _negative_elbo(*a, sign=-1.0)),
)
mutant(
    "2.7",
    "not_reduced",
    "scalar",
    lambda: ch02.check_negative_elbo(lambda *a: _negative_elbo(*a, batch=lambda t: t)),
)
mutant(
    "2.7",
    "sigmoid_twice",
    "values differ",
    lambda: ch02.check_negative_elbo(lambda x, lg, m, v: _negative_elbo(x, torch.sigmoid(lg), m, v)),
)  # the sigmoid applied before a loss that applies it itself


# ----------------------------------------------------------------- sheet 3: beta-VAE loss and MIG


def _beta_vae_loss(model, x, beta=1.0, capacity=None, gamma=None, *, slip=None):
    out = model(x)
    recon = -losses.log_likelihood(x, out.params, model.likelihood, model.scale)
    if slip == "recon averaged over features":
        recon = recon / x[0].numel()
    kl_per_dim = losses.gaussian_kl(out.mu, out.logvar)
    kl = kl_per_dim.mean(1) if slip == "KL averaged over latents" else kl_per_dim.sum(1)
    weight = {"beta forgotten": 1.0, "KL dropped": 0.0, "KL subtracted": -beta}.get(slip, beta)
    if capacity is None:
        loss = recon.mean() + weight * kl.mean()
    elif slip == "no absolute value":
        loss = recon.mean() + gamma * (kl.mean() - capacity)
    else:
        loss = recon.mean() + (beta if slip == "gamma ignored" else gamma) * (kl.mean() - capacity).abs()
    elbo = -(recon + (beta if slip == "elbo with beta" else 1.0) * kl)
    per_dim = kl_per_dim.sum(0) if slip == "kl_per_dim summed over the batch" else kl_per_dim.mean(0)
    logs = {
        "loss": loss.item(),
        "elbo": elbo.mean().item(),
        "recon": recon.mean().item(),
        "kl": kl.mean().item(),
        "kl_per_dim": per_dim.tolist(),
    }
    if capacity is not None:
        logs["capacity"] = float(capacity)
    return (loss.detach() if slip == "loss detached" else loss), logs


def _check_loss(loss):
    ch03.check_beta_vae_loss(
        loss,
        lambda: beta_sweep.make_model(beta_sweep.Settings(z_dim=4, hidden=(32,)), in_shape=(8, 6)),
        torch.zeros(8, 8, 6),
    )


right_answer("3.1")(lambda: _check_loss(_beta_vae_loss))
for _slip, _message in [
    ("beta forgotten", "the KL term of your loss"),
    ("KL dropped", "the KL term of your loss"),
    ("KL subtracted", "the KL term of your loss"),
    ("elbo with beta", r"logs\['elbo'\] \+ logs\['recon'\]"),
    ("recon averaged over features", "the reconstruction term"),
    ("KL averaged over latents", "the KL term of your loss"),
    ("no absolute value", r"the KL term of your loss.*capacity C"),
    ("gamma ignored", r"the KL term of your loss.*capacity C"),
    ("kl_per_dim summed over the batch", r"logs\['kl_per_dim'\]"),
    ("loss detached", "no gradient flows"),
]:
    MUTANTS.append(
        Mutant(
            "3.1",
            _slip.replace(" ", "_"),
            lambda slip=_slip: _check_loss(lambda *a, **k: _beta_vae_loss(*a, **k, slip=slip)),
            _message,
        )
    )


def _mig(codes, factors, n_bins=20, *, slip=None):
    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    bins = 20 if slip == "n_bins ignored" else n_bins

    def discretise(z, lo, hi):
        edges = np.linspace(lo, hi, bins + 1)
        return np.digitize(z, edges if slip == "every bin edge" else edges[:-1])

    if slip == "codes not binned":
        binned = codes
    elif slip == "one range for all dimensions":
        binned = np.stack([discretise(z, codes.min(), codes.max()) for z in codes.T], axis=1)
    else:
        binned = np.stack([discretise(z, z.min(), z.max()) for z in codes.T], axis=1)
    gaps = []
    for k in range(factors.shape[1]):
        info = np.sort([mutual_info_score(factors[:, k], binned[:, j]) for j in range(binned.shape[1])])
        gap = info[-1] if slip == "no gap" else info[-1] - info[-2]
        if slip == "log of the number of classes":
            gaps.append(gap / np.log(len(np.unique(factors[:, k]))))
        elif slip == "not normalised":
            gaps.append(gap)
        else:
            gaps.append(gap / mutual_info_score(factors[:, k], factors[:, k]))
    return float(np.mean(gaps))


right_answer("3.2")(lambda: ch03.check_mig(_mig))
for _slip in (
    "every bin edge",
    "log of the number of classes",
    "codes not binned",
    "one range for all dimensions",
    "no gap",
    "not normalised",
    "n_bins ignored",
):
    MUTANTS.append(
        Mutant(
            "3.2",
            _slip.replace(" ", "_"),
            lambda slip=_slip: ch03.check_mig(lambda *a: _mig(*a, slip=slip)),
            "mig: values differ",
        )
    )


# ----------------------------------------------------------- sheet 4: attention and the encoder


class Attention(AdditiveAttention):
    """The reference's parameters; forward with one slip (or none)."""

    slip: str | None = None

    def forward(self, query, keys, values=None, mask=None):
        values = keys if values is None or self.slip == "values ignored" else values
        energy = self.query_proj(query).unsqueeze(1) + self.key_proj(keys)
        if self.slip == "query ignored":
            energy = self.key_proj(keys)
        energy = energy if self.slip == "no tanh" else torch.tanh(energy)
        scores = self.score(energy).squeeze(-1)
        if mask is not None and self.slip != "mask ignored":
            scores = scores.masked_fill(~mask, 0.0 if self.slip == "mask filled with 0" else float("-inf"))
        weights = torch.softmax(scores, dim=0 if self.slip == "softmax over the batch" else -1)
        return torch.bmm(weights.unsqueeze(1), values).squeeze(1), weights


right_answer("4.1")(lambda: ch04.check_attention(Attention))
for _slip in (
    "values ignored",
    "query ignored",
    "no tanh",
    "mask ignored",
    "mask filled with 0",
    "softmax over the batch",
):
    MUTANTS.append(
        Mutant(
            "4.1",
            _slip.replace(" ", "_"),
            lambda slip=_slip: ch04.check_attention(type("Mutant", (Attention,), {"slip": slip})),
            "AdditiveAttention: ",
        )
    )


class RecurrentEncoder(RecurrentAttentionEncoder):
    """The reference's parameters; forward with one slip (or none)."""

    slip: str | None = None

    def forward(self, x):
        frames = (
            x.reshape(x.shape[0], x.shape[2], x.shape[1]) if self.slip == "reshape" else x.transpose(1, 2)
        )
        states, _ = self.rnn(frames)
        query = self.query.expand(x.shape[0], -1)
        context, weights = self.attention(query, states)
        if self.slip == "mean pooling":
            context = states.mean(1)
        self.attention_weights = None if self.slip == "weights not kept" else weights.detach()
        mu, logvar = self.head(context).chunk(2, dim=-1)
        return (logvar, mu) if self.slip == "mu and logvar swapped" else (mu, logvar)


class UnidirectionalEncoder(RecurrentEncoder):
    def __init__(self, n_mels, hidden=64, z_dim=8, attn_dim=64):
        super().__init__(n_mels, hidden, z_dim, attn_dim)
        self.rnn = nn.GRU(n_mels, hidden, batch_first=True)


class EncoderIgnoringItsHidden(RecurrentEncoder):
    def __init__(self, n_mels, hidden=64, z_dim=8, attn_dim=64):
        super().__init__(n_mels, 64, z_dim, attn_dim)


right_answer("4.3")(lambda: ch04.check_encoder(RecurrentEncoder))
for _slip in ("reshape", "mean pooling", "weights not kept", "mu and logvar swapped"):
    MUTANTS.append(
        Mutant(
            "4.3",
            _slip.replace(" ", "_"),
            lambda slip=_slip: ch04.check_encoder(type("Mutant", (RecurrentEncoder,), {"slip": slip})),
            "RecurrentAttentionEncoder: ",
        )
    )
MUTANTS.append(
    Mutant("4.3", "unidirectional", lambda: ch04.check_encoder(UnidirectionalEncoder), "names and shapes")
)
MUTANTS.append(
    Mutant("4.3", "hidden_ignored", lambda: ch04.check_encoder(EncoderIgnoringItsHidden), "names and shapes")
)


# ----------------------------------------------------------------------------- sheet 5: SCAN


def _symbol_operator(op, a, b, *, slip=None):
    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    table = {"AND": a | b, "IN_COMMON": a & b, "IGNORE": a & ~b}
    if slip == "AND as intersection":
        table["AND"] = a & b
    if slip == "IN_COMMON as union":
        table["IN_COMMON"] = a | b
    if slip == "IGNORE keeps the words of b":
        table["IGNORE"] = a & b
    if slip == "IGNORE the wrong way round":
        table["IGNORE"] = b & ~a
    result = table[op].astype(np.uint8)
    if slip == "AND counts words":
        return a.astype(np.int64) + b if op == "AND" else result
    if slip == "a list of words":
        return cs.words_of(result)
    if slip == "a batch of one":
        return result[None]
    return result


right_answer("5.1")(lambda: ch05.check_symbol_operator(_symbol_operator))
for _slip, _message in [
    ("AND as intersection", r"\] AND \[.*: expected the words"),
    ("IN_COMMON as union", r"\] IN_COMMON \[.*: expected the words"),
    ("IGNORE keeps the words of b", r"\] IGNORE \[.*: expected the words"),
    ("IGNORE the wrong way round", r"\] IGNORE \[.*, got \[\]\."),
    ("AND counts words", "only 0s and 1s"),
    ("a list of words", "returned a list; expected a k-hot array"),
    ("a batch of one", r"expected a k-hot array of shape \(22,\).*got \(1, 22\)"),
]:
    MUTANTS.append(
        Mutant(
            "5.1",
            _slip.replace(" ", "_"),
            lambda slip=_slip: ch05.check_symbol_operator(lambda *a: _symbol_operator(*a, slip=slip)),
            _message,
        )
    )


def _kl_between(mu_q, logvar_q, mu_p, logvar_p, *, half=0.5, log_sign=1.0, reduce=lambda t: t):
    ratio = (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()
    return reduce(half * (log_sign * (logvar_p - logvar_q) + ratio - 1.0))


right_answer("5.2")(lambda: ch05.check_gaussian_kl_between(_kl_between))
mutant(
    "5.2",
    "summed",
    "expected shape",
    lambda: ch05.check_gaussian_kl_between(lambda *a: _kl_between(*a, reduce=lambda t: t.sum(1))),
)
mutant(
    "5.2",
    "reversed",
    "values differ",
    lambda: ch05.check_gaussian_kl_between(lambda q, vq, p, vp: _kl_between(p, vp, q, vq)),
)
mutant(
    "5.2",
    "no_half",
    "times the expected",
    lambda: ch05.check_gaussian_kl_between(lambda *a: _kl_between(*a, half=1.0)),
)
mutant(
    "5.2",
    "log_sign_wrong",
    "values differ",
    lambda: ch05.check_gaussian_kl_between(lambda *a: _kl_between(*a, log_sign=-1.0)),
)


def _scan_loss(model, y, mu_x, logvar_x, beta=1.0, lam=10.0, *, slip=None):
    mu_y, logvar_y = model.encode(y)
    logits = model.decode(reparameterize(mu_y, logvar_y))
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    recon = (bce.mean(1) if slip == "recon averaged over words" else bce.sum(1)).mean()
    zeros = torch.zeros_like(mu_y)
    kl_prior = gaussian_kl_between(mu_y, logvar_y, zeros, zeros).sum(1).mean()
    if slip != "not detached":
        mu_x, logvar_x = mu_x.detach(), logvar_x.detach()
    if slip == "reverse grounding":
        kl_ground = gaussian_kl_between(mu_y, logvar_y, mu_x, logvar_x).sum(1).mean()
    else:
        kl_ground = gaussian_kl_between(mu_x, logvar_x, mu_y, logvar_y).sum(1).mean()
    weights = {"beta ignored": (1.0, lam), "lam ignored": (beta, 1.0)}.get(slip, (beta, lam))
    loss = recon + weights[0] * kl_prior + weights[1] * kl_ground
    terms = {"loss": loss, "recon": recon, "kl_prior": kl_prior, "kl_ground": kl_ground}
    return terms["loss"] if slip == "a tensor, not a dict" else terms


right_answer("5.3")(lambda: ch05.check_scan_loss(_scan_loss))
for _slip, _message in [
    ("beta ignored", r"returned\['loss'\]"),
    ("lam ignored", r"returned\['loss'\]"),
    ("reverse grounding", r"returned\['kl_ground'\]"),
    ("recon averaged over words", r"returned\['recon'\]"),
    ("not detached", "gradients into the sound posterior"),
    ("a tensor, not a dict", "expected a dict"),
]:
    MUTANTS.append(
        Mutant(
            "5.3",
            _slip.replace(" ", "_"),
            lambda slip=_slip: ch05.check_scan_loss(lambda *a: _scan_loss(*a, slip=slip)),
            _message,
        )
    )


def _poe(mu1, logvar1, mu2, logvar2, *, cap=True, prior=1.0, weighted=True, log_sign=-1.0):
    p1, p2 = torch.exp(-logvar1), torch.exp(-logvar2)
    if cap:
        p1, p2 = p1.clamp(min=1.0), p2.clamp(min=1.0)
    precision = p1 + p2 - prior
    mu = (mu1 * p1 + mu2 * p2) / precision if weighted else (mu1 + mu2) / 2
    return mu, log_sign * torch.log(precision)


right_answer("5.4")(lambda: ch05.check_product_of_experts(_poe))
mutant(
    "5.4", "no_cap", "values differ", lambda: ch05.check_product_of_experts(lambda *a: _poe(*a, cap=False))
)
mutant(
    "5.4",
    "prior_not_removed",
    "values differ",
    lambda: ch05.check_product_of_experts(lambda *a: _poe(*a, prior=0.0)),
)
mutant(
    "5.4",
    "unweighted_mean",
    "values differ",
    lambda: ch05.check_product_of_experts(lambda *a: _poe(*a, weighted=False)),
)
mutant(
    "5.4",
    "logvar_sign_wrong",
    r"returned\[1\]: values differ.*-1 times",
    lambda: ch05.check_product_of_experts(lambda *a: _poe(*a, log_sign=1.0)),
)


# ------------------------------------------------------------------------------------- the tests

EXERCISES = ("0.1", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "2.1", "2.3", "2.5", "2.6", "2.7", "3.1", "3.2")
EXERCISES += ("4.1", "4.3", "5.1", "5.2", "5.3", "5.4")
"""Every self-checked exercise (a class written in two stubs, e.g. 2.1 and 2.2, is checked as one)."""


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_right_answer_passes(exercise, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RIGHT_ANSWERS[exercise]()
    out = capsys.readouterr().out
    assert "\N{WHITE HEAVY CHECK MARK}" in out and "\N{CROSS MARK}" not in out


@pytest.mark.parametrize("case", MUTANTS, ids=lambda m: f"{m.exercise}-{m.name}")
def test_each_mutant_fails_with_one_short_message(case):
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(SelfCheckFailed, match=f"(?s){case.message}") as failure:
            case.run()
    assert not caught_warnings, f"library warnings leaked: {[str(w.message) for w in caught_warnings]}"
    lines = failure.value._render_traceback_()
    text = "\n".join(lines)
    assert len(lines) <= MAX_LINES, text
    assert "Traceback" not in text and "course_lib/" not in text and "site-packages" not in text


def test_every_exercise_has_at_least_four_mutants():
    counts = Counter(m.exercise for m in MUTANTS)
    assert {exercise: counts[exercise] for exercise in EXERCISES if counts[exercise] < 4} == {}
    assert set(counts) <= set(EXERCISES) and set(RIGHT_ANSWERS) == set(EXERCISES)


def test_the_mistakes_named_in_issue_29_are_mutants():
    names = {m.name for m in MUTANTS}
    assert {
        "recon_averaged_over_features",
        "beta_forgotten",
        "KL_dropped",
        "elbo_with_beta",
        "DecoderIgnoringZ",
        "EncoderIgnoringHidden",
        "every_bin_edge",
        "log_of_the_number_of_classes",
        "codes_not_binned",
    } <= names
    assert any(m.exercise == "2.5" and m.message == "no gradient reaches mu or logvar" for m in MUTANTS)


# ------------------------------------------------------------ stubs and crashes, as a student sees them


@pytest.mark.parametrize("exercise", EXERCISES)
def test_an_unfilled_stub_passes_through_each_check_unchanged(exercise):
    """Every check lets the stub's own NotImplementedError out, so the notebook can show it as one line."""

    def stub(*args, **kwargs):
        raise NotImplementedError(f"Exercise {exercise}: write it")

    class Stub(nn.Module):
        def __init__(self, *args, **kwargs):
            stub()

    calls = {
        "0.1": lambda: tour.check_tone(stub),
        "1.1": lambda: ch01.check_oscillator_bank(stub),
        "1.2": lambda: ch01.check_envelope(stub),
        "1.3": lambda: ch01.check_mix_at_hnr(stub),
        "1.4": lambda: ch01.check_index_mapping(stub, _to_index),
        "1.5": lambda: ch01.check_index_mapping(_to_classes, stub),
        "1.6": lambda: ch01.check_new_factor(stub, VALUES, _centroid),
        "2.1": lambda: ch02.check_encoder(Stub),
        "2.3": lambda: ch02.check_decoder(Stub),
        "2.5": lambda: ch02.check_reparameterize(stub),
        "2.6": lambda: ch02.check_kl(stub),
        "2.7": lambda: ch02.check_negative_elbo(stub),
        "3.1": lambda: _check_loss(stub),
        "3.2": lambda: ch03.check_mig(stub),
        "4.1": lambda: ch04.check_attention(Stub),
        "4.3": lambda: ch04.check_encoder(Stub),
        "5.1": lambda: ch05.check_symbol_operator(stub),
        "5.2": lambda: ch05.check_gaussian_kl_between(stub),
        "5.3": lambda: ch05.check_scan_loss(stub),
        "5.4": lambda: ch05.check_product_of_experts(stub),
    }
    with pytest.raises(NotImplementedError) as raised:
        calls[exercise]()
    assert checks.stub_message(raised.value).startswith(
        f"\N{HOURGLASS WITH FLOWING SAND} Exercise {exercise} is"
    )


def _run_cells(*cells: str) -> None:
    """Run ``cells`` in a fresh IPython shell, as a notebook would (what it shows goes to capsys)."""
    shell = InteractiveShell.instance()
    try:
        checks.install_stub_handler()
        for cell in cells:
            shell.run_cell(cell, store_history=True)
    finally:
        InteractiveShell.clear_instance()


def test_a_stub_shows_one_line_in_ipython(capsys):
    _run_cells(
        "from course_lib.checks import ch02\n"
        'def kl_divergence(mu, logvar):\n    raise NotImplementedError("Exercise 2.6: the closed-form KL")',
        "ch02.check_kl(kl_divergence)",
    )
    shown = capsys.readouterr()
    text = (shown.out + shown.err).strip()
    assert "Exercise 2.6 is not done yet: the closed-form KL." in text
    assert "Traceback" not in text and "course_lib" not in text and len(text.splitlines()) == 1


def test_other_errors_keep_their_traceback_in_ipython(capsys):
    _run_cells('raise NotImplementedError("not a stub")')
    shown = capsys.readouterr()
    assert "not a stub" in shown.out + shown.err and "not done yet" not in shown.out + shown.err


def test_a_crash_in_the_students_code_names_the_notebook_cell(capsys):
    _run_cells(
        "from course_lib.checks import ch02\n"
        "def kl_divergence(mu, logvar):\n    return mu.sum(1) + logvar.sum(2)",
        "ch02.check_kl(kl_divergence)",
    )
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "Your code raised IndexError here:" in text and "Cell In[1], line 3, in kl_divergence" in text
    assert "logvar.sum(2)" in text and "ipython-input" not in text and "course_lib" not in text


# ------------------------------------------------ sheet 2's training check, on models really trained


class _MnistVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = Encoder(784, (200,), 20), Decoder(20, (200,), 784)


def _train_on_mnist(negative_elbo: Callable, n_digits: int = 4000, epochs: int = 2) -> _MnistVAE:
    """Sheet 2's training cell on a subset of MNIST, with the given loss."""
    from course_lib.losses import batch_x
    from course_lib.mnist import dynamic_binarize, load_mnist
    from course_lib.train import TensorLoader, train

    def loss_fn(model, batch, epoch):
        x = batch_x(batch)
        mu, logvar = model.encoder(x)
        loss = negative_elbo(x, model.decoder(reparameterize(mu, logvar)), mu, logvar)
        return loss, {"loss": loss.item()}

    train_x, _ = load_mnist("train", binarize=None, verbose=False)
    torch.manual_seed(0)
    model = _MnistVAE()
    loader = TensorLoader(torch.from_numpy(train_x[:n_digits]), batch_size=100, transform=dynamic_binarize)
    train(model, loader, epochs=epochs, loss_fn=loss_fn, device="cpu", progress=False)
    return model


@pytest.mark.slow
def test_sheet2_training_check_rejects_a_loss_averaged_over_pixels(capsys):
    from course_lib.mnist import load_mnist

    test_x, _ = load_mnist("test", binarize="static", seed=0, verbose=False)
    test_x = torch.from_numpy(test_x[:2000])
    right = _train_on_mnist(_negative_elbo)
    ch02.check_trained_vae(right.encoder, right.decoder, test_x)
    assert "\N{WHITE HEAVY CHECK MARK} trained VAE" in capsys.readouterr().out
    pixel_mean = _train_on_mnist(lambda *a: _negative_elbo(*a, pixels=lambda t: t.mean(1)))
    with pytest.raises(SelfCheckFailed, match=r"only \d of 20 latents carry more than 0.1 nats"):
        ch02.check_trained_vae(pixel_mean.encoder, pixel_mean.decoder, test_x)


def test_a_crash_in_a_render_or_a_per_example_scan_loss_is_one_message():
    def render(values):
        return np.zeros((len(values), 10)) + np.zeros(3)

    with pytest.raises(SelfCheckFailed, match="render raised ValueError"):
        ch01.check_new_factor(render, VALUES, _centroid)

    def per_example(model, y, mu_x, logvar_x, beta=1.0, lam=10.0):
        return {
            key: value.expand(len(y))
            for key, value in _scan_loss(model, y, mu_x, logvar_x, beta, lam).items()
        }

    with pytest.raises(SelfCheckFailed, match=r"must be a scalar tensor \(a batch mean\), got \(1,\)"):
        ch05.check_scan_loss(per_example)
