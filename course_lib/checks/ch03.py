"""Self-checks of chapter 3 (solutions/03_beta_vae.ipynb): the beta-VAE loss, MIG and the level channel.

Taught in chapters/03_1_beta_vae.ipynb::

    from course_lib.checks import ch03
    ch03.check_mig(mig)   # mig(codes [N, D], factors [N, K], n_bins=20) -> float
    ch03.check_beta_vae_loss(beta_vae_loss, make_model=lambda: BetaVAE(...), example_x=x[:8])

and, for the level channel of chapters/03_2_pitch_and_loudness.ipynb (``course_lib.loudness``)::

    ch03.check_level_channel(level_channel)   # (logmels, relative_range, gain) -> (relative, level)

The loss check builds one model with ``make_model`` (the chapter's own architecture, so this module
assumes nothing about it), in float64, feeds random inputs shaped like ``example_x`` and calls the
student's function and ``course_lib.losses.beta_vae_loss`` with the same (model, x, beta, capacity,
gamma). Both calls start from the same torch seed, so the reparameterisation noise is the same as long
as the student draws it the way the model or the reference does. The KL term is compared on its own
(the loss minus the loss at beta = 0): beside an untrained model's reconstruction term it is tiny.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import loudness, metrics
from course_lib.checks import Hint, call_student, compare, difference, fail, in_turn, self_check

MIG_HINT = Hint(
    nudge=(
        "for each factor, find the two code dimensions that share the most information with it; MIG is"
        " the gap between them, divided by the factor's entropy H(v_k), averaged over factors. Estimate the"
        " information on codes discretised into n_bins equal-width bins per dimension."
    ),
    formula=(
        "MIG = (1/K) sum_k (I(z_(1); v_k) - I(z_(2); v_k)) / H(v_k), where z_(1), z_(2) are the code"
        " dimensions with the largest and second-largest I(z_d; v_k). Bins: n_bins equal-width bins between"
        " each dimension's minimum and maximum (the maximum falls in the last bin); I and H are the"
        " discrete (plug-in) estimates in nats, H(v) = I(v; v)."
    ),
)


def reference_mig(codes: np.ndarray, factors: np.ndarray, n_bins: int = 20) -> float:
    """The course's MIG score (:func:`course_lib.metrics.mig`) as a plain float."""
    return metrics.mig(codes, factors, n_bins=n_bins)["score"]


MIG_BINS = (10, 20, 7)
"""The ``n_bins`` of the MIG check's trials, in turn (so a function that ignores n_bins fails)."""


