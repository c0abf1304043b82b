"""Tests of course_lib.objectives: beta-TCVAE's estimators, Ada-GVAE's averaging, FactorVAE's pieces.

Reference values are computed by brute force in float64: the aggregate posterior of a tiny data set of
N Gaussians, q(z) = (1/N) sum_n q(z|n), and its marginals, exactly, and the total correlation as an
integral on a grid.
"""

import itertools
import math

import pytest
import torch

from course_lib.losses import gaussian_kl, gaussian_log_density
from course_lib.objectives import (
    ada_gvae_loss,
    adaptive_shared_mask,
    beta_tcvae_loss,
    factor_vae_discriminator,
    factor_vae_discriminator_loss,
    factor_vae_loss,
    gvae_average,
    kl_decomposition,
    log_importance_weights,
    make_ada_gvae_loss,
    pair_kl_per_dim,
    pairwise_log_density,
    permute_dims,
    top_k_shared_mask,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
F64 = torch.float64


def _log_normal(z, mu, logvar):
    """log N(z; mu, exp(logvar)) per dimension, broadcasting (the brute-force reference)."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 / torch.exp(logvar))


def _exact_terms(z, mu, logvar):
    """Per-sample exact log q(z_i|n_i), log q(z_i), sum_j log q(z_ij), log p(z_i); the batch IS the data."""
    n = mu.shape[0]
    per_point = torch.stack([_log_normal(z, mu[m], logvar[m]) for m in range(n)], dim=-2)  # [..., M, n, d]
    log_cond = torch.stack([_log_normal(z[..., i, :], mu[i], logvar[i]).sum(-1) for i in range(n)], -1)
    log_joint = torch.logsumexp(per_point.sum(-1), dim=-1) - math.log(n)
    log_marg = (torch.logsumexp(per_point, dim=-2) - math.log(n)).sum(-1)
    zero = torch.zeros((), dtype=z.dtype)
    log_prior = _log_normal(z, zero, zero).sum(-1)
    return log_cond, log_joint, log_marg, log_prior


def _diagonal_dataset():
    """Four 2-D posteriors on the diagonal (strongly correlated aggregate, TC > 0), sd 0.7."""
    mu = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], dtype=F64)
    return mu, torch.full_like(mu, 2 * math.log(0.7))


def _grid_tc(mu, logvar, lo=-5.0, hi=8.0, n=1301):
    """KL(q(z) || q(z_1) q(z_2)) of the 2-D mixture by the rectangle rule on a fine grid."""
    g = torch.linspace(lo, hi, n, dtype=F64)
    h = float(g[1] - g[0])
    z = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 1, 2)
    per = _log_normal(z, mu[None], logvar[None])  # [G, N, 2]
    log_q = torch.logsumexp(per.sum(-1), 1) - math.log(len(mu))
    log_marg = (torch.logsumexp(per, 1) - math.log(len(mu))).sum(-1)
    return float((log_q.exp() * (log_q - log_marg)).sum() * h * h)


# ----------------------------------------------------------------------------- weights and densities
def test_importance_weights_rows():
    w = log_importance_weights(5, 40, "mss", dtype=F64).exp()
    assert torch.allclose(w.sum(1), torch.ones(5, dtype=F64), atol=1e-12)
    assert torch.allclose(w.diagonal(), torch.full((5,), 1 / 40, dtype=F64))
    assert w[4, 0] == pytest.approx((40 - 5 + 1) / (40 * 4))  # the stratified point wraps around
    assert w[0, 2] == pytest.approx(1 / 4)
    mws = log_importance_weights(5, 40, "mws", dtype=F64).exp()
    assert torch.allclose(mws, torch.full((5, 5), 1 / 200, dtype=F64))


@pytest.mark.parametrize(
    "args, match",
    [((5, 40, "exact"), "estimator"), ((1, 40, "mss"), "batch_size"), ((5, 4, "mss"), "at least the batch")],
)
def test_importance_weights_errors(args, match):
    with pytest.raises(ValueError, match=match):
        log_importance_weights(*args)


def test_pairwise_log_density_is_the_course_density():
    g = torch.Generator().manual_seed(0)
    z, mu, logvar = (torch.randn(4, 3, generator=g, dtype=F64) for _ in range(3))
    pair = pairwise_log_density(z, mu, logvar).sum(-1)
    for i, m in itertools.product(range(4), range(4)):
        assert pair[i, m] == pytest.approx(float(gaussian_log_density(z[i], mu[m], logvar[m])), abs=1e-12)


# ----------------------------------------------------------------------------- the decomposition
@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_terms_add_up_to_the_monte_carlo_kl(estimator):
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(6, 4, generator=g, dtype=F64)
    logvar = torch.randn(6, 4, generator=g, dtype=F64) * 0.5 - 1
    z = mu + torch.exp(0.5 * logvar) * torch.randn(6, 4, generator=g, dtype=F64)
    t = kl_decomposition(z, mu, logvar, dataset_size=1000, estimator=estimator)
    mc_kl = (gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, 0 * mu, 0 * logvar)).mean()
    assert float(t["mi"] + t["tc"] + t["dim_kl"]) == pytest.approx(float(t["kl"]), abs=1e-10)
    assert float(t["kl"]) == pytest.approx(float(mc_kl), abs=1e-10)


def test_mws_with_the_whole_dataset_is_exact_up_to_known_constants():
    """With M = N, MWS's weights are 1/N^2 = (1/N) x the exact 1/N, so every log q^ is log q - log N."""
    mu, logvar = _diagonal_dataset()
    g = torch.Generator().manual_seed(2)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g, dtype=F64)
    log_cond, log_joint, log_marg, log_prior = _exact_terms(z, mu, logvar)
    t = kl_decomposition(z, mu, logvar, dataset_size=4, estimator="mws")
    n, d = 4, 2
    assert float(t["mi"]) == pytest.approx(float((log_cond - log_joint).mean()) + math.log(n), abs=1e-10)
    assert float(t["tc"]) == pytest.approx(
        float((log_joint - log_marg).mean()) + (d - 1) * math.log(n), abs=1e-10
    )
    assert float(t["dim_kl"]) == pytest.approx(
        float((log_marg - log_prior).mean()) - d * math.log(n), abs=1e-10
    )


