"""Each chapter's experiment, one module each, run as a command: ``python -m course_lib.experiments.<name>``.

* ``kingma_welling`` (chapter 2): the K&W MNIST curves and the IWAE bound;
* ``likelihood`` (chapter 2): Burda et al.'s VAE and IWAE, test log-likelihood with 5,000 samples;
* ``beta_sweep`` (chapter 3): MLP beta-VAEs over betas and seeds, every disentanglement metric;
* ``weak_sweep`` (chapter 3): loudness-normalised inputs, beta-VAE against weakly supervised Ada-GVAE;
* ``recurrent_vs_mlp`` (chapter 4): recurrent-attention against MLP beta-VAEs on temporal presets;
* ``recipe_networks`` (chapter 4): recurrent and convolutional VAEs trained with chapter 3's recipe;
* ``scan_compositional`` (chapter 5.2, exercise sheet 5): SCAN on composed sounds, grounded in
  chapter 3's recipe, judged by measurement.

Every module has the same shape: a frozen ``Settings`` dataclass with ``FULL`` (the committed results
file) and ``FAST`` (a smoke test) instances, chosen with ``config.pick`` (``--fast`` forces ``FAST``);
its model builders (``make_model``, all MLPs built by :func:`course_lib.models.vae.mlp_vae`), its
training (through :func:`course_lib.train.fit`), the function that makes one results row, and
``main()``. Each writes a small results file under ``results/`` that its chapter plots; the chapter
calls the same functions for its live demonstrations.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TypeVar

from course_lib import config

S = TypeVar("S")


def with_overrides(settings: S, args: argparse.Namespace) -> S:
    """``settings`` (a frozen dataclass) with every field that ``args`` names and sets replaced.

    The command lines of the experiments share this rule: an option whose destination is a field's
    name overrides that field when given (lists become tuples, as the settings hold them).
    """
    given = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(settings)}
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items() if v is not None}
    return dataclasses.replace(settings, **given)


def pick_settings(args: argparse.Namespace, fast: S, full: S) -> tuple[S, bool]:
    """The settings of an experiment command and whether they are the fast ones.

    ``fast`` with ``--fast`` (``args.fast``), else :func:`course_lib.config.pick` (``COURSE_FAST``);
    then :func:`with_overrides` applies the options given on the command line.
    """
    base = fast if getattr(args, "fast", False) else config.pick(fast=fast, full=full)
    return with_overrides(base, args), base is fast