def mig_inputs(rng: np.random.Generator, trial: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """Random (codes, factors, n_bins): a noisy, partly mixed and permuted code of 2-3 unbalanced factors.

    Built so that each classic slip moves the score: the factors' classes have unequal frequencies
    (so H(v_k) differs from log of the number of classes), the code dimensions have different scales
    and offsets (bins are per dimension), one factor's dimension saturates at its maximum for a fifth
    of the rows (so the maximum must share the last bin), and ``n_bins`` changes between trials.
    """
    n, n_factors = int(rng.integers(600, 1500)), int(rng.integers(2, 4))
    n_dims = n_factors + int(rng.integers(0, 3))
    sizes = rng.integers(3, 9, size=n_factors)
    factors = np.stack(
        [rng.choice(size, size=n, p=(p := rng.uniform(0.05, 1.0, size=size)) / p.sum()) for size in sizes],
        axis=1,
    )
    values = factors / (sizes - 1) - 0.5
    mixing = np.eye(n_dims, n_factors) + rng.uniform(0.0, 0.4) * rng.normal(size=(n_dims, n_factors))
    codes = values @ mixing.T + rng.uniform(0.02, 0.2) * rng.normal(size=(n, n_dims))
    codes[:, 0] = np.minimum(codes[:, 0], np.quantile(codes[:, 0], 0.8))
    codes = codes * 10.0 ** rng.uniform(-1.0, 1.0, size=n_dims) + rng.normal(0.0, 3.0, size=n_dims)
    return codes[:, rng.permutation(n_dims)], factors, MIG_BINS[trial % len(MIG_BINS)]


@self_check
def check_mig(student_mig: Callable[..., float]) -> None:
    """Compare a student's ``mig(codes, factors, n_bins)`` with the reference on random codes.

    The student's function may return the score as a float or a dict with a ``"score"`` entry.
    """

    def score(codes: np.ndarray, factors: np.ndarray, n_bins: int) -> float:
        result = student_mig(codes, factors, n_bins)
        return result["score"] if isinstance(result, dict) else float(result)

    compare(
        score,
        reference_mig,
        in_turn(mig_inputs),
        name="mig",
        hint=MIG_HINT,
        trials=len(MIG_BINS) + 2,
        atol=2e-3,
        rtol=0.0,
    )


LOSS_HINT = Hint(
    nudge=(
        "the beta-VAE loss is chapter 2's negative ELBO with the KL term multiplied by beta; with a"
        " capacity C the KL term becomes gamma |KL - C| instead. Return (loss, logs) like"
        " course_lib.losses.beta_vae_loss, with the same keys in logs."
    ),
    formula=(
        "recon_b = -log p(x_b | z_b) summed over features, KL_b = sum_d KL(q(z_d|x_b) || N(0, 1));"
        " loss = mean_b(recon_b) + beta mean_b(KL_b), or with a capacity"
        " loss = mean_b(recon_b) + gamma |mean_b(KL_b) - C|. logs (floats): loss,"
        " elbo = -mean_b(recon_b + KL_b), recon, kl, kl_per_dim (batch mean of each dimension's KL),"
        " and capacity when one is given."
    ),
)

LOSS_SETTINGS: tuple[tuple[float, float | None, float | None], ...] = (
    (1.0, None, None),
    (4.0, None, None),
    (0.25, None, None),
    (1.0, 2.0, 50.0),
    (4.0, 0.5, 10.0),
)
"""(beta, capacity factor, gamma) of each trial of :func:`check_beta_vae_loss`; the capacity is the
factor times the batch's mean KL, so that one trial has the KL below C and another above it."""


def _comparable(result: Any) -> Any:
    """A loss result ready for :func:`compare`, compared with a tolerance at every level.

    Dicts stay dicts (so a difference names its key, e.g. ``returned[1]['kl']``), lists of numbers
    and plain numbers become arrays, tensors stay.
    """
    if isinstance(result, dict):
        return {key: _comparable(value) for key, value in result.items()}
    if isinstance(result, (tuple, list)):
        if result and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in result):
            return np.asarray(result, dtype=np.float64)
        return tuple(_comparable(v) for v in result)
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return np.asarray(float(result))
    return result


def _call_loss(
    loss: Callable[..., Any],
    model: nn.Module,
    x: torch.Tensor,
    beta: float,
    capacity: float | None,
    gamma: float | None,
    *,
    as_dict: bool = False,
    grad: bool = False,
) -> tuple[Any, dict]:
    """``loss(model, x, beta, capacity, gamma)`` from a fixed torch seed, as ``(loss, logs)``.

    The result must be ``(loss, logs)``, or, when ``as_dict`` (a reference that returns one dict),
    a dict holding ``"loss"`` and the logs. Without ``grad``, no gradients are recorded.
    """
    torch.manual_seed(1234)
    with torch.set_grad_enabled(grad):
        result = call_student("beta_vae_loss", loss, model, x, beta, capacity, gamma, hint=LOSS_HINT)
    if as_dict and isinstance(result, dict) and "loss" in result:
        return result["loss"], result
    if not as_dict and isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
        return result
    expected = "a dict with a 'loss' entry" if as_dict else "(loss, logs) with logs a dict"
    fail("beta_vae_loss", f"expected {expected}, got {type(result).__name__}.", LOSS_HINT)


