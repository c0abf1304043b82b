"""Fitting SCAN and its recombination operators on a frozen beta-VAE's posteriors, and decoding from them.

Taught in chapters/05_scan.ipynb (the models and losses are :mod:`course_lib.models.scan`):

* :func:`fit_scan`: the symbol VAE, trained on (k-hot symbol, q(z_x|x)) pairs with
  :func:`~course_lib.models.scan.scan_loss`; :func:`encode_symbols` gives q(z_y|y) of symbols;
* :func:`fit_recombination`: the learned operators r(z | y1, y2, op);
* :func:`decode_samples`: log-mels decoded by the frozen beta-VAE from draws of a posterior.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from course_lib.models.scan import SCAN, Recombination, recombination_loss, scan_loss
from course_lib.models.vae import VAE
from course_lib.scan.pairs import grid_rows, sample_pairs
from course_lib.scan.symbols import Symbol, operator_id
from course_lib.scan.vocabulary import Vocabulary
from course_lib.train import History, fit


@torch.no_grad()
def decode_samples(model: VAE, mu: Tensor, logvar: Tensor, n_samples: int, seed: int = 0) -> Tensor:
    """Log-mels decoded from ``n_samples`` draws of N(mu, exp(logvar)) per row, ``[S, B, mels, frames]``.

    Means of the Gaussian decoder, clipped to the feature range [0, 1].
    """
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    out = model.decode(z.reshape(-1, mu.shape[-1])).clamp(0.0, 1.0)
    return out.reshape(n_samples, mu.shape[0], *out.shape[1:])


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


@torch.no_grad()
def encode_symbols(scan: SCAN, vocabulary: Vocabulary, symbols: Sequence[Symbol]) -> tuple[Tensor, Tensor]:
    """q(z_y|y) of each symbol: ``(mu, logvar)`` [len(symbols), z]."""
    scan.eval()
    return scan.encode(torch.from_numpy(vocabulary.encode(list(symbols))))


def _recombination_loss_fn(model: Recombination, batch: tuple[Tensor, ...], epoch: int):
    mu1, lv1, mu2, lv2, ops, mu_x, lv_x = batch
    loss = recombination_loss(model, mu1, lv1, mu2, lv2, ops, mu_x, lv_x)
    return loss, {"loss": float(loss.detach())}


def fit_recombination(
    scan: SCAN,
    vocabulary: Vocabulary,
    triples: Sequence[tuple[Symbol, str, Symbol, Symbol]],
    mu_all: Tensor,
    logvar_all: Tensor,
    rng: np.random.Generator,
    *,
    n: int,
    epochs: int,
    hidden: int = 32,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    balance: bool = True,
    progress: bool = True,
) -> tuple[Recombination, History]:
    """Train a :class:`Recombination` on ``n`` draws of ``triples`` (a, op, b, a op b).

    ``balance``: draw the operator uniformly first, then one of its triples (AND and IGNORE have far
    fewer valid triples than IN_COMMON). Each draw pairs a triple with a random sound of its result
    (a row of the full grid whose posteriors are ``mu_all``/``logvar_all``); the operands go through
    the frozen SCAN encoder.
    """
    if not triples:
        raise ValueError("give at least one (a, op, b, result) triple.")
    space = vocabulary.factor_space
    if balance:  # each operator equally often, whatever its number of triples
        by_op: dict[str, list[int]] = {}
        for i, triple in enumerate(triples):
            by_op.setdefault(triple[1], []).append(i)
        groups = list(by_op.values())
        chosen = rng.integers(len(groups), size=int(n))
        pick = np.array([groups[g][rng.integers(len(groups[g]))] for g in chosen], dtype=np.int64)
    else:
        pick = rng.integers(len(triples), size=int(n))
    classes = np.empty((int(n), space.n_factors), dtype=np.int64)
    for position in np.unique(pick):
        rows = np.flatnonzero(pick == position)
        classes[rows] = sample_pairs(triples[position][3], vocabulary, rng, len(rows))[0]
    target = grid_rows(space, classes, len(mu_all))
    mu1, lv1 = encode_symbols(scan, vocabulary, [triples[i][0] for i in pick])
    mu2, lv2 = encode_symbols(scan, vocabulary, [triples[i][2] for i in pick])
    ops = torch.tensor([operator_id(triples[i][1]) for i in pick], dtype=torch.long)
    return fit(
        lambda: Recombination(hidden=hidden),
        mu1,
        lv1,
        mu2,
        lv2,
        ops,
        mu_all[target],
        logvar_all[target],
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        loss_fn=_recombination_loss_fn,
        lr=lr,
        progress=progress,
    )
