"""SCAN: a symbol VAE grounded in a frozen beta-VAE's latents, and learned recombination operators.

Taught in chapters/05_2_scan.ipynb (Higgins et al. 2017). The model and its training, in one place:

* :class:`SCAN`, a VAE over k-hot symbols y (on the composed sounds, phrases over
  :data:`course_lib.composed_sounds.WORDS`): a :class:`SymbolEncoder`
  gives q(z_y|y) = N(mu_y, diag(exp(logvar_y))) in the **same** latent space as the sound model,
  a :class:`SymbolDecoder` gives Bernoulli logits p(y|z_y) over the words;
* :func:`scan_loss`, the negative of
  ``E[log p(y|z_y)] - beta KL(q(z_y|y) || p(z)) - lambda KL(q(z_x|x) || q(z_y|y))``,
  where q(z_x|x) comes from the frozen beta-VAE's encoder on a sound x that is an instance of y.
  The KL runs from the sound posterior to the symbol posterior (forward KL, "mode covering"): a
  symbol shown with many sounds must cover all their posteriors, so on the latents of the factors
  it leaves unspecified q(z_y|y) spreads out to the prior, and on the ones it fixes it narrows;
* :class:`Recombination`, a learned operator r(z | y1, y2, op): the same small network applied to
  every latent dimension d, reading (mu1_d, logvar1_d, mu2_d, logvar2_d) and an embedding of the op
  (a 1x1 convolution over the dimensions), trained with KL(q(z_x|x) || r) (:func:`recombination_loss`);
* :func:`fit_scan` and :func:`fit_operator`, their training loops (:func:`course_lib.train.fit`).

The operator ids are the positions in :data:`course_lib.composed_sounds.SYMBOL_OPERATORS`
(AND, IN_COMMON, IGNORE).

Reduction, as in :mod:`course_lib.losses`: every term is summed over words or latent dimensions per
example, then averaged over the batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.composed_sounds import SYMBOL_OPERATORS
from course_lib.models.vae import reparameterize
from course_lib.train import History, fit
from course_lib.validation import positive_ints


def gaussian_kl_between(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """Analytic KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) per dimension, diagonal Gaussians.

    ``0.5 * (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1)``, shape
    ``[B, z]`` (the broadcast shape of the four inputs); sum over the last axis for the whole code.
    With ``mu_p = logvar_p = 0`` it is chapter 2's KL to the prior.
    """
    tensors = {"mu_q": mu_q, "logvar_q": logvar_q, "mu_p": mu_p, "logvar_p": logvar_p}
    for name, value in tensors.items():
        if not isinstance(value, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}.")
    try:
        torch.broadcast_shapes(*(t.shape for t in tensors.values()))
    except RuntimeError as error:
        shapes = {name: tuple(t.shape) for name, t in tensors.items()}
        raise ValueError(f"the four inputs must have broadcastable shapes, got {shapes}.") from error
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0)


def _mlp(n_in: int, hidden: int, n_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden), nn.ReLU()]
    return nn.Sequential(*layers)


class SymbolEncoder(nn.Module):
    """q(z_y|y): k-hot symbols ``[B, n_words]`` -> ``(mu, logvar)``, each ``[B, z_dim]``.

    Two ReLU layers of ``hidden`` units, then one linear head whose
    output is split into mu (first half) and logvar (second half).
    """

    def __init__(self, n_words: int, z_dim: int, hidden: int = 128) -> None:
        super().__init__()
        positive_ints(n_words=n_words, z_dim=z_dim, hidden=hidden)
        self.n_words, self.z_dim = n_words, z_dim
        self.body = _mlp(n_words, hidden, 2)
        self.head = nn.Linear(hidden, 2 * z_dim)

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """Encode ``y`` [B, n_words] into ``(mu, logvar)`` [B, z_dim] each."""
        if y.dim() != 2 or y.shape[1] != self.n_words:
            raise ValueError(
                f"y must be [batch, n_words={self.n_words}] k-hot vectors, got {tuple(y.shape)}."
            )
        mu, logvar = self.head(self.body(y)).chunk(2, dim=-1)
        return mu, logvar


class SymbolDecoder(nn.Module):
    """p(y|z): latents ``[B, z_dim]`` -> Bernoulli logits ``[B, n_words]``, one per word."""

    def __init__(self, z_dim: int, n_words: int, hidden: int = 128) -> None:
        super().__init__()
        positive_ints(n_words=n_words, z_dim=z_dim, hidden=hidden)
        self.n_words, self.z_dim = n_words, z_dim
        self.body = _mlp(z_dim, hidden, 2)
        self.head = nn.Linear(hidden, n_words)

    def forward(self, z: Tensor) -> Tensor:
        """Logits ``[B, n_words]`` of the words given ``z`` [B, z_dim]."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [batch, z_dim={self.z_dim}], got {tuple(z.shape)}.")
        return self.head(self.body(z))


