"""Self-checks of chapter 2 (solutions/02_vae_mnist.ipynb): a VAE written by hand.

Taught in chapters/02_vae_mnist.ipynb::

    from course_lib.checks import ch02
    ch02.check_encoder(Encoder)                  # Encoder(in_dim, hidden, z_dim) -> forward(x) = (mu, logvar)
    ch02.check_decoder(Decoder)                  # Decoder(z_dim, hidden, out_dim) -> forward(z) = logits
    ch02.check_reparameterize(reparameterize)    # (mu, logvar) -> z = mu + exp(logvar / 2) * eps
    ch02.check_kl(kl_divergence)                 # (mu, logvar) -> KL(q || N(0, I)) per example, [B]
    ch02.check_negative_elbo(negative_elbo)      # (x, logits, mu, logvar) -> scalar: mean_B(recon + KL)
    ch02.check_trained_vae(model.encoder, model.decoder, test_x)  # ELBO range and active latents

The module checks compare shapes and behaviour (the widths in `hidden`, an activation, outputs that
depend on the input, gradients everywhere); the function checks
compare values with the course's :mod:`course_lib.losses` on random inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import Hint, call_student, compare, fail, self_check
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


def _check_gradient_reaches_inputs(student_fn: Callable) -> None:
    """Gradients must reach mu and logvar, each with the value of the reparameterisation's derivative."""
    mu = torch.tensor([[1.0, -2.0, 0.5]], requires_grad=True)
    logvar = torch.tensor([[0.0, 2.0, -1.0]], requires_grad=True)
    z = call_student("reparameterize", student_fn, mu, logvar, hint=REPARAM_HINT)
    if not isinstance(z, torch.Tensor) or z.shape != mu.shape:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        fail(
            "reparameterize",
            f"expected a tensor shaped like mu, {tuple(mu.shape)}, got {shape}.",
            REPARAM_HINT,
        )
    grads = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True) if z.requires_grad else (None, None)
    missing = [name for name, grad in zip(("mu", "logvar"), grads, strict=True) if grad is None]
    if missing:
        fail(
            "reparameterize",
            f"no gradient reaches {' or '.join(missing)}: z must be computed from mu and logvar themselves"
            " (not detached copies, nor NumPy values), so that training can move them.",
            REPARAM_HINT,
        )
    expected_mu = torch.ones_like(mu)
    expected_logvar = 0.5 * (z.detach() - mu.detach())
    if not torch.allclose(grads[0], expected_mu) or not torch.allclose(grads[1], expected_logvar, atol=1e-5):
        fail(
            "reparameterize",
            "the gradients are not those of mu + exp(logvar / 2) * eps: dz/dmu should be 1 and dz/dlogvar"
            " (z - mu) / 2.",
            REPARAM_HINT,
        )


@self_check
def check_reparameterize(student_fn: Callable) -> None:
    """Gradients reach mu and logvar; same seed, same z as the reference; mean mu and std exp(logvar / 2)."""
    _check_gradient_reaches_inputs(student_fn)

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


@self_check
def check_kl(student_fn: Callable) -> None:
    """Compare ``kl_divergence(mu, logvar) -> [B]`` with the analytic KL summed over latent dimensions."""
    compare(student_fn, reference_kl, _gaussian_inputs, name="kl_divergence", hint=KL_HINT, atol=1e-4)