def test_mss_is_unbiased_for_q_over_the_other_batch_members():
    """Average MSS's q^(z) (before the log) over every ordered choice of the other M - 1 batch members.

    Data set of N = 5 Gaussians, batch M = 3 with the sample's own point first: the average over the
    4 x 3 = 12 ordered batches equals the exact q(z) = (1/5) sum_n q(z|n), jointly and per dimension.
    """
    g = torch.Generator().manual_seed(3)
    n_data, m, d = 5, 3, 2
    mu = torch.randn(n_data, d, generator=g, dtype=F64) * 1.5
    logvar = torch.randn(n_data, d, generator=g, dtype=F64) * 0.3 - 0.5
    z0 = mu[0] + torch.exp(0.5 * logvar[0]) * torch.randn(d, generator=g, dtype=F64)
    log_w = log_importance_weights(m, n_data, "mss", dtype=F64)[0]  # row of the sample at position 0
    joint, marg = [], []
    for others in itertools.permutations(range(1, n_data), m - 1):
        batch = [0, *others]
        z = torch.stack([z0] + [mu[j] for j in others])  # only row 0's sample matters here
        per = pairwise_log_density(z, mu[batch], logvar[batch])[0]  # [M, d]
        joint.append(torch.logsumexp(per.sum(-1) + log_w, 0).exp())
        marg.append(torch.logsumexp(per + log_w[:, None], 0).exp())
    exact_per = _log_normal(z0, mu, logvar)  # [N, d]
    exact_joint = exact_per.sum(-1).exp().mean()
    exact_marg = exact_per.exp().mean(0)
    assert len(joint) == 12
    assert float(torch.stack(joint).mean()) == pytest.approx(float(exact_joint), rel=1e-12)
    assert torch.allclose(torch.stack(marg).mean(0), exact_marg, rtol=1e-12)


