"""A variational autoencoder from plain ``nn.Module`` layers: encoder, reparameterisation, decoder.

Taught in chapters/02_vae_mnist.ipynb; chapters 3-5 reuse :class:`VAE` unchanged.

The contract that lets other chapters swap parts in:

* an **encoder** is any module with ``forward(x) -> (mu, logvar)``, each ``[B, z_dim]``
  (the diagonal Gaussian posterior q(z|x) = N(mu, diag(exp(logvar))));
* a **decoder** is any module with ``forward(z) -> params`` shaped like ``x``: Bernoulli logits
  (``likelihood="bernoulli"``) or Gaussian means (``likelihood="gaussian"``);
* :class:`VAE` glues them with the reparameterisation ``z = mu + exp(logvar / 2) * eps``.

The losses (ELBO, KL, IWAE) live in :mod:`course_lib.losses`; they read ``model.likelihood`` and
``model.scale`` so that every chapter scores a model the same way.

Likelihoods. Binary images (MNIST) use a Bernoulli per pixel, as Kingma & Welling did. Log-mel
features (chapter 1: values in [0, 1], 1 unit = 100 dB) use a Gaussian with a **fixed** standard
deviation ``scale`` shared by every bin (default 0.1, i.e. 10 dB): the reconstruction term is then
``||x - mean||^2 / (2 scale^2)`` plus a constant, so ``scale`` sets how much reconstruction
weighs against the KL (a smaller scale acts like a smaller beta). ``learn_scale=True`` learns one
shared log-scale instead (the "sigma-VAE" calibration); chapter 2 compares both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from course_lib.validation import positive_int

LIKELIHOODS = ("bernoulli", "gaussian")
_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "softplus": nn.Softplus, "gelu": nn.GELU}


class VAEOutput(NamedTuple):
    """What :meth:`VAE.forward` returns: decoder ``params`` (shaped like x), ``mu``, ``logvar``, ``z``."""

    params: Tensor
    mu: Tensor
    logvar: Tensor
    z: Tensor


def _shape(value: int | Sequence[int], name: str) -> tuple[int, ...]:
    """Normalise an int or a sequence of positive ints into a shape tuple."""
    shape = (value,) if isinstance(value, int) else tuple(value)
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"{name} must be a positive int or a sequence of positive ints, got {value!r}.")
    return shape


def _mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with ``activation`` after each one."""
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}.")
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), _ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Gaussian encoder q(z|x): flatten x, hidden layers, then two linear heads for mu and logvar.

    ``MLPEncoder(784, hidden=(500,), z_dim=20, activation="tanh")`` is Kingma & Welling's MNIST
    encoder. ``in_shape`` is the shape of one example (``784`` or ``(64, 32)``).
    """

    def __init__(
        self,
        in_shape: int | Sequence[int],
        hidden: Sequence[int] = (500,),
        z_dim: int = 20,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        self.in_shape = _shape(in_shape, "in_shape")
        self.z_dim = positive_int(z_dim, "z_dim")
        hidden = _shape(tuple(hidden), "hidden") if len(tuple(hidden)) else ()
        n_in = math.prod(self.in_shape)
        self.body = _mlp((n_in, *hidden), activation)
        last = hidden[-1] if hidden else n_in
        self.mu = nn.Linear(last, self.z_dim)
        self.logvar = nn.Linear(last, self.z_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(mu, logvar)``, each ``[B, z_dim]``, for a batch ``x`` of shape ``[B, *in_shape]``."""
        if tuple(x.shape[1:]) != self.in_shape and tuple(x.shape[1:]) != (math.prod(self.in_shape),):
            raise ValueError(f"x must be [batch, *{self.in_shape}], got {tuple(x.shape)}.")
        h = self.body(x.reshape(x.shape[0], -1))
        return self.mu(h), self.logvar(h)