def _loss_parts(
    loss: Callable[..., Any],
    model: nn.Module,
    x: torch.Tensor,
    beta: float,
    capacity: float | None,
    gamma: float | None,
    as_dict: bool,
) -> dict[str, Any]:
    """The parts of one loss result that the check compares one by one, each beyond the others' size.

    On an untrained model the reconstruction term is thousands of nats and the KL a fraction of one,
    so the loss alone hides any KL mistake: the KL part is the loss minus the loss at beta = 0, and the
    logged elbo is compared through elbo + recon (minus the KL), all in float64.
    """
    total, logs = _call_loss(loss, model, x, beta, capacity, gamma, as_dict=as_dict)
    recon_only, _ = _call_loss(loss, model, x, 0.0, None, None, as_dict=as_dict)
    try:
        elbo_plus_recon = np.asarray(float(logs["elbo"]) + float(logs["recon"]))
    except (KeyError, TypeError, ValueError, RuntimeError):
        elbo_plus_recon = None  # the comparison of the logs says what is missing
    return {
        "the reconstruction term (your loss at beta = 0)": _comparable(recon_only),
        "the KL term of your loss (your loss minus your loss at beta = 0)": _comparable(total - recon_only),
        "logs['elbo'] + logs['recon'] (minus the KL: the ELBO has no beta)": elbo_plus_recon,
        "logs": _comparable(logs),
    }


def _describe(beta: float, capacity: float | None, gamma: float | None) -> str:
    """The setting of one trial, as a failure message names it."""
    if capacity is None:
        return f"beta = {beta:g}"
    return f"capacity C = {capacity:.3g}, gamma = {gamma:g}"


def _check_loss_carries_gradient(
    student_loss: Callable[..., Any], model: nn.Module, x: torch.Tensor, as_dict: bool
) -> None:
    """The returned loss must be a scalar tensor that gradients flow through (train calls backward)."""
    loss, _ = _call_loss(student_loss, model, x, 1.0, None, None, as_dict=as_dict, grad=True)
    if not isinstance(loss, torch.Tensor):
        got = f"a {type(loss).__name__}"
    elif loss.dim() != 0:
        got = f"a tensor of shape {tuple(loss.shape)}"
    elif not loss.requires_grad:
        got = "a tensor that no gradient flows through (detached, or made from .item())"
    else:
        return
    fail(
        "beta_vae_loss",
        "the loss must be a scalar tensor that gradients flow through (training calls"
        f" loss.backward()), got {got}.",
        LOSS_HINT,
    )


@self_check
def check_beta_vae_loss(
    student_loss: Callable[..., Any],
    make_model: Callable[[], nn.Module],
    example_x: torch.Tensor,
    *,
    reference: Callable[..., Any] | None = None,
) -> None:
    """Compare ``student_loss(model, x, beta, capacity=None, gamma=None)`` with the course's beta-VAE loss.

    Args:
        student_loss: the student's function.
        make_model: builds the model the loss is computed for (called once, under a fixed seed).
        example_x: a batch of inputs; every trial draws uniform [0, 1) inputs of its shape (float64).
        reference: the function to compare with (default ``course_lib.losses.beta_vae_loss``); when it
            returns one dict (holding ``"loss"``), the student's function must too.

    First the loss must carry a gradient; then one trial per setting in :data:`LOSS_SETTINGS` (beta
    1, 4 and 0.25, then two capacity-annealed settings) compares the reconstruction term, the KL term,
    the logs and the logged ELBO's KL, each on its own (see :func:`_loss_parts`).
    """
    if reference is None:
        from course_lib.losses import beta_vae_loss as reference
    if not isinstance(example_x, torch.Tensor):
        raise ValueError(f"example_x must be a torch.Tensor batch of inputs, got {type(example_x).__name__}.")
    torch.manual_seed(0)
    model = make_model().double()
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.random(tuple(example_x.shape)))
    torch.manual_seed(1234)
    with torch.no_grad():
        as_dict = isinstance(reference(model, x, 1.0, None, None), dict)
    _check_loss_carries_gradient(student_loss, model, x, as_dict)
    for trial, (beta, capacity_factor, gamma) in enumerate(LOSS_SETTINGS, start=1):
        x = torch.as_tensor(rng.random(tuple(example_x.shape)))
        capacity = None
        if capacity_factor is not None:
            reference_kl = _call_loss(reference, model, x, 1.0, None, None, as_dict=as_dict)[1]["kl"]
            capacity = capacity_factor * float(reference_kl)
        want = _loss_parts(reference, model, x, beta, capacity, gamma, as_dict)
        got = _loss_parts(student_loss, model, x, beta, capacity, gamma, as_dict)
        for part, expected in want.items():
            if got[part] is None:
                continue
            problem = difference(got[part], expected, atol=1e-6, rtol=1e-4, path=part)
            if problem:
                fail(
                    "beta_vae_loss",
                    f"{problem}, with {_describe(beta, capacity, gamma)} (trial {trial} of"
                    f" {len(LOSS_SETTINGS)}).",
                    LOSS_HINT,
                )
    print(
        f"\N{WHITE HEAVY CHECK MARK} beta_vae_loss: matches the reference on {len(LOSS_SETTINGS)} random"
        " inputs (beta 1, 4 and 1/4, two capacities), term by term."
    )


