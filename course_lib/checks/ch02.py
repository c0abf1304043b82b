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

from course_lib.checks import Hint, compare, fail
from course_lib.losses import gaussian_kl

REPARAM_HINT = Hint(
    nudge=(
        "z must be a random draw from N(mu, sigma^2) written as a deterministic function of mu, logvar and"
        " standard normal noise, so that gradients flow; logvar is log sigma^2, not sigma."
    ),
    formula=(
        "z = mu + sigma * eps, with sigma = exp(logvar / 2) and eps ~ N(0, I) of the same shape as mu,"
        " drawn with torch's generator (so that the same torch seed gives the same z)."
    ),
)
KL_HINT = Hint(
    nudge=(
        "the KL between two Gaussians has a closed form; compute it per latent dimension, then sum over"
        " the latent dimensions (one value per example)."
    ),
    formula=(
        "KL(N(mu, sigma^2) || N(0, 1)) = 0.5 (mu^2 + sigma^2 - 1 - log sigma^2) per latent dimension,"
        " with sigma^2 = exp(logvar); sum over the latent dimensions (dim 1): the result is [B]."
    ),
)
ELBO_HINT = Hint(
    nudge=(
        "per example, add the reconstruction term (summed over every pixel) and the KL; then average over"
        " the batch to get one scalar. Never average over pixels: that acts like beta = 784."
    ),
    formula=(
        "loss = (1/B) sum_b [ sum_pixels BCE(sigmoid(logits_b), x_b) + KL_b ], where"
        " BCE(p, x) = -(x log p + (1 - x) log(1 - p)) computed from the logits (torch has a numerically"
        " stable version 'with logits') and KL_b is your kl_divergence."
    ),
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
        fail(
            "reparameterize",
            f"20,000 draws have mean {[round(v, 3) for v in mean.tolist()]} and std"
            f" {[round(v, 3) for v in std.tolist()]}; expected mean [1, -2] and std [1, {np.e:.3f}].",
            REPARAM_HINT,
        )
    z.sum().backward()
    if mu.grad is None or logvar.grad is None:
        fail("reparameterize", "no gradient reaches mu or logvar; expected both to get one.", REPARAM_HINT)


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
    name: str,
    module: nn.Module,
    inputs: torch.Tensor,
    expect: Callable[[object, list[torch.Tensor]], str | None],
    hint: Hint,
) -> None:
    """Run ``module`` on ``inputs``; ``expect(output, linear_outputs)`` returns a problem or None.

    ``linear_outputs`` are the outputs of every ``nn.Linear`` called during the forward pass, in order.
    Then check that every parameter receives a gradient.
    """
    if not isinstance(module, nn.Module):
        fail(name, f"expected an nn.Module, got {type(module).__name__}.", hint)
    linear_outputs: list[torch.Tensor] = []
    hooks = [
        layer.register_forward_hook(lambda _layer, _inputs, out: linear_outputs.append(out))
        for layer in module.modules()
        if isinstance(layer, nn.Linear)
    ]
    try:
        out = module(inputs)
    except NotImplementedError:
        raise
    except Exception as error:
        fail(name, f"forward raised {error!r} on inputs of shape {tuple(inputs.shape)}.", hint, cause=error)
    finally:
        for handle in hooks:
            handle.remove()
    problem = expect(out, linear_outputs)
    if problem:
        fail(name, f"{problem}.", hint)
    params = list(module.parameters())
    if not params:
        fail(name, "the module has no parameters; expected nn.Linear layers.", hint)
    total = sum(o.sum() for o in (out if isinstance(out, tuple) else (out,)))
    total.backward()
    if any(p.grad is None for p in params):
        fail(name, "some parameters receive no gradient; expected every layer to be used in forward.", hint)


def _is_linear_output(tensor: torch.Tensor, linear_outputs: list[torch.Tensor]) -> bool:
    """True when ``tensor`` is (a column block of) the output of one of the ``nn.Linear`` layers called."""
    for out in linear_outputs:
        if out.shape[:-1] != tensor.shape[:-1] or out.shape[-1] < tensor.shape[-1]:
            continue
        width = tensor.shape[-1]
        for start in range(0, out.shape[-1] - width + 1, width):
            if torch.equal(out[..., start : start + width], tensor):
                return True
    return False


