"""Metrics that hold one factor fixed: the beta-VAE score (Higgins et al. 2017) and the FactorVAE score
(Kim & Mnih 2018).

Taught in chapters/03_1_beta_vae.ipynb.

Both need observations generated with a chosen factor held fixed, so they take a small protocol rather
than arrays:

* ``represent(classes)``: given factor classes [n, K] (ints), return the MEAN codes [n, D] of
  observations with those factors (render or look up the sounds, run the encoder, keep mu).
* ``factor_sizes``: the number of classes of each factor; factors are drawn uniformly and independently.

For a full-factorial dataset whose codes are already computed, :func:`representation_from_codes` gives
a ``represent`` that looks codes up by grid index, which makes both metrics take seconds.

beta-VAE score: draw a factor k; draw two batches of ``batch_size`` factor vectors that agree on factor
k only; the training point is the mean absolute difference of their codes, |z1 - z2| averaged over the
batch, with label k. A logistic regression learns k from these points; the score is its accuracy on a
fresh evaluation set. (A dimension that encodes k alone has a zero difference exactly when k is fixed.)

FactorVAE score: standardise each code dimension by its global standard deviation (from
``n_variance_estimate`` random points) and drop dimensions whose global standard deviation is below
``prune_threshold`` (collapsed to the prior); for a batch with factor k fixed, vote for the active
dimension of smallest relative variance; a majority-vote classifier maps each dimension to the factor it
was most often voted for; the score is the fraction of evaluation votes it gets right.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm.auto import tqdm

from course_lib.metrics._inputs import as_codes, as_factor_sizes, as_factors, as_rng
from course_lib.validation import positive_int

Represent = Callable[[np.ndarray], np.ndarray]
"""``represent(classes [n, K] int) -> mean codes [n, D]``."""

_ROWS_PER_CALL = 32768
"""How many observations one call to ``represent`` receives (memory vs call overhead)."""


def representation_from_codes(
    codes_of_every_grid_point: np.ndarray, factor_sizes: Sequence[int]
) -> Represent:
    """A ``represent`` that looks up precomputed mean codes of a full-factorial grid.

    Row i of ``codes_of_every_grid_point`` [prod(factor_sizes), D] must be the code of the grid point whose
    classes are ``np.unravel_index(i, factor_sizes)`` (row-major mixed radix, last factor fastest), which
    is how chapter 1's ``ToyDataset`` and dSprites order their observations.
    """
    codes = as_codes(codes_of_every_grid_point, "codes_of_every_grid_point")
    sizes = as_factor_sizes(factor_sizes)
    if codes.shape[0] != int(np.prod(sizes)):
        raise ValueError(
            f"a full grid with factor_sizes {tuple(sizes.tolist())} has {int(np.prod(sizes))} points,"
            f" but {codes.shape[0]} codes were given."
        )

    def represent(classes: np.ndarray) -> np.ndarray:
        classes = as_factors(classes, "classes")
        if classes.shape[1] != sizes.size:
            raise ValueError(
                f"classes must have {sizes.size} columns (one per factor), got {classes.shape[1]}."
            )
        if np.any(classes < 0) or np.any(classes >= sizes):
            raise ValueError(
                f"classes out of range: factor k takes values 0..factor_sizes[k]-1 = {sizes - 1}."
            )
        return codes[np.ravel_multi_index(tuple(classes.T), tuple(sizes))]

    return represent


def sample_factors(rng: np.random.Generator, factor_sizes: np.ndarray, n: int) -> np.ndarray:
    """``n`` factor vectors [n, K], each factor drawn uniformly from its classes, independently."""
    return np.stack([rng.integers(size, size=n) for size in factor_sizes], axis=1)


def _call(represent: Represent, classes: np.ndarray, n_dims: int | None) -> np.ndarray:
    """Call ``represent`` and check that it returned finite codes [n, D] (D fixed across calls)."""
    codes = as_codes(represent(classes), "represent(classes)")
    if codes.shape[0] != classes.shape[0]:
        raise ValueError(f"represent returned {codes.shape[0]} codes for {classes.shape[0]} factor vectors.")
    if n_dims is not None and codes.shape[1] != n_dims:
        raise ValueError(f"represent returned codes of dimension {codes.shape[1]}, earlier {n_dims}.")
    return codes


def _chunks(n_points: int, batch_size: int, progress: bool, label: str) -> Iterator[tuple[int, int]]:
    """Split ``n_points`` batches into (start, stop) chunks of about ``_ROWS_PER_CALL`` observations."""
    step = max(1, _ROWS_PER_CALL // batch_size)
    starts = range(0, n_points, step)
    for start in tqdm(starts, desc=label, disable=not progress, leave=False):
        yield start, min(start + step, n_points)


def _check_protocol(
    factor_sizes: Sequence[int], rng: np.random.Generator | int, batch_size: int
) -> tuple[np.ndarray, np.random.Generator, int]:
    """Validate the arguments shared by both scores; every factor needs at least two classes."""
    sizes = as_factor_sizes(factor_sizes)
    if np.any(sizes < 2):
        raise ValueError(
            f"factor_sizes {tuple(sizes.tolist())} contains a factor with a single class: it cannot be told"
            " apart from the others; leave it out of represent (evaluate_all does)."
        )
    return sizes, as_rng(rng), positive_int(batch_size, "batch_size", minimum=2)


def _beta_vae_points(
    represent: Represent,
    sizes: np.ndarray,
    rng: np.random.Generator,
    batch_size: int,
    n_points: int,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` training points of the beta-VAE score: features [n, D] = mean |z1 - z2|, labels [n]."""
    labels = rng.integers(sizes.size, size=n_points)
    features: np.ndarray | None = None
    for start, stop in _chunks(n_points, batch_size, progress, "beta-VAE score"):
        fixed = np.repeat(labels[start:stop], batch_size)
        first = sample_factors(rng, sizes, fixed.size)
        second = sample_factors(rng, sizes, fixed.size)
        rows = np.arange(fixed.size)
        second[rows, fixed] = first[rows, fixed]
        codes = _call(
            represent, np.concatenate([first, second]), None if features is None else features.shape[1]
        )
        difference = np.abs(codes[: fixed.size] - codes[fixed.size :])
        if features is None:
            features = np.empty((n_points, codes.shape[1]))
        features[start:stop] = difference.reshape(stop - start, batch_size, -1).mean(axis=1)
    return features, labels