class SCAN(nn.Module):
    """The symbol VAE of SCAN: :class:`SymbolEncoder` and :class:`SymbolDecoder` sharing ``z_dim``.

    Symbol -> sound: ``encode(y)``, then decode a sample with the beta-VAE's decoder. Sound -> symbol:
    :meth:`word_probs` of the beta-VAE's posterior mean.
    """

    def __init__(self, n_words: int, z_dim: int, hidden: int = 128) -> None:
        super().__init__()
        self.n_words, self.z_dim = n_words, z_dim
        self.encoder = SymbolEncoder(n_words, z_dim, hidden)
        self.decoder = SymbolDecoder(z_dim, n_words, hidden)

    def encode(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu_y, logvar_y)`` of q(z_y|y)."""
        return self.encoder(y)

    def decode(self, z: Tensor) -> Tensor:
        """Word logits of p(y|z)."""
        return self.decoder(z)

    def forward(self, y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(logits, mu_y, logvar_y, z)`` with one reparameterised sample z ~ q(z_y|y)."""
        mu, logvar = self.encode(y)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar, z

    @torch.no_grad()
    def word_probs(self, z: Tensor) -> Tensor:
        """p(word | z) ``[B, n_words]`` (sound -> symbol: pass the beta-VAE's posterior means)."""
        return torch.sigmoid(self.decode(z))


def _check_posterior(mu: Tensor, logvar: Tensor, batch: int, z_dim: int, name: str) -> None:
    expected = (batch, z_dim)
    if tuple(mu.shape) != expected or tuple(logvar.shape) != expected:
        raise ValueError(
            f"mu_{name} and logvar_{name} must both be [batch={batch}, z_dim={z_dim}], "
            f"got {tuple(mu.shape)} and {tuple(logvar.shape)}."
        )


def scan_loss(
    model: SCAN,
    y: Tensor,
    mu_x: Tensor,
    logvar_x: Tensor,
    beta: float = 1.0,
    lam: float = 10.0,
) -> dict[str, Tensor]:
    """The SCAN loss of symbols ``y`` [B, n_words] paired with sounds whose posteriors are (mu_x, logvar_x).

    ``loss = recon + beta * kl_prior + lam * kl_ground``, each a batch mean of a per-example sum:

    * ``recon``: -log p(y|z_y), Bernoulli over the words, z_y ~ q(z_y|y) drawn once
      (``reparameterize(mu_y, logvar_y)``, i.e. one ``torch.randn_like(mu_y)``);
    * ``kl_prior``: KL(q(z_y|y) || N(0, I));
    * ``kl_ground``: KL(q(z_x|x) || q(z_y|y)), the term that grounds symbols in the sound latents.

    ``mu_x`` and ``logvar_x`` are detached (the beta-VAE is frozen). Higgins et al. used beta = 1,
    lambda = 10. Returns the four terms as scalar tensors.
    """
    if beta < 0 or lam < 0:
        raise ValueError(f"beta and lam must be >= 0, got {beta!r} and {lam!r}.")
    if y.dim() != 2 or y.shape[1] != model.n_words:
        raise ValueError(f"y must be [batch, n_words={model.n_words}], got {tuple(y.shape)}.")
    _check_posterior(mu_x, logvar_x, y.shape[0], model.z_dim, "x")
    mu_y, logvar_y = model.encode(y)
    logits = model.decode(reparameterize(mu_y, logvar_y))
    recon = F.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(1).mean()
    zeros = torch.zeros_like(mu_y)
    kl_prior = gaussian_kl_between(mu_y, logvar_y, zeros, zeros).sum(1).mean()
    kl_ground = gaussian_kl_between(mu_x.detach(), logvar_x.detach(), mu_y, logvar_y).sum(1).mean()
    loss = recon + beta * kl_prior + lam * kl_ground
    return {"loss": loss, "recon": recon, "kl_prior": kl_prior, "kl_ground": kl_ground}


