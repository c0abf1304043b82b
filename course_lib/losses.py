"""The ELBO, its KL term, the beta-VAE objective and the importance-weighted (IWAE) bound.

Taught in chapters/02_vae_mnist.ipynb (ELBO, KL, IWAE) and chapters/03_beta_vae.ipynb (beta, capacity).

Reduction (one rule everywhere). Every term is first computed **per example**, summed over the data
dimensions (pixels, mel bins x frames) and over the latent dimensions; only then is it **averaged
over the batch**. So ``recon``, ``kl`` and ``elbo`` are in nats per example, the numbers papers
report, and ``beta`` means what Higgins et al. meant. Averaging over pixels while summing over
latents (a common slip) silently multiplies the KL weight by the number of pixels.

Sign convention: ``recon`` is the negative log-likelihood -log p(x|z) (>= 0 for a Bernoulli),
``kl`` is KL(q(z|x) || N(0, I)) >= 0, and ``elbo = -(recon + kl)`` is a lower bound on log p(x).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_2PI = math.log(2 * math.pi)


def batch_x(batch: Any) -> Tensor:
    """The input tensor of a batch: the batch itself, or the first element of an ``(x, y, ...)`` tuple."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """Analytic KL(N(mu, diag(exp(logvar))) || N(0, I)) per latent dimension, shape ``[B, z]``.

    ``0.5 * (mu^2 + exp(logvar) - 1 - logvar)`` for each dimension; sum over the last axis for the
    KL of the whole code.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}."
        )
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last axis (used by the IWAE bound)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def log_likelihood(x: Tensor, params: Tensor, likelihood: str, scale: float | Tensor = 1.0) -> Tensor:
    """log p(x|z) summed over every data dimension, shape ``[B]``.

    ``"bernoulli"``: ``params`` are logits; ``x`` in [0, 1] (binary data give a proper log-probability;
    grey levels give the negative cross-entropy, the usual surrogate). ``"gaussian"``: ``params`` are
    means and ``scale`` the standard deviation (a float or a tensor broadcastable to x).
    """
    if params.shape != x.shape:
        raise ValueError(f"params must be shaped like x {tuple(x.shape)}, got {tuple(params.shape)}.")
    if likelihood == "bernoulli":
        per_dim = -F.binary_cross_entropy_with_logits(params, x, reduction="none")
    elif likelihood == "gaussian":
        scale = torch.as_tensor(scale, dtype=params.dtype, device=params.device)
        if torch.any(scale <= 0):
            raise ValueError("scale must be positive.")
        per_dim = -0.5 * (LOG_2PI + 2 * torch.log(scale) + ((x - params) / scale).pow(2))
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}.")
    return per_dim.reshape(x.shape[0], -1).sum(1)


