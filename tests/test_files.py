"""Unit tests of course_lib.files: atomic writes leave either the old file or the complete new one."""

import csv
import subprocess
import sys
import time

import pandas as pd
import pytest

from course_lib.files import atomic_path, exclusive_lock, write_csv


def test_atomic_path_replaces_the_file_only_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"], "temporary file left behind"
    assert target.stat().st_mode & 0o644 == 0o644


def test_write_csv_from_rows_and_frames(tmp_path):
    rows = [{"beta": 1, "mig": 0.1234567}, {"beta": 4, "mig": 0.2, "extra": 3}]
    path = write_csv(rows, tmp_path / "r.csv", float_format="%.3g")
    back = pd.read_csv(path)
    assert list(back.columns) == ["beta", "mig", "extra"]
    assert back["mig"].tolist() == [0.123, 0.2]
    write_csv(pd.DataFrame({"a": [1, 2]}), path)
    assert pd.read_csv(path)["a"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="empty"):
        write_csv([], tmp_path / "empty.csv")
    assert not (tmp_path / "empty.csv").exists()


def test_write_csv_unions_columns_and_formats_floats(tmp_path):
    path = write_csv(
        [{"beta": 1.0, "mig": 0.123456789}, {"beta": 4.0, "extra": 2}],
        tmp_path / "r.csv",
        float_format="%.6g",
    )
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["mig"] == "0.123457" and rows[1]["extra"] == "2" and rows[0]["extra"] == ""
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_exclusive_lock_makes_a_second_process_wait(tmp_path):
    target = tmp_path / "data.npz"
    waiter = (
        "import sys, time\n"
        "from course_lib.files import exclusive_lock\n"
        "start = time.monotonic()\n"
        "with exclusive_lock(sys.argv[1]):\n"
        "    print(round(time.monotonic() - start, 2))\n"
    )
    with exclusive_lock(target):
        process = subprocess.Popen(
            [sys.executable, "-c", waiter, str(target)], stdout=subprocess.PIPE, text=True
        )
        time.sleep(1.0)
    waited = float(process.communicate(timeout=30)[0])
    assert waited >= 0.5, f"the second process did not wait for the lock ({waited} s)"
