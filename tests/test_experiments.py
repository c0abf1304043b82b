"""Tests of the shared command-line rule of the experiments (course_lib.experiments)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from course_lib.experiments import pick_settings, with_overrides


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