def elbo_terms(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """One-sample ELBO of a :class:`~course_lib.models.vae.VAE`, every term per example.

    Returns ``recon`` [B] (-log p(x|z)), ``kl`` [B], ``kl_per_dim`` [B, z] and ``elbo`` [B]
    (= -(recon + kl)), in nats.
    """
    out = model(x)
    recon = -log_likelihood(x, out.params, model.likelihood, model.scale)
    kl_per_dim = gaussian_kl(out.mu, out.logvar)
    kl = kl_per_dim.sum(1)
    return {"recon": recon, "kl": kl, "kl_per_dim": kl_per_dim, "elbo": -(recon + kl)}


def beta_vae_loss(
    model: nn.Module,
    x: Tensor,
    beta: float = 1.0,
    capacity: float | None = None,
    gamma: float | None = None,
) -> tuple[Tensor, dict[str, Any]]:
    """The beta-VAE loss (a scalar to minimise) and float logs for the history.

    Without ``capacity``: ``mean_B(recon + beta * kl)`` (beta = 1 gives the negative ELBO).
    With ``capacity`` C (Burgess et al. 2018): ``mean_B(recon) + gamma * |mean_B(kl) - C|``, where
    ``gamma`` must be given (they used 1000 on dSprites) and ``beta`` is ignored.
    Logs: ``loss``, ``elbo``, ``recon``, ``kl`` (floats, batch means) and ``kl_per_dim`` (a list of
    z floats).
    """
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a non-negative number, got {beta!r}.")
    if (capacity is None) != (gamma is None):
        raise ValueError("capacity and gamma go together: pass both (Burgess et al.) or neither (beta-VAE).")
    terms = elbo_terms(model, x)
    recon, kl = terms["recon"].mean(), terms["kl"].mean()
    if capacity is None:
        loss = recon + beta * kl
    else:
        if capacity < 0 or gamma < 0:
            raise ValueError(f"capacity and gamma must be >= 0, got {capacity!r} and {gamma!r}.")
        loss = recon + gamma * (kl - capacity).abs()
    logs: dict[str, Any] = {
        "loss": loss.item(),
        "elbo": terms["elbo"].mean().item(),
        "recon": recon.item(),
        "kl": kl.item(),
        "kl_per_dim": terms["kl_per_dim"].mean(0).tolist(),
    }
    if capacity is not None:
        logs["capacity"] = float(capacity)
    return loss, logs


LossFn = Callable[..., tuple[Tensor, dict[str, Any]]]


class Loss:
    """A ``loss_fn`` with a declared name and parameters: what a training run's key records of it.

    Made by a factory decorated with :func:`declared_loss` (``make_vae_loss(beta=4)`` is
    ``Loss("beta_vae", ..., {"beta": 4, "gamma": None})``), so the key of a run survives moving or
    renaming the Python function; calling it calls the wrapped function.
    """

    def __init__(self, name: str, fn: LossFn, params: dict[str, Any]) -> None:
        self.name, self.fn, self.params = name, fn, dict(params)

    def __call__(
        self, model: nn.Module, batch: Any, epoch: int, **kwargs: Any
    ) -> tuple[Tensor, dict[str, Any]]:
        return self.fn(model, batch, epoch, **kwargs)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"


def declared_loss(name: str) -> Callable[[Callable[..., LossFn]], Callable[..., Loss]]:
    """Decorate a loss factory: what it returns becomes a :class:`Loss` called ``name``.

    The loss's parameters are the factory's arguments with its defaults filled in, so
    ``make_vae_loss()`` and ``make_vae_loss(beta=1.0)`` declare the same loss.
    """

    def decorate(factory: Callable[..., LossFn]) -> Callable[..., Loss]:
        signature = inspect.signature(factory)

        @functools.wraps(factory)
        def make(*args: Any, **kwargs: Any) -> Loss:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return Loss(name, factory(*args, **kwargs), bound.arguments)

        return make

    return decorate


@declared_loss("beta_vae")
def make_vae_loss(beta: float = 1.0, gamma: float | None = None) -> LossFn:
    """A ``loss_fn(model, batch, epoch, capacity=None)`` for :func:`course_lib.train.train`.

    ``make_vae_loss()`` is the plain negative ELBO; ``make_vae_loss(beta=4)`` the beta-VAE; with
    ``gamma`` the trainer's ``capacity_schedule`` supplies C at each step.
    """

    def loss_fn(model: nn.Module, batch: Any, epoch: int, capacity: float | None = None):
        return beta_vae_loss(model, batch_x(batch), beta=beta, capacity=capacity, gamma=gamma)

    return loss_fn


@declared_loss("iwae")
def make_iwae_loss(k: int) -> LossFn:
    """A ``loss_fn(model, batch, epoch)`` for :func:`~course_lib.train.train`: minus the k-sample IWAE bound.

    Burda et al.'s importance-weighted auto-encoder trains on :func:`iwae_bound`; ``k = 1`` is the
    VAE's one-sample ELBO (with a sampled rather than analytic KL). Logs ``iwae`` (nats per example).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")

    def loss_fn(model: nn.Module, batch: Any, epoch: int):
        bound = iwae_bound(model, batch_x(batch), k).mean()
        return -bound, {"loss": -bound.item(), "iwae": bound.item()}

    return loss_fn


def iwae_bound(model: nn.Module, x: Tensor, k: int, chunk: int | None = None) -> Tensor:
    """Importance-weighted bound on log p(x) with ``k`` samples (Burda et al. 2015), shape ``[B]``.

    ``log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)``, z_i ~ q(z|x). k = 1 is the ELBO (in expectation);
    the bound rises towards log p(x) as k grows. Samples are drawn ``chunk`` at a time (default: about
    20,000 decoded rows per chunk) so that k = 5000 fits in memory. It is differentiable (the IWAE
    trains on it): evaluate it under ``torch.no_grad()``.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    mu, logvar = model.encode(x)
    batch = x.shape[0]
    chunk = chunk or max(1, 20000 // batch)
    std = torch.exp(0.5 * logvar)
    log_weights = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z = mu + std * torch.randn(n, *mu.shape, dtype=mu.dtype, device=mu.device)  # [n, B, z]
        params = model.decode(z.reshape(n * batch, -1))
        x_rep = x.unsqueeze(0).expand(n, *x.shape).reshape(n * batch, *x.shape[1:])
        log_px_z = log_likelihood(x_rep, params, model.likelihood, model.scale).reshape(n, batch)
        log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
        log_qz = gaussian_log_density(z, mu, logvar)
        log_weights.append(log_px_z + log_pz - log_qz)
    return torch.logsumexp(torch.cat(log_weights, 0), dim=0) - math.log(k)