def operator_id(op: str) -> int:
    """Position of ``op`` in :data:`~course_lib.composed_sounds.SYMBOL_OPERATORS` (the embedded op id)."""
    if op not in SYMBOL_OPERATORS:
        raise ValueError(f"unknown operator {op!r}; the operators are {list(SYMBOL_OPERATORS)}.")
    return SYMBOL_OPERATORS.index(op)


def operator_ids(ops: str | int | Tensor | list[str], batch: int) -> Tensor:
    """Op ids as a LongTensor ``[batch]`` from one name/id or a list of names (:func:`operator_id`)."""
    if isinstance(ops, str):
        ops = operator_id(ops)
    if isinstance(ops, list):
        ids = torch.tensor([operator_id(op) for op in ops], dtype=torch.long)
    elif isinstance(ops, Tensor):
        ids = ops.long().reshape(-1).expand(batch) if ops.numel() == 1 else ops.long()
    elif isinstance(ops, int) and not isinstance(ops, bool):
        ids = torch.full((batch,), ops, dtype=torch.long)
    else:
        raise ValueError(f"op must be an operator name, an id, a list of names or a LongTensor, got {ops!r}.")
    if ids.shape != (batch,):
        raise ValueError(f"give one operator per example ({batch}), got shape {tuple(ids.shape)}.")
    return ids


