"""Known-answer tests of course_lib.metrics on synthetic codes.

What "near the top" means here (each threshold below is asserted):
* MIG > 0.9 for a permuted, affinely or mildly monotonically rescaled copy of the factors with extra
  noise dimensions; < 0.05 for random codes; exactly 1 or 0 on hand-made two-point cases.
* beta-VAE and FactorVAE evaluation accuracy > 0.95 for the aligned code; below chance + 0.1 for random.
* DCI disentanglement and completeness > 0.9 and informativeness > 0.95 for the aligned code;
  disentanglement < 0.2 and informativeness below chance + 0.1 for random codes.
* SAP (disentanglement_lib's 1-D linear SVMs) cannot reach 1 on many-class factors even for a perfect
  code (see course_lib.metrics.predictive), so it is checked against random codes (> 0.15 vs < 0.05 on
  factors of 5-10 classes, > 0.05 on 8-12 classes); its continuous variant (squared correlation) > 0.95.
* A 45-degree rotation mixing two factors lowers MIG, DCI disentanglement and SAP.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import metrics
from course_lib.checks import SelfCheckFailed, ch03
from course_lib.metrics import disentanglement

SIZES = (10, 8, 6, 5)
GRID = np.stack(np.unravel_index(np.arange(int(np.prod(SIZES))), SIZES), axis=1)
SMALL_SIZES = (5, 4, 3)  # for the tree-based DCI, to keep the file fast


def _sample_factors(rng, sizes, n):
    return np.stack([rng.integers(size, size=n) for size in sizes], axis=1)


def _aligned(factors, rng, sizes, noise_dims=2, jitter=0.0):
    """A permuted, affinely rescaled (some scales negative) copy of the factors plus noise dimensions."""
    scales = np.array([2.0, -0.7, 3.1, -1.3, 0.9])[: factors.shape[1]]
    values = (factors / (np.asarray(sizes) - 1) - 0.5) * scales + np.arange(factors.shape[1])
    values = values + jitter * rng.normal(size=values.shape)
    columns = [*values.T, *rng.normal(size=(noise_dims, len(factors)))]
    return np.stack([columns[i] for i in np.roll(np.arange(len(columns)), 3)], axis=1)  # permuted


def _rotate_first_two(factors, sizes, rng, noise_dims=2):
    """The aligned code with factors 0 and 1 mixed by a 45-degree rotation (unpermuted for clarity)."""
    values = factors / (np.asarray(sizes) - 1) - 0.5
    c = np.sqrt(0.5)
    mixed = np.stack([c * (values[:, 0] + values[:, 1]), c * (values[:, 0] - values[:, 1])], axis=1)
    return np.concatenate([mixed, values[:, 2:], rng.normal(size=(len(factors), noise_dims))], axis=1)


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(0)
    factors = _sample_factors(rng, SIZES, 5000)
    return {
        "factors": factors,
        "aligned": _aligned(factors, rng, SIZES),
        "random": rng.normal(size=(len(factors), 6)),
        "rotated": _rotate_first_two(factors, SIZES, rng),
    }


@pytest.fixture(scope="module")
def dci_data():
    rng = np.random.default_rng(1)
    train, test = _sample_factors(rng, SMALL_SIZES, 1000), _sample_factors(rng, SMALL_SIZES, 500)
    codes = {
        "aligned": (
            _aligned(train, rng, SMALL_SIZES, jitter=0.02),
            _aligned(test, rng, SMALL_SIZES, jitter=0.02),
        ),
        "random": (rng.normal(size=(1000, 5)), rng.normal(size=(500, 5))),
        "rotated": (_rotate_first_two(train, SMALL_SIZES, rng), _rotate_first_two(test, SMALL_SIZES, rng)),
    }
    return train, test, codes


# ----------------------------------------------------------------------------------------------- MIG


def test_mig_hand_made_two_point_cases():
    factor = np.array([[0], [1]] * 50)
    perfect = np.concatenate([factor, np.zeros_like(factor)], axis=1).astype(float)
    assert metrics.mig(perfect, factor)["score"] == pytest.approx(1.0)
    duplicated = np.concatenate([factor, factor], axis=1).astype(float)
    assert metrics.mig(duplicated, factor)["score"] == pytest.approx(0.0)


def test_mutual_information_matrix_known_values():
    factor = np.array([[0, 0], [1, 0], [0, 1], [1, 1]] * 25)
    codes = np.stack([factor[:, 0], np.zeros(100), factor[:, 1] * 5.0], axis=1)
    matrix = metrics.mutual_information_matrix(codes, factor)
    assert matrix.shape == (3, 2)
    np.testing.assert_allclose(matrix, [[np.log(2), 0], [0, 0], [0, np.log(2)]], atol=1e-12)
    np.testing.assert_allclose(
        metrics.mutual_information_matrix(codes, factor, normalise=True), matrix / np.log(2)
    )


def test_histogram_discretise_uses_equal_width_bins_with_the_maximum_in_the_last():
    binned = metrics.histogram_discretise(np.array([[0.0], [0.49], [0.5], [1.0]]), n_bins=2)
    np.testing.assert_array_equal(binned[:, 0], [1, 1, 2, 2])


@pytest.mark.parametrize("name", ["aligned", "mild_monotone"])
def test_mig_near_one_for_a_rescaled_copy_of_the_factors(samples, name):
    factors = samples["factors"]
    codes = samples["aligned"] if name == "aligned" else np.exp(factors / (np.array(SIZES) - 1))
    result = metrics.mig(codes, factors)
    assert result["score"] > 0.9 and np.all(result["per_factor"] > 0.9)
    assert result["per_factor"].shape == (len(SIZES),)


def test_mig_low_for_random_codes(samples):
    assert metrics.mig(samples["random"], samples["factors"])["score"] < 0.05


def test_mig_drops_when_two_factors_are_rotated_together(samples):
    aligned = metrics.mig(samples["aligned"], samples["factors"])
    rotated = metrics.mig(samples["rotated"], samples["factors"])
    assert np.all(rotated["per_factor"][:2] < 0.1)
    assert rotated["score"] < aligned["score"] - 0.3


def test_mig_does_not_depend_on_the_order_of_factors_or_code_dimensions(samples):
    codes, factors = samples["aligned"], samples["factors"]
    codes = codes + 0.05 * np.random.default_rng(2).normal(size=codes.shape)  # no ties at bin edges
    reference = metrics.mig(codes, factors)
    factor_order, code_order = np.array([2, 0, 3, 1]), np.array([5, 1, 4, 0, 2, 3])
    permuted = metrics.mig(codes[:, code_order], factors[:, factor_order])
    assert permuted["score"] == pytest.approx(reference["score"], abs=1e-12)
    np.testing.assert_allclose(permuted["per_factor"], reference["per_factor"][factor_order], atol=1e-12)


def test_mig_invariant_to_affine_but_not_to_every_monotone_rescaling(samples):
    factors = samples["factors"]
    codes = samples["aligned"] + 0.05 * np.random.default_rng(3).normal(size=samples["aligned"].shape)
    reference = metrics.mig(codes, factors)["score"]
    affine = codes.copy()
    affine[:, 3] = -3.7 * affine[:, 3] + 12.0
    assert metrics.mig(affine, factors)["score"] == pytest.approx(reference, abs=1e-12)
    # Equal-width bins are not rank-based: a strongly convex map merges the small values into one bin.
    stretched = codes.copy()
    stretched[:, 3] = np.exp(4.0 * stretched[:, 3])
    assert metrics.mig(stretched, factors)["score"] < reference - 0.05


# ----------------------------------------------------------------------------------------------- DCI


def test_dci_near_the_top_for_the_aligned_code(dci_data):
    train, test, codes = dci_data
    result = metrics.dci(codes["aligned"][0], train, codes["aligned"][1], test)
    assert result["disentanglement"] > 0.9 and result["completeness"] > 0.9
    assert result["informativeness"] > 0.95
    assert result["importance"].shape == (5, 3)
    np.testing.assert_allclose(result["importance"].sum(axis=0), 1.0)


def test_dci_low_for_random_codes(dci_data):
    train, test, codes = dci_data
    result = metrics.dci(codes["random"][0], train, codes["random"][1], test)
    chance = np.mean(1.0 / np.array(SMALL_SIZES))
    assert result["disentanglement"] < 0.2 and result["completeness"] < 0.2
    assert result["informativeness"] < chance + 0.1


def test_dci_disentanglement_drops_under_rotation(dci_data):
    train, test, codes = dci_data
    aligned = metrics.dci(codes["aligned"][0], train, codes["aligned"][1], test)
    rotated = metrics.dci(codes["rotated"][0], train, codes["rotated"][1], test)
    assert rotated["disentanglement"] < aligned["disentanglement"] - 0.15


def test_dci_trees_see_only_the_order_of_each_code_and_the_factor_order_does_not_matter(dci_data):
    train, test, codes = dci_data
    z_train, z_test = codes["rotated"]
    reference = metrics.dci(z_train, train, z_test, test)
    monotone = metrics.dci(np.exp(z_train), train, np.exp(z_test), test)
    assert monotone["disentanglement"] == pytest.approx(reference["disentanglement"], abs=1e-9)
    assert monotone["completeness"] == pytest.approx(reference["completeness"], abs=1e-9)
    assert monotone["informativeness"] == pytest.approx(reference["informativeness"], abs=0.02)
    order = np.array([2, 0, 1])
    permuted = metrics.dci(z_train, train[:, order], z_test, test[:, order])
    np.testing.assert_allclose(permuted["importance"], reference["importance"][:, order], atol=1e-12)
    assert permuted["disentanglement"] == pytest.approx(reference["disentanglement"], abs=1e-12)


def test_dci_fast_and_exact_boosters_rank_representations_alike():
    rng = np.random.default_rng(4)
    sizes = (4, 4, 3)
    train, test = _sample_factors(rng, sizes, 600), _sample_factors(rng, sizes, 300)
    scores = {"hist": [], "exact": []}
    for angle in (0.0, 20.0, 45.0):
        c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))

        def code(f, c=c, s=s):
            v = f / (np.array(sizes) - 1) - 0.5 + 0.05 * rng.normal(size=f.shape)
            return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1], v[:, 2]], axis=1)

        z_train, z_test = code(train), code(test)
        for booster in scores:
            scores[booster].append(
                metrics.dci(z_train, train, z_test, test, booster=booster, n_stages=30)["disentanglement"]
            )
    assert np.all(np.diff(scores["hist"]) < 0) and np.all(np.diff(scores["exact"]) < 0)


# ----------------------------------------------------------------------------------------------- SAP


def test_sap_separates_aligned_random_and_rotated_codes(samples):
    factors = samples["factors"]
    train, test = slice(0, 3000), slice(3000, None)
    score = {
        name: metrics.sap(samples[name][train], factors[train], samples[name][test], factors[test])["score"]
        for name in ("aligned", "random", "rotated")
    }
    assert score["aligned"] > 0.15 and score["random"] < 0.05
    assert score["rotated"] < score["aligned"] - 0.02
    continuous = {
        name: metrics.sap(samples[name], factors, continuous=True)
        for name in ("aligned", "random", "rotated")
    }
    assert continuous["aligned"]["score"] > 0.95 and continuous["random"]["score"] < 0.05
    assert np.all(continuous["rotated"]["per_factor"][:2] < 0.05)


def test_sap_does_not_depend_on_the_units_of_a_code(samples):
    codes, factors = samples["aligned"][:2000], samples["factors"][:2000]
    reference = metrics.sap(codes, factors)
    assert reference["matrix"].shape == (6, len(SIZES))
    rescaled = metrics.sap(codes * np.array([100.0, 0.01, 1, -5, 1, 1]) + 3.0, factors)
    np.testing.assert_allclose(rescaled["matrix"], reference["matrix"], atol=2e-3)


# ------------------------------------------------------------------------------ beta-VAE and FactorVAE


def _grid_codes(kind, rng):
    if kind == "aligned":
        return _aligned(GRID, rng, SIZES)
    return rng.normal(size=(len(GRID), 6))


@pytest.mark.parametrize("kind", ["aligned", "random"])
def test_interventional_scores_on_grid_codes(kind):
    rng = np.random.default_rng(5)
    represent = metrics.representation_from_codes(_grid_codes(kind, rng), SIZES)
    beta = metrics.beta_vae_score(represent, SIZES, rng, n_train=1000, n_eval=500)
    factor_vae = metrics.factor_vae_score(
        represent, SIZES, rng, n_train=1000, n_eval=500, n_variance_estimate=2000
    )
    assert factor_vae["active_dims"] == 6
    if kind == "aligned":
        assert beta["eval_accuracy"] > 0.95 and factor_vae["eval_accuracy"] > 0.95
    else:
        chance = 1.0 / len(SIZES)
        assert beta["eval_accuracy"] < chance + 0.1 and factor_vae["eval_accuracy"] < chance + 0.1


def test_factor_vae_prunes_dimensions_below_the_threshold():
    rng = np.random.default_rng(6)
    codes = _grid_codes("aligned", rng)
    informative = int(np.argmax(np.abs(np.corrcoef(codes.T, GRID[:, 0])[-1, :-1])))  # the code of factor 0
    codes[:, informative] *= 1e-3
    represent = metrics.representation_from_codes(codes, SIZES)
    result = metrics.factor_vae_score(
        represent, SIZES, rng, n_train=1000, n_eval=500, n_variance_estimate=2000
    )
    assert result["active_dims"] == 5
    assert result["eval_accuracy"] < 0.95  # factor 0 has no dimension of its own left to win its votes
    collapsed = metrics.representation_from_codes(np.zeros((len(GRID), 3)), SIZES)
    assert metrics.factor_vae_score(collapsed, SIZES, rng, n_train=10, n_eval=10) == {
        "train_accuracy": 0.0,
        "eval_accuracy": 0.0,
        "active_dims": 0,
    }


def test_representation_from_codes_looks_up_row_major_indices():
    codes = np.arange(len(GRID), dtype=float)[:, None] * np.array([[1.0, -1.0]])
    represent = metrics.representation_from_codes(codes, SIZES)
    classes = np.array([[0, 0, 0, 1], [1, 0, 0, 0], [9, 7, 5, 4]])
    np.testing.assert_array_equal(represent(classes)[:, 0], [1, 8 * 6 * 5, len(GRID) - 1])
    with pytest.raises(ValueError, match="out of range"):
        represent(np.array([[10, 0, 0, 0]]))
    with pytest.raises(ValueError, match="full grid"):
        metrics.representation_from_codes(codes[:-1], SIZES)


def test_interventional_scores_are_deterministic_for_a_seed():
    represent = metrics.representation_from_codes(_grid_codes("random", np.random.default_rng(7)), SIZES)
    first = metrics.beta_vae_score(represent, SIZES, 3, n_train=200, n_eval=100)
    assert metrics.beta_vae_score(represent, SIZES, 3, n_train=200, n_eval=100) == first


# -------------------------------------------------------------------------------------- evaluate_all


def test_evaluate_all_scores_an_aligned_grid_and_skips_single_class_factors():
    sizes = (12, 10, 1, 8)
    grid = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    rng = np.random.default_rng(8)
    codes = _aligned(grid[:, [0, 1, 3]], rng, (12, 10, 8))
    result = metrics.evaluate_all(
        codes, grid, sizes, rng, settings=metrics.FAST, factor_names=["f0", "level", "x", "tilt"]
    )
    assert "mig_x" not in result and {"mig_f0", "mig_level", "mig_tilt"} <= set(result)
    for key in ("beta_vae_eval_accuracy", "factor_vae_eval_accuracy", "dci_informativeness"):
        assert result[key] > 0.95, key
    assert result["mig"] > 0.9 and result["dci_disentanglement"] > 0.9 and result["dci_completeness"] > 0.9
    assert result["sap"] > 0.05 and result["sap_continuous"] > 0.95  # 8-12 classes: SAP's ceiling is low
    assert all(isinstance(value, (int, float)) for value in result.values())


def test_fast_settings_reduce_the_sample_counts():
    assert disentanglement.FAST.dci_train < disentanglement.DISENTANGLEMENT_LIB.dci_train
    assert disentanglement.DISENTANGLEMENT_LIB.factor_vae_variance == 10000
    assert disentanglement.DISENTANGLEMENT_LIB.dci_booster == "exact"  # comparable with published DCI


def test_evaluate_all_never_reads_the_fast_switch(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "not a boolean")  # config.is_fast() would raise
    codes = np.random.default_rng(9).normal(size=(len(GRID), 3))
    tiny = metrics.MetricSettings(
        beta_vae_train=100, beta_vae_eval=100, factor_vae_train=100, factor_vae_eval=100,
        factor_vae_variance=200, mig_points=500, dci_train=100, dci_test=50, sap_train=100, sap_test=50,
    )  # fmt: skip
    assert 0 <= metrics.evaluate_all(codes, GRID, SIZES, 0, settings=tiny)["mig"] <= 1


def test_evaluate_all_rejects_a_grid_out_of_order():
    codes = np.random.default_rng(9).normal(size=(len(GRID), 3))
    with pytest.raises(ValueError, match="row-major"):
        metrics.evaluate_all(codes, GRID[::-1], SIZES, 0, settings=metrics.FAST)


# --------------------------------------------------------------------------------------- bad input

_GOOD_CODES = np.random.default_rng(10).normal(size=(50, 3))
_GOOD_FACTORS = np.random.default_rng(11).integers(3, size=(50, 2))


_BAD_INPUTS = {
    "mismatched-N": (_GOOD_CODES[:40], _GOOD_FACTORS, "rows"),
    "non-integer-factors": (_GOOD_CODES, _GOOD_FACTORS + 0.5, "integer class indices"),
    "nan-codes": (np.where(np.eye(50, 3) > 0, np.nan, _GOOD_CODES), _GOOD_FACTORS, "NaN"),
    "no-dimensions": (np.zeros((50, 0)), _GOOD_FACTORS, "D = 0"),
    "1d-codes": (_GOOD_CODES[:, 0], _GOOD_FACTORS, r"shape \[N, D\]"),
    "constant-factor": (_GOOD_CODES, np.zeros((50, 2), dtype=int), "single value"),
}
_CALLS = {
    "mig": lambda codes, factors: metrics.mig(codes, factors),
    "sap": lambda codes, factors: metrics.sap(codes, factors),
    "dci": lambda codes, factors: metrics.dci(codes, factors, codes, factors),
    "mi_matrix": lambda codes, factors: metrics.mutual_information_matrix(codes, factors, normalise=True),
}


@pytest.mark.parametrize("case", list(_BAD_INPUTS))
@pytest.mark.parametrize("metric", list(_CALLS))
def test_bad_input_raises_a_clear_value_error(case, metric):
    codes, factors, match = _BAD_INPUTS[case]
    with pytest.raises(ValueError, match=match):
        _CALLS[metric](codes, factors)


def test_bad_parameters_raise_a_clear_value_error():
    with pytest.raises(ValueError, match="D >= 2"):
        metrics.mig(_GOOD_CODES[:, :1], _GOOD_FACTORS)
    with pytest.raises(ValueError, match="n_bins"):
        metrics.mig(_GOOD_CODES, _GOOD_FACTORS, n_bins=1)
    with pytest.raises(ValueError, match="booster"):
        metrics.dci(_GOOD_CODES, _GOOD_FACTORS, _GOOD_CODES, _GOOD_FACTORS, booster="xgboost")
    represent = metrics.representation_from_codes(np.zeros((6, 2)), (3, 2))
    with pytest.raises(ValueError, match="single class"):
        metrics.beta_vae_score(represent, (3, 1), 0)
    with pytest.raises(ValueError, match="rng"):
        metrics.beta_vae_score(represent, (3, 2), "seed")
    with pytest.raises(ValueError, match="NaN"):
        metrics.factor_vae_score(lambda c: np.full((len(c), 2), np.nan), (3, 2), 0)


# ------------------------------------------------------------------------------- chapter 3 self-check


def test_mig_self_check_passes_the_reference_and_rejects_an_unnormalised_gap(capsys):
    ch03.check_mig(lambda codes, factors, n_bins: metrics.mig(codes, factors, n_bins))
    assert "mig: matches the reference" in capsys.readouterr().out

    def unnormalised(codes, factors, n_bins):
        top_two = np.sort(metrics.mutual_information_matrix(codes, factors, n_bins), axis=0)[-2:]
        return float(np.mean(top_two[1] - top_two[0]))

    with pytest.raises(SelfCheckFailed, match="H\\(v_k\\)"):
        ch03.check_mig(unnormalised)


class _TinyVAE(torch.nn.Module):
    """A stand-in model whose forward samples z (so the check's seeding is exercised)."""

    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = torch.nn.Linear(6, 4), torch.nn.Linear(2, 6)

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decoder(z), mu, logvar


def _stand_in_loss(model, x, beta, capacity=None, gamma=None):
    x_hat, mu, logvar = model(x)
    reconstruction = ((x_hat - x) ** 2).sum(dim=1).mean()
    kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).sum(dim=1).mean()
    regulariser = beta * kl if capacity is None else gamma * (kl - capacity).abs()
    return {"loss": reconstruction + regulariser, "kl": kl}


