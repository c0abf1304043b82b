"""Self-checks of chapter 3 (solutions/03_beta_vae.ipynb): the Mutual Information Gap and the beta-VAE loss.

Taught in chapters/03_beta_vae.ipynb::

    from course_lib.checks import ch03
    ch03.check_mig(mig)   # mig(codes [N, D], factors [N, K], n_bins=20) -> float
    ch03.check_beta_vae_loss(beta_vae_loss, make_model=lambda: BetaVAE(...), example_x=x[:8])

The loss check builds one model with ``make_model`` (the chapter's own architecture, so this module
assumes nothing about it), feeds random inputs shaped like ``example_x`` and calls the student's
function and ``course_lib.losses.beta_vae_loss`` with the same (model, x, beta, capacity, gamma). Both
calls start from the same torch seed, so the reparameterisation noise is the same as long as the
student draws it the way the model or the reference does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib import metrics
from course_lib.checks import Hint, compare

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


def mig_inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Random (codes, factors, n_bins): a noisy, partly mixed and permuted code of 2-3 factors."""
    n, n_factors = int(rng.integers(400, 1500)), int(rng.integers(2, 4))
    n_dims = n_factors + int(rng.integers(0, 3))
    sizes = rng.integers(2, 9, size=n_factors)
    factors = np.stack([rng.integers(size, size=n) for size in sizes], axis=1)
    values = factors / (sizes - 1) - 0.5
    mixing = np.eye(n_dims, n_factors) + rng.uniform(0.0, 0.6) * rng.normal(size=(n_dims, n_factors))
    codes = values @ mixing.T + rng.uniform(0.02, 0.3) * rng.normal(size=(n, n_dims))
    return codes[:, rng.permutation(n_dims)], factors, int(rng.choice([10, 20]))


def check_mig(student_mig: Callable[..., float]) -> None:
    """Compare a student's ``mig(codes, factors, n_bins)`` with the reference on random codes.

    The student's function may return the score as a float or a dict with a ``"score"`` entry.
    """

    def score(codes: np.ndarray, factors: np.ndarray, n_bins: int) -> float:
        result = student_mig(codes, factors, n_bins)
        return result["score"] if isinstance(result, dict) else float(result)

    compare(score, reference_mig, mig_inputs, name="mig", hint=MIG_HINT, atol=2e-3, rtol=0.0)


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
"""(beta, capacity, gamma) of each trial of :func:`check_beta_vae_loss`."""


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


def _seeded(loss: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``loss`` without gradients from a fixed torch seed (same reparameterisation noise every call)."""

    def call(model: nn.Module, x: torch.Tensor, beta: float, capacity: float | None, gamma: float | None):
        torch.manual_seed(1234)
        with torch.no_grad():
            return _comparable(loss(model, x, beta, capacity=capacity, gamma=gamma))

    return call


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
        example_x: a batch of inputs; every trial draws uniform [0, 1) inputs of its shape and dtype.
        reference: the function to compare with (default ``course_lib.losses.beta_vae_loss``).

    Runs one trial per (beta, capacity, gamma) in :data:`LOSS_SETTINGS`: plain beta-VAE with beta
    1, 4 and 0.25, then two capacity-annealed settings.
    """
    if reference is None:
        from course_lib.losses import beta_vae_loss as reference
    if not isinstance(example_x, torch.Tensor):
        raise ValueError(f"example_x must be a torch.Tensor batch of inputs, got {type(example_x).__name__}.")
    torch.manual_seed(0)
    model = make_model()
    settings = iter(LOSS_SETTINGS)

    def make_inputs(rng: np.random.Generator) -> tuple:
        x = torch.as_tensor(rng.random(tuple(example_x.shape)), dtype=example_x.dtype)
        return (model, x, *next(settings))

    compare(
        _seeded(student_loss),
        _seeded(reference),
        make_inputs,
        name="beta_vae_loss",
        hint=LOSS_HINT,
        trials=len(LOSS_SETTINGS),
    )
