"""Tests of the shared command-line rule of the experiments (course_lib.experiments)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from course_lib import experiments
from course_lib.experiments import CONTRACT_OPTIONS, pick_settings, positive_int, with_overrides


@dataclass(frozen=True)
class _Settings:
    epochs: int = 10
    seeds: tuple[int, ...] = (0, 1)


FAST, FULL = _Settings(epochs=1, seeds=(0,)), _Settings()


def test_given_options_override_fields_and_lists_become_tuples():
    args = argparse.Namespace(epochs=None, seeds=[3, 4], unrelated=7)
    assert with_overrides(FULL, args) == _Settings(epochs=10, seeds=(3, 4))


def test_fast_flag_and_course_fast_pick_the_fast_settings(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    assert pick_settings(argparse.Namespace(fast=False, epochs=5), FAST, FULL) == (_Settings(epochs=5), False)
    assert pick_settings(argparse.Namespace(fast=True), FAST, FULL) == (FAST, True)
    monkeypatch.setenv("COURSE_FAST", "1")
    assert pick_settings(argparse.Namespace(fast=False), FAST, FULL) == (FAST, True)


# ------------------------------------------------------------------------------ the contract, walked
COMMANDS = sorted(
    p.stem for p in Path(experiments.__file__).parent.glob("*.py") if not p.stem.startswith("_")
)
PUBLISHING = {"weak_sweep", "pitch_sweep", "recipe_networks", "scan_compositional"}
"""The commands with committed checkpoints: they write them only with ``--publish``."""


def _help(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    module = importlib.import_module(f"course_lib.experiments.{name}")
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_keeps_the_contract(name, capsys):
    module = importlib.import_module(f"course_lib.experiments.{name}")
    assert dataclasses.is_dataclass(module.Settings) and module.Settings.__dataclass_params__.frozen
    assert isinstance(module.FAST, module.Settings) and isinstance(module.FULL, module.Settings)
    assert module.FAST != module.FULL
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", _help(name, capsys)))
    assert set(CONTRACT_OPTIONS) <= options, f"{name} lacks {set(CONTRACT_OPTIONS) - options}"
    assert not options & {"--out-dir", "--output"}
    assert ("--publish" in options) == (name in PUBLISHING)
    source = Path(module.__file__).read_text()
    assert "pick_settings(args" in source and "config.pick(" not in source
    assert "getrusage" not in source and "perf_counter() - start_cpu" not in source
    assert not re.search(r"float_format=\"%", source), f"{name} writes floats in a format of its own"


COMMAND_ONLY_OPTIONS = {
    "kingma_welling": {"subset"},
    "recurrent_vs_mlp": {"restart"},
    "weak_sweep": {"models", "betas", "publish_chosen"},
}
"""Per command, the options besides the contract's and ``--publish`` that are not fields of its settings."""


class _Parsed(Exception):
    """Raised instead of parsing, to hand the parser of a command's ``main`` to the test."""


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_is_a_settings_field_or_declared(name, monkeypatch):
    """What a run is (its seeds, presets, epochs...) lives in ``Settings``, so ``FAST``/``FULL`` hold it."""
    module = importlib.import_module(f"course_lib.experiments.{name}")

    def hand_over(parser, *args, **kwargs):
        raise _Parsed(parser)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", hand_over)
    with pytest.raises(_Parsed) as parsed:
        module.main([])
    destinations = {a.dest for a in parsed.value.args[0]._actions} - {"help"}
    contract = {option.lstrip("-").replace("-", "_") for option in CONTRACT_OPTIONS} | {"publish"}
    fields = {f.name for f in dataclasses.fields(module.Settings)}
    others = destinations - contract - fields
    assert others == COMMAND_ONLY_OPTIONS.get(name, set()), (
        f"{name}: options {sorted(others)} are not fields of its Settings (make them fields, so that FAST and"
        " FULL say what runs, or list them in COMMAND_ONLY_OPTIONS)"
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_no_experiment_imports_another(name):
    tree = ast.parse(Path(importlib.import_module(f"course_lib.experiments.{name}").__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {
        f"{n.module}.{a.name}"
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "course_lib.experiments"
        for a in n.names
    }
    others = {f"course_lib.experiments.{c}" for c in COMMANDS if c != name}
    assert not imported & others, f"{name} imports {imported & others}"


@pytest.mark.slow
def test_every_command_answers_help_from_the_shell():
    for name in COMMANDS:
        done = subprocess.run(
            [sys.executable, "-m", f"course_lib.experiments.{name}", "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and "--out" in done.stdout, (name, done.stderr[-500:])


def test_positive_int_refuses_zero_negatives_and_words():
    assert positive_int("3") == 3
    for text in ("0", "-2", "three", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(text)