LEVEL_CHANNEL_HINT = Hint(
    nudge=(
        "a clip's level is the decibel mean of its power over all bands and frames (1 unit of the"
        " log-mel is 100 dB); subtract it from every value of the clip, floor the result relative_range"
        " below 0 and shift it up so that the floor reads 0; standardise the levels over the clips and"
        " multiply by the gain."
    ),
    formula=(
        "level_n = log10(mean_{b,t} 10^(10 x_nbt)) / 10; relative_nbt = max(x_nbt - level_n,"
        " -relative_range) + relative_range; standard_n = gain (level_n - mean_n level_n) / std_n level_n,"
        " with the standard deviation over the clips of N - 1 degrees of freedom (Bessel's correction)."
        " Return (relative [clips, bands, frames], standard [clips])."
    ),
)

LEVEL_CHANNEL_SETTINGS: tuple[tuple[float, float], ...] = ((0.55, 4.0), (0.3, 1.0), (0.4, 2.5))
"""(relative_range, gain) of each trial of :func:`check_level_channel`, in turn."""


def reference_level_channel(
    logmels: torch.Tensor, relative_range: float, gain: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's level channel (:mod:`course_lib.loudness`): ``(relative [clips, ...], level [clips])``."""
    inputs = loudness.level_channel_inputs(logmels, relative_range, level_gain=gain)
    return inputs[:, :-1].reshape(logmels.shape), inputs[:, -1]


def level_channel_inputs(rng: np.random.Generator, trial: int = 0) -> tuple[torch.Tensor, float, float]:
    """Random (log-mels [clips, bands, frames] in [0, 0.9], relative_range, gain) where every term matters.

    Each clip has its own level (up to 20 dB apart across the set) and a spectrum that falls by 70 to
    90 dB from the lowest band to the highest, so that the power mean differs from the mean of the
    values and some values lie more than ``relative_range`` below the level (the floor matters). None
    exceeds 0.9, so 6 dB more stays inside the log-mel's range. The set has 4 to 9 clips, so that a
    standard deviation over N clips differs from the one over N - 1.
    """
    clips, bands, frames = int(rng.integers(4, 10)), int(rng.integers(6, 17)), int(rng.integers(5, 13))
    tops = rng.uniform(0.7, 0.9, size=(clips, 1, 1))
    slope = -np.linspace(0.0, 1.0, bands)[None, :, None] * rng.uniform(0.7, 0.9, size=(clips, 1, 1))
    values = tops + slope + rng.normal(0.0, 0.04, size=(clips, bands, frames))
    relative_range, gain = LEVEL_CHANNEL_SETTINGS[trial % len(LEVEL_CHANNEL_SETTINGS)]
    return torch.as_tensor(np.clip(values, 0.0, 0.9), dtype=torch.float32), relative_range, gain


def _level_channel_result(
    student_fn: Callable[..., Any], logmels: torch.Tensor, relative_range: float, gain: float
) -> tuple[np.ndarray, np.ndarray]:
    """The student's ``(relative, level)`` as float64 arrays, or a failed check naming what is wrong."""
    result = call_student(
        "level_channel", student_fn, logmels.clone(), relative_range, gain, hint=LEVEL_CHANNEL_HINT
    )
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        fail(
            "level_channel",
            f"expected a pair (relative, level), got {type(result).__name__}.",
            LEVEL_CHANNEL_HINT,
        )
    relative, level = (
        np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v, dtype=np.float64) for v in result
    )
    clips = logmels.shape[0]
    if relative.shape != tuple(logmels.shape):
        fail(
            "level_channel",
            f"the relative log-mel must have the shape of the log-mels, {tuple(logmels.shape)}, got"
            f" {relative.shape}.",
            LEVEL_CHANNEL_HINT,
        )
    if level.shape != (clips,):
        fail(
            "level_channel",
            f"the level must hold one value per clip, shape ({clips},), got {level.shape}: take the mean"
            " over bands and frames together.",
            LEVEL_CHANNEL_HINT,
        )
    return relative, level


