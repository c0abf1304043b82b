"""Unit tests of course_lib.bench: the speed measurements of the toy-dataset pipeline."""

from __future__ import annotations

import pytest

from course_lib import bench


def test_best_time_is_the_smallest_of_the_repeats(monkeypatch):
    clock = iter([0.0, 3.0, 10.0, 11.0, 20.0, 22.0])  # three calls lasting 3, 1 and 2 s
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    calls = []
    assert bench._best_time(lambda: calls.append(1), repeats=3) == 1.0
    assert len(calls) == 3


def test_measure_speed_reports_positive_consistent_rates():
    result = bench.measure_speed(n_clips=8, n_naive=1, batch_size=8, repeats=1)
    assert set(result) == {
        "synth_realtime_factor",
        "naive_realtime_factor",
        "synth_speedup_vs_naive",
        "features_clips_per_s",
        "end_to_end_realtime_factor",
    }
    assert all(value > 0 for value in result.values())
    assert result["synth_speedup_vs_naive"] == pytest.approx(
        result["synth_realtime_factor"] / result["naive_realtime_factor"]
    )
    assert result["end_to_end_realtime_factor"] < result["synth_realtime_factor"]


@pytest.mark.parametrize("kwargs", [{"n_clips": 4, "batch_size": 8}, {"n_naive": 0}])
def test_measure_speed_rejects_bad_sizes(kwargs):
    with pytest.raises(ValueError, match="n_clips"):
        bench.measure_speed(**kwargs)


def test_quick_command_prints_name_value_lines(monkeypatch, capsys):
    monkeypatch.setattr(bench, "measure_speed", lambda: {"synth_realtime_factor": 1234.5})
    monkeypatch.setattr(bench, "measure_build", lambda: pytest.fail("--quick must skip the build"))
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "threads: torch" in out and "synth_realtime_factor: 1234.5" in out