def test_identical_posteriors_mss_exact_mws_offset():
    """All posteriors equal: q(z) = q(z|n) is factorised, so MI = TC = 0; MWS is off by log N exactly."""
    g = torch.Generator().manual_seed(4)
    mu = torch.randn(1, 3, generator=g, dtype=F64).expand(5, 3)
    logvar = torch.full((5, 3), -0.7, dtype=F64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(5, 3, generator=g, dtype=F64)
    mss = kl_decomposition(z, mu, logvar, dataset_size=50, estimator="mss")
    assert float(mss["mi"]) == pytest.approx(0.0, abs=1e-12)
    assert float(mss["tc"]) == pytest.approx(0.0, abs=1e-12)
    assert float(mss["dim_kl"]) == pytest.approx(float(mss["kl"]), abs=1e-12)
    mws = kl_decomposition(z, mu, logvar, dataset_size=50, estimator="mws")
    assert float(mws["mi"]) == pytest.approx(math.log(50), abs=1e-10)
    assert float(mws["tc"]) == pytest.approx(2 * math.log(50), abs=1e-10)


def test_separated_posteriors_with_the_whole_dataset():
    """Posteriors 50 sd apart on the diagonal, batch = data (M = N = 4): exact MI = log N, TC = (d-1) log N.

    MSS gives both to 1e-9 (the own-point weight is 1/N and the others contribute e^-1000); MWS
    overestimates each by log M.
    """
    mu = torch.tensor([[0.0, 0.0], [5.0, 5.0], [10.0, 10.0], [15.0, 15.0]], dtype=F64)
    logvar = torch.full_like(mu, 2 * math.log(0.1))
    z = mu + 0.1 * torch.randn(mu.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    mss = kl_decomposition(z, mu, logvar, dataset_size=4, estimator="mss")
    mws = kl_decomposition(z, mu, logvar, dataset_size=4, estimator="mws")
    assert float(mss["mi"]) == pytest.approx(math.log(4), abs=1e-9)
    assert float(mss["tc"]) == pytest.approx(math.log(4), abs=1e-9)
    assert float(mws["mi"]) == pytest.approx(2 * math.log(4), abs=1e-9)
    assert float(mws["tc"]) == pytest.approx(2 * math.log(4), abs=1e-9)


def test_total_correlation_against_a_grid_integral():
    """TC of a 4-Gaussian 2-D aggregate posterior: grid integral (0.372 nats) vs Monte-Carlo estimates.

    The exact plug-in (batch = data, weights 1/N) is an unbiased Monte-Carlo estimate of the integral:
    within 4 standard errors. MSS with the batch in random order is biased by the log (about +0.02
    nats measured here): within 0.05 nats. MWS sits log N higher (see the test above).
    """
    mu, logvar = _diagonal_dataset()
    tc_grid = _grid_tc(mu, logvar)
    assert 0.3 < tc_grid < 0.45
    g = torch.Generator().manual_seed(6)
    reps = 4000
    z = mu + torch.exp(0.5 * logvar) * torch.randn(reps, 4, 2, generator=g, dtype=F64)
    _, log_joint, log_marg, _ = _exact_terms(z, mu, logvar)
    exact = (log_joint - log_marg).mean(-1)  # [reps]
    se = float(exact.std()) / math.sqrt(reps)
    assert abs(float(exact.mean()) - tc_grid) < 4 * se
    mss = []
    for r in range(reps // 4):
        order = torch.randperm(4, generator=g)
        mss.append(float(kl_decomposition(z[r, order], mu[order], logvar[order], 4, "mss")["tc"]))
    assert abs(sum(mss) / len(mss) - tc_grid) < 0.05


def test_kl_decomposition_errors():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="batch, z_dim"):
        kl_decomposition(z, torch.zeros(4, 3), torch.zeros(4, 3), 10)
    with pytest.raises(ValueError, match="estimator"):
        kl_decomposition(z, z, z, 10, estimator="exact")


# ----------------------------------------------------------------------------- beta-TCVAE loss
def test_beta_tcvae_loss_weights(tiny_vae):
    model = tiny_vae(in_shape=6, z_dim=3, likelihood="gaussian")
    x = torch.rand(8, 6)
    torch.manual_seed(0)
    loss, logs = beta_tcvae_loss(model, x, dataset_size=100, alpha=1, beta=1, gamma=1)
    assert logs["loss"] == pytest.approx(logs["recon"] + logs["kl"], rel=1e-5)
    assert logs["mi"] + logs["tc"] + logs["dim_kl"] == pytest.approx(logs["kl"], abs=1e-4)
    loss.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())
    torch.manual_seed(0)
    _, logs6 = beta_tcvae_loss(model, x, dataset_size=100, beta=6.0, estimator="mws")
    expected = logs6["recon"] + logs6["mi"] + 6 * logs6["tc"] + logs6["dim_kl"]
    assert logs6["loss"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="beta must be a non-negative number"):
        beta_tcvae_loss(model, x, 100, beta=-1)


# ----------------------------------------------------------------------------- Ada-GVAE
def test_pair_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(7)
    mu1, lv1, mu2, lv2 = (torch.randn(3, 4, generator=g, dtype=F64) for _ in range(4))
    q1 = torch.distributions.Normal(mu1, torch.exp(0.5 * lv1))
    q2 = torch.distributions.Normal(mu2, torch.exp(0.5 * lv2))
    expected = torch.distributions.kl_divergence(q1, q2)
    assert torch.allclose(pair_kl_per_dim(mu1, lv1, mu2, lv2), expected, atol=1e-12)


def test_ada_gvae_averages_the_shared_dimensions_and_keeps_the_others():
    """Two posteriors nearly identical in dims 0-2 and far apart in dim 3."""
    mu1 = torch.tensor([[0.1, -0.5, 1.0, 2.0]], dtype=F64)
    mu2 = torch.tensor([[0.12, -0.5, 0.98, -2.0]], dtype=F64)
    var1 = torch.tensor([[0.04, 0.10, 0.20, 0.05]], dtype=F64)
    var2 = torch.tensor([[0.05, 0.10, 0.25, 0.05]], dtype=F64)
    lv1, lv2 = var1.log(), var2.log()
    delta = pair_kl_per_dim(mu1, lv1, mu2, lv2)
    shared = adaptive_shared_mask(delta)
    assert shared.tolist() == [[True, True, True, False]]
    m1, l1, m2, l2 = gvae_average(mu1, lv1, mu2, lv2, shared)
    # dims 0-2: means averaged, variances (not log-variances) averaged, the same for both
    assert torch.allclose(m1[0, :3], 0.5 * (mu1 + mu2)[0, :3], atol=1e-15)
    assert torch.allclose(l1[0, :3].exp(), 0.5 * (var1 + var2)[0, :3], atol=1e-15)
    assert torch.equal(m1[0, :3], m2[0, :3]) and torch.equal(l1[0, :3], l2[0, :3])
    # dim 3 kept as it was
    assert m1[0, 3] == mu1[0, 3] and m2[0, 3] == mu2[0, 3]
    assert l1[0, 3] == lv1[0, 3] and l2[0, 3] == lv2[0, 3]


def test_adaptive_threshold_is_the_midpoint_per_pair():
    delta = torch.tensor([[0.0, 1.0, 2.0, 10.0], [3.0, 3.0, 3.0, 3.0], [0.0, 4.9, 5.1, 10.0]])
    assert adaptive_shared_mask(delta).tolist() == [
        [True, True, True, False],
        [False, False, False, False],  # no contrast: nothing taken as shared (strict <)
        [True, True, False, False],
    ]


def test_known_k_frees_the_k_largest_deltas_per_pair():
    delta = torch.tensor([[0.0, 1.0, 2.0, 10.0], [3.0, 9.0, 1.0, 8.0]])
    assert top_k_shared_mask(delta, 1).tolist() == [[True, True, True, False], [True, False, True, True]]
    assert top_k_shared_mask(delta, 2).tolist() == [[True, True, False, False], [True, False, True, False]]
    for bad in (0, 4, 1.5, True):
        with pytest.raises(ValueError, match="k must be an integer in 1..3"):
            top_k_shared_mask(delta, bad)
    with pytest.raises(ValueError, match=r"delta must be \[batch, z_dim\]"):
        top_k_shared_mask(delta[0], 1)


def test_ada_gvae_with_known_k_shares_all_but_one_dimension(tiny_vae):
    model = tiny_vae(in_shape=6, z_dim=4, likelihood="gaussian")
    g = torch.Generator().manual_seed(5)
    x1, x2 = torch.rand(7, 6, generator=g), torch.rand(7, 6, generator=g)
    _, logs = ada_gvae_loss(model, x1, x2, beta=1.0, known_k=1)
    assert logs["n_shared"] == 3.0
    torch.manual_seed(0)
    loss, _ = make_ada_gvae_loss(beta=2.0, known_k=1)(model, (x1, x2), 1)
    torch.manual_seed(0)
    assert loss.item() == pytest.approx(ada_gvae_loss(model, x1, x2, beta=2.0, known_k=1)[0].item())


def test_ada_gvae_loss(tiny_vae):
    model = tiny_vae(in_shape=6, z_dim=4, likelihood="gaussian")
    g = torch.Generator().manual_seed(8)
    x1, x2 = torch.rand(5, 6, generator=g), torch.rand(5, 6, generator=g)
    loss, logs = ada_gvae_loss(model, x1, x2, beta=2.0)
    assert math.isfinite(logs["loss"]) and 0 <= logs["n_shared"] < 4
    assert logs["loss"] == pytest.approx(logs["recon"] + 2.0 * logs["kl"], rel=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    # the KL in the logs is that of the averaged posteriors, two per pair
    with torch.no_grad():
        mu1, lv1 = model.encode(x1)
        mu2, lv2 = model.encode(x2)
    shared = adaptive_shared_mask(pair_kl_per_dim(mu1, lv1, mu2, lv2))
    a = gvae_average(mu1, lv1, mu2, lv2, shared)
    kl = (gaussian_kl(a[0], a[1]).sum(1) + gaussian_kl(a[2], a[3]).sum(1)).mean()
    assert logs["kl"] == pytest.approx(float(kl), rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        ada_gvae_loss(model, x1, x2[:3])
    with pytest.raises(ValueError, match="shared must be a bool mask"):
        gvae_average(mu1, lv1, mu2, lv2, shared.float())


def test_make_ada_gvae_loss_is_the_pair_loss_for_train(tiny_vae):
    model = tiny_vae(in_shape=6, z_dim=4, likelihood="gaussian")
    g = torch.Generator().manual_seed(3)
    x1, x2 = torch.rand(5, 6, generator=g), torch.rand(5, 6, generator=g)
    torch.manual_seed(0)
    loss, logs = make_ada_gvae_loss(beta=3.0)(model, (x1, x2), 1)
    torch.manual_seed(0)
    direct, _ = ada_gvae_loss(model, x1, x2, beta=3.0)
    assert loss.item() == pytest.approx(direct.item()) and logs["loss"] == pytest.approx(loss.item())
    with pytest.raises(ValueError, match="beta"):
        make_ada_gvae_loss(beta=-1.0)


# ----------------------------------------------------------------------------- FactorVAE
def test_permute_dims_shuffles_each_column():
    z = torch.arange(40.0).reshape(10, 4)
    p = permute_dims(z, torch.Generator().manual_seed(9))
    for j in range(4):
        assert sorted(p[:, j].tolist()) == z[:, j].tolist()
    assert not torch.equal(p, z)


def test_factor_vae_discriminator_loss():
    zeros = torch.zeros(6)
    assert float(factor_vae_discriminator_loss(zeros, zeros)) == pytest.approx(math.log(2))
    good = factor_vae_discriminator_loss(torch.full((6,), 10.0), torch.full((6,), -10.0))
    assert float(good) < 1e-4


def test_factor_vae_tc_estimate_is_the_mean_logit_and_never_trains_the_discriminator(tiny_vae):
    model = tiny_vae(in_shape=6, z_dim=3, likelihood="gaussian")
    model.discriminator = factor_vae_discriminator(3, hidden=8, layers=2)
    x = torch.rand(16, 6)

    def grads(gamma):
        torch.manual_seed(3)
        model.zero_grad()
        loss, logs = factor_vae_loss(model, x, gamma=gamma, generator=torch.Generator().manual_seed(1))
        loss.backward()
        encoder = torch.cat([p.grad.flatten() for p in model.encoder.parameters()])
        critic = torch.cat([p.grad.flatten() for p in model.discriminator.parameters()])
        return encoder, critic, logs

    enc_0, critic_0, logs = grads(0.0)
    enc_9, critic_9, _ = grads(9.0)
    torch.testing.assert_close(critic_0, critic_9)  # the TC term never reaches the discriminator
    assert not torch.allclose(enc_0, enc_9)  # but it does reach the encoder
    assert logs["loss"] == pytest.approx(logs["vae_loss"] + logs["d_loss"], rel=1e-5)
    assert logs["vae_loss"] == pytest.approx(logs["recon"] + logs["kl"], rel=1e-5)  # gamma = 0
    # a discriminator whose logit is a constant c estimates TC = c
    last = model.discriminator[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(0.7)
    assert factor_vae_loss(model, x, gamma=1.0)[1]["tc"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="gamma"):
        factor_vae_loss(model, x, gamma=-1.0)