class Recombination(nn.Module):
    """A learned operator r(z | y1, y2, op), acting on each latent dimension alike.

    For every dimension d the input is the 4 numbers
    (mu1_d, logvar1_d, mu2_d, logvar2_d) concatenated with the op's embedding [op_dim]; an MLP
    (``hidden`` units, two ReLU layers; a 1x1 convolution over the dimensions) outputs (mu_d, logvar_d).
    Sharing the weights across dimensions is SCAN's choice: the operator must act on a dimension
    from what the operands' posteriors say about it (narrow: specified; prior-like: unspecified),
    not from which dimension it is.
    """

    def __init__(self, n_ops: int = len(SYMBOL_OPERATORS), hidden: int = 32, op_dim: int = 8) -> None:
        super().__init__()
        positive_ints(n_ops=n_ops, hidden=hidden, op_dim=op_dim)
        self.n_ops = n_ops
        self.op_embedding = nn.Embedding(n_ops, op_dim)
        self.body = _mlp(4 + op_dim, hidden, 2)
        self.head = nn.Linear(hidden, 2)

    def forward(
        self, mu1: Tensor, logvar1: Tensor, mu2: Tensor, logvar2: Tensor, op: str | int | Tensor | list[str]
    ) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` [B, z] of r(z | y1, y2, op) from the operands' posteriors [B, z] each."""
        if mu1.dim() != 2:
            raise ValueError(f"mu1 must be [batch, z_dim], got {tuple(mu1.shape)}.")
        batch, z_dim = mu1.shape
        _check_posterior(mu1, logvar1, batch, z_dim, "1")
        _check_posterior(mu2, logvar2, batch, z_dim, "2")
        ids = operator_ids(op, batch).to(mu1.device)
        if ids.min() < 0 or ids.max() >= self.n_ops:
            raise ValueError(f"operator ids must be in 0..{self.n_ops - 1}, got {ids.tolist()}.")
        stats = torch.stack([mu1, logvar1, mu2, logvar2], dim=-1)  # [B, z, 4]
        embedding = self.op_embedding(ids)[:, None, :].expand(batch, z_dim, -1)  # [B, z, op_dim]
        out = self.head(self.body(torch.cat([stats, embedding], dim=-1)))  # [B, z, 2]
        return out[..., 0], out[..., 1]


def recombination_loss(
    operator: Recombination,
    mu1: Tensor,
    logvar1: Tensor,
    mu2: Tensor,
    logvar2: Tensor,
    op: str | int | Tensor | list[str],
    mu_x: Tensor,
    logvar_x: Tensor,
) -> Tensor:
    """KL(q(z_x|x) || r(z | y1, y2, op)), summed over dimensions, averaged over the batch.

    x is a sound of the ground-truth result ``y1 op y2``
    (:func:`course_lib.composed_sounds.apply_symbol_operator`).
    The operands' posteriors (from the trained, frozen SCAN encoder) and the target are detached:
    only the operator learns.
    """
    _check_posterior(mu_x, logvar_x, mu1.shape[0], mu1.shape[-1], "x")
    mu, logvar = operator(mu1.detach(), logvar1.detach(), mu2.detach(), logvar2.detach(), op)
    return gaussian_kl_between(mu_x.detach(), logvar_x.detach(), mu, logvar).sum(1).mean()


def product_of_experts_and(
    mu1: Tensor, logvar1: Tensor, mu2: Tensor, logvar2: Tensor
) -> tuple[Tensor, Tensor]:
    """A hand-made AND: the normalised product q1 q2 / p of the operands' Gaussians, per dimension.

    With the prior p = N(0, 1), precisions add and the prior's is removed once:
    ``1/v = 1/v1 + 1/v2 - 1`` and ``mu = v (mu1/v1 + mu2/v2)``. An operand that leaves a dimension
    unspecified (q = p) then hands it over to the other one. Each operand's variance is first capped
    at the prior's (1), so the product never gets wider than the prior. Two identical narrow operands
    give a narrower result (the product counts the same evidence twice). The baseline the learned
    AND is compared with.
    """
    precision1 = torch.exp(-logvar1).clamp(min=1.0)
    precision2 = torch.exp(-logvar2).clamp(min=1.0)
    precision = precision1 + precision2 - 1.0
    mu = (mu1 * precision1 + mu2 * precision2) / precision
    return mu, -torch.log(precision)


def _scan_loss_fn(beta: float, lam: float):
    def loss_fn(model: SCAN, batch: tuple[Tensor, ...], epoch: int):
        y, mu_x, logvar_x = batch
        terms = scan_loss(model, y, mu_x, logvar_x, beta=beta, lam=lam)
        return terms["loss"], {k: float(v.detach()) for k, v in terms.items()}

    return loss_fn


def fit_scan(
    khot: np.ndarray | Tensor,
    mu_x: Tensor,
    logvar_x: Tensor,
    *,
    epochs: int,
    beta: float = 1.0,
    lam: float = 10.0,
    hidden: int = 128,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    checkpoint: Any = None,
    progress: bool = True,
) -> tuple[SCAN, History]:
    """Train a :class:`SCAN` on pairs: k-hot symbols ``khot`` [n, V] and their sounds' posteriors [n, z]."""
    y = torch.as_tensor(np.asarray(khot, dtype=np.float32))
    if len(y) != len(mu_x) or mu_x.shape != logvar_x.shape:
        raise ValueError(
            f"khot {tuple(y.shape)}, mu_x {tuple(mu_x.shape)} and logvar_x {tuple(logvar_x.shape)} must "
            "describe the same pairs."
        )
    return fit(
        lambda: SCAN(y.shape[1], mu_x.shape[1], hidden=hidden),
        y,
        mu_x.float(),
        logvar_x.float(),
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        loss_fn=_scan_loss_fn(beta, lam),
        lr=lr,
        checkpoint=checkpoint,
        progress=progress,
    )


def _operator_loss_fn(model: Recombination, batch: tuple[Tensor, ...], epoch: int):
    mu1, lv1, mu2, lv2, ops, mu_x, lv_x = batch
    loss = recombination_loss(model, mu1, lv1, mu2, lv2, ops, mu_x, lv_x)
    return loss, {"loss": float(loss.detach())}


def fit_operator(
    operands: tuple[Tensor, Tensor, Tensor, Tensor],
    ops: Tensor,
    mu_x: Tensor,
    logvar_x: Tensor,
    *,
    epochs: int,
    n_ops: int = len(SYMBOL_OPERATORS),
    hidden: int = 32,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Recombination, History]:
    """Train a :class:`Recombination` on examples ``(y1, op, y2) -> x``.

    ``operands``: the posteriors ``(mu1, logvar1, mu2, logvar2)`` [n, z] of the two operands (from a
    frozen SCAN encoder); ``ops`` [n] their operator ids; ``mu_x``/``logvar_x`` [n, z]: the posterior
    of a sound of the true result, which :func:`recombination_loss` pulls the output towards.
    """
    mu1, lv1, mu2, lv2 = (t.detach().float() for t in operands)
    return fit(
        lambda: Recombination(n_ops=n_ops, hidden=hidden),
        mu1,
        lv1,
        mu2,
        lv2,
        torch.as_tensor(ops, dtype=torch.long),
        mu_x.detach().float(),
        logvar_x.detach().float(),
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        loss_fn=_operator_loss_fn,
        lr=lr,
        progress=progress,
    )
