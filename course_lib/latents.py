"""What a trained VAE's latents do: posterior means, active units, KL per dimension, factor correlations.

Taught in chapters/02_vae_mnist.ipynb (active vs collapsed latents; which latent follows which factor).

* :func:`posterior` runs the encoder over a dataset in batches; :func:`mean_codes` keeps E_q[z|x]
  (what the metrics read) and :func:`encode_means` adds the per-dimension KL(q(z|x) || N(0, I)).
* :func:`activity` is Burda et al.'s statistic A_u = Cov_x(E_{q(u|x)}[u]) for each latent u: the
  variance, over the data, of the posterior mean. A collapsed unit ignores x (its posterior is the
  prior whatever x is), so its mean hardly moves and A_u is tiny; Burda et al. call a unit *active*
  when A_u > 10^-2 (:func:`active_units`).
* :func:`factor_correlations` is the [latents x factors] Spearman rank correlation between posterior
  means and known factor values (a rank correlation, since a latent may encode a factor
  monotonically but not linearly).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from course_lib.losses import elbo_terms, gaussian_kl
from course_lib.validation import positive_int

ACTIVE_THRESHOLD = 1e-2
"""Burda et al.'s (2015) threshold on A_u = Cov_x(E_q[u]) above which a latent unit counts as active."""


@torch.no_grad()
def posterior(
    model: nn.Module, x: torch.Tensor | np.ndarray, batch_size: int = 2048
) -> tuple[torch.Tensor, torch.Tensor]:
    """q(z|x) of every row of ``x``: ``(mu, logvar)``, each ``[N, z]``, computed in batches in eval mode.

    ``model`` is any module with ``encode(x) -> (mu, logvar)`` (a :class:`course_lib.models.vae.VAE`);
    ``x`` a tensor or array (float16 features are read as float32). Returns CPU tensors. The one
    batched encoding loop of the course: chapters 2-5 and the experiments all call it.
    """
    if len(x) == 0:
        raise ValueError("x is empty: nothing to encode.")
    positive_int(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    mus, logvars = [], []
    for start in range(0, len(x), batch_size):
        chunk = torch.as_tensor(np.asarray(x[start : start + batch_size], dtype=np.float32))
        mu, logvar = model.encode(chunk.to(device))
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    model.train(was_training)
    return torch.cat(mus), torch.cat(logvars)


def mean_codes(model: nn.Module, x: torch.Tensor | np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Posterior means ``[N, z]`` as float64 NumPy: the mean code every disentanglement metric reads."""
    return posterior(model, x, batch_size)[0].double().numpy()


def encode_means(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means ``[N, z]`` and KL per latent dimension ``[N, z]`` of ``model.encode`` over ``x``."""
    mu, logvar = posterior(model, x, batch_size)
    return mu.double().numpy(), gaussian_kl(mu, logvar).double().numpy()


@torch.no_grad()
def mean_elbo(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> float:
    """The one-sample ELBO averaged over the rows of ``x`` (nats per example), in eval mode."""
    model.eval()
    total = sum(
        elbo_terms(model, x[i : i + batch_size])["elbo"].sum().item() for i in range(0, len(x), batch_size)
    )
    return total / len(x)


def activity(means: np.ndarray) -> np.ndarray:
    """Burda et al.'s activity A_u = Cov_x(E_q[u]): the variance over x of each posterior mean, ``[z]``."""
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"means must be [N >= 2, z], got shape {means.shape}.")
    return means.var(axis=0, ddof=1)


def active_units(means: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Boolean mask ``[z]``: which latents have activity above ``threshold`` (default 10^-2, Burda et al.)."""
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}.")
    return activity(means) > threshold


def active_dims(means: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many latents are active (:func:`active_units` above ``threshold``): the column ``active_dims``."""
    return int(active_units(means, threshold).sum())


KL_ACTIVE_THRESHOLD: float = 0.1
"""Nats of mean KL above which a latent counts as used (:func:`kl_active_dims`)."""


def kl_active_dims(kl_per_dim: np.ndarray, threshold: float = KL_ACTIVE_THRESHOLD) -> int:
    """How many latents carry information: mean KL ``[z]`` above ``threshold`` nats (``kl_active_dims``).

    Not :func:`active_dims` (the variance of the posterior means): a latent can carry KL without its
    mean moving across the data.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}.")
    return int((np.asarray(kl_per_dim) > threshold).sum())


def factor_correlations(means: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Spearman rank correlation ``[z, K]`` between each latent's posterior mean and each factor.

    A constant column (a dead latent, or a factor that does not vary) gives 0 rather than NaN.
    """
    means, factors = np.asarray(means, dtype=np.float64), np.asarray(factors, dtype=np.float64)
    if means.ndim != 2 or factors.ndim != 2 or len(means) != len(factors) or len(means) < 3:
        raise ValueError(
            f"means [N, z] and factors [N, K] need the same N >= 3, got {means.shape} and {factors.shape}."
        )
    n_z = means.shape[1]
    rho = np.zeros((n_z, factors.shape[1]))
    live_z = np.ptp(means, axis=0) > 0
    live_f = np.ptp(factors, axis=0) > 0
    if live_z.any() and live_f.any():
        full = spearmanr(np.hstack([means[:, live_z], factors[:, live_f]])).statistic
        full = np.atleast_2d(full)
        rho[np.ix_(live_z, live_f)] = full[: live_z.sum(), live_z.sum() :]
    return rho


def effective_dimensions(means: np.ndarray, fraction: float = 0.99) -> int:
    """How many principal directions of the posterior means hold ``fraction`` of their variance.

    Per-unit activity counts latents; this counts *directions*: a code whose 15 active units all move
    along the same 2 directions (a rotated, low-dimensional code) has 2 effective dimensions.
    """
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"means must be [N >= 2, z], got shape {means.shape}.")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}.")
    variances = np.linalg.svd(means - means.mean(0), compute_uv=False) ** 2
    if variances.sum() == 0:
        return 0
    return int(np.searchsorted(np.cumsum(variances) / variances.sum(), fraction - 1e-12) + 1)