def test_beta_vae_loss_self_check_seeds_the_noise_and_catches_a_missing_capacity(capsys):
    example = torch.zeros(8, 6)
    ch03.check_beta_vae_loss(_stand_in_loss, _TinyVAE, example, reference=_stand_in_loss)
    assert "beta_vae_loss: matches the reference on 5 random inputs" in capsys.readouterr().out

    def ignores_capacity(model, x, beta, capacity=None, gamma=None):
        return _stand_in_loss(model, x, beta)

    with pytest.raises(SelfCheckFailed, match="(?s)trial 4 of 5.*capacity"):
        ch03.check_beta_vae_loss(ignores_capacity, _TinyVAE, example, reference=_stand_in_loss)


def test_latent_factor_table_picks_the_best_factor_and_the_gap():
    mi = np.array([[0.9, 0.1, 0.0], [0.2, 0.25, 0.6]])
    table = metrics.latent_factor_table(mi, ["f0", "level", "tilt"])
    assert list(table.best_factor) == ["f0", "tilt"]
    np.testing.assert_allclose(table.gap, [0.8, 0.35])
    with pytest.raises(ValueError, match="factors"):
        metrics.latent_factor_table(mi, ["f0", "level"])


def test_factor_labels_name_each_latent_by_its_most_informative_factor():
    mi = np.array([[0.1, 0.7], [0.6, 0.2], [0.0, 0.05]])
    assert metrics.factor_labels(mi, ["pitch", "level"], [1, 0]) == [
        "z1 ~ pitch (0.60)",
        "z0 ~ level (0.70)",
    ]
    with pytest.raises(ValueError, match="dims"):
        metrics.factor_labels(mi, ["pitch", "level"], [3])
