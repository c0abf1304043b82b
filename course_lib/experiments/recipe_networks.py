"""Chapter 3's recipe with other networks: the recurrent attention VAE and the convolutional VAE.

Taught in chapters/04_2_recipe.ipynb, which plots the results files beside the MLP rows of
``results/weak_sweep.csv``. Reproduce with::

    python -m course_lib.experiments.recipe_networks                          # both networks, 3 seeds
    python -m course_lib.experiments.recipe_networks --networks conv --seeds 1  # a subset (parallel-safe)
    python -m course_lib.experiments.recipe_networks --publish                # median seeds -> results/
    python -m course_lib.experiments.recipe_networks --fast                   # a smoke run

The recipe is chapter 3's best model without labels, unchanged (:data:`RECIPE`, taken from
:mod:`course_lib.experiments.weak_sweep`): the level-channel inputs of the default grid (relative
log-mel plus the standardised level), beta-TCVAE at the sweep's beta, 10 latents, a Gaussian decoder
of standard deviation 0.1, the same optimiser, batches, epochs and seeds, and the same scoring on all
54,000 sounds (:func:`course_lib.experiments.weak_sweep.run_one`). Only the encoder and decoder
change (:data:`NETWORKS`):

* ``recurrent``: :func:`course_lib.models.recurrent.level_channel_recurrent_vae`, chapter 4's
  bidirectional GRU pooled by attention and its attention GRU decoder (weights shared over time);
* ``conv``: :func:`course_lib.models.conv.level_channel_conv_vae`, chapter 3's strided convolutions
  over the log-mel seen as an image (weights shared over time and over mel frequency).

One CSV per network (``results/recipe_<network>.csv``, one row per seed, merged under a lock so seeds
can run in parallel processes); each run leaves its checkpoint in the data folder, and ``--publish``
copies each network's run of median MIG (float16) for the chapter.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from course_lib.config import RESULTS_DIR, data_dir
from course_lib.datasets import load_toy_dataset
from course_lib.experiments import pick_settings
from course_lib.experiments import weak_sweep as ws
from course_lib.loudness import LevelChannelModel, LevelScale, level_channel_inputs, level_scale
from course_lib.models.conv import level_channel_conv_vae
from course_lib.models.recurrent import level_channel_recurrent_vae
from course_lib.models.vae import VAE
from course_lib.train import save_checkpoint

NETWORKS = ("recurrent", "conv")
"""The networks trained with the recipe (chapter 3's MLP is in ``results/weak_sweep.csv``)."""
MODEL = "beta_tcvae"
"""Chapter 3's best objective without labels, the one its later chapters build on."""
BETA = dict(ws.FULL.runs)[MODEL]
"""The beta that chapter 3's sweep trained it with."""
RECIPE = dataclasses.replace(ws.FULL, runs=((MODEL, BETA),))
"""Chapter 3's settings for that model (inputs, optimiser, epochs, seeds, scoring)."""
PUBLISHED = ws.CHECKPOINTS / "recipe_networks"


@dataclass(frozen=True)
class Settings:
    """The recipe's settings that a run may change, and the networks' sizes."""

    networks: tuple[str, ...] = NETWORKS
    seeds: tuple[int, ...] = RECIPE.seeds
    epochs: int = RECIPE.epochs
    preset: str = RECIPE.preset
    n_held: int = RECIPE.n_held
    rnn_hidden: int = 64
    decoder_hidden: int = 128
    n_slots: int = 8
    conv_channels: tuple[int, ...] = (16, 32, 32)

    @property
    def recipe(self) -> ws.Settings:
        """Chapter 3's settings with this run's seeds, epochs, grid and held-out count."""
        return dataclasses.replace(
            RECIPE, seeds=self.seeds, epochs=self.epochs, preset=self.preset, n_held=self.n_held
        )


FULL = Settings()
"""The settings of the committed ``results/recipe_<network>.csv``."""

FAST = Settings(
    seeds=(0,),
    epochs=1,
    preset="static",
    n_held=200,
    rnn_hidden=16,
    decoder_hidden=32,
    conv_channels=(4, 8, 8),
)
"""A smoke test (the small static grid, one epoch, small networks)."""


def _check_network(network: str) -> None:
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, got {network!r}.")


def results_path(network: str) -> Path:
    """The committed results file of ``network``."""
    _check_network(network)
    return RESULTS_DIR / f"recipe_{network}.csv"


def make_model(settings: Settings, network: str, shape: tuple[int, int]) -> VAE:
    """The ``network`` VAE over level-channel inputs of log-mels ``shape`` (mels, frames)."""
    _check_network(network)
    recipe = settings.recipe
    if network == "conv":
        return level_channel_conv_vae(shape, recipe.z_dim, settings.conv_channels, scale=recipe.scale)
    n_mels, frames = shape
    return level_channel_recurrent_vae(
        n_mels,
        frames,
        recipe.z_dim,
        settings.rnn_hidden,
        settings.decoder_hidden,
        settings.n_slots,
        scale=recipe.scale,
    )


def publish(network: str, results: pd.DataFrame, runs_dir: str | Path, folder: str | Path) -> Path:
    """Copy the checkpoint of ``network``'s seed of median MIG to ``folder/<network>.pt`` (float16)."""
    return ws.copy_run(ws.chosen_runs(results).iloc[0], runs_dir, Path(folder) / f"{network}.pt")


def load_logmel_model(
    network: str, shape: tuple[int, int] = (64, 32), folder: str | Path = PUBLISHED
) -> tuple[LevelChannelModel, dict]:
    """The published ``network`` with log-mels in and out (:class:`LevelChannelModel`), and its meta."""
    _check_network(network)
    model = make_model(FULL, network, shape)
    meta = ws.load_published_into(
        model, Path(folder) / f"{network}.pt", "course_lib.experiments.recipe_networks"
    )
    return LevelChannelModel(model.eval(), shape, LevelScale(*meta["level_scale"]), RECIPE.level_gain), meta


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.experiments.recipe_networks [--fast] [--networks ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings (static grid, one epoch)")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS)
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out-dir", default=None, help="folder of the CSVs (default results/; fast: data/)")
    parser.add_argument("--publish", action="store_true", help="publish each network's median seed")
    args = parser.parse_args(argv)
    settings, fast = pick_settings(args, FAST, FULL)
    # a smoke run never overwrites the committed results
    out_dir = Path(args.out_dir) if args.out_dir else (data_dir() / "recipe_networks_fast" if fast else None)

    def out_path(network: str) -> Path:
        return out_dir / f"recipe_{network}.csv" if out_dir else results_path(network)

    if args.publish:  # a smoke run publishes beside its runs, never into results/
        for network in settings.networks:
            path = out_path(network)
            runs_dir = ws.runs_dir_for(path)
            folder = out_dir / "published" if fast and out_dir else PUBLISHED
            print(f"wrote {publish(network, pd.read_csv(path), runs_dir, folder)}")
        return 0
    if settings.epochs < 1:
        parser.error("--epochs must be positive.")
    torch.set_num_threads(args.threads)
    recipe = settings.recipe
    dataset = load_toy_dataset(recipe.preset)
    shape = tuple(dataset.features.shape[1:])
    inputs = level_channel_inputs(dataset.features, level_gain=recipe.level_gain)
    scale = list(level_scale(dataset.features))
    for network in settings.networks:
        path = out_path(network)
        for seed in recipe.seeds:
            row, model = ws.run_one(
                MODEL,
                BETA,
                seed,
                dataset,
                inputs,
                recipe,
                build=lambda _, network=network: make_model(settings, network, shape),
            )
            row["parameters"] = sum(p.numel() for p in model.parameters())
            checkpoint = ws.checkpoint_path(ws.runs_dir_for(path), MODEL, BETA, seed)
            save_checkpoint(
                model, checkpoint, model_name=f"{network}_{MODEL}", beta=BETA, seed=seed, level_scale=scale
            )
            ws.merge_results(row, path)
            print(ws.report(f"{network} {MODEL}", row, dataset.factor_space.names), flush=True)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
