"""Objectives beyond beta: beta-TCVAE's KL split, Ada-GVAE's weakly supervised pair loss, FactorVAE's TC.

Taught in chapters/03_2_pitch_and_loudness.ipynb.

Reduction: the same rule as :mod:`course_lib.losses` (read its docstring). Every term is in nats per
example: the reconstruction is summed over the data dimensions, the KL terms over the latent
dimensions, and only then averaged over the batch (over the batch of *pairs* for Ada-GVAE).

**beta-TCVAE** (Chen et al. 2018). Averaged over the data, the KL term of the ELBO splits into three
parts (n is the index of a data point, uniform over the N points; q(z) = (1/N) sum_n q(z|n) is the
aggregate posterior and q(z_j) its marginals)::

    E_n KL(q(z|n) || p(z)) = I_q(z; n)                          index-code mutual information
                           + KL(q(z) || prod_j q(z_j))           total correlation (TC)
                           + sum_j KL(q(z_j) || p(z_j))          dimension-wise KL

and the loss is ``recon + alpha * MI + beta * TC + gamma * dim-KL`` (alpha = beta = gamma = 1 is the
negative ELBO). log q(z) needs the whole data set; on a minibatch {n_1..n_M} with one sample
z_i ~ q(z|n_i) each, both estimators write

    log q(z_i) ~= log sum_j w_ij q(z_i | n_j),   log q(z_ij) ~= log sum_m w_im q(z_ij | n_m)

with weights ``w`` from :func:`log_importance_weights`: minibatch-weighted sampling (MWS) uses
w_ij = 1 / (N M) for every j; minibatch-stratified sampling (MSS) uses 1/N for the sample's own point
(j = i), (N - M + 1) / (N (M - 1)) for one other point (here the next one, j = i + 1 mod M) and
1 / (M - 1) for the M - 2 others (each row sums to 1). MSS is unbiased for q(z_i) itself (not for its
log) when the other batch members are drawn without replacement; MWS is the paper's simpler formula,
biased by a constant-like offset (log N when all posteriors coincide, log M when they do not overlap)
that the gradient mostly ignores.

**Ada-GVAE** (Locatello et al. 2020, weak supervision). A pair (x1, x2) shares an unknown subset of
factors. Per latent dimension, delta_j = KL(q(z_j|x1) || q(z_j|x2)); the dimensions with
delta_j < tau, tau = (max_j delta_j + min_j delta_j) / 2, are taken as shared, and in them both
posteriors are replaced by the GVAE average N((mu1 + mu2) / 2, (sigma1^2 + sigma2^2) / 2) (the means
and the **variances** averaged, as in the paper and disentanglement_lib; ML-VAE would take the product
of the Gaussians instead). The pair loss is recon(x1 | z~1) + recon(x2 | z~2) + beta (KL(q~1 || p) +
KL(q~2 || p)), z~ drawn from the averaged posteriors.

**FactorVAE** (Kim & Mnih 2018). A discriminator D tells samples of q(z) from samples of prod_j q(z_j)
(each column of a batch of codes permuted independently); TC ~= E_q(z)[logit D(z)].
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.losses import LOG_2PI, gaussian_kl, log_likelihood
from course_lib.models.vae import reparameterize

ESTIMATORS = ("mws", "mss")
"""The minibatch estimators of log q(z): minibatch-weighted and minibatch-stratified sampling."""


def _check_posterior(z: Tensor, mu: Tensor, logvar: Tensor) -> None:
    if mu.dim() != 2 or z.shape != mu.shape or logvar.shape != mu.shape:
        raise ValueError(
            "z, mu and logvar must all be [batch, z_dim]; got "
            f"{tuple(z.shape)}, {tuple(mu.shape)} and {tuple(logvar.shape)}."
        )


def _check_weight(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}.")


def log_importance_weights(
    batch_size: int, dataset_size: int, estimator: str = "mss", dtype: torch.dtype = torch.float32
) -> Tensor:
    """log w, shape ``[M, M]``: the weight of data point j (column) in the estimate of q(z_i) (row i).

    ``"mws"``: w_ij = 1 / (N M). ``"mss"``: w_ii = 1 / N, w_i,i+1 (cyclic) = (N - M + 1) / (N (M - 1)),
    every other w_ij = 1 / (M - 1). ``N = dataset_size`` >= ``M = batch_size`` >= 2.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}.")
    for name, value in (("batch_size", batch_size), ("dataset_size", dataset_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {value!r}.")
    m, n = batch_size, dataset_size
    if n < m:
        raise ValueError(f"dataset_size (N = {n}) must be at least the batch size (M = {m}).")
    if estimator == "mws":
        return torch.full((m, m), -math.log(n * m), dtype=dtype)
    w = torch.full((m, m), 1.0 / (m - 1), dtype=torch.float64)
    rows = torch.arange(m)
    w[rows, rows] = 1.0 / n
    w[rows, (rows + 1) % m] = (n - m + 1) / (n * (m - 1))
    return w.log().to(dtype)


def pairwise_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log q(z_ij | n_m) for every sample i, data point m and dimension j: shape ``[M, M, z_dim]``."""
    _check_posterior(z, mu, logvar)
    z, mu, logvar = z[:, None, :], mu[None, :, :], logvar[None, :, :]
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def kl_decomposition(
    z: Tensor, mu: Tensor, logvar: Tensor, dataset_size: int, estimator: str = "mss"
) -> dict[str, Tensor]:
    """beta-TCVAE's split of the KL on a minibatch: ``mi``, ``tc``, ``dim_kl`` and their sum ``kl``.

    ``z`` ``[M, z_dim]`` holds one sample of each posterior N(mu_i, exp(logvar_i)). With the log
    densities log q(z_i|n_i), log q^(z_i), sum_j log q^(z_ij) (estimated with
    :func:`log_importance_weights`) and log p(z_i) = log N(z_i; 0, I), each term is a batch mean::

        mi     = mean_i [log q(z_i|n_i)      - log q^(z_i)]
        tc     = mean_i [log q^(z_i)         - sum_j log q^(z_ij)]
        dim_kl = mean_i [sum_j log q^(z_ij)  - log p(z_i)]

    so ``mi + tc + dim_kl = kl = mean_i [log q(z_i|n_i) - log p(z_i)]`` exactly: the one-sample
    Monte-Carlo KL (its expectation is the analytic KL of :func:`course_lib.losses.gaussian_kl`).
    Scalars in nats per example.
    """
    _check_posterior(z, mu, logvar)
    m = z.shape[0]
    log_w = log_importance_weights(m, dataset_size, estimator, dtype=z.dtype).to(z.device)
    log_q_pair = pairwise_log_density(z, mu, logvar)  # [i, m, j]
    log_q_cond = log_q_pair.diagonal(dim1=0, dim2=1).sum(0)  # log q(z_i | n_i), [M]
    log_q_joint = torch.logsumexp(log_q_pair.sum(2) + log_w, dim=1)  # log q^(z_i), [M]
    log_q_marginals = torch.logsumexp(log_q_pair + log_w[:, :, None], dim=1).sum(1)  # sum_j log q^(z_ij)
    log_p = -0.5 * (LOG_2PI + z.pow(2)).sum(1)
    mi = (log_q_cond - log_q_joint).mean()
    tc = (log_q_joint - log_q_marginals).mean()
    dim_kl = (log_q_marginals - log_p).mean()
    return {"mi": mi, "tc": tc, "dim_kl": dim_kl, "kl": (log_q_cond - log_p).mean()}


def beta_tcvae_loss(
    model: nn.Module,
    x: Tensor,
    dataset_size: int,
    alpha: float = 1.0,
    beta: float = 6.0,
    gamma: float = 1.0,
    estimator: str = "mss",
) -> tuple[Tensor, dict[str, Any]]:
    """The beta-TCVAE loss ``mean_B(recon) + alpha * mi + beta * tc + gamma * dim_kl`` and float logs.

    ``model`` is a :class:`~course_lib.models.vae.VAE`; the KL terms come from
    :func:`kl_decomposition` on this batch (``dataset_size`` N, ``estimator`` ``"mss"`` or ``"mws"``).
    Chen et al. keep alpha = gamma = 1 and raise beta (the TC weight). Logs: ``loss``, ``recon``,
    ``mi``, ``tc``, ``dim_kl``, ``kl`` (their sum) and ``kl_analytic`` (mean analytic KL, for comparison).
    """
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        _check_weight(name, value)
    out = model(x)
    recon = -log_likelihood(x, out.params, model.likelihood, model.scale).mean()
    terms = kl_decomposition(out.z, out.mu, out.logvar, dataset_size, estimator)
    loss = recon + alpha * terms["mi"] + beta * terms["tc"] + gamma * terms["dim_kl"]
    logs: dict[str, Any] = {"loss": loss.item(), "recon": recon.item()}
    logs.update({k: v.item() for k, v in terms.items()})
    logs["kl_analytic"] = gaussian_kl(out.mu, out.logvar).sum(1).mean().item()
    return loss, logs


# --------------------------------------------------------------------------------------- Ada-GVAE
def pair_kl_per_dim(mu1: Tensor, logvar1: Tensor, mu2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(q(z_j|x1) || q(z_j|x2)) per latent dimension between two diagonal Gaussians, shape ``[B, z]``.

    ``0.5 * (var1 / var2 + (mu1 - mu2)^2 / var2 - 1 + logvar2 - logvar1)``.
    """
    shapes = {tuple(t.shape) for t in (mu1, logvar1, mu2, logvar2)}
    if len(shapes) != 1 or mu1.dim() != 2:
        raise ValueError(
            f"the four posterior tensors must share one [batch, z_dim] shape, got {sorted(shapes)}."
        )
    return 0.5 * (
        torch.exp(logvar1 - logvar2) + (mu1 - mu2).pow(2) * torch.exp(-logvar2) - 1 + logvar2 - logvar1
    )


def adaptive_shared_mask(delta: Tensor) -> Tensor:
    """Shared dimensions as Ada-GVAE guesses them: ``delta_j < (max_j delta + min_j delta) / 2``, ``[B, z]``.

    A bool mask; ``delta`` is :func:`pair_kl_per_dim`; the threshold is computed per pair. A pair whose
    dimensions all have the same KL gets no shared dimension.
    """
    if delta.dim() != 2:
        raise ValueError(f"delta must be [batch, z_dim], got shape {tuple(delta.shape)}.")
    tau = 0.5 * (delta.max(1, keepdim=True).values + delta.min(1, keepdim=True).values)
    return delta < tau


def top_k_shared_mask(delta: Tensor, k: int) -> Tensor:
    """Shared dimensions when the number ``k`` of changed factors is known: all but the ``k`` largest delta_j.

    Locatello et al.'s variant for a known k (here every training pair differs in exactly one factor,
    so k = 1): the k dimensions whose posteriors moved most are free, every other one is averaged.
    A bool mask ``[B, z]``.
    """
    if delta.dim() != 2:
        raise ValueError(f"delta must be [batch, z_dim], got shape {tuple(delta.shape)}.")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < delta.shape[1]:
        raise ValueError(f"k must be an integer in 1..{delta.shape[1] - 1} (z_dim - 1), got {k!r}.")
    free = torch.topk(delta, k, dim=1).indices
    return torch.ones_like(delta, dtype=torch.bool).scatter(1, free, False)


def gvae_average(
    mu1: Tensor, logvar1: Tensor, mu2: Tensor, logvar2: Tensor, shared: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Replace the ``shared`` dimensions of both posteriors by their GVAE average; keep the others.

    Average: mean (mu1 + mu2) / 2 and variance (exp(logvar1) + exp(logvar2)) / 2 (the variances, not
    the log-variances, are averaged). Returns ``(mu1~, logvar1~, mu2~, logvar2~)``.
    """
    if shared.shape != mu1.shape or shared.dtype != torch.bool:
        raise ValueError(f"shared must be a bool mask shaped like mu {tuple(mu1.shape)}.")
    mu_avg = 0.5 * (mu1 + mu2)
    logvar_avg = torch.logaddexp(logvar1, logvar2) - math.log(2.0)
    return (
        torch.where(shared, mu_avg, mu1),
        torch.where(shared, logvar_avg, logvar1),
        torch.where(shared, mu_avg, mu2),
        torch.where(shared, logvar_avg, logvar2),
    )


def ada_gvae_loss(
    model: nn.Module, x1: Tensor, x2: Tensor, beta: float = 1.0, known_k: int | None = None
) -> tuple[Tensor, dict[str, Any]]:
    """Ada-GVAE's loss on a batch of pairs: ``mean_B[recon1 + recon2 + beta * (kl1 + kl2)]`` and float logs.

    Encode both, choose the shared dimensions (:func:`pair_kl_per_dim`, then :func:`adaptive_shared_mask`,
    or :func:`top_k_shared_mask` when ``known_k`` factors are known to differ; the choice is not
    differentiated), average them (:func:`gvae_average`), sample z~1, z~2 from the
    averaged posteriors, decode both. Per pair, so it is about twice a single-example loss. Logs:
    ``loss``, ``recon``, ``kl`` (per pair), ``n_shared`` (mean number of dimensions taken as shared).
    """
    _check_weight("beta", beta)
    if x1.shape != x2.shape:
        raise ValueError(f"x1 and x2 must have the same shape, got {tuple(x1.shape)} and {tuple(x2.shape)}.")
    mu1, logvar1 = model.encode(x1)
    mu2, logvar2 = model.encode(x2)
    with torch.no_grad():
        delta = pair_kl_per_dim(mu1, logvar1, mu2, logvar2)
        shared = adaptive_shared_mask(delta) if known_k is None else top_k_shared_mask(delta, known_k)
    mu1, logvar1, mu2, logvar2 = gvae_average(mu1, logvar1, mu2, logvar2, shared)
    recon = sum(
        -log_likelihood(x, model.decode(reparameterize(mu, logvar)), model.likelihood, model.scale)
        for x, mu, logvar in ((x1, mu1, logvar1), (x2, mu2, logvar2))
    )
    kl = gaussian_kl(mu1, logvar1).sum(1) + gaussian_kl(mu2, logvar2).sum(1)
    loss = (recon + beta * kl).mean()
    logs = {
        "loss": loss.item(),
        "recon": recon.mean().item(),
        "kl": kl.mean().item(),
        "n_shared": shared.sum(1).double().mean().item(),
    }
    return loss, logs


def make_ada_gvae_loss(beta: float = 1.0, known_k: int | None = None):
    """A ``loss_fn(model, batch, epoch)`` for :func:`~course_lib.train.train` over pairs ``(x1, x2)``.

    Pair the loss with :class:`course_lib.weak_pairs.PairLoader`; it is :func:`ada_gvae_loss` per pair
    (``known_k``: see there).
    """
    _check_weight("beta", beta)

    def loss_fn(model: nn.Module, batch: Any, epoch: int):
        x1, x2 = batch
        return ada_gvae_loss(model, x1, x2, beta=beta, known_k=known_k)

    return loss_fn


# --------------------------------------------------------------------------------------- FactorVAE
def permute_dims(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Shuffle each latent column independently across the batch: samples of prod_j q(z_j), ``[B, z]``."""
    if z.dim() != 2:
        raise ValueError(f"z must be [batch, z_dim], got shape {tuple(z.shape)}.")
    b, d = z.shape
    order = torch.argsort(torch.rand(b, d, generator=generator, device=z.device), dim=0)
    return torch.gather(z, 0, order)


def factor_vae_discriminator_loss(logits_joint: Tensor, logits_permuted: Tensor) -> Tensor:
    """FactorVAE's discriminator loss: binary cross-entropy, label 1 for q(z), 0 for prod_j q(z_j).

    ``logits_*`` are the discriminator's logits ``[B]`` on codes and on :func:`permute_dims` codes
    (detach the codes for this step). The VAE's TC estimate is ``logits_joint.mean()``
    (density-ratio trick: logit D = log q(z) - log prod_j q(z_j) at the optimum).
    """
    ones, zeros = torch.ones_like(logits_joint), torch.zeros_like(logits_permuted)
    return 0.5 * (
        F.binary_cross_entropy_with_logits(logits_joint, ones)
        + F.binary_cross_entropy_with_logits(logits_permuted, zeros)
    )


def factor_vae_discriminator(z_dim: int, hidden: int = 256, layers: int = 3) -> nn.Sequential:
    """FactorVAE's discriminator: an MLP from a code ``[B, z_dim]`` to one logit ``[B, 1]``.

    Kim & Mnih use 6 layers of 1,000 LeakyReLU(0.2) units; ``layers`` of ``hidden`` units are enough
    for our 10 latents and keep a run within CPU minutes.
    """
    sizes = [z_dim] + [hidden] * layers
    modules: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        modules += [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2)]
    return nn.Sequential(*modules, nn.Linear(sizes[-1], 1))


def factor_vae_loss(
    model: nn.Module, x: Tensor, gamma: float = 5.0, generator: torch.Generator | None = None
) -> tuple[Tensor, dict[str, Any]]:
    """FactorVAE's two losses in one: ``recon + KL + gamma * TC`` for the VAE, plus the discriminator's.

    ``model`` is a :class:`~course_lib.models.vae.VAE` with a ``discriminator`` submodule
    (:func:`factor_vae_discriminator`). One backward pass trains both without mixing them: the VAE
    sees the TC estimate ``mean logit D(z)`` through the discriminator's weights *detached*
    (``torch.func.functional_call``), so its gradient never moves D; the discriminator sees detached
    codes and their :func:`permute_dims` copy (:func:`factor_vae_discriminator_loss`). The total TC
    weight is ``1 + gamma`` (the ELBO's KL holds one TC already). Logs: ``loss`` (the sum of both),
    ``vae_loss``, ``recon``, ``kl``, ``tc`` (the estimate) and ``d_loss``.
    """
    _check_weight("gamma", gamma)
    discriminator = model.discriminator
    out = model(x)
    recon = -log_likelihood(x, out.params, model.likelihood, model.scale).mean()
    kl = gaussian_kl(out.mu, out.logvar).sum(1).mean()
    frozen = {name: p.detach() for name, p in discriminator.named_parameters()}
    tc = torch.func.functional_call(discriminator, frozen, (out.z,)).mean()
    codes = out.z.detach()
    d_loss = factor_vae_discriminator_loss(
        discriminator(codes).squeeze(-1), discriminator(permute_dims(codes, generator)).squeeze(-1)
    )
    vae_loss = recon + kl + gamma * tc
    loss = vae_loss + d_loss
    logs = {"loss": loss.item(), "vae_loss": vae_loss.item(), "recon": recon.item(), "kl": kl.item()}
    logs.update(tc=tc.item(), d_loss=d_loss.item())
    return loss, logs
