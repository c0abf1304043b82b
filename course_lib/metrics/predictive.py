"""Metrics that predict each factor from the code: DCI (Eastwood & Williams 2018) and SAP (Kumar et al. 2018).

Taught in chapters/03_1_beta_vae.ipynb.

DCI fits one gradient-boosted tree classifier per factor on the code and reads an importance matrix
R [D, K] (how much each code dimension is used to predict each factor; each column sums to 1):

* disentanglement: each code dimension should matter for one factor only. Per code
  D_d = 1 - H_K(P_d.) with P_dk = R_dk / sum_k R_dk (entropy in base K); the score weights D_d by the
  dimension's share of the total importance, sum_k R_dk / sum R.
* completeness: each factor should be captured by one code dimension. Per factor
  C_k = 1 - H_D(P_.k) with P_dk = R_dk / sum_d R_dk (base D), weighted by sum_d R_dk / sum R.
* informativeness: how well the code predicts the factors. Like disentanglement_lib we report the mean
  classification ACCURACY on held-out points (higher is better), not the paper's prediction error.

Classifier. disentanglement_lib uses ``GradientBoostingClassifier()`` (100 stages, learning rate 0.1,
depth 3) and its impurity-based ``feature_importances_``. On this 2-core CPU that took 118 s for 10,000
points of 10-dimensional codes and 5 factors of 8-10 classes, so by default we fit
``HistGradientBoostingClassifier`` with the same 100 stages, learning rate 0.1 and depth 3 (5.5 s on the
same points), and take as importance the total split gain per code dimension (scikit-learn exposes no
importances for it: we sum the ``gain`` of every split node of every tree, then normalise each factor's
column to 1, as ``feature_importances_`` is). Its split gain is a Newton step, G^2 / (H + l2): once the
classes are separated, H is tiny and late trees would win large "gains" by splitting noise dimensions;
``l2_regularization=1`` (with the default 20 samples per leaf) damps that. On 18 synthetic
representations (two factor pairs rotated by 0-45 degrees at four noise levels, random codes, a
collapsed factor) the two classifiers' disentanglement and completeness had a Spearman rank correlation
of 0.99, the largest difference being 0.08 (a slightly rotated, nearly noiseless code).
``booster="exact"`` runs disentanglement_lib's classifier; a unit test checks that both order a series
of rotations alike.

SAP fits, for every pair (code dimension d, factor k), a linear SVM that predicts v_k from z_d alone
(``LinearSVC(C=0.01, class_weight="balanced")`` as in disentanglement_lib), takes its accuracy as the
score S_dk, and averages over factors the gap between the best and second best dimension. Unlike
disentanglement_lib, each code dimension is standardised (training mean and standard deviation) first:
with C = 0.01 the raw-code accuracy depends on the code's units, which a score should not.

SAP cannot reach 1. The second best dimension scores at least chance, so a perfect code gets at most
1 - 1/c on a factor of c balanced classes; worse, a one-vs-rest linear SVM on a single dimension cannot
isolate the middle classes of an ordered factor. Measured with this module on a perfect code (the
factor's class index itself, 3,000 fitting and 1,000 held-out points): c = 2: 0.50, 3: 0.66, 5: 0.59,
8: 0.11, 12: 0.08, 20: 0.03. Compare SAP between models on the same factors, never with 1.
``continuous=True`` (squared correlation with the class index, sensible for ordered factors such as
pitch or level) has no such ceiling: a perfect linear code scores close to 1.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.svm import LinearSVC

from course_lib.metrics._inputs import codes_and_factors, require_varying_factors
from course_lib.validation import positive_int


def _hist_gbt_importance(model: HistGradientBoostingClassifier, n_features: int) -> np.ndarray:
    """Total split gain per feature over every tree of a fitted HistGradientBoostingClassifier."""
    importance = np.zeros(n_features)
    for stage in model._predictors:  # one TreePredictor per class (one for binary problems) per stage
        for tree in stage:
            split = tree.nodes["is_leaf"] == 0
            np.add.at(importance, tree.nodes["feature_idx"][split], tree.nodes["gain"][split])
    return importance


def _fit_booster(booster: str, codes: np.ndarray, target: np.ndarray, n_stages: int, seed: int):
    """Fit one factor's gradient-boosted classifier; returns (model, unnormalised importance [D])."""
    if booster == "hist":
        model = HistGradientBoostingClassifier(
            max_iter=n_stages,
            learning_rate=0.1,
            max_depth=3,
            max_leaf_nodes=None,
            min_samples_leaf=20,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        ).fit(codes, target)
        return model, _hist_gbt_importance(model, codes.shape[1])
    model = GradientBoostingClassifier(n_estimators=n_stages, random_state=seed).fit(codes, target)
    return model, np.abs(model.feature_importances_)


