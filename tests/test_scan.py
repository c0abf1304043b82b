"""The SCAN model of chapter 5 on known cases: KL between Gaussians, the SCAN loss, the operators."""

import math

import pytest
import torch

from course_lib.losses import gaussian_kl
from course_lib.models.scan import (
    SCAN,
    Recombination,
    gaussian_kl_between,
    product_of_experts_and,
    recombination_loss,
    scan_loss,
)


def test_kl_between_known_values():
    zero = torch.zeros(1, 1)
    # KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, 1) || N(0, 4)) = log 2 + 1/8 - 1/2
    assert gaussian_kl_between(torch.ones(1, 1), zero, zero, zero).item() == pytest.approx(0.5)
    four = torch.full((1, 1), math.log(4.0))
    assert gaussian_kl_between(zero, zero, zero, four).item() == pytest.approx(math.log(2) + 1 / 8 - 1 / 2)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    assert torch.allclose(gaussian_kl_between(mu, logvar, mu, logvar), torch.zeros(5, 3), atol=1e-6)
    assert torch.allclose(
        gaussian_kl_between(mu, logvar, 0 * mu, 0 * logvar), gaussian_kl(mu, logvar), atol=1e-5
    )
    other = torch.randn(5, 3)
    forward = gaussian_kl_between(mu, logvar, other, 0 * logvar)
    backward = gaussian_kl_between(other, 0 * logvar, mu, logvar)
    assert (forward >= 0).all() and not torch.allclose(forward, backward)  # KL is not symmetric
    with pytest.raises(ValueError, match="broadcastable"):
        gaussian_kl_between(mu, logvar, torch.zeros(4, 3), logvar)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def model() -> SCAN:
    torch.manual_seed(0)
    return SCAN(6, 4, hidden=16)


def test_scan_loss_terms(model):
    y = torch.tensor([[1.0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1]])
    mu_x, logvar_x = torch.randn(2, 4), torch.randn(2, 4)
    torch.manual_seed(1)
    terms = scan_loss(model, y, mu_x, logvar_x, beta=2.0, lam=5.0)
    expected = terms["recon"] + 2.0 * terms["kl_prior"] + 5.0 * terms["kl_ground"]
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    torch.manual_seed(1)
    plain = scan_loss(model, y, mu_x, logvar_x, beta=0.0, lam=0.0)
    assert plain["loss"].item() == pytest.approx(plain["recon"].item())
    # the grounding term vanishes when the sound posterior is the symbol posterior
    with torch.no_grad():
        mu_y, logvar_y = model.encode(y)
    assert scan_loss(model, y, mu_y, logvar_y)["kl_ground"].item() == pytest.approx(0.0, abs=1e-6)
    manual = gaussian_kl_between(mu_x, logvar_x, *model.encode(y)).sum(1).mean()
    assert terms["kl_ground"].item() == pytest.approx(manual.item(), rel=1e-6)


def test_scan_loss_leaves_the_sound_model_alone(model):
    y = torch.ones(3, 6)
    mu_x = torch.randn(3, 4, requires_grad=True)
    logvar_x = torch.zeros(3, 4, requires_grad=True)
    scan_loss(model, y, mu_x, logvar_x)["loss"].backward()
    assert mu_x.grad is None and logvar_x.grad is None
    assert all(p.grad is not None for p in model.parameters())


def test_scan_loss_rejects_bad_input(model):
    with pytest.raises(ValueError, match="n_words=6"):
        scan_loss(model, torch.ones(2, 5), torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=">= 0"):
        scan_loss(model, torch.ones(2, 6), torch.zeros(2, 4), torch.zeros(2, 4), beta=-1.0)


