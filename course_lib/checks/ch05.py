"""Self-checks of exercise sheet 5 (solutions/05_scan.ipynb): SCAN on the composed sounds.

Taught in chapters/05_1_composed_sounds.ipynb (the operators on descriptions) and
chapters/05_2_scan.ipynb (the KL between posteriors, the SCAN loss, the product of experts)::

    from course_lib.checks import ch05
    ch05.check_symbol_operator(symbol_operator)           # (op, a: k-hot [V], b: k-hot [V]) -> k-hot [V]
    ch05.check_gaussian_kl_between(gaussian_kl_between)   # (mu_q, logvar_q, mu_p, logvar_p) -> [B, z]
    ch05.check_scan_loss(scan_loss)                       # (model, y, mu_x, logvar_x, beta, lam) -> dict
    ch05.check_product_of_experts(product_of_experts_and) # (mu1, logvar1, mu2, logvar2) -> (mu, logvar)

Phrases are k-hot vectors over :data:`course_lib.composed_sounds.WORDS`.

The SCAN-loss check builds one small :class:`~course_lib.models.scan.SCAN` under a fixed seed and
calls the student's function and the reference from the same torch seed, so both draw the same
reparameterisation noise as long as the student draws it once with ``torch.randn_like(mu_y)``
(what ``course_lib.models.vae.reparameterize`` does).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from course_lib import composed_sounds as cs
from course_lib.checks import Hint, call_student, compare, fail, self_check
from course_lib.config import seed_everything
from course_lib.models.scan import SCAN, gaussian_kl_between, product_of_experts_and, scan_loss

KL_HINT = Hint(
    nudge=(
        "two diagonal Gaussians: the KL has a closed form in the means and variances, one value per"
        " latent dimension (do not sum); remember logvar is log sigma^2."
    ),
    formula=(
        "per dimension, KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)) = log(s_p / s_q) + (s_q^2 + (mu_q - mu_p)^2)"
        " / (2 s_p^2) - 1/2, with s^2 = exp(logvar); the result has the shape of mu_q, [B, z]."
    ),
)

SCAN_HINT = Hint(
    nudge=(
        "three terms, each a per-example sum averaged over the batch: the symbol reconstruction from one"
        " sample of q(z_y|y), the KL to the prior weighted by beta, and the grounding KL from the sound"
        " posterior to the symbol posterior weighted by lam. Return a dict of the terms and their total."
    ),
    formula=(
        "z_y = mu_y + exp(logvar_y / 2) eps with (mu_y, logvar_y) = encode(y) and one eps ~ N(0, I) drawn"
        " like reparameterize; recon = mean_b sum_words BCE(sigmoid(decode(z_y)), y);"
        " kl_prior = mean_b sum_d KL(q(z_y|y) || N(0, 1)); kl_ground = mean_b sum_d KL(q(z_x|x) || q(z_y|y))"
        " (sound posterior first); loss = recon + beta kl_prior + lam kl_ground. Return the dict with the"
        " keys 'loss', 'recon', 'kl_prior', 'kl_ground' (scalar tensors)."
    ),
)

POE_HINT = Hint(
    nudge=(
        "a product of Gaussians adds precisions (1 / variance); each operand already contains the prior"
        " N(0, 1) once, so the product must count it only once. Precisions below the prior's are capped."
    ),
    formula=(
        "p_i = max(exp(-logvar_i), 1); precision = p_1 + p_2 - 1; mu = (mu_1 p_1 + mu_2 p_2) / precision;"
        " logvar = -log(precision); per dimension. Return (mu, logvar)."
    ),
)

SCAN_SETTINGS: tuple[tuple[float, float], ...] = (
    (1.0, 10.0),
    (4.0, 1.0),
    (0.5, 0.0),
    (0.0, 3.0),
    (1.0, 10.0),
)
"""(beta, lam) of each trial of :func:`check_scan_loss`."""

N_WORDS, Z_DIM = len(cs.WORDS), 4


def kl_inputs(rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    """Random (mu_q, logvar_q, mu_p, logvar_p), float64, shape [B, z]."""
    shape = (int(rng.integers(1, 6)), int(rng.integers(1, 9)))
    mus = [torch.from_numpy(rng.normal(0.0, 1.5, size=shape)) for _ in range(2)]
    logvars = [torch.from_numpy(rng.uniform(-4.0, 2.0, size=shape)) for _ in range(2)]
    return mus[0], logvars[0], mus[1], logvars[1]


@self_check
def check_gaussian_kl_between(student_fn: Callable[..., Any]) -> None:
    """Compare ``student_fn(mu_q, logvar_q, mu_p, logvar_p)`` with the reference on random Gaussians."""
    compare(student_fn, gaussian_kl_between, kl_inputs, name="gaussian_kl_between", hint=KL_HINT)


def _descriptions(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` partial descriptions (each word named with probability 1/2) of random composed sounds."""
    space = cs.factor_space()
    rows = space.all_classes()[rng.integers(space.n_combinations, size=n)]
    return cs.partial_symbols(np.stack([cs.encode(cs.parse_of(r)) for r in rows]), rng, 0.5)


