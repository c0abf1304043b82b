"""Mutual information between code dimensions and factors, the Mutual Information Gap (MIG), MI tables.

Taught in chapters/03_1_beta_vae.ipynb (the factor x latent heatmap, the MIG exercise, and the labels
``"z3 ~ f0 (0.63)"`` of the traversals heard there: :func:`latent_factor_table`, :func:`factor_labels`).

MIG (Chen et al. 2018, as computed by disentanglement_lib): discretise every code dimension into
``n_bins`` equal-width bins, estimate the mutual information I(z_d; v_k) of each binned dimension with
each factor by counting (``sklearn.metrics.mutual_info_score``, in nats), and for each factor take the gap
between the largest and the second largest I over code dimensions, divided by the factor's entropy
H(v_k). The score is the mean gap over factors, in [0, 1].

What the score does and does not depend on
------------------------------------------
* Order of the code dimensions and order of the factors: no effect (the per-factor gaps follow the
  factors' order, their mean does not).
* Affine rescaling ``a * z_d + b`` of a code dimension (any a != 0): no effect, because equal-width bins
  between the minimum and the maximum move with the data. (Exactly so when no value sits on a bin edge;
  tied, grid-valued codes can trade a point between neighbouring bins.)
* A non-linear monotone map (say ``exp``) of a code dimension: it CAN change the score. Equal-width bins
  are not rank-based: ``exp`` crowds the small values into the first bin and merges levels that the
  original code kept apart. MIG is only as good as its discretisation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import mutual_info_score

from course_lib.metrics._inputs import codes_and_factors, require_varying_factors
from course_lib.validation import positive_int


def histogram_discretise(codes: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Bin each column of ``codes`` [N, D] into ``n_bins`` equal-width bins; returns ints in 1..n_bins.

    The bins span [min, max] of each column; the maximum falls in the last bin (disentanglement_lib's
    ``np.digitize(x, np.histogram(x, n_bins)[1][:-1])``). A constant column lands in a single bin.
    """
    n_bins = positive_int(n_bins, "n_bins", minimum=2)
    codes = np.asarray(codes, dtype=np.float64)
    binned = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, d], bins=n_bins)
        binned[:, d] = np.digitize(codes[:, d], edges[:-1])
    return binned


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """Entropy H(v_k) in nats of each factor column of ``factors`` [N, K] (empirical class frequencies)."""
    return np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])


def mutual_information_matrix(
    codes: np.ndarray, factors: np.ndarray, n_bins: int = 20, normalise: bool = False
) -> np.ndarray:
    """Mutual information I(z_d; v_k) in nats between binned code dimensions and factors, shape [D, K].

    Args:
        codes: [N, D] float mean codes (one row per observation).
        factors: [N, K] integer factor classes of the same observations.
        n_bins: equal-width bins per code dimension (20 in disentanglement_lib).
        normalise: divide column k by H(v_k), so that 1 means "z_d determines v_k"; every factor must
            then take at least two values.
    """
    codes, factors = codes_and_factors(codes, factors)
    binned = histogram_discretise(codes, n_bins)
    matrix = np.array(
        [
            [mutual_info_score(factors[:, k], binned[:, d]) for k in range(factors.shape[1])]
            for d in range(codes.shape[1])
        ]
    )
    if normalise:
        require_varying_factors(factors)
        matrix = matrix / factor_entropies(factors)[None, :]
    return matrix


def mig(codes: np.ndarray, factors: np.ndarray, n_bins: int = 20) -> dict:
    """Mutual Information Gap of ``codes`` [N, D] against integer ``factors`` [N, K].

    Returns ``dict(score=float, per_factor=np.ndarray[K])`` where
    ``per_factor[k] = (I_top1(k) - I_top2(k)) / H(v_k)`` over code dimensions, and ``score`` is their mean.
    Needs D >= 2 (a gap needs two candidates) and every factor must take at least two values.
    ``n_bins`` is the equal-width histogram size (disentanglement_lib: 20, on 10,000 sampled points).
    """
    codes, factors = codes_and_factors(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError(
            f"MIG compares the two most informative code dimensions: need D >= 2, got D = {codes.shape[1]}."
        )
    require_varying_factors(factors)
    matrix = mutual_information_matrix(codes, factors, n_bins=n_bins)
    top_two = np.sort(matrix, axis=0)[-2:, :]
    per_factor = (top_two[1] - top_two[0]) / factor_entropies(factors)
    return {"score": float(np.mean(per_factor)), "per_factor": per_factor}


def latent_factor_table(
    mi: np.ndarray, factor_names: Sequence[str], dim_labels: Sequence[str] | None = None
) -> pd.DataFrame:
    """For each latent: the factor it shares the most normalised mutual information with, and the gap.

    ``mi`` is [latents, factors] (e.g. ``mutual_information_matrix(..., normalise=True)``).
    Returns a DataFrame with ``best_factor``, ``mi`` (its value) and ``gap`` (minus the second best).
    """
    mi = np.asarray(mi, dtype=np.float64)
    if mi.ndim != 2 or mi.shape[1] != len(factor_names) or mi.shape[1] < 2:
        raise ValueError(f"mi must be [latents, {len(factor_names)} >= 2 factors], got {mi.shape}.")
    labels = list(dim_labels) if dim_labels is not None else [f"z{d}" for d in range(mi.shape[0])]
    if len(labels) != mi.shape[0]:
        raise ValueError(f"need {mi.shape[0]} latent labels, got {len(labels)}.")
    ordered = np.sort(mi, axis=1)
    best = mi.argmax(axis=1)
    return pd.DataFrame(
        {
            "best_factor": [factor_names[k] for k in best],
            "mi": ordered[:, -1],
            "gap": ordered[:, -1] - ordered[:, -2],
        },
        index=pd.Index(labels, name="latent"),
    )


def factor_labels(mi: np.ndarray, factor_names: Sequence[str], dims: Sequence[int]) -> list[str]:
    """Labels such as ``"z3 ~ tilt (0.62)"`` for the latents ``dims``: the factor each shares most with.

    ``mi`` is the normalised [latents, factors] information matrix of :func:`latent_factor_table`; the
    number in brackets is that normalised mutual information (1: the latent determines the factor).
    """
    table = latent_factor_table(mi, factor_names)
    if any(not 0 <= int(d) < len(table) for d in dims):
        raise ValueError(f"dims must index the {len(table)} latents of mi, got {list(dims)}.")
    return [f"z{int(d)} ~ {table.best_factor.iloc[int(d)]} ({table.mi.iloc[int(d)]:.2f})" for d in dims]