def beta_vae_score(
    represent: Represent,
    factor_sizes: Sequence[int],
    rng: np.random.Generator | int,
    batch_size: int = 64,
    n_train: int = 10000,
    n_eval: int = 5000,
    progress: bool = False,
) -> dict:
    """The beta-VAE disentanglement score (Higgins et al. 2017) with disentanglement_lib's defaults.

    Args:
        represent: factor classes [n, K] -> mean codes [n, D] (see the module docstring).
        factor_sizes: classes per factor (every factor needs at least 2).
        rng: NumPy Generator (or seed) for all sampling.
        batch_size: pairs averaged into one point (64).
        n_train: points to fit the logistic regression (10,000).
        n_eval: fresh points to score it (5,000).
        progress: show a progress bar (useful when ``represent`` runs an encoder).

    The classifier is scikit-learn's ``LogisticRegression`` with its defaults (L2, C = 1, lbfgs) and
    ``max_iter=1000`` so that it converges on raw code differences. Chance level is 1 / K.
    Returns ``dict(train_accuracy, eval_accuracy)``.
    """
    sizes, rng, batch_size = _check_protocol(factor_sizes, rng, batch_size)
    n_train, n_eval = positive_int(n_train, "n_train"), positive_int(n_eval, "n_eval")
    train_x, train_y = _beta_vae_points(represent, sizes, rng, batch_size, n_train, progress)
    eval_x, eval_y = _beta_vae_points(represent, sizes, rng, batch_size, n_eval, progress)
    if np.unique(train_y).size < 2:
        raise ValueError("n_train is too small: the training points hold a single fixed factor.")
    model = LogisticRegression(max_iter=1000).fit(train_x, train_y)
    return {
        "train_accuracy": float(model.score(train_x, train_y)),
        "eval_accuracy": float(model.score(eval_x, eval_y)),
    }


