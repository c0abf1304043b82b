"""A test log-likelihood beside Burda et al. (2016): a VAE and an IWAE on the full MNIST.

Taught in chapters/02_vae_mnist.ipynb, which plots ``results/likelihood.csv``. Run
``python -m course_lib.experiments.likelihood`` (about 45 CPU minutes on one thread; ``--fast`` takes
seconds; a GPU is used when present). The run is defined by a :class:`Settings` (:data:`FULL` for the
committed file, :data:`FAST` for a smoke test); command-line options override single fields.

The model is Burda et al.'s single-stochastic-layer network: 784-200-200-50 encoder and
50-200-200-784 decoder with tanh units, a Bernoulli decoder, trained on the 60,000 digits with a
fresh binarisation of every batch (dynamic binarisation). Two objectives, one model each:

* ``vae`` (``k = 1``): the ELBO, with the KL in closed form;
* ``iwae`` (``k = 5``): the importance-weighted bound with 5 samples
  (:func:`course_lib.losses.make_iwae_loss`).

Optimisation follows Burda et al.'s schedule, compressed: Adam (beta1 0.9, beta2 0.999, eps 1e-4) in
8 stages of equal length, stage i at learning rate 10^-3 * 10^(-i/7). They ran 3^i epochs per stage,
3,280 epochs in all, with minibatches of 20; here the stages share ``epochs`` epochs and the minibatch
is 100, which a CPU runs several times faster.

After each stage the one-sample ELBO is measured on a fixed binarisation (seed 0) of up to 1,000
training and 1,000 test digits, with the number of active units (Burda et al.'s criterion: Cov_x E_q[z]
above 10^-2). At the end the test log-likelihood is estimated as Burda did, by the importance-weighted
bound with ``k_test`` = 5,000 samples, here on the first ``n_test`` test digits, with its standard error
over digits.

One CSV row per (model, stage): ``model, k_train, epoch, samples_seen, lr, train_elbo, test_elbo,
active_units, test_nll, test_nll_se, k_test, n_test, cpu_s``; ``test_nll`` (= minus the bound, nats) is
filled on the last row of each model. The file is written atomically after every model.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from course_lib.config import RESULTS_DIR, data_dir, seed_everything
from course_lib.experiments import FLOAT_FORMAT, pick_settings, positive_int
from course_lib.files import write_csv
from course_lib.latents import active_units, encode_means, mean_elbo
from course_lib.losses import iwae_bound, make_iwae_loss, make_vae_loss
from course_lib.mnist import dynamic_binarize, load_mnist
from course_lib.models.vae import VAE, mlp_vae
from course_lib.train import TensorLoader, default_device, train

MODELS = {"vae": 1, "iwae": 5}
"""Model name -> number of importance samples in its training objective."""

STAGES = 8
"""Burda et al.'s learning-rate stages: stage i runs at 10^-3 * 10^(-i/7)."""

COLUMNS = (
    "model",
    "k_train",
    "epoch",
    "samples_seen",
    "lr",
    "train_elbo",
    "test_elbo",
    "active_units",
    "test_nll",
    "test_nll_se",
    "k_test",
    "n_test",
    "cpu_s",
)
DEFAULT_PATH = RESULTS_DIR / "likelihood.csv"

PUBLISHED = {"vae": 86.76, "iwae": 85.54}
"""Burda et al. (2016), Table 1, MNIST, one stochastic layer: test NLL in nats (VAE k=1; IWAE k=5)."""


@dataclass(frozen=True)
class Settings:
    """Everything that defines the run: epochs, models, the test estimate's samples and digits."""

    source: str = "full"
    epochs: int = 120
    models: tuple[str, ...] = tuple(MODELS)
    k_test: int = 5000
    n_test: int = 2000
    n_eval: int = 1000
    seed: int = 0


FULL = Settings()
"""The settings of the committed ``results/likelihood.csv``."""

FAST = Settings(source="subset", epochs=2, k_test=50, n_test=100, n_eval=200)
"""A smoke test of the whole pipeline (seconds)."""


def make_model() -> VAE:
    """Burda et al.'s one-stochastic-layer MNIST model: 784-200-200-50, tanh, Bernoulli decoder."""
    return mlp_vae(784, 50, (200, 200), activation="tanh", likelihood="bernoulli")


def stage_lr(stage: int) -> float:
    """The learning rate of stage ``stage`` (0-based) of Burda et al.'s schedule: 10^-3 * 10^(-stage/7)."""
    if stage < 0:
        raise ValueError(f"stage must be >= 0, got {stage}.")
    return 1e-3 * 10 ** (-stage / 7)


def stage_ends(epochs: int, stages: int = STAGES) -> list[int]:
    """The epoch at which each of ``stages`` equal stages ends (the last one is ``epochs``)."""
    if epochs < 1 or stages < 1:
        raise ValueError(f"epochs and stages must be >= 1, got {epochs} and {stages}.")
    ends = np.unique(np.round(np.linspace(0, epochs, stages + 1)[1:]).astype(int))
    return [int(e) for e in ends if e > 0]


