"""Self-checks of chapter 2 (solutions/02_vae_mnist.ipynb): a VAE written by hand.

Taught in chapters/02_vae_mnist.ipynb::

    from course_lib.checks import ch02
    ch02.check_encoder(Encoder)                  # Encoder(in_dim, hidden, z_dim) -> forward(x) = (mu, logvar)
    ch02.check_decoder(Decoder)                  # Decoder(z_dim, hidden, out_dim) -> forward(z) = logits
    ch02.check_reparameterize(reparameterize)    # (mu, logvar) -> z = mu + exp(logvar / 2) * eps
    ch02.check_kl(kl_divergence)                 # (mu, logvar) -> KL(q || N(0, I)) per example, [B]
    ch02.check_negative_elbo(negative_elbo)      # (x, logits, mu, logvar) -> scalar: mean_B(recon + KL)

The module checks compare shapes and behaviour (any hidden layers are allowed); the function checks
compare values with the course's :mod:`course_lib.losses` on random inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import SelfCheckFailed, compare
from course_lib.losses import gaussian_kl

REPARAM_HINT = (
    "return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu): the standard deviation is exp(logvar / 2),"
    " and the noise must be drawn with torch (randn_like) so that the same seed gives the same z."
)
KL_HINT = (
    "KL(N(mu, sigma^2) || N(0, 1)) = 0.5 * (mu^2 + sigma^2 - 1 - log sigma^2) for each latent dimension,"
    " with sigma^2 = exp(logvar); sum over the latent dimensions (dim=1) and return one value per example."
)
ELBO_HINT = (
    "per example: the reconstruction term is F.binary_cross_entropy_with_logits(logits, x, reduction='none')"
    " summed over every pixel, plus your kl_divergence(mu, logvar); then average over the batch (a scalar)."
    " Never average over pixels: that divides the reconstruction by 784 and acts like beta = 784."
)


def reference_reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The course's reparameterisation (same as :func:`course_lib.models.vae.reparameterize`)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def reference_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per example, ``[B]``: :func:`course_lib.losses.gaussian_kl` summed over z."""
    return gaussian_kl(mu, logvar).sum(dim=1)