ENCODER_HINT = Hint(
    nudge=(
        "images arrive as [B, 1, H, W] (or any [B, ...] shape): flatten each example before the first"
        " layer, and give mu and logvar two separate linear heads with no activation after them."
    ),
    formula=(
        "h = tanh(W_1 flatten(x) + b_1) (one such layer per hidden width), then mu = W_mu h + b_mu and"
        " logvar = W_logvar h + b_logvar, each [B, z_dim]; flatten(x) turns [B, ...] into [B, in_dim],"
        " and forward returns the tuple (mu, logvar)."
    ),
)
DECODER_HINT = Hint(
    nudge=(
        "the decoder returns logits, the numbers before any sigmoid: the Bernoulli loss applies the"
        " sigmoid itself. Nothing may follow the last linear layer."
    ),
    formula=(
        "h = tanh(W_1 z + b_1) (one such layer per hidden width), then logits = W_out h + b_out,"
        " [B, out_dim], returned as they are: no sigmoid, no scaling, no other function after the"
        " last linear layer."
    ),
)

ENCODER_INPUT_SHAPE = (5, 1, 3, 4)
"""The encoder check feeds images shaped like MNIST's [B, 1, H, W] (in_dim = 12) to test the flatten."""


def check_encoder(encoder_class: Callable[..., nn.Module]) -> None:
    """Build ``encoder_class(in_dim=12, hidden=(16,), z_dim=3)`` and check ``forward(x) -> (mu, logvar)``.

    ``x`` is a batch of 5 "images" [5, 1, 3, 4], so forward must flatten each example to 12 values;
    mu and logvar must come straight out of linear layers (no activation on the heads).
    """
    torch.manual_seed(0)
    encoder = encoder_class(12, (16,), 3)
    x = torch.rand(*ENCODER_INPUT_SHAPE)

    def expect(out: object, linear_outputs: list[torch.Tensor]) -> str | None:
        if not isinstance(out, tuple) or len(out) != 2:
            return f"forward must return a tuple (mu, logvar), got {type(out).__name__}"
        if any(not isinstance(t, torch.Tensor) or t.shape != (5, 3) for t in out):
            shapes = [tuple(getattr(t, "shape", ())) for t in out]
            return f"mu and logvar must be [batch=5, z_dim=3], got {shapes}"
        if torch.allclose(out[0], out[1]):
            return "mu and logvar are identical: they need two separate heads"
        if torch.allclose(out[0][0], out[0][1]):
            return "two different inputs gave the same mu: does forward use x?"
        for label, tensor in zip(("mu", "logvar"), out, strict=True):
            if not _is_linear_output(tensor, linear_outputs):
                return f"{label} is not the output of a linear layer: expected no activation after the heads"
        return None

    _check_module("Encoder", encoder, x, expect, ENCODER_HINT)
    print(
        "\N{WHITE HEAVY CHECK MARK} Encoder: returns (mu, logvar) of shape [B, z_dim] and trains end to end."
    )


def check_decoder(decoder_class: Callable[..., nn.Module]) -> None:
    """Build ``decoder_class(z_dim=3, hidden=(16,), out_dim=12)``; check ``forward(z) -> logits [B, 12]``.

    The logits must be the output of the last linear layer, unchanged (no sigmoid, no scaling).
    """
    torch.manual_seed(0)
    decoder = decoder_class(3, (16,), 12)
    z = 20.0 * torch.randn(64, 3)

    def expect(out: object, linear_outputs: list[torch.Tensor]) -> str | None:
        if not isinstance(out, torch.Tensor) or out.shape != (64, 12):
            return (
                f"forward must return logits [batch=64, out_dim=12], got {tuple(getattr(out, 'shape', ()))}"
            )
        if out.min() >= 0 and out.max() <= 1:
            return "every output lies in [0, 1]: return logits, not probabilities (no sigmoid at the end)"
        if not linear_outputs or not torch.equal(out, linear_outputs[-1]):
            return (
                "the output is not the last linear layer's output: expected logits returned as they are"
                " (something, e.g. a sigmoid or a scaling, is applied after the last nn.Linear)"
            )
        return None

    _check_module("Decoder", decoder, z, expect, DECODER_HINT)
    print("\N{WHITE HEAVY CHECK MARK} Decoder: returns unbounded logits [B, out_dim] and trains end to end.")