def _elbo_inputs(rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    mu, logvar = _gaussian_inputs(rng)
    batch, n_pixels = len(mu), int(rng.integers(4, 50))
    x = torch.from_numpy((rng.random((batch, n_pixels)) < 0.3).astype(np.float32))
    logits = torch.from_numpy(rng.normal(0.0, 3.0, size=(batch, n_pixels)).astype(np.float32))
    return x, logits, mu, logvar


@self_check
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


def _build(name: str, module_class: Callable[..., nn.Module], args: tuple, hint: Hint) -> nn.Module:
    """``module_class(*args)`` under a fixed seed, or a failed check naming the student's error."""
    torch.manual_seed(0)
    module = call_student(name, module_class, *args, hint=hint, what=f"{name}{args}")
    if not isinstance(module, nn.Module):
        fail(name, f"expected an nn.Module, got {type(module).__name__}.", hint)
    return module


def _forward(
    name: str, module: nn.Module, inputs: torch.Tensor, hint: Hint
) -> tuple[object, list[torch.Tensor]]:
    """Run ``module`` on ``inputs``: its output and the outputs of every ``nn.Linear`` called, in order."""
    linear_outputs: list[torch.Tensor] = []
    hooks = [
        layer.register_forward_hook(lambda _layer, _inputs, out: linear_outputs.append(out))
        for layer in module.modules()
        if isinstance(layer, nn.Linear)
    ]
    try:
        out = call_student(
            name, module, inputs, hint=hint, what=f"forward on inputs of shape {tuple(inputs.shape)}"
        )
    finally:
        for handle in hooks:
            handle.remove()
    return out, linear_outputs


def _check_module(
    name: str,
    module_class: Callable[..., nn.Module],
    args: tuple,
    inputs: torch.Tensor,
    expect: Callable[[object, list[torch.Tensor]], str | None],
    hint: Hint,
) -> None:
    """Build ``module_class(*args)`` (``args[1]`` is ``hidden``) and check it on ``inputs`` row by row.

    ``expect(output, linear_outputs)`` returns a problem or None (``linear_outputs``: the outputs of
    every ``nn.Linear`` called, in order). Then: the hidden layers have the widths in
    ``hidden``, in order; the output is not an affine function of the input (an activation follows each
    hidden layer); every parameter receives a gradient.
    """
    module = _build(name, module_class, args, hint)
    out, linear_outputs = _forward(name, module, inputs, hint)
    problem = expect(out, linear_outputs)
    if problem:
        fail(name, f"{problem}.", hint)
    hidden = list(args[1])
    widths = [o.shape[-1] for o in linear_outputs]
    if widths[: len(hidden)] != hidden:
        fail(
            name,
            f"with hidden = {tuple(hidden)} the linear layers' output widths are {widths}, in the order"
            f" forward uses them; expected them to start with {hidden}: one hidden layer per entry of"
            " `hidden`, of that width.",
            hint,
        )
    first = out[0] if isinstance(out, tuple) else out
    with torch.no_grad():
        middle = module(0.5 * (inputs[:1] + inputs[1:2]))
    middle = middle[0] if isinstance(middle, tuple) else middle
    if torch.allclose(middle[0], 0.5 * (first[0] + first[1]), rtol=1e-5, atol=1e-6):
        fail(name, "the output is an affine function of the input: put a Tanh after each hidden layer.", hint)
    params = list(module.parameters())
    if not params:
        fail(name, "the module has no parameters; expected nn.Linear layers.", hint)
    sum(o.sum() for o in (out if isinstance(out, tuple) else (out,))).backward()
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
HIDDEN = (9, 7)
"""The ``hidden`` argument of the module checks: two layers of different widths."""


@self_check
def check_encoder(encoder_class: Callable[..., nn.Module]) -> None:
    """Build ``encoder_class(in_dim=12, hidden=(9, 7), z_dim=3)`` and check ``forward(x) -> (mu, logvar)``.

    ``x`` is a batch of 5 "images" [5, 1, 3, 4], so forward must flatten each example to 12 values;
    mu and logvar must come straight out of linear layers (no activation on the heads), and every
    width in ``hidden`` must be used.
    """
    torch.manual_seed(0)
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
            return "two different inputs gave the same mu: forward must compute mu from x"
        for label, tensor in zip(("mu", "logvar"), out, strict=True):
            if not _is_linear_output(tensor, linear_outputs):
                return f"{label} is not the output of a linear layer: expected no activation after the heads"
        return None

    _check_module("Encoder", encoder_class, (12, HIDDEN, 3), x, expect, ENCODER_HINT)
    print(
        "\N{WHITE HEAVY CHECK MARK} Encoder: returns (mu, logvar) of shape [B, z_dim], uses its hidden"
        " widths and trains end to end."
    )


@self_check
def check_decoder(decoder_class: Callable[..., nn.Module]) -> None:
    """Build ``decoder_class(z_dim=3, hidden=(9, 7), out_dim=12)``; check ``forward(z) -> logits [B, 12]``.

    The logits must depend on z and be the output of the last linear layer, unchanged (no sigmoid, no
    scaling); every width in ``hidden`` must be used.
    """
    torch.manual_seed(0)
    z = 20.0 * torch.randn(64, 3)

    def expect(out: object, linear_outputs: list[torch.Tensor]) -> str | None:
        if not isinstance(out, torch.Tensor) or out.shape != (64, 12):
            return (
                f"forward must return logits [batch=64, out_dim=12], got {tuple(getattr(out, 'shape', ()))}"
            )
        if torch.allclose(out[0], out[1:]):
            return "every z gives the same logits: the output must be computed from z"
        if out.min() >= 0 and out.max() <= 1:
            return "every output lies in [0, 1]: return logits, not probabilities (no sigmoid at the end)"
        if not linear_outputs or not torch.equal(out, linear_outputs[-1]):
            return (
                "the output is not the last linear layer's output: expected logits returned as they are"
                " (something, e.g. a sigmoid or a scaling, is applied after the last nn.Linear)"
            )
        return None

    _check_module("Decoder", decoder_class, (3, HIDDEN, 12), z, expect, DECODER_HINT)
    print(
        "\N{WHITE HEAVY CHECK MARK} Decoder: returns logits [B, out_dim] that depend on z, uses its hidden"
        " widths and trains end to end."
    )


ELBO_RANGE = (-220.0, -60.0)
"""Test ELBO (nats per digit) a working MNIST VAE reaches after one to ten epochs: K&W's curves run
from about -150 to -100; a bound above -60 nats is not a bound in nats per digit."""
ACTIVE_NATS, MIN_ACTIVE = 0.1, 5
"""A latent is active when its mean KL on the test digits exceeds 0.1 nats; at least 5 must be."""


@self_check
def check_trained_vae(encoder: nn.Module, decoder: nn.Module, test_x: torch.Tensor) -> None:
    """Judge a trained MNIST VAE with the course's own ELBO (not the student's loss) on ``test_x``.

    Passes when the test ELBO (one sample of z per digit) lies in :data:`ELBO_RANGE` and at least
    :data:`MIN_ACTIVE` latents carry more than :data:`ACTIVE_NATS` nats; prints the two numbers.
    """
    torch.manual_seed(0)
    with torch.no_grad():
        mu, logvar = encoder(test_x)
        logits = decoder(reference_reparameterize(mu, logvar))
        elbo = -reference_negative_elbo(test_x.reshape(len(test_x), -1), logits, mu, logvar).item()
        kl_per_latent = gaussian_kl(mu, logvar).mean(0)
    active, z_dim = int((kl_per_latent > ACTIVE_NATS).sum()), len(kl_per_latent)
    low, high = ELBO_RANGE
    if elbo > high:
        fail(
            "trained VAE",
            f"the test ELBO, computed by the course, is {elbo:.2f} nats, above {high:g}: no VAE explains"
            " a binary digit that well. Does your loss average over pixels instead of summing them?",
            ELBO_HINT,
        )
    if active < MIN_ACTIVE:
        fail(
            "trained VAE",
            f"only {active} of {z_dim} latents carry more than {ACTIVE_NATS:g} nats on the test digits;"
            f" expected at least {MIN_ACTIVE}: the KL weighs too much against the reconstruction.",
            ELBO_HINT,
        )
    if elbo < low:
        fail(
            "trained VAE",
            f"the test ELBO, computed by the course, is {elbo:.1f} nats, below {low:g}: the model has not"
            " learned (a blank decoder scores -543 nats). Check the loss and that it decreases.",
            ELBO_HINT,
        )
    print(
        f"\N{WHITE HEAVY CHECK MARK} trained VAE: test ELBO between {low:g} and {high:g} nats (computed by"
        f" the course), at least {MIN_ACTIVE} of {z_dim} latents above {ACTIVE_NATS:g} nats."
    )