LOSS_KEYS = ("recon", "kl_prior", "kl_ground", "loss")
"""The terms of the SCAN loss, compared in this order (each term before their total)."""


def _loss_terms(result: Mapping[str, Any]) -> dict[str, Any]:
    """The terms of a loss dict named in :data:`LOSS_KEYS` (not a dict, or a missing key, fails the check)."""
    if not isinstance(result, Mapping):
        fail(
            "scan_loss",
            f"your function returned a {type(result).__name__}; expected a dict with the keys"
            f" {list(LOSS_KEYS)} (the training cell below reads terms['loss']).",
            SCAN_HINT,
        )
    missing = sorted(set(LOSS_KEYS) - set(result))
    if missing:
        fail(
            "scan_loss", f"the returned dict lacks the keys {missing}; expected {list(LOSS_KEYS)}.", SCAN_HINT
        )
    return {key: result[key] for key in LOSS_KEYS}


@self_check
def check_scan_loss(student_loss: Callable[..., Any], *, reference: Callable[..., Any] | None = None) -> None:
    """Compare ``student_loss(model, y, mu_x, logvar_x, beta, lam)`` with :func:`scan_loss`.

    One trial per (beta, lam) in :data:`SCAN_SETTINGS` on a small float64 SCAN over the composed
    sounds' words (4 latents) with partial descriptions y of random composed sounds and random sound
    posteriors. The student's function must return a dict with
    the reference's four terms (the training cell that follows reads ``terms["loss"]``); each term
    is compared.
    """
    reference = reference or scan_loss
    torch.manual_seed(0)
    model = SCAN(N_WORDS, Z_DIM, hidden=16).double()
    settings = itertools.cycle(SCAN_SETTINGS)

    def inputs(rng: np.random.Generator) -> tuple[Any, ...]:
        batch = int(rng.integers(2, 9))
        y = torch.from_numpy(_descriptions(rng, batch).astype(np.float64))
        mu_x = torch.from_numpy(rng.normal(0.0, 1.0, size=(batch, Z_DIM)))
        logvar_x = torch.from_numpy(rng.uniform(-3.0, 0.5, size=(batch, Z_DIM)))
        return (y, mu_x, logvar_x, *next(settings))

    def terms(loss: Callable[..., Any]) -> Callable[..., Any]:
        def call(y: torch.Tensor, mu_x: torch.Tensor, logvar_x: torch.Tensor, beta: float, lam: float):
            torch.manual_seed(1234)
            with torch.no_grad():
                return _loss_terms(loss(model, y, mu_x, logvar_x, beta, lam))

        return call

    _check_sound_posterior_is_frozen(student_loss, model)
    compare(
        terms(student_loss),
        terms(reference),
        inputs,
        name="scan_loss",
        hint=SCAN_HINT,
        trials=len(SCAN_SETTINGS),
    )


