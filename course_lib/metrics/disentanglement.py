"""All five disentanglement metrics at once, on the mean codes of a full-factorial grid.

Taught in chapters/03_1_beta_vae.ipynb (the beta sweep table) and reused in chapter 4.

:func:`evaluate_all` follows disentanglement_lib's protocol: the interventional scores (beta-VAE,
FactorVAE) sample factor vectors and look their codes up in the grid; the observational scores (MIG,
DCI, SAP) run on points drawn uniformly, with replacement, from the grid. One departure: DCI and SAP
draw their held-out points from a random third of the grid that their training points never come from.
disentanglement_lib draws both sets from the whole dataset, which is harmless on dSprites' 737,280
images but, on a grid of a few thousand sounds, lets a memorising classifier "predict" test points it
has seen (random codes then get a DCI informativeness far above chance). Every sample count is a field
of :class:`MetricSettings`; :data:`DISENTANGLEMENT_LIB` holds that library's defaults and :data:`REDUCED`
(also named :data:`FAST`) a fifth of its samples. The caller chooses the settings (a chapter with
``config.pick(fast=FAST, full=...)``): this module never reads the fast/full switch.

DCI's classifier is a setting too: ``dci_booster="hist"`` (the default, about 25x faster) or
``"exact"`` (disentanglement_lib's ``GradientBoostingClassifier``). The two can differ by about a tenth
on the same codes, so compare a DCI with published numbers only when it was computed with ``"exact"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from course_lib.metrics._inputs import as_codes, as_factor_sizes, as_factors, as_rng
from course_lib.metrics.information import mig
from course_lib.metrics.interventional import beta_vae_score, factor_vae_score, representation_from_codes
from course_lib.metrics.predictive import dci, sap


@dataclass(frozen=True)
class MetricSettings:
    """Sample counts and parameters of :func:`evaluate_all` (defaults: disentanglement_lib's)."""

    batch_size: int = 64
    """beta-VAE and FactorVAE scores: observations behind one training point / vote."""
    beta_vae_train: int = 10000
    """beta-VAE score: points fitting the logistic regression."""
    beta_vae_eval: int = 5000
    """beta-VAE score: points scoring it."""
    factor_vae_train: int = 10000
    """FactorVAE score: votes building the majority-vote classifier."""
    factor_vae_eval: int = 5000
    """FactorVAE score: votes scoring it."""
    factor_vae_variance: int = 10000
    """FactorVAE score: observations estimating each dimension's global standard deviation."""
    prune_threshold: float = 0.05
    """FactorVAE score: dimensions with a global standard deviation below this are ignored."""
    mig_points: int = 10000
    """MIG: sampled points."""
    mig_bins: int = 20
    """MIG: equal-width histogram bins per code dimension."""
    dci_train: int = 10000
    """DCI: points fitting the gradient-boosted trees."""
    dci_test: int = 5000
    """DCI: held-out points for informativeness."""
    sap_train: int = 10000
    """SAP: points fitting the one-dimensional SVMs."""
    sap_test: int = 5000
    """SAP: held-out points scoring them."""
    dci_booster: Literal["hist", "exact"] = "hist"
    """DCI: "hist" (fast) or "exact" (disentanglement_lib's classifier; see the module docstring)."""


DISENTANGLEMENT_LIB = MetricSettings(dci_booster="exact")
"""disentanglement_lib's settings (Locatello et al. 2019, unsupervised study v1), DCI classifier included."""

REDUCED = MetricSettings(
    beta_vae_train=2000,
    beta_vae_eval=1000,
    factor_vae_train=2000,
    factor_vae_eval=1000,
    factor_vae_variance=5000,
    dci_train=2000,
    dci_test=1000,
    sap_train=2000,
    sap_test=1000,
)
"""disentanglement_lib's parameters with a fifth of its samples (half for FactorVAE's variance; MIG
keeps 10,000 points: it is cheap). The counts of ``results/recurrent_vs_mlp.csv`` (chapter 4) and of the
experiments' smoke tests (:data:`FAST`)."""

FAST = REDUCED
"""The name the tests and the experiments' ``FAST`` settings use for :data:`REDUCED` (the same object)."""


def _check_grid(codes_grid: object, classes_grid: object, factor_sizes: Sequence[int]):
    """Validate a full-factorial grid in row-major order (last factor fastest)."""
    codes = as_codes(codes_grid, "codes_grid")
    classes = as_factors(classes_grid, "classes_grid")
    sizes = as_factor_sizes(factor_sizes)
    if classes.shape != (int(np.prod(sizes)), sizes.size):
        raise ValueError(
            f"classes_grid has shape {classes.shape}, but a full grid with factor_sizes"
            f" {tuple(sizes.tolist())} has shape {(int(np.prod(sizes)), sizes.size)}."
        )
    if codes.shape[0] != classes.shape[0]:
        raise ValueError(f"codes_grid has {codes.shape[0]} rows but classes_grid has {classes.shape[0]}.")
    if np.any(classes < 0) or np.any(classes >= sizes):
        raise ValueError(f"classes_grid is out of range: factor k takes values 0..{(sizes - 1).tolist()}[k].")
    if not np.array_equal(np.ravel_multi_index(tuple(classes.T), tuple(sizes)), np.arange(classes.shape[0])):
        raise ValueError(
            "classes_grid is not in row-major grid order (row i = np.unravel_index(i, factor_sizes))."
        )
    return codes, classes, sizes


def evaluate_all(
    codes_grid: np.ndarray,
    classes_grid: np.ndarray,
    factor_sizes: Sequence[int],
    rng: np.random.Generator | int,
    *,
    settings: MetricSettings = DISENTANGLEMENT_LIB,
    factor_names: Sequence[str] | None = None,
    progress: bool = False,
) -> dict:
    """Every disentanglement score of one representation, as a flat dict of numbers (one table row).

    Args:
        codes_grid: [N, D] mean codes of every grid point, in grid order.
        classes_grid: [N, K] factor classes of the grid points
            (row i = ``np.unravel_index(i, factor_sizes)``).
        factor_sizes: classes per factor; factors with a single class are left out of every score
            (as disentanglement_lib leaves out dSprites' colour).
        rng: NumPy Generator (or seed) for all sampling.
        settings: sample counts and DCI classifier (:data:`DISENTANGLEMENT_LIB`, :data:`FAST` or your own).
        factor_names: names of the K factors for the per-factor MIG keys (default factor0, factor1...).
        progress: progress bars for the interventional scores.

    Keys: ``beta_vae_train_accuracy``, ``beta_vae_eval_accuracy``, ``factor_vae_train_accuracy``,
    ``factor_vae_eval_accuracy``, ``factor_vae_active_dims``, ``mig``, ``mig_<factor name>`` (one per
    kept factor), ``dci_disentanglement``, ``dci_completeness``, ``dci_informativeness``,
    ``dci_informativeness_train``, ``sap`` (disentanglement_lib's: accuracy of 1-D linear SVMs) and
    ``sap_continuous`` (squared correlation with the class index; see :mod:`.predictive` for why the
    former stays far below 1 on factors with many classes).
    """
    codes, classes, sizes = _check_grid(codes_grid, classes_grid, factor_sizes)
    rng = as_rng(rng)
    names = [f"factor{k}" for k in range(sizes.size)] if factor_names is None else list(factor_names)
    if len(names) != sizes.size:
        raise ValueError(f"factor_names has {len(names)} names for {sizes.size} factors.")
    kept = np.flatnonzero(sizes > 1)
    if kept.size == 0:
        raise ValueError("every factor has a single class: there is nothing to disentangle.")
    lookup = representation_from_codes(codes, sizes)

    def represent(kept_classes: np.ndarray) -> np.ndarray:
        full = np.zeros((kept_classes.shape[0], sizes.size), dtype=np.int64)
        full[:, kept] = kept_classes
        return lookup(full)

    s = settings
    beta = beta_vae_score(
        represent, sizes[kept], rng, s.batch_size, s.beta_vae_train, s.beta_vae_eval, progress
    )
    factor_vae = factor_vae_score(
        represent,
        sizes[kept],
        rng,
        s.batch_size,
        s.factor_vae_train,
        s.factor_vae_eval,
        s.factor_vae_variance,
        s.prune_threshold,
        progress,
    )

    order = rng.permutation(codes.shape[0])
    held_out, fitting = order[: max(1, codes.shape[0] // 3)], order[max(1, codes.shape[0] // 3) :]

    def draw(pool: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows = pool[rng.integers(pool.size, size=n)]
        return codes[rows], classes[rows][:, kept]

    everything = np.arange(codes.shape[0])
    mig_result = mig(*draw(everything, s.mig_points), n_bins=s.mig_bins)
    dci_result = dci(
        *draw(fitting, s.dci_train),
        *draw(held_out, s.dci_test),
        booster=s.dci_booster,
        seed=int(rng.integers(2**31 - 1)),
    )
    sap_train = draw(fitting, s.sap_train)
    sap_result = sap(*sap_train, *draw(held_out, s.sap_test))
    return {
        "beta_vae_train_accuracy": beta["train_accuracy"],
        "beta_vae_eval_accuracy": beta["eval_accuracy"],
        "factor_vae_train_accuracy": factor_vae["train_accuracy"],
        "factor_vae_eval_accuracy": factor_vae["eval_accuracy"],
        "factor_vae_active_dims": factor_vae["active_dims"],
        "mig": mig_result["score"],
        **{f"mig_{names[k]}": float(gap) for k, gap in zip(kept, mig_result["per_factor"], strict=True)},
        "dci_disentanglement": dci_result["disentanglement"],
        "dci_completeness": dci_result["completeness"],
        "dci_informativeness": dci_result["informativeness"],
        "dci_informativeness_train": dci_result["informativeness_train"],
        "sap": sap_result["score"],
        "sap_continuous": sap(*sap_train, continuous=True)["score"],
    }
