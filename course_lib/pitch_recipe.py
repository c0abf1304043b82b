"""Section 3.3's recipe: constant-Q inputs, every value weighed alike, a model that transposes.

Taught in chapters/03_3_seven_factors.ipynb; trained by :mod:`course_lib.experiments.pitch_sweep`.
Three changes to chapter 3's recipe (:mod:`course_lib.recipe`), made one at a time, each an *arm*
(:data:`ARMS`) measured against the one before it, with the same loss, beta, epochs and seeds:

1. ``cqt``: the inputs become :func:`course_lib.cqt.pitch_inputs` (a constant-Q profile, the envelope,
   the level), with the recipe's MLP VAE;
2. ``cqt_standardised``: the objective changes: every value but the level is standardised over the
   set (:func:`standardisation`), so a value that varies little (the envelope, which carries the
   attack) costs as much to get wrong as one that varies a lot; the decoder's standard deviation
   is set so that the values weigh as much in all as before;
3. ``shift``: the network changes to :func:`course_lib.models.shift.shift_vae`, whose pitch latent
   transposes a template.

:class:`PitchModel` wraps a trained VAE so that it takes and returns the raw inputs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from course_lib import listening
from course_lib.cqt import N_FRAMES, CQTProfile, dataset_profiles, pitch_inputs
from course_lib.cqt import to_logmel as cqt_to_logmel
from course_lib.datasets import ToyDataset
from course_lib.loudness import LevelScale, level_scale
from course_lib.models.shift import pitch_position, shift_vae
from course_lib.models.vae import VAE
from course_lib.objectives import factor_vae_discriminator
from course_lib.recipe import CHECKPOINTS, Recipe, load_published_into, make_model, run_one

STD_FLOOR = 0.02
"""The smallest standard deviation a value is divided by (2 dB): values that barely vary stay tame."""


@dataclass(frozen=True)
class Arm:
    """One step of the recipe: the network (``"mlp"`` or ``"shift"``) and whether values are standardised."""

    network: str
    standardise: bool


ARMS: dict[str, Arm] = {
    "cqt": Arm("mlp", False),
    "cqt_standardised": Arm("mlp", True),
    "shift": Arm("shift", True),
}
"""The arms in the order they change one thing each."""


class Standardisation(NamedTuple):
    """Per-value ``mean`` and ``std`` of the inputs, the decoder ``scale`` that goes with them, and the
    ``centre``: the mean pitch position of the profiles (:func:`course_lib.models.shift.pitch_position`)."""

    mean: Tensor
    std: Tensor
    scale: float
    centre: float


def _check_arm(arm: str) -> Arm:
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {tuple(ARMS)}, got {arm!r}.")
    return ARMS[arm]


def make_pitch_inputs(
    dataset: ToyDataset, level_gain: float, scale: LevelScale | None = None, progress: bool = True
) -> Tensor:
    """The raw inputs :func:`course_lib.cqt.pitch_inputs` of every clip of ``dataset``.

    ``scale``: the level's mean and standard deviation to standardise with (default: the set's own;
    a trained model's own to encode clips the way it saw its training set).
    """
    profiles = dataset_profiles(dataset, CQTProfile(sr=dataset.sr), progress=progress)
    return pitch_inputs(profiles, dataset.features, level_gain=level_gain, scale=scale)


def standardisation(inputs: Tensor, arm: str, base_scale: float) -> Standardisation:
    """How ``arm`` presents the raw ``inputs`` to its model.

    Standardised arms: every value but the level (last, already standardised) has mean 0 and standard
    deviation 1 (at least :data:`STD_FLOOR` is divided by), and the decoder's standard deviation is
    ``base_scale * sqrt(D' / sum of their variances)`` over those ``D'`` values, so that their share of
    the loss in all stays what it was with ``base_scale`` on the raw values. Other arms: mean 0, std 1,
    ``base_scale``.
    """
    n = inputs.shape[1]
    centre = float(pitch_position(inputs[:, : n - N_FRAMES - 1]).mean())
    if not _check_arm(arm).standardise:
        return Standardisation(torch.zeros(n), torch.ones(n), float(base_scale), centre)
    mean, std = inputs.mean(0), inputs.std(0)
    scale = float(base_scale * np.sqrt((n - 1) / float(std[:-1].pow(2).sum())))
    mean[-1], std[-1] = 0.0, 1.0
    return Standardisation(mean, std.clamp_min(STD_FLOOR), scale, centre)


def build(arm: str, model_name: str, n_inputs: int, settings: Recipe, stats: Standardisation) -> VAE:
    """The untrained network of ``arm`` for ``model_name`` (FactorVAE's carries its discriminator)."""
    if _check_arm(arm).network == "mlp":
        return make_model(dataclasses.replace(settings, scale=stats.scale), n_inputs, model_name)
    model = shift_vae(
        n_inputs - N_FRAMES - 1,
        N_FRAMES,
        settings.z_dim,
        settings.hidden,
        centre=stats.centre,
        mean=stats.mean,
        std=stats.std,
        scale=stats.scale,
    )
    if model_name == "factor_vae":
        model.discriminator = factor_vae_discriminator(settings.z_dim)
    return model


def train_arm(
    arm: str, model_name: str, beta: float, seed: int, dataset: ToyDataset, inputs: Tensor, settings: Recipe
) -> tuple[dict[str, Any], VAE, Standardisation]:
    """Train and score one run of ``arm`` (:func:`course_lib.recipe.run_one`): row, model, standardisation."""
    stats = standardisation(inputs, arm, settings.scale)
    seen = (inputs - stats.mean) / stats.std
    row, model = run_one(
        model_name,
        beta,
        seed,
        dataset,
        seen,
        settings,
        build=lambda n: build(arm, model_name, n, settings, stats),
    )
    return {"arm": arm, **row, "decoder_scale": stats.scale}, model, stats


def pitch_meta(arm: str, stats: Standardisation, dataset: ToyDataset, level_gain: float) -> dict[str, Any]:
    """Everything a loader needs besides the weights: arm, standardisation, level scale and gain, sizes."""
    return {
        "arm": arm,
        "mean": stats.mean.tolist(),
        "std": stats.std.tolist(),
        "decoder_scale": stats.scale,
        "centre": stats.centre,
        "level_scale": list(level_scale(dataset.features)),
        "level_gain": float(level_gain),
        "n_inputs": len(stats.mean),
    }


class PitchModel(nn.Module):
    """A trained VAE of one arm, seen from the raw inputs: ``encode(inputs)``, ``decode(z) -> inputs``."""

    def __init__(self, vae: VAE, stats: Standardisation, level: LevelScale, level_gain: float) -> None:
        super().__init__()
        self.vae, self.stats, self.level, self.level_gain = vae, stats, level, level_gain

    def encode(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """q(z|x) of raw inputs ``[N, values]``."""
        return self.vae.encode(
            (torch.as_tensor(inputs, dtype=torch.float32) - self.stats.mean) / self.stats.std
        )

    def decode(self, z: Tensor) -> Tensor:
        """The decoded raw inputs ``[N, values]`` of codes ``z``."""
        return self.vae.decode(z) * self.stats.std + self.stats.mean


def load_pitch_model(
    model_name: str, folder: str | os.PathLike = CHECKPOINTS / "pitch", settings: Recipe | None = None
) -> tuple[PitchModel, dict[str, Any]]:
    """The published ``pitch_sweep`` model ``model_name`` (float32, eval mode) and its meta."""
    path = Path(folder) / f"{model_name}.pt"
    if not path.exists():
        raise FileNotFoundError(
            f"no {path}: run python -m course_lib.experiments.pitch_sweep, then --publish."
        )
    meta = torch.load(path, map_location="cpu", weights_only=True).get("meta", {})
    stats = Standardisation(
        torch.tensor(meta["mean"]), torch.tensor(meta["std"]), meta["decoder_scale"], meta["centre"]
    )
    vae = build(meta["arm"], model_name, meta["n_inputs"], settings or Recipe(), stats)
    load_published_into(vae, path, "course_lib.experiments.pitch_sweep")
    return PitchModel(vae, stats, LevelScale(*meta["level_scale"]), meta["level_gain"]).eval(), meta


def factor_latent_audio(
    model: PitchModel, dataset: ToyDataset, n_codes: int = 10_000, n_steps: int = 7, seed: int = 0
) -> tuple[np.ndarray, list[str]]:
    """The listening test's traversals of ``model``'s pitch and level latents: clips and labels.

    :func:`course_lib.listening.factor_latent_audio` with the model's own inputs (the profiles of the
    ``n_codes`` sounds drawn and of the grid's middle sound, computed here) and its decoded inputs
    heard through :func:`course_lib.cqt.to_logmel` and the course's Griffin-Lim.
    """
    transform = CQTProfile(sr=dataset.sr)

    def inputs_of(rows: np.ndarray) -> Tensor:
        return make_pitch_inputs(dataset.subset(rows), model.level_gain, model.level, progress=False)

    def to_logmel(decoded: Tensor) -> np.ndarray:
        return cqt_to_logmel(decoded, transform, model.level, level_gain=model.level_gain)

    return listening.factor_latent_audio(
        model, dataset, ("f0", "level"), n_codes, n_steps, seed, inputs_of=inputs_of, to_logmel=to_logmel
    )
