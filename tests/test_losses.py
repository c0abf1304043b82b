"""Unit tests of the ELBO, KL, beta-VAE and IWAE maths (course_lib.losses) on cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.losses import (
    Loss,
    batch_x,
    beta_vae_loss,
    declared_loss,
    elbo_terms,
    gaussian_kl,
    gaussian_log_density,
    iwae_bound,
    log_likelihood,
    make_iwae_loss,
    make_vae_loss,
)
from course_lib.models.vae import VAE

SIGMA = 0.5  # observation noise of the linear-Gaussian model below


class ExactPosterior(nn.Module):
    """Encoder of z ~ N(0, 1), x | z ~ N(z, SIGMA^2): q(z|x) is the true posterior (times ``slack``)."""

    z_dim = 1

    def __init__(self, shift: float = 0.0, slack: float = 1.0) -> None:
        super().__init__()
        self.shift, self.slack = shift, slack

    def forward(self, x):
        precision = 1.0 + 1.0 / SIGMA**2
        mu = x / SIGMA**2 / precision + self.shift
        logvar = torch.full_like(x, math.log(self.slack / precision))
        return mu, logvar


def linear_gaussian(shift: float = 0.0, slack: float = 1.0) -> VAE:
    decoder = nn.Linear(1, 1)
    with torch.no_grad():
        decoder.weight.fill_(1.0)
        decoder.bias.zero_()
    return VAE(ExactPosterior(shift, slack), decoder, "gaussian", scale=SIGMA)


def exact_log_px(x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log N(x; 0, 1 + SIGMA^2), the marginal the bounds should approach."""
    var = 1.0 + SIGMA**2
    return (-0.5 * (math.log(2 * math.pi * var) + x.pow(2) / var)).squeeze(1)


def test_gaussian_kl_known_values():
    mu = torch.tensor([[0.0, 1.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0, math.log(2.0)]])
    expected = torch.tensor([[0.0, 0.5, 0.5 * (2.0 - 1.0 - math.log(2.0))]])
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)


def test_gaussian_kl_and_log_density_match_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen) * 0.5
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p))
    z = torch.randn(4, 3, generator=gen)
    torch.testing.assert_close(gaussian_log_density(z, mu, logvar), q.log_prob(z).sum(-1))


def test_gaussian_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4))


def test_log_likelihood_known_values():
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    # logits 0: every pixel has probability 1/2
    torch.testing.assert_close(
        log_likelihood(x, torch.zeros_like(x), "bernoulli"), torch.tensor([-4 * math.log(2)])
    )
    # a perfect Gaussian mean with unit scale: -D/2 log(2 pi)
    torch.testing.assert_close(
        log_likelihood(x, x, "gaussian", 1.0), torch.tensor([-2 * math.log(2 * math.pi)])
    )
    mean = torch.tensor([[0.5, 0.0, 2.0, -1.0]])
    want = torch.distributions.Normal(mean, 0.3).log_prob(x).sum(1)
    torch.testing.assert_close(log_likelihood(x, mean, "gaussian", 0.3), want)
    want = torch.distributions.Bernoulli(logits=mean).log_prob(x).sum(1)
    torch.testing.assert_close(log_likelihood(x, mean, "bernoulli"), want)


def test_log_likelihood_sums_over_every_data_dimension():
    x = torch.rand(3, 4, 5)
    ll = log_likelihood(x, torch.zeros_like(x), "gaussian", 1.0)
    assert ll.shape == (3,)
    torch.testing.assert_close(ll, torch.distributions.Normal(0.0, 1.0).log_prob(x).sum((1, 2)))


def test_log_likelihood_rejects_bad_input():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="likelihood"):
        log_likelihood(x, x, "poisson")
    with pytest.raises(ValueError, match="shaped like x"):
        log_likelihood(x, torch.zeros(2, 4), "bernoulli")
    with pytest.raises(ValueError, match="positive"):
        log_likelihood(x, x, "gaussian", 0.0)


def expected_elbo(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """E_q[log p(x|z)] - KL(q || p) in closed form for the linear-Gaussian model."""
    mu, logvar = model.encode(x)
    var = logvar.exp()
    expected_ll = -0.5 * math.log(2 * math.pi * SIGMA**2) - ((x - mu).pow(2) + var) / (2 * SIGMA**2)
    return (expected_ll - gaussian_kl(mu, logvar)).squeeze(1)


def _repeat_mean(values: torch.Tensor, n_points: int) -> torch.Tensor:
    return values.reshape(-1, n_points).mean(0)


def test_elbo_terms_average_to_the_closed_form_and_to_log_px_with_the_true_posterior():
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 5).unsqueeze(1)
    x_rep = x.repeat(20000, 1)
    for model in (linear_gaussian(), linear_gaussian(shift=0.6, slack=2.0)):
        terms = elbo_terms(model, x_rep)
        assert terms["kl_per_dim"].shape == (len(x_rep), 1)
        torch.testing.assert_close(terms["elbo"], -(terms["recon"] + terms["kl"]))
        torch.testing.assert_close(_repeat_mean(terms["elbo"], 5), expected_elbo(model, x), atol=0.03, rtol=0)
    # with q = the true posterior, the ELBO's expectation is log p(x) itself
    torch.testing.assert_close(expected_elbo(linear_gaussian(), x), exact_log_px(x), atol=1e-5, rtol=1e-5)


