"""The command line as a user meets it: one-line errors, and no process left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.processes import clean_env, no_survivors, spawned, wait_for
from tests.processes import marker as new_marker

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e  # runs the tool in subprocesses


def _bench(*args: str, marker: str = "", **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args], cwd=ROOT, env=clean_env(marker or new_marker()),
        text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )


@pytest.mark.parametrize(
    ("make_source", "problem"),
    [
        (lambda tmp: tmp / "missing.parquet", "no such file"),
        (lambda tmp: (tmp / "notes.txt").write_text("hello") and tmp / "notes.txt",
         "not a parquet file"),
    ],
    ids=["missing", "not-parquet"],
)
def test_bad_source_is_one_line_naming_it(tmp_path: Path, make_source, problem: str) -> None:
    source = make_source(tmp_path)
    process = _bench("--bench-source", str(source))
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.strip().count("\n") == 0, err
    assert str(source) in err and problem in err
    assert "Traceback" not in err


def test_no_started_process_outlives_a_run(tiny_source: str) -> None:
    marker = "t" + uuid.uuid4().hex[:11]
    process = _bench("--size", "tiny", "-k", "parallel/dask-address", "-k", "s3",
                     "--bench-dask-address", "local", marker=marker)  # every service started
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "dask-address" in out and "s3 " in out
    assert no_survivors(marker) == []


@pytest.mark.slow
def test_no_started_process_outlives_ctrl_c(tiny_source: str) -> None:
    marker = "c" + uuid.uuid4().hex[:11]
    process = _bench("--size", "tiny", "-k", "parallel/processes", "-k", "parallel/dask",
                     marker=marker)
    assert process.stderr is not None
    for line in process.stderr:  # a case's line ends with its status
        if "parallel/processes" in line:  # parallel/dask's LocalCluster is starting now
            break
    running = spawned(marker)
    assert wait_for(lambda: spawned(marker) > running, 60), "the Dask case started no worker"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "interrupted" in err
    assert no_survivors(marker) == []
