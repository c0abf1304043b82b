"""The listening test: does the latent that carries pitch (or level) move it, and it alone, when heard?

Taught in chapters/03_1_beta_vae.ipynb (the listening test) and chapters/03_2_pitch_and_loudness.ipynb;
chapters/04_2_recipe.ipynb applies it to the recipe's networks. One protocol for every chapter, so that
one model gives one answer:

* :func:`factor_latent_audio` picks the latent that carries each chosen factor (highest normalised
  mutual information), traverses it with :func:`factor_traversals` and renders the steps with
  Griffin-Lim (:func:`course_lib.traversals.traversal_audio`);
* :func:`audible_changes` measures each traversal (:func:`course_lib.traversals.descriptor_curves`),
  summarises it with :func:`audible_change` and applies :func:`passes_listening_test`, whose
  thresholds are :data:`LISTENING_TEST`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib.latents import mean_codes
from course_lib.metrics.information import factor_labels, mutual_information_matrix
from course_lib.traversals import descriptor_curves, traversal_audio, traversal_codes

LISTENING_TEST = {
    "pitch": "f0 one way over >= 1 octave, level within 3 dB",
    "level": ">= 20 dB, f0 within 50 cents",
}
"""The listening test of chapter 3, per role of a latent (:func:`passes_listening_test`)."""


def audible_change(curve: pd.DataFrame) -> dict[str, float | bool]:
    """What one latent's traversal does to pitch and loudness, from its rows of ``descriptor_curves``.

    ``f0_octaves``: log2 of the highest over the lowest measured f0 (pYIN; unvoiced steps skipped);
    ``f0_monotonic``: True when every voiced step moves f0 the same way (steps under 10 cents count
    as no move, and a curve without any move is not monotonic); ``f0_span_cents``: the same span in
    cents; ``level_span_db``: highest minus lowest RMS level; ``voiced``: the fraction of steps with a
    pitch. Rows are taken in ``step`` order.
    """
    missing = [c for c in ("step", "f0_hz", "rms_db") if c not in curve.columns]
    if missing:
        raise ValueError(f"curve lacks the columns {missing} (one latent's rows of descriptor_curves).")
    if "latent" in curve.columns and curve["latent"].nunique() > 1:
        raise ValueError("curve must hold the rows of one latent only.")
    ordered = curve.sort_values("step")
    f0 = ordered["f0_hz"].to_numpy(dtype=np.float64)
    voiced = f0[np.isfinite(f0) & (f0 > 0)]
    cents = 1200 * np.log2(voiced / voiced[0]) if len(voiced) else np.zeros(0)
    moves = np.diff(cents)
    moves = moves[np.abs(moves) >= 10]
    span = float(cents.max() - cents.min()) if len(cents) else 0.0
    level = ordered["rms_db"].to_numpy(dtype=np.float64)
    return {
        "f0_octaves": span / 1200,
        "f0_span_cents": span,
        "f0_monotonic": bool(len(moves) > 0 and (np.all(moves > 0) or np.all(moves < 0))),
        "level_span_db": float(np.nanmax(level) - np.nanmin(level)),
        "voiced": float(len(voiced) / len(f0)) if len(f0) else 0.0,
    }


def passes_listening_test(role: str, change: dict[str, float | bool]) -> bool:
    """Does a latent's :func:`audible_change` do its job alone? (:data:`LISTENING_TEST`)

    A ``"pitch"`` latent must move the measured f0 one way over at least an octave with the level
    within 3 dB; a ``"level"`` latent must move the level by at least 20 dB with f0 within 50 cents.
    """
    if role == "pitch":
        return bool(change["f0_octaves"] >= 1 and change["f0_monotonic"] and change["level_span_db"] <= 3)
    if role == "level":
        return bool(change["level_span_db"] >= 20 and change["f0_span_cents"] <= 50)
    raise ValueError(f"role must be one of {sorted(LISTENING_TEST)}, got {role!r}.")


@torch.no_grad()
def factor_traversals(
    decode: Callable[[torch.Tensor], torch.Tensor],
    codes: np.ndarray,
    mi: np.ndarray,
    factor_names: Sequence[str],
    factors: Sequence[str],
    base: np.ndarray,
    n_steps: int = 7,
) -> tuple[np.ndarray, list[int]]:
    """Decoded traversals of the latent that carries each of ``factors``, and those latents.

    For each factor, the latent of highest normalised mutual information with it (``mi``
    [latents, factors]) moves from ``base`` across the range its ``codes`` [N, latents] take (1st to
    99th percentile) in ``n_steps``; ``decode(z [M, latents])`` gives the log-mels. Returns the
    log-mels ``[len(factors), n_steps, mels, frames]`` and the latent of each factor.
    """
    codes = np.asarray(codes, dtype=np.float64)
    mi = np.asarray(mi, dtype=np.float64)
    if codes.ndim != 2 or mi.shape != (codes.shape[1], len(factor_names)):
        raise ValueError(
            f"codes must be [N, latents] and mi [latents, {len(factor_names)} factors], "
            f"got {codes.shape} and {mi.shape}."
        )
    unknown = [f for f in factors if f not in factor_names]
    if unknown:
        raise ValueError(f"unknown factors {unknown}; the factors are {list(factor_names)}.")
    dims = [int(mi[:, list(factor_names).index(f)].argmax()) for f in factors]
    z = np.concatenate(
        [traversal_codes(base, [d], np.linspace(*np.percentile(codes[:, d], [1, 99]), n_steps)) for d in dims]
    )
    decoded = np.asarray(decode(torch.as_tensor(z.reshape(-1, z.shape[-1]), dtype=torch.float32)))
    return decoded.reshape(len(dims), n_steps, *decoded.shape[1:]), dims


def audible_changes(
    clips: np.ndarray, sr: int, labels: Sequence[str], roles: Sequence[str], source: str
) -> list[dict]:
    """:func:`audible_change` of each row of ``clips`` [rows, steps, samples], with the listening test.

    One dict per row: ``source``, ``role`` (``"pitch"`` or ``"level"``), ``latent`` (its label), the
    measurements of :func:`audible_change` and ``passes`` (:func:`passes_listening_test`).
    """
    if len(roles) != len(labels):
        raise ValueError(f"need one role per label, got {len(roles)} roles and {len(labels)} labels.")
    clips = np.asarray(clips)
    curves = descriptor_curves(clips, sr, np.arange(clips.shape[1]), labels)
    n_steps = clips.shape[1]
    rows = []
    for d, (label, role) in enumerate(zip(labels, roles, strict=True)):  # by position: labels may repeat
        change = audible_change(curves.iloc[d * n_steps : (d + 1) * n_steps])
        rows.append({"source": source, "role": role, "latent": label, **change})
        rows[-1]["passes"] = passes_listening_test(role, change)
    return rows


def factor_latent_audio(
    model: nn.Module,
    dataset,
    factors: Sequence[str] = ("f0", "level"),
    n_codes: int = 10_000,
    n_steps: int = 7,
    seed: int = 0,
    inputs_of: Callable[[np.ndarray], object] | None = None,
    to_logmel: Callable[[torch.Tensor], np.ndarray] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Griffin-Lim audio of the traversal of the latent that carries each of ``factors``, and its label.

    ``model`` (log-mels in, log-mels out: ``encode`` and ``decode``, e.g. a
    :class:`course_lib.loudness.LevelChannelModel`) encodes ``n_codes`` sounds of ``dataset`` drawn
    with ``seed``; the normalised mutual information of those codes with the factors picks each
    factor's latent; :func:`factor_traversals` moves it from the code of the grid's middle sound
    across its 1st to 99th percentile in ``n_steps``. Returns clips ``[len(factors), n_steps,
    samples]`` at ``dataset.sr`` and labels such as ``"z3 ~ f0 (0.63)"``
    (:func:`course_lib.metrics.information.factor_labels`).

    A model with other inputs than log-mels gives ``inputs_of(rows)``, its inputs for rows of
    ``dataset``, and ``to_logmel(decoded)``, the log-mels of what it decodes (section 3.3's models).
    """
    if inputs_of is None:
        inputs_of = dataset.features.__getitem__
    decode = model.decode if to_logmel is None else (lambda z: to_logmel(model.decode(z)))
    space = dataset.factor_space
    rows = np.sort(
        np.random.default_rng(seed).choice(len(dataset), size=min(n_codes, len(dataset)), replace=False)
    )
    codes = mean_codes(model, inputs_of(rows))
    mi = mutual_information_matrix(codes, dataset.latents_classes[rows], normalise=True)
    middle = int(space.classes_to_index(space.middle_classes()))
    base = mean_codes(model, inputs_of(np.array([middle])))[0]
    decoded, dims = factor_traversals(decode, codes, mi, space.names, factors, base, n_steps)
    return traversal_audio(decoded, **dataset.logmel_settings()), factor_labels(mi, space.names, dims)