def _factor_vae_votes(
    represent: Represent,
    sizes: np.ndarray,
    rng: np.random.Generator,
    batch_size: int,
    n_points: int,
    global_std: np.ndarray,
    active: np.ndarray,
    progress: bool,
) -> np.ndarray:
    """Votes [K, D]: how often fixing factor k made dimension d the least varying active dimension."""
    votes = np.zeros((sizes.size, global_std.size), dtype=np.int64)
    active_index = np.flatnonzero(active)
    labels = rng.integers(sizes.size, size=n_points)
    for start, stop in _chunks(n_points, batch_size, progress, "FactorVAE score"):
        fixed = labels[start:stop]
        classes = sample_factors(rng, sizes, (stop - start) * batch_size).reshape(
            stop - start, batch_size, -1
        )
        batch = np.arange(stop - start)
        classes[batch, :, fixed] = classes[batch, 0, fixed][:, None]
        codes = _call(represent, classes.reshape(-1, sizes.size), global_std.size)
        local_variance = codes.reshape(stop - start, batch_size, -1)[:, :, active].var(axis=1, ddof=1)
        winner = active_index[np.argmin(local_variance / global_std[active] ** 2, axis=1)]
        np.add.at(votes, (fixed, winner), 1)
    return votes


def factor_vae_score(
    represent: Represent,
    factor_sizes: Sequence[int],
    rng: np.random.Generator | int,
    batch_size: int = 64,
    n_train: int = 10000,
    n_eval: int = 5000,
    n_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
    progress: bool = False,
) -> dict:
    """The FactorVAE disentanglement score (Kim & Mnih 2018) with disentanglement_lib's defaults.

    Args:
        represent: factor classes [n, K] -> mean codes [n, D] (see the module docstring).
        factor_sizes: classes per factor (every factor needs at least 2).
        rng: NumPy Generator (or seed) for all sampling.
        batch_size: observations per vote, all sharing the fixed factor (64).
        n_train: votes that build the majority-vote classifier (10,000).
        n_eval: fresh votes it is scored on (5,000).
        n_variance_estimate: random observations for the global standard deviations (10,000).
        prune_threshold: dimensions whose global standard deviation is below it are ignored (0.05).
            This is an absolute scale, meant for VAE mean codes of roughly unit scale: a dimension that
            you shrink by 100 gets pruned. Constant dimensions are always dropped.
        progress: show a progress bar.

    Returns ``dict(train_accuracy, eval_accuracy, active_dims)`` (``active_dims``: how many dimensions
    survived pruning; with none, both accuracies are 0). Chance level is about 1 / K.
    """
    sizes, rng, batch_size = _check_protocol(factor_sizes, rng, batch_size)
    n_train, n_eval = positive_int(n_train, "n_train"), positive_int(n_eval, "n_eval")
    n_variance_estimate = positive_int(n_variance_estimate, "n_variance_estimate", minimum=2)
    if not prune_threshold >= 0:
        raise ValueError(f"prune_threshold must be >= 0, got {prune_threshold!r}.")
    global_std = _call(represent, sample_factors(rng, sizes, n_variance_estimate), None).std(axis=0, ddof=1)
    active = (global_std >= prune_threshold) & (global_std > 0)
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "active_dims": 0}
    train_votes = _factor_vae_votes(represent, sizes, rng, batch_size, n_train, global_std, active, progress)
    eval_votes = _factor_vae_votes(represent, sizes, rng, batch_size, n_eval, global_std, active, progress)
    majority = np.argmax(train_votes, axis=0)  # the factor each dimension was most often voted for
    dims = np.arange(global_std.size)
    return {
        "train_accuracy": float(train_votes[majority, dims].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[majority, dims].sum() / eval_votes.sum()),
        "active_dims": int(active.sum()),
    }