@self_check
def check_level_channel(student_fn: Callable[..., Any]) -> None:
    """Compare a student's ``level_channel(logmels, relative_range, gain)`` with the course's level channel.

    The student's function returns ``(relative, level)``: the log-mel relative to each clip's level,
    floored, ``[clips, bands, frames]``, and the standardised level times the gain, ``[clips]``. The
    check tries behaviour first, one property per message, on each trial's inputs (see
    :func:`level_channel_inputs`): the shapes; a gain of 6 dB on every clip changes neither output;
    the floor reads 0 and nothing lies below it; the levels have the standard deviation ``gain`` over
    the clips (N - 1 degrees of freedom). Then it compares the values with
    :func:`reference_level_channel`.
    """
    rng = np.random.default_rng(0)
    for trial in range(len(LEVEL_CHANNEL_SETTINGS)):
        logmels, relative_range, gain = level_channel_inputs(rng, trial)
        where = f"(relative_range {relative_range:g}, gain {gain:g})"
        relative, level = _level_channel_result(student_fn, logmels, relative_range, gain)
        louder = _level_channel_result(student_fn, logmels + 0.06, relative_range, gain)
        if not np.allclose(louder[0], relative, atol=1e-4, rtol=0.0):
            fail(
                "level_channel",
                "6 dB more on every clip changed the relative log-mel; it must not: subtract each"
                f" clip's level from its values {where}.",
                LEVEL_CHANNEL_HINT,
            )
        if not np.allclose(louder[1], level, atol=1e-4, rtol=0.0):
            fail(
                "level_channel",
                "6 dB more on every clip changed the standardised level; it must not: subtract the"
                f" mean level over the clips {where}.",
                LEVEL_CHANNEL_HINT,
            )
        lowest = float(relative.min())
        if lowest < -1e-4:
            if abs(lowest + relative_range) < 1e-4:
                problem = (
                    f"the floor reads -relative_range ({lowest:.4g}): add relative_range so that it reads 0"
                )
            else:
                problem = (
                    f"values lie more than relative_range below the level (lowest {lowest:.4g}): floor"
                    " them at -relative_range"
                )
            fail("level_channel", f"{problem} {where}.", LEVEL_CHANNEL_HINT)
        spread, clips = float(np.std(level, ddof=1)), len(level)
        if abs(spread - gain) > 1e-3 * gain:
            if abs(spread - gain * np.sqrt(clips / (clips - 1))) < 1e-3 * gain:
                problem = (
                    "the standardised levels are divided by the standard deviation over N clips; divide"
                    " by the one over N - 1 (torch's .std())"
                )
            else:
                problem = (
                    f"the standardised levels' standard deviation over the clips is {spread:.4g}, not"
                    " the gain"
                )
            fail("level_channel", f"{problem} {where}.", LEVEL_CHANNEL_HINT)
        want_relative, want_level = reference_level_channel(logmels, relative_range, gain)
        for got, want, part in (
            (relative, want_relative, "the relative log-mel"),
            (level, want_level, "the level"),
        ):
            problem = difference(got, want.numpy(), atol=1e-5, rtol=1e-4, path=part)
            if problem:
                fail(
                    "level_channel",
                    f"{problem}, {where} (trial {trial + 1} of {len(LEVEL_CHANNEL_SETTINGS)}).",
                    LEVEL_CHANNEL_HINT,
                )
    print(
        f"\N{WHITE HEAVY CHECK MARK} level_channel: matches the reference on {len(LEVEL_CHANNEL_SETTINGS)}"
        " random sets of log-mels (three floors and gains), and a gain step changes neither output."
    )
