"""Each chapter's experiment, one module each, run as a command: ``python -m course_lib.experiments.<name>``.

* ``kingma_welling`` (chapter 2): the K&W MNIST curves and the IWAE bound;
* ``likelihood`` (chapter 2): Burda et al.'s VAE and IWAE, test log-likelihood with 5,000 samples;
* ``beta_sweep`` (chapter 3): MLP beta-VAEs over betas and seeds, every disentanglement metric;
* ``weak_sweep`` (chapter 3): loudness-normalised inputs, beta-VAE against weakly supervised Ada-GVAE;
* ``pitch_sweep`` (chapter 3.3): probes of each representation, then constant-Q inputs, values weighed
  alike and a model whose pitch latent transposes, one change at a time;
* ``recurrent_vs_mlp`` (chapter 4): recurrent-attention against MLP beta-VAEs on temporal presets;
* ``recipe_networks`` (chapter 4): recurrent and convolutional VAEs trained with chapter 3's recipe;
* ``scan_compositional`` (chapter 5.2, exercise sheet 5): SCAN on composed sounds, grounded in
  chapter 3's recipe, judged by measurement.

Every command keeps one contract (``tests/test_experiments.py`` walks them all):

* **Settings**: a frozen ``Settings`` dataclass with ``FULL`` (the committed results) and ``FAST`` (a
  smoke test) instances, chosen by :func:`pick_settings` (``--fast`` forces ``FAST``, else
  ``COURSE_FAST``; options named like a field override it);
* **Options**: ``--fast``; ``--out`` (the results file or folder; a smoke run writes under the data
  folder by default, never over ``results/``); ``--threads`` (torch threads, default 1); counts are
  read by :func:`positive_int`;
* **Publishing**: ``--publish`` is the only way to write committed checkpoints (never by default, and
  never from Python unless ``publish=True`` is given; a ``--fast`` run publishes beside its runs);
* **Results**: one layout per kind: one wide CSV row per run under ``results/``, written with
  :data:`FLOAT_FORMAT`; CPU seconds measured with :func:`time.process_time` (columns ``*_cpu_s``);
* **Library**: models, losses, scoring and loaders come from the library (chapter 3's recipe from
  :mod:`course_lib.recipe`); an experiment never imports another.

Each chapter plots its command's results file and calls the same functions for its live demonstrations.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TypeVar

from course_lib import config

S = TypeVar("S")

FLOAT_FORMAT = "%.8g"
"""The float format of every results CSV."""

CONTRACT_OPTIONS = ("--fast", "--out", "--threads")
"""The options every experiment command takes."""


def positive_int(text: str) -> int:
    """An ``argparse`` type: ``text`` as an integer of at least 1 (else a usage error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