def _check_sound_posterior_is_frozen(student_loss: Callable[..., Any], model: SCAN) -> None:
    """No gradient of the loss may reach the sound posterior (the beta-VAE is frozen); some reaches SCAN."""
    y = torch.from_numpy(cs.phrase(["high", "bell", "wet", "THEN"])[None].astype(np.float64))
    mu_x = torch.full((1, Z_DIM), 0.5, dtype=torch.float64, requires_grad=True)
    logvar_x = torch.full((1, Z_DIM), -1.0, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(1234)
    loss = _loss_terms(
        call_student("scan_loss", student_loss, model, y, mu_x, logvar_x, 1.0, 10.0, hint=SCAN_HINT)
    )
    if not isinstance(loss["loss"], torch.Tensor) or loss["loss"].dim() != 0:
        got = (
            tuple(loss["loss"].shape)
            if isinstance(loss["loss"], torch.Tensor)
            else type(loss["loss"]).__name__
        )
        fail("scan_loss", f"terms['loss'] must be a scalar tensor (a batch mean), got {got}.", SCAN_HINT)
    if not loss["loss"].requires_grad:
        fail("scan_loss", "terms['loss'] carries no gradient: training could not move SCAN.", SCAN_HINT)
    grads = torch.autograd.grad(loss["loss"], (mu_x, logvar_x), allow_unused=True)
    if any(g is not None and bool(g.abs().max() > 0) for g in grads):
        fail(
            "scan_loss",
            "the loss sends gradients into the sound posterior (mu_x, logvar_x): detach them, the sound model"
            " is frozen and only SCAN learns.",
            SCAN_HINT,
        )


def _phrase_pair(rng: np.random.Generator, op: str) -> tuple[np.ndarray, np.ndarray]:
    """Two k-hot phrases for ``op`` on which no other operator gives the same answer.

    AND: two partial descriptions of one sound, each naming a word the other lacks; IN_COMMON:
    partial descriptions of two sounds, sharing some words and each naming a word the other lacks;
    IGNORE: a description and a non-empty part of it (the words to drop), not all of it.
    """
    space = cs.factor_space()
    while True:
        rows = space.all_classes()[rng.integers(space.n_combinations, size=2)]
        full = [cs.encode(cs.parse_of(row)) for row in rows]
        a = cs.partial_symbols(full[0][None], rng, 0.4)[0]
        if op == "AND":
            b = cs.partial_symbols(full[0][None], rng, 0.4)[0]
        elif op == "IN_COMMON":
            b = cs.partial_symbols(full[1][None], rng, 0.6)[0]
        else:
            b = cs.partial_symbols(a[None], rng, 0.5)[0]
        shared, a_only, b_only = (a & b).sum(), (a & ~b.astype(bool)).sum(), (b & ~a.astype(bool)).sum()
        if op == "IGNORE" and shared > 0 and a_only > 0:
            return a, b
        if op != "IGNORE" and shared > 0 and a_only > 0 and b_only > 0:
            return a, b


OPERATOR_HINT = Hint(
    nudge=(
        "a phrase is a k-hot vector over WORDS, i.e. a set of words: each operator is a set operation"
        " done word by word on the two 0/1 vectors, and the result is again a k-hot vector over WORDS."
    ),
    formula=(
        "per word w: AND -> a[w] or b[w] (both descriptions, the union); IN_COMMON -> a[w] and b[w]"
        " (the words both name); IGNORE -> a[w] and not b[w] (a without the words of b). Return an"
        " array of 0s and 1s of shape [len(WORDS)]."
    ),
)


def _k_hot(name: str, result: Any) -> np.ndarray:
    """The student's result as a 0/1 integer vector over WORDS, or a failed check saying what it is."""
    value = result.detach().cpu().numpy() if isinstance(result, torch.Tensor) else result
    if not isinstance(value, np.ndarray):
        fail(
            name,
            f"your function returned a {type(result).__name__}; expected a k-hot array of shape"
            f" ({len(cs.WORDS)},), one 0/1 entry per word of WORDS.",
            OPERATOR_HINT,
        )
    if value.shape != (len(cs.WORDS),):
        fail(
            name,
            f"expected a k-hot array of shape ({len(cs.WORDS)},) (one entry per word), got {value.shape}.",
            OPERATOR_HINT,
        )
    if not np.isin(value.astype(np.float64), (0.0, 1.0)).all():
        fail(
            name,
            f"a k-hot phrase holds only 0s and 1s, got the values {sorted(set(value.tolist()))}.",
            OPERATOR_HINT,
        )
    return value.astype(np.uint8)


@self_check
def check_symbol_operator(student_op: Callable[[str, np.ndarray, np.ndarray], Any], trials: int = 12) -> None:
    """Compare ``student_op(op, a, b)`` with :func:`course_lib.composed_sounds.apply_symbol_operator`.

    The operators of :data:`~course_lib.composed_sounds.SYMBOL_OPERATORS` take turns, on pairs of
    partial descriptions of composed sounds where each operator's answer differs from the others'
    (:func:`_phrase_pair`). The result may be a NumPy array or a tensor of 0/1 (any dtype).
    """
    name = "symbol_operator"
    rng = seed_everything(0)
    for trial in range(trials):
        op = cs.SYMBOL_OPERATORS[trial % len(cs.SYMBOL_OPERATORS)]
        a, b = _phrase_pair(rng, op)
        want = cs.apply_symbol_operator(op, a, b)
        got = _k_hot(name, call_student(name, student_op, op, a.copy(), b.copy(), hint=OPERATOR_HINT))
        if not np.array_equal(got, want):
            fail(
                name,
                f"{cs.words_of(a)} {op} {cs.words_of(b)}: expected the words {cs.words_of(want)}, got"
                f" {cs.words_of(got)}.",
                OPERATOR_HINT,
            )
    ops = ", ".join(cs.SYMBOL_OPERATORS)
    print(f"\N{WHITE HEAVY CHECK MARK} {name}: {ops} match the reference on {trials} pairs of phrases.")


@self_check
def check_product_of_experts(student_fn: Callable[..., Any]) -> None:
    """Compare ``student_fn(mu1, logvar1, mu2, logvar2)`` with :func:`product_of_experts_and`."""

    compare(student_fn, product_of_experts_and, kl_inputs, name="product_of_experts_and", hint=POE_HINT)