def _one_minus_normalised_entropy(weights: np.ndarray) -> np.ndarray:
    """1 - H(p) / log(n) for each row of non-negative ``weights`` [m, n]; all-zero rows count as uniform."""
    n = weights.shape[1]
    if n == 1:
        return np.ones(weights.shape[0])
    totals = weights.sum(axis=1, keepdims=True)
    p = np.where(totals > 0, weights / np.where(totals > 0, totals, 1.0), 1.0 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return 1.0 - entropy / np.log(n)


def _weighted(scores: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean of ``scores`` with non-negative ``weights`` (uniform weights when they are all zero)."""
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    return float(np.sum(scores * weights) / weights.sum())


def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    *,
    booster: Literal["hist", "exact"] = "hist",
    n_stages: int = 100,
    seed: int = 0,
) -> dict:
    """Disentanglement, completeness and informativeness of a code (see the module docstring).

    Args:
        codes_train, factors_train: [N, D] mean codes and [N, K] integer factor classes used to fit
            one classifier per factor (disentanglement_lib: 10,000 sampled points).
        codes_test, factors_test: held-out points scoring informativeness (disentanglement_lib: 5,000).
        booster: "hist" (default, fast, gain importances) or "exact" (disentanglement_lib's
            ``GradientBoostingClassifier``, about 25x slower).
        n_stages: boosting stages (100, scikit-learn's and disentanglement_lib's default).
        seed: random_state of the classifiers.

    Returns a dict with ``disentanglement``, ``completeness``, ``informativeness`` (mean held-out
    accuracy), ``informativeness_train``, ``importance`` [D, K] (columns sum to 1 unless a factor used no
    split), ``disentanglement_per_code`` [D], ``completeness_per_factor`` [K] and
    ``informativeness_per_factor`` [K].
    """
    codes_train, factors_train = codes_and_factors(codes_train, factors_train, "_train")
    codes_test, factors_test = codes_and_factors(codes_test, factors_test, "_test")
    if codes_test.shape[1] != codes_train.shape[1] or factors_test.shape[1] != factors_train.shape[1]:
        raise ValueError(
            f"train and test disagree: codes have D = {codes_train.shape[1]} vs {codes_test.shape[1]},"
            f" factors have K = {factors_train.shape[1]} vs {factors_test.shape[1]}."
        )
    if booster not in ("hist", "exact"):
        raise ValueError(f"booster must be 'hist' or 'exact', got {booster!r}.")
    n_stages = positive_int(n_stages, "n_stages")
    require_varying_factors(factors_train, "factors_train")
    n_codes, n_factors = codes_train.shape[1], factors_train.shape[1]
    importance = np.zeros((n_codes, n_factors))
    accuracy_train, accuracy_test = np.zeros(n_factors), np.zeros(n_factors)
    for k in range(n_factors):
        model, raw = _fit_booster(booster, codes_train, factors_train[:, k], n_stages, seed)
        importance[:, k] = raw / raw.sum() if raw.sum() > 0 else raw
        accuracy_train[k] = np.mean(model.predict(codes_train) == factors_train[:, k])
        accuracy_test[k] = np.mean(model.predict(codes_test) == factors_test[:, k])
    per_code = _one_minus_normalised_entropy(importance)
    per_factor = _one_minus_normalised_entropy(importance.T)
    return {
        "disentanglement": _weighted(per_code, importance.sum(axis=1)),
        "completeness": _weighted(per_factor, importance.sum(axis=0)),
        "informativeness": float(np.mean(accuracy_test)),
        "informativeness_train": float(np.mean(accuracy_train)),
        "importance": importance,
        "disentanglement_per_code": per_code,
        "completeness_per_factor": per_factor,
        "informativeness_per_factor": accuracy_test,
    }


def _sap_matrix_discrete(
    codes: np.ndarray, factors: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray, svm_c: float
) -> np.ndarray:
    """Held-out accuracy [D, K] of a 1-D linear SVM predicting factor k from standardised code dim d."""
    mean, std = codes.mean(axis=0), codes.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    train, test = (codes - mean) / std, (codes_test - mean) / std
    matrix = np.zeros((codes.shape[1], factors.shape[1]))
    for d in range(codes.shape[1]):
        for k in range(factors.shape[1]):
            svm = LinearSVC(C=svm_c, class_weight="balanced", random_state=0)
            svm.fit(train[:, d : d + 1], factors[:, k])
            matrix[d, k] = np.mean(svm.predict(test[:, d : d + 1]) == factors_test[:, k])
    return matrix


def _sap_matrix_continuous(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Squared correlation [D, K] of code dim d with the class index of factor k (0 if z_d is constant)."""
    z = codes - codes.mean(axis=0)
    v = factors - factors.mean(axis=0)
    covariance = z.T @ v / len(z)
    variance_z, variance_v = np.mean(z**2, axis=0), np.mean(v**2, axis=0)
    denominator = np.outer(variance_z, variance_v)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 1e-12, covariance**2 / denominator, 0.0)


def sap(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray | None = None,
    factors_test: np.ndarray | None = None,
    *,
    continuous: bool = False,
    svm_c: float = 0.01,
) -> dict:
    """Separated Attribute Predictability of ``codes`` [N, D] against integer ``factors`` [N, K].

    Args:
        codes, factors: points to fit on (disentanglement_lib: 10,000 sampled points).
        codes_test, factors_test: held-out points to score the classifiers on (disentanglement_lib:
            5,000); when both are left out the accuracy is measured on the fitting points (a 1-D linear
            rule barely overfits thousands of points).
        continuous: False (disentanglement_lib's choice): S_dk = accuracy of a linear SVM on z_d.
            True: S_dk = squared correlation of z_d with the class index of factor k (Kumar et al.'s
            rule for continuous attributes; ignores the test points).
        svm_c: the SVM's inverse regularisation (0.01 in disentanglement_lib), on standardised codes.

    Returns ``dict(score, per_factor [K], matrix [D, K])`` with per_factor = best minus second best S
    over code dimensions. Needs D >= 2.
    """
    codes, factors = codes_and_factors(codes, factors)
    if (codes_test is None) != (factors_test is None):
        raise ValueError("pass both codes_test and factors_test, or neither.")
    if codes_test is None:
        codes_test, factors_test = codes, factors
    else:
        codes_test, factors_test = codes_and_factors(codes_test, factors_test, "_test")
        if codes_test.shape[1] != codes.shape[1] or factors_test.shape[1] != factors.shape[1]:
            raise ValueError("codes_test/factors_test must have the same D and K as codes/factors.")
    if codes.shape[1] < 2:
        raise ValueError(
            f"SAP compares the two most predictive code dimensions: need D >= 2, got D = {codes.shape[1]}."
        )
    if not svm_c > 0:
        raise ValueError(f"svm_c must be positive, got {svm_c!r}.")
    require_varying_factors(factors)
    if continuous:
        matrix = _sap_matrix_continuous(codes, factors)
    else:
        matrix = _sap_matrix_discrete(codes, factors, codes_test, factors_test, svm_c)
    top_two = np.sort(matrix, axis=0)[-2:, :]
    per_factor = top_two[1] - top_two[0]
    return {"score": float(np.mean(per_factor)), "per_factor": per_factor, "matrix": matrix}