@torch.no_grad()
def test_nll(model: VAE, x: torch.Tensor, k: int, batch_size: int = 20) -> tuple[float, float]:
    """Minus the IWAE bound with ``k`` samples, averaged over the rows of ``x``, and its standard error."""
    model.eval()
    bounds = torch.cat([iwae_bound(model, x[i : i + batch_size], k) for i in range(0, len(x), batch_size)])
    nll = -bounds.double().cpu().numpy()
    return float(nll.mean()), float(nll.std(ddof=1) / math.sqrt(len(nll))) if len(nll) > 1 else math.nan


def run_one(
    name: str,
    train_x: torch.Tensor,
    eval_train: torch.Tensor,
    eval_test: torch.Tensor,
    nll_test: torch.Tensor,
    settings: Settings,
    device: torch.device,
) -> list[dict]:
    """Train one model (``"vae"`` or ``"iwae"``) through the stages; return its CSV rows."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {tuple(MODELS)}, got {name!r}.")
    k = MODELS[name]
    start = time.process_time()
    seed_everything(settings.seed)
    model = make_model().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=stage_lr(0), betas=(0.9, 0.999), eps=1e-4)
    loss_fn = make_vae_loss() if k == 1 else make_iwae_loss(k)
    loader = TensorLoader(train_x, batch_size=100, shuffle=True, transform=dynamic_binarize)
    rows, done = [], 0
    for stage, end in enumerate(stage_ends(settings.epochs)):
        for group in opt.param_groups:
            group["lr"] = stage_lr(stage)
        train(
            model,
            loader,
            epochs=end - done,
            loss_fn=loss_fn,
            optimizer=opt,
            seed=settings.seed * 1000 + done,
            device=device,
            progress=False,
        )
        done = end
        means, _ = encode_means(model, eval_test.to(device))
        rows.append(
            {
                "model": name,
                "k_train": k,
                "epoch": done,
                "samples_seen": done * len(train_x),
                "lr": stage_lr(stage),
                "train_elbo": mean_elbo(model, eval_train.to(device)),
                "test_elbo": mean_elbo(model, eval_test.to(device)),
                "active_units": int(active_units(means).sum()),
                "test_nll": math.nan,
                "test_nll_se": math.nan,
                "k_test": settings.k_test,
                "n_test": len(nll_test),
            }
        )
    seed_everything(settings.seed + 1)
    rows[-1]["test_nll"], rows[-1]["test_nll_se"] = test_nll(model, nll_test.to(device), settings.k_test)
    for row in rows:
        row["cpu_s"] = time.process_time() - start
    return rows


def write_results(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write ``rows`` to ``path`` atomically, in the columns of :data:`COLUMNS`."""
    return write_csv(pd.DataFrame(rows, columns=list(COLUMNS)), path, float_format=FLOAT_FORMAT)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.experiments.likelihood [--fast] [--out PATH] ...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings: 2 epochs, k_test=50")
    parser.add_argument("--source", choices=("full", "subset", "auto"), help="which MNIST (default full)")
    parser.add_argument(
        "--epochs", type=positive_int, help=f"training epochs per model (default {FULL.epochs})"
    )
    parser.add_argument("--model", dest="models", nargs="+", choices=tuple(MODELS))
    parser.add_argument(
        "--k-test", type=positive_int, help=f"samples of the test NLL (default {FULL.k_test})"
    )
    parser.add_argument(
        "--n-test", type=positive_int, help=f"test digits of the NLL estimate (default {FULL.n_test})"
    )
    parser.add_argument(
        "--n-eval", type=positive_int, help=f"digits per ELBO evaluation (default {FULL.n_eval})"
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default=None, help=f"CSV to write (default {DEFAULT_PATH}; fast: data/)")
    args = parser.parse_args(argv)
    settings, fast = pick_settings(args, FAST, FULL)
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = str(data_dir() / "likelihood_fast.csv") if fast else str(DEFAULT_PATH)
    torch.set_num_threads(args.threads)
    device = default_device()
    source = settings.source
    train_x = torch.from_numpy(load_mnist("train", binarize=None, source=source)[0])
    test_bin = torch.from_numpy(load_mnist("test", binarize="static", source=source, verbose=False)[0])
    train_bin = torch.from_numpy(load_mnist("train", binarize="static", source=source, verbose=False)[0])
    eval_train, eval_test = train_bin[: settings.n_eval], test_bin[: settings.n_eval]
    rows: list[dict] = []
    start = time.process_time()
    for name in tqdm(settings.models, desc="models"):
        rows += run_one(name, train_x, eval_train, eval_test, test_bin[: settings.n_test], settings, device)
        write_results(rows, args.out)
        last = rows[-1]
        tqdm.write(
            f"{name:>4} test ELBO {last['test_elbo']:8.2f}  test NLL (k={settings.k_test}) "
            f"{last['test_nll']:7.2f} +- {last['test_nll_se']:.2f}  active {last['active_units']}  "
            f"({last['cpu_s']:.0f} CPU s)"
        )
    print(f"wrote {args.out} ({len(rows)} rows) in {time.process_time() - start:.0f} CPU s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