def test_iwae_is_exact_with_the_true_posterior_and_tightens_with_k():
    torch.manual_seed(0)
    x = torch.linspace(-2, 2, 5).unsqueeze(1)
    # with q = the true posterior every importance weight equals p(x): exact for any k
    torch.testing.assert_close(iwae_bound(linear_gaussian(), x, k=7), exact_log_px(x), atol=1e-5, rtol=1e-5)
    model = linear_gaussian(shift=0.6, slack=2.0)  # a poor posterior
    bounds = [_repeat_mean(iwae_bound(model, x.repeat(200, 1), k=k), 5).mean().item() for k in (1, 10, 1000)]
    truth = exact_log_px(x).mean().item()
    assert bounds[0] < bounds[1] < bounds[2] < truth + 1e-3
    assert truth - bounds[2] < 0.02 < 0.2 < truth - bounds[0]
    # k = 1 is the ELBO in expectation
    k1 = _repeat_mean(iwae_bound(model, x.repeat(20000, 1), k=1), 5)
    torch.testing.assert_close(k1, expected_elbo(model, x), atol=0.05, rtol=0)


def test_iwae_chunks_give_the_same_estimate():
    model = linear_gaussian(shift=0.3)
    x = torch.randn(4, 1)
    torch.manual_seed(1)
    whole = iwae_bound(model, x, k=50, chunk=50)
    torch.manual_seed(1)
    pieces = iwae_bound(model, x, k=50, chunk=50)
    torch.testing.assert_close(whole, pieces)
    torch.manual_seed(1)
    assert iwae_bound(model, x, k=50, chunk=7).shape == (4,)
    with pytest.raises(ValueError, match="k must"):
        iwae_bound(model, x, k=0)


def test_beta_vae_loss_weights_the_kl_and_reduces_per_example_then_mean(tiny_vae):
    model = tiny_vae(6)
    x = torch.bernoulli(torch.full((5, 6), 0.5), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(3)
    terms = elbo_terms(model, x)
    for beta in (0.0, 1.0, 4.0):
        torch.manual_seed(3)
        loss, logs = beta_vae_loss(model, x, beta=beta)
        want = (terms["recon"] + beta * terms["kl"]).mean()
        torch.testing.assert_close(loss, want)
        assert logs["recon"] == pytest.approx(terms["recon"].mean().item(), rel=1e-6)
        assert len(logs["kl_per_dim"]) == 3
        assert sum(logs["kl_per_dim"]) == pytest.approx(logs["kl"], rel=1e-5)
    torch.manual_seed(3)
    loss, logs = beta_vae_loss(model, x, capacity=2.0, gamma=10.0)
    torch.testing.assert_close(loss, terms["recon"].mean() + 10.0 * (terms["kl"].mean() - 2.0).abs())
    assert logs["capacity"] == 2.0


def test_beta_vae_loss_rejects_bad_settings(tiny_vae):
    model, x = tiny_vae(6), torch.zeros(2, 6)
    with pytest.raises(ValueError, match="capacity and gamma"):
        beta_vae_loss(model, x, capacity=1.0)
    with pytest.raises(ValueError, match="beta"):
        beta_vae_loss(model, x, beta=-1.0)


def test_make_vae_loss_reads_x_from_tuples_and_passes_capacity(tiny_vae):
    model, x = tiny_vae(6), torch.zeros(2, 6)
    assert batch_x((x, torch.zeros(2))) is x and batch_x(x) is x
    loss, logs = make_vae_loss(gamma=5.0)(model, (x, torch.zeros(2)), 1, capacity=0.5)
    assert loss.dim() == 0 and logs["capacity"] == 0.5


def test_declared_losses_carry_their_name_and_every_parameter(tiny_vae):
    loss = make_vae_loss(beta=4)
    assert isinstance(loss, Loss) and (loss.name, loss.params) == ("beta_vae", {"beta": 4, "gamma": None})
    assert make_vae_loss().params == make_vae_loss(1.0).params == {"beta": 1.0, "gamma": None}
    assert repr(make_iwae_loss(5)) == "iwae(k=5)"

    @declared_loss("double_elbo")
    def doubled(scale: float = 2.0):
        return lambda model, batch, epoch: (scale * make_vae_loss()(model, batch, epoch)[0], {})

    model, x = tiny_vae(6), torch.zeros(2, 6)
    assert doubled.__name__ == "doubled" and doubled().params == {"scale": 2.0}
    torch.manual_seed(0)
    value = doubled(scale=3.0)(model, x, 1)[0]
    torch.manual_seed(0)
    torch.testing.assert_close(value, 3.0 * make_vae_loss()(model, x, 1)[0])
