"""Chapter 3's recipe with other networks: the recurrent attention VAE and the convolutional VAE.

Taught in chapters/04_2_recipe.ipynb, which plots the results files beside the MLP rows of
``results/weak_sweep.csv``. Reproduce with::

    python -m course_lib.experiments.recipe_networks                          # both networks, 3 seeds
    python -m course_lib.experiments.recipe_networks --networks conv --seeds 1  # a subset (parallel-safe)
    python -m course_lib.experiments.recipe_networks --publish                # median seeds -> results/
    python -m course_lib.experiments.recipe_networks --fast                   # a smoke run

The recipe is chapter 3's best model without labels, unchanged (:data:`RECIPE`, from
:mod:`course_lib.recipe`): the level-channel inputs of the default grid (relative
log-mel plus the standardised level), beta-TCVAE at the sweep's beta, 10 latents, a Gaussian decoder
of standard deviation 0.1, the same optimiser, batches, epochs and seeds, and the same scoring on all
54,000 sounds (:func:`course_lib.recipe.run_one`). Only the encoder and decoder
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

from course_lib import metrics, recipe
from course_lib.config import RESULTS_DIR, data_dir
from course_lib.datasets import load_toy_dataset
from course_lib.experiments import pick_settings, positive_int
from course_lib.loudness import LevelChannelModel, level_channel_inputs, level_channel_meta, level_scale
from course_lib.metrics import MetricSettings
from course_lib.models.conv import level_channel_conv_vae
from course_lib.models.recurrent import level_channel_recurrent_vae
from course_lib.models.vae import VAE
from course_lib.train import save_checkpoint

NETWORKS = ("recurrent", "conv")
"""The networks trained with the recipe (chapter 3's MLP is in ``results/weak_sweep.csv``)."""
MODEL, BETA = recipe.MODEL, recipe.BETA
"""Chapter 3's best objective without labels and its beta, the ones its later chapters build on."""
RECIPE = recipe.RECIPE
"""Chapter 3's settings for that model (inputs, optimiser, epochs, scoring)."""
PUBLISHED = recipe.CHECKPOINTS / "recipe_networks"


@dataclass(frozen=True)
class Settings:
    """The recipe's settings that a run may change, and the networks' sizes."""

    networks: tuple[str, ...] = NETWORKS
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = RECIPE.epochs
    preset: str = RECIPE.preset
    n_held: int = RECIPE.n_held
    rnn_hidden: int = 64
    decoder_hidden: int = 128
    n_slots: int = 8
    conv_channels: tuple[int, ...] = (16, 32, 32)
    metric_settings: MetricSettings = RECIPE.metric_settings

    @property
    def recipe(self) -> recipe.Recipe:
        """Chapter 3's settings with this run's epochs, grid, held-out count and metric settings."""
        return dataclasses.replace(
            RECIPE,
            epochs=self.epochs,
            preset=self.preset,
            n_held=self.n_held,
            metric_settings=self.metric_settings,
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
    metric_settings=metrics.FAST,
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
    chosen = settings.recipe
    if network == "conv":
        return level_channel_conv_vae(shape, chosen.z_dim, settings.conv_channels, scale=chosen.scale)
    n_mels, frames = shape
    return level_channel_recurrent_vae(
        n_mels,
        frames,
        chosen.z_dim,
        settings.rnn_hidden,
        settings.decoder_hidden,
        settings.n_slots,
        scale=chosen.scale,
    )


def publish(network: str, results: pd.DataFrame, runs_dir: str | Path, folder: str | Path) -> Path:
    """Copy the checkpoint of ``network``'s seed of median MIG to ``folder/<network>.pt`` (float16)."""
    return recipe.copy_run(recipe.chosen_runs(results).iloc[0], runs_dir, Path(folder) / f"{network}.pt")


def load_logmel_model(
    network: str, shape: tuple[int, int] = (64, 32), folder: str | Path = PUBLISHED
) -> tuple[LevelChannelModel, dict]:
    """The published ``network`` with log-mels in and out (:class:`LevelChannelModel`), and its meta."""
    _check_network(network)
    model = make_model(FULL, network, shape)
    path = Path(folder) / f"{network}.pt"
    meta = recipe.load_published_into(model, path, "course_lib.experiments.recipe_networks")
    return LevelChannelModel.from_meta(model, shape, meta, path), meta


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_lib.experiments.recipe_networks [--fast] [--networks ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the FAST settings (static grid, one epoch)")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS)
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--epochs", type=positive_int)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default=None, help="folder of the CSVs (default results/; fast: data/)")
    parser.add_argument("--publish", action="store_true", help="publish each network's median seed")
    args = parser.parse_args(argv)
    settings, fast = pick_settings(args, FAST, FULL)
    # a smoke run never overwrites the committed results
    out_dir = Path(args.out) if args.out else (data_dir() / "recipe_networks_fast" if fast else None)

    def out_path(network: str) -> Path:
        return out_dir / f"recipe_{network}.csv" if out_dir else results_path(network)

    if args.publish:  # a smoke run publishes beside its runs, never into results/
        for network in settings.networks:
            path = out_path(network)
            runs_dir = recipe.runs_dir_for(path)
            folder = out_dir / "published" if fast and out_dir else PUBLISHED
            print(f"wrote {publish(network, pd.read_csv(path), runs_dir, folder)}")
        return 0
    torch.set_num_threads(args.threads)
    chosen = settings.recipe
    dataset = load_toy_dataset(chosen.preset)
    shape = tuple(dataset.features.shape[1:])
    inputs = level_channel_inputs(dataset.features, level_gain=chosen.level_gain)
    meta = level_channel_meta(level_scale(dataset.features), chosen.level_gain)
    for network in settings.networks:
        path = out_path(network)
        for seed in settings.seeds:
            row, model = recipe.run_one(
                MODEL,
                BETA,
                seed,
                dataset,
                inputs,
                chosen,
                build=lambda _, network=network: make_model(settings, network, shape),
            )
            row["parameters"] = sum(p.numel() for p in model.parameters())
            checkpoint = recipe.checkpoint_path(recipe.runs_dir_for(path), MODEL, BETA, seed)
            save_checkpoint(model, checkpoint, model_name=f"{network}_{MODEL}", beta=BETA, seed=seed, **meta)
            recipe.merge_results(row, path)
            print(recipe.report(f"{network} {MODEL}", row, dataset.factor_space.names), flush=True)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