def test_training_the_grounding_term_pulls_symbol_posteriors_to_sounds(model):
    """With only the grounding term, q(z_y|y) learns the sounds' posterior (a narrow, known Gaussian)."""
    y = torch.eye(6)[:2].repeat(32, 1)
    mu_x = torch.where(y[:, :1] > 0, 1.5, -1.5).expand(64, 4).clone()
    logvar_x = torch.full((64, 4), -2.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    start = scan_loss(model, y, mu_x, logvar_x, beta=0.0, lam=1.0)["kl_ground"].item()
    for _ in range(200):
        loss = scan_loss(model, y, mu_x, logvar_x, beta=0.0, lam=1.0)["kl_ground"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * start
    mu_y, _ = model.encode(torch.eye(6)[:2])
    assert torch.allclose(mu_y, torch.tensor([[1.5] * 4, [-1.5] * 4]), atol=0.1)


def test_recombination_shares_weights_across_dimensions():
    torch.manual_seed(0)
    op = Recombination(hidden=8)
    stats = [torch.randn(3, 5) for _ in range(4)]
    mu, logvar = op(*stats, "AND")
    assert mu.shape == logvar.shape == (3, 5)
    perm = torch.tensor([4, 2, 0, 1, 3])
    mu_p, logvar_p = op(*(s[:, perm] for s in stats), "AND")
    assert torch.allclose(mu_p, mu[:, perm], atol=1e-6) and torch.allclose(
        logvar_p, logvar[:, perm], atol=1e-6
    )
    other, _ = op(*stats, "IGNORE")
    assert not torch.allclose(other, mu)  # the op embedding matters
    mixed, _ = op(*stats, ["AND", "IGNORE", "AND"])
    assert torch.allclose(mixed[1], other[1]) and torch.allclose(mixed[0], mu[0])
    with pytest.raises(ValueError, match="unknown operator"):
        op(*stats, "OR")
    with pytest.raises(ValueError, match="one operator per example"):
        op(*stats, ["AND", "AND"])


def test_recombination_loss_trains_only_the_operator():
    torch.manual_seed(0)
    op = Recombination(hidden=8)
    operands = [torch.randn(4, 3, requires_grad=True) for _ in range(4)]
    mu_x, logvar_x = torch.randn(4, 3), torch.zeros(4, 3)
    loss = recombination_loss(op, *operands, "AND", mu_x, logvar_x)
    mu, logvar = op(*(o.detach() for o in operands), "AND")
    assert loss.item() == pytest.approx(gaussian_kl_between(mu_x, logvar_x, mu, logvar).sum(1).mean().item())
    loss.backward()
    assert all(o.grad is None for o in operands)
    assert all(p.grad is not None for p in op.parameters())


def test_product_of_experts_and():
    narrow = torch.tensor([[2.0]]), torch.tensor([[math.log(0.25)]])
    prior = torch.zeros(1, 1), torch.zeros(1, 1)
    mu, logvar = product_of_experts_and(*narrow, *prior)  # an unspecified operand hands the dimension over
    assert mu.item() == pytest.approx(2.0) and logvar.item() == pytest.approx(math.log(0.25))
    wide = torch.zeros(1, 1), torch.tensor([[math.log(9.0)]])  # wider than the prior: capped at it
    mu, logvar = product_of_experts_and(*narrow, *wide)
    assert mu.item() == pytest.approx(2.0)
    mu, logvar = product_of_experts_and(*narrow, torch.tensor([[0.0]]), torch.tensor([[math.log(0.25)]]))
    assert logvar.exp().item() == pytest.approx(1 / 7) and mu.item() == pytest.approx(8 / 7)


def test_chapter5_self_checks_accept_the_reference_and_reject_mistakes(capsys):
    from course_lib.checks import SelfCheckFailed, ch05
    from course_lib.composed_sounds import apply_symbol_operator, in_common

    ch05.check_symbol_operator(apply_symbol_operator)
    ch05.check_gaussian_kl_between(gaussian_kl_between)
    ch05.check_scan_loss(scan_loss)
    ch05.check_product_of_experts(product_of_experts_and)
    assert capsys.readouterr().out.count("the reference on") == 4
    with pytest.raises(SelfCheckFailed, match="Hint"):
        ch05.check_gaussian_kl_between(lambda mq, lq, mp, lp: gaussian_kl_between(mp, lp, mq, lq))  # reversed
    with pytest.raises(SelfCheckFailed, match="Hint"):
        ch05.check_scan_loss(
            lambda m, y, mu, lv, beta, lam: scan_loss(m, y, mu, lv, beta, 0.0)
        )  # lam ignored
    with pytest.raises(SelfCheckFailed, match="Hint"):
        ch05.check_symbol_operator(lambda op, a, b: in_common(a, b))  # IN_COMMON for every operator