def reference_negative_elbo(
    x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """The Bernoulli VAE's loss: mean over the batch of (BCE summed over pixels + KL summed over z)."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(len(x), -1).sum(1)
    return (recon + reference_kl(mu, logvar)).mean()


def _gaussian_inputs(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    batch, z_dim = int(rng.integers(1, 9)), int(rng.integers(1, 12))
    mu = torch.from_numpy(rng.normal(0.0, 1.5, size=(batch, z_dim)).astype(np.float32))
    logvar = torch.from_numpy(rng.uniform(-4.0, 2.0, size=(batch, z_dim)).astype(np.float32))
    return mu, logvar


def check_reparameterize(student_fn: Callable) -> None:
    """Same seed, same z as the reference; mean mu and std exp(logvar / 2); gradients reach mu and logvar."""

    def seeded(fn: Callable) -> Callable:
        def call(mu: torch.Tensor, logvar: torch.Tensor, seed: int) -> torch.Tensor:
            torch.manual_seed(seed)
            return fn(mu, logvar)

        return call

    def inputs(rng: np.random.Generator) -> tuple:
        return (*_gaussian_inputs(rng), int(rng.integers(0, 2**31)))

    compare(
        seeded(student_fn), seeded(reference_reparameterize), inputs, name="reparameterize", hint=REPARAM_HINT
    )
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 2.0]], requires_grad=True)
    z = student_fn(mu.expand(20000, 2), logvar.expand(20000, 2))
    mean, std = z.mean(0).detach(), z.std(0).detach()
    if not torch.allclose(mean, mu.detach()[0], atol=0.05) or not torch.allclose(
        std, torch.tensor([1.0, np.e]), atol=0.05
    ):
        raise SelfCheckFailed(
            f"reparameterize: 20,000 draws have mean {mean.tolist()} and std {std.tolist()}, expected "
            f"[1, -2] and [1, {np.e:.3f}].\nHint: {REPARAM_HINT}"
        )
    z.sum().backward()
    if mu.grad is None or logvar.grad is None:
        raise SelfCheckFailed(f"reparameterize: no gradient reaches mu or logvar.\nHint: {REPARAM_HINT}")


def check_kl(student_fn: Callable) -> None:
    """Compare ``kl_divergence(mu, logvar) -> [B]`` with the analytic KL summed over latent dimensions."""
    compare(student_fn, reference_kl, _gaussian_inputs, name="kl_divergence", hint=KL_HINT, atol=1e-4)


def _elbo_inputs(rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    mu, logvar = _gaussian_inputs(rng)
    batch, n_pixels = len(mu), int(rng.integers(4, 50))
    x = torch.from_numpy((rng.random((batch, n_pixels)) < 0.3).astype(np.float32))
    logits = torch.from_numpy(rng.normal(0.0, 3.0, size=(batch, n_pixels)).astype(np.float32))
    return x, logits, mu, logvar


def check_negative_elbo(student_fn: Callable) -> None:
    """Compare ``negative_elbo(x, logits, mu, logvar) -> scalar`` with the reference reduction."""

    def scalar(fn: Callable) -> Callable:
        def call(*args: torch.Tensor) -> torch.Tensor:
            out = fn(*args)
            if not isinstance(out, torch.Tensor) or out.dim() != 0:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(f"expected a scalar tensor (the batch mean), got {shape}")
            return out

        return call

    compare(
        scalar(student_fn),
        reference_negative_elbo,
        _elbo_inputs,
        name="negative_elbo",
        hint=ELBO_HINT,
        atol=1e-3,
    )


def _check_module(
    name: str, module: nn.Module, inputs: torch.Tensor, expect: Callable[[object], str | None], hint: str
) -> None:
    """Run ``module`` on ``inputs``; ``expect(output)`` returns a problem or None; then check gradients."""
    if not isinstance(module, nn.Module):
        raise SelfCheckFailed(f"{name}: expected an nn.Module, got {type(module).__name__}.\nHint: {hint}")
    try:
        out = module(inputs)
    except NotImplementedError:
        raise
    except Exception as error:
        raise SelfCheckFailed(f"{name}: forward raised {error!r}.\nHint: {hint}") from error
    problem = expect(out)
    if problem:
        raise SelfCheckFailed(f"{name}: {problem}.\nHint: {hint}")
    params = list(module.parameters())
    if not params:
        raise SelfCheckFailed(f"{name}: the module has no parameters (use nn.Linear layers).\nHint: {hint}")
    total = sum(o.sum() for o in (out if isinstance(out, tuple) else (out,)))
    total.backward()
    if any(p.grad is None for p in params):
        raise SelfCheckFailed(f"{name}: some parameters receive no gradient.\nHint: {hint}")


ENCODER_HINT = (
    "subclass nn.Module; in __init__ build hidden nn.Linear layers with an activation, then two heads"
    " nn.Linear(last_hidden, z_dim) for mu and for logvar; forward(x) flattens x to [B, in_dim] and returns"
    " the tuple (mu, logvar), each [B, z_dim], with no activation on the heads (logvar may be negative)."
)
DECODER_HINT = (
    "subclass nn.Module; hidden nn.Linear layers with an activation, then nn.Linear(last_hidden, out_dim);"
    " forward(z) returns logits [B, out_dim] with NO sigmoid: the Bernoulli loss applies it itself."
)


def check_encoder(encoder_class: Callable[..., nn.Module]) -> None:
    """Build ``encoder_class(in_dim=12, hidden=(16,), z_dim=3)`` and check ``forward(x) -> (mu, logvar)``."""
    torch.manual_seed(0)
    encoder = encoder_class(12, (16,), 3)
    x = torch.rand(5, 12)

    def expect(out: object) -> str | None:
        if not isinstance(out, tuple) or len(out) != 2:
            return f"forward must return a tuple (mu, logvar), got {type(out).__name__}"
        if any(not isinstance(t, torch.Tensor) or t.shape != (5, 3) for t in out):
            shapes = [tuple(getattr(t, "shape", ())) for t in out]
            return f"mu and logvar must be [batch=5, z_dim=3], got {shapes}"
        if torch.allclose(out[0], out[1]):
            return "mu and logvar are identical: they need two separate heads"
        if torch.allclose(out[0][0], out[0][1]):
            return "two different inputs gave the same mu: does forward use x?"
        return None

    _check_module("Encoder", encoder, x, expect, ENCODER_HINT)
    print(
        "\N{WHITE HEAVY CHECK MARK} Encoder: returns (mu, logvar) of shape [B, z_dim] and trains end to end."
    )


def check_decoder(decoder_class: Callable[..., nn.Module]) -> None:
    """Build ``decoder_class(z_dim=3, hidden=(16,), out_dim=12)``; check ``forward(z) -> logits [B, 12]``."""
    torch.manual_seed(0)
    decoder = decoder_class(3, (16,), 12)
    z = 20.0 * torch.randn(64, 3)

    def expect(out: object) -> str | None:
        if not isinstance(out, torch.Tensor) or out.shape != (64, 12):
            return (
                f"forward must return logits [batch=64, out_dim=12], got {tuple(getattr(out, 'shape', ()))}"
            )
        if out.min() >= 0 and out.max() <= 1:
            return "every output lies in [0, 1]: return logits, not probabilities (no sigmoid at the end)"
        return None

    _check_module("Decoder", decoder, z, expect, DECODER_HINT)
    print("\N{WHITE HEAVY CHECK MARK} Decoder: returns unbounded logits [B, out_dim] and trains end to end.")