class MLPDecoder(nn.Module):
    """Decoder p(x|z): hidden layers, then a linear layer reshaped to ``out_shape``.

    The output has no squashing: Bernoulli logits or Gaussian means, as :class:`VAE` expects.
    """

    def __init__(
        self,
        z_dim: int,
        hidden: Sequence[int] = (500,),
        out_shape: int | Sequence[int] = 784,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        self.z_dim = positive_int(z_dim, "z_dim")
        self.out_shape = _shape(out_shape, "out_shape")
        hidden = _shape(tuple(hidden), "hidden") if len(tuple(hidden)) else ()
        self.body = _mlp((self.z_dim, *hidden), activation)
        self.out = nn.Linear(hidden[-1] if hidden else self.z_dim, math.prod(self.out_shape))

    def forward(self, z: Tensor) -> Tensor:
        """Map ``z`` ``[B, z_dim]`` to parameters ``[B, *out_shape]``."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [batch, z_dim={self.z_dim}], got {tuple(z.shape)}.")
        return self.out(self.body(z)).reshape(z.shape[0], *self.out_shape)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """Draw ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and ``sigma = exp(logvar / 2)``.

    The noise enters additively, so gradients flow to ``mu`` and ``logvar`` (the
    reparameterisation trick).
    """
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class VAE(nn.Module):
    """Encoder + reparameterisation + decoder, with the likelihood that scores the decoder's output.

    ``likelihood`` is ``"bernoulli"`` (decoder gives logits) or ``"gaussian"`` (decoder gives means;
    standard deviation ``scale``, fixed unless ``learn_scale=True``, then one learned scalar
    initialised at ``scale``). ``z_dim`` is read from the encoder's or decoder's ``z_dim`` attribute
    unless given.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: str = "bernoulli",
        *,
        scale: float = 0.1,
        learn_scale: bool = False,
        z_dim: int | None = None,
    ) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}.")
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}.")
        if z_dim is None:
            z_dim = getattr(encoder, "z_dim", None) or getattr(decoder, "z_dim", None)
            if z_dim is None:
                raise ValueError("Pass z_dim=...: neither the encoder nor the decoder has a z_dim attribute.")
        self.z_dim = positive_int(int(z_dim), "z_dim")
        self.encoder, self.decoder, self.likelihood = encoder, decoder, likelihood
        log_scale = torch.tensor(math.log(scale), dtype=torch.float32)
        self.learn_scale = bool(learn_scale) and likelihood == "gaussian"
        if self.learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    @property
    def scale(self) -> Tensor:
        """The Gaussian decoder's standard deviation (a scalar tensor; unused by a Bernoulli decoder)."""
        return self.log_scale.exp()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x): return ``(mu, logvar)``, each ``[B, z_dim]``."""
        mu, logvar = self.encoder(x)
        if mu.shape != (x.shape[0], self.z_dim) or logvar.shape != mu.shape:
            raise ValueError(
                f"the encoder must return (mu, logvar) of shape [{x.shape[0]}, {self.z_dim}], "
                f"got {tuple(mu.shape)} and {tuple(logvar.shape)}."
            )
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """p(x|z): return the decoder's parameters (logits or means) for ``z`` ``[B, z_dim]``."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> VAEOutput:
        """Encode, draw one z by reparameterisation, decode."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return VAEOutput(self.decode(z), mu, logvar, z)

    def mean(self, params: Tensor) -> Tensor:
        """The mean of p(x|z) from decoder parameters: ``sigmoid(logits)`` or the Gaussian mean."""
        return torch.sigmoid(params) if self.likelihood == "bernoulli" else params

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode the posterior mean of ``x`` and return the mean of p(x|z) (for plots)."""
        return self.mean(self.decode(self.encode(x)[0]))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` codes from the prior N(0, I) and return the mean of p(x|z) for each."""
        z = torch.randn(positive_int(n, "n"), self.z_dim, generator=generator, device=self.log_scale.device)
        return self.mean(self.decode(z))


def mlp_vae(
    in_shape: int | Sequence[int],
    z_dim: int,
    hidden: Sequence[int] = (256,),
    *,
    activation: str = "relu",
    likelihood: str = "gaussian",
    scale: float = 0.1,
    learn_scale: bool = False,
) -> VAE:
    """A :class:`VAE` with an MLP encoder (layers ``hidden``) and the mirrored MLP decoder.

    The one MLP VAE builder of the course: ``mlp_vae(784, 20, (500,), activation="tanh",
    likelihood="bernoulli")`` is Kingma & Welling's MNIST model, ``mlp_vae((64, 32), 10)`` a
    Gaussian VAE over log-mels (standard deviation ``scale``).
    """
    hidden = tuple(hidden)
    encoder = MLPEncoder(in_shape, hidden, z_dim, activation)
    decoder = MLPDecoder(z_dim, hidden[::-1], in_shape, activation)
    return VAE(encoder, decoder, likelihood, scale=scale, learn_scale=learn_scale)
