"""SCAN on chapter 1's toy grid (the exercise sheet's warm-up): encoding symbols, operators, decoding.

Used by exercise sheet 5 (solutions/05_scan.ipynb); the model and its training loops are
:mod:`course_lib.models.scan` (``fit_scan`` is re-exported here for the sheet):

* :func:`encode_symbols` gives q(z_y|y) of :class:`~course_lib.scan.symbols.Symbol` s;
* :func:`fit_recombination`: the learned operators r(z | y1, y2, op) on toy-grid symbols;
* :func:`decode_samples`: log-mels decoded by the frozen beta-VAE from draws of a posterior.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from course_lib.models.scan import SCAN, Recombination, fit_operator
from course_lib.models.scan import fit_scan as fit_scan
from course_lib.models.vae import VAE
from course_lib.scan.pairs import grid_rows, sample_pairs
from course_lib.scan.symbols import Symbol, operator_id
from course_lib.scan.vocabulary import Vocabulary
from course_lib.train import History


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


@torch.no_grad()
def encode_symbols(scan: SCAN, vocabulary: Vocabulary, symbols: Sequence[Symbol]) -> tuple[Tensor, Tensor]:
    """q(z_y|y) of each symbol: ``(mu, logvar)`` [len(symbols), z]."""
    scan.eval()
    return scan.encode(torch.from_numpy(vocabulary.encode(list(symbols))))


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
    return fit_operator(
        (mu1, lv1, mu2, lv2),
        ops,
        mu_all[target],
        logvar_all[target],
        epochs=epochs,
        hidden=hidden,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        progress=progress,
    )
