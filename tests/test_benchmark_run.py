"""The benchmark suite end to end on tiny data: the run JSON, its saving, and a failing
case that does not stop the run. Runs pytest in a subprocess, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.services.s3 import moto_s3
from runfile import REQUIRED_KEYS, TIME_CATEGORIES, load, read_json
from tests.processes import SECRET_ENV, assert_no_secret_in_run, clean_env, marker

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A smoke run with a failing case, and the s3 case on the user's S3 endpoint (a moto
    server this test starts) with the user's AWS credentials."""
    results = tmp_path_factory.mktemp("results")
    command = [
        sys.executable, "-m", "pytest", "--benchmark-only", "--bench-profile", "smoke",
        f"--bench-results={results}", f"--benchmark-json={results / 'user.json'}",
        "-p", "tests.fault_strategies", "-k", "floor or baseline or compressed or broken or s3",
        "-p", "no:randomly",
    ]
    with moto_s3() as endpoint:
        command.append(f"--bench-s3-endpoint={endpoint}")
        done = subprocess.run(command, cwd=ROOT, env=clean_env(marker(), **SECRET_ENV),
                              text=True, capture_output=True, timeout=900)
    return done, results


def _benchmarks(results: Path) -> dict[str, dict]:
    run = read_json(results / "latest.json")
    return {b["name"]: b for b in run["benchmarks"]}


def test_every_case_has_an_entry_with_every_key(smoke_run) -> None:
    done, results = smoke_run
    benchmarks = _benchmarks(results)
    # floor and baseline in both shapes, 6 compressed variants, broken, s3
    assert len(benchmarks) == 12, done.stdout[-3000:]
    for entry in benchmarks.values():
        assert set(entry["extra_info"]) == set(REQUIRED_KEYS)
        assert entry["stats"]["rounds"] >= 1
    statuses = {name: b["extra_info"]["status"] for name, b in benchmarks.items()}
    assert statuses["test_strategy[compressed/json-dataframe-tiny]"] == "not_applied"
    for name, entry in benchmarks.items():
        info = entry["extra_info"]
        if info["status"] == "ok":
            assert info["peak_rss_bytes"] > info["start_rss_bytes"] > 0
            assert info["rss_delta_bytes"] == info["peak_rss_bytes"] - info["start_rss_bytes"]
            assert 2 <= len(info["memory_timeline"]) <= 200
            assert info["rows"] == 10_000
        if info["strategy"] == "compressed" and info["status"] == "ok":
            assert info["stored_bytes"] > 0, name
    checksums = {b["extra_info"]["checksum"] for b in benchmarks.values()
                 if b["extra_info"]["status"] == "ok"}
    assert len(checksums) == 1


def test_every_ok_case_says_where_its_time_and_memory_go(smoke_run) -> None:
    """The profiled runs: seconds per category for every ok case, bytes at the peak for the
    dataframe shape (the records shape says why not); s3 spends and holds in storage."""
    _, results = smoke_run
    ok = [case for case in load(results / "latest.json").cases if case.ok]
    assert ok
    for case in ok:
        assert case.time_breakdown is not None and sum(case.time_breakdown.values()) > 0
        assert list(case.time_breakdown) == list(TIME_CATEGORIES), case.name
        if case.shape == "dataframe":
            assert case.memory_breakdown and sum(case.memory_breakdown.values()) > 0, case.name
        else:
            assert case.memory_breakdown is None
            assert "memory not broken down" in (case.breakdown_note or ""), case.name
    s3 = next(c for c in ok if c.strategy == "s3")
    assert s3.time_breakdown and s3.time_breakdown["storage"] > 0
    assert s3.memory_breakdown and s3.memory_breakdown["storage"] > 0
    floors = [c for c in ok if c.strategy == "floor"]
    assert all(c.time_breakdown and c.time_breakdown["orchestration"] == 0 for c in floors)
    records = next(c for c in floors if c.shape == "records")  # about 50 ms: many samples
    assert records.time_breakdown and records.time_breakdown["work"] > 0


def test_a_failing_case_is_recorded_and_the_run_goes_on(smoke_run) -> None:
    done, results = smoke_run
    assert done.returncode == 1  # the broken case fails the session...
    broken = _benchmarks(results)["test_strategy[broken-dataframe-tiny]"]["extra_info"]
    assert broken["status"] == "failed"
    assert "boom" in broken["reason"]
    assert "compressed/zstd-dataframe-tiny: ok" in done.stdout  # ...after it, cases still ran


def test_run_file_has_the_bench_object_and_user_json(smoke_run) -> None:
    _, results = smoke_run
    run = read_json(results / "latest.json")
    bench = run["bench"]
    assert bench["profile"] == "smoke" and bench["complete"] is True
    assert bench["heartbeat"] == "off" and bench["cores"] >= 1
    assert {"prefect", "pandas", "pyarrow", "python"} <= set(bench["versions"])
    user = json.loads((results / "user.json").read_text())
    assert user["bench"]["profile"] == "smoke"
    assert [p.name for p in results.glob("run-*.json")]


def test_no_credential_in_a_run_that_used_them(smoke_run) -> None:
    done, results = smoke_run
    s3 = _benchmarks(results)["test_strategy[s3-dataframe-tiny]"]["extra_info"]
    assert s3["status"] == "ok" and s3["stored_bytes"] > 0  # the credentials were used
    assert_no_secret_in_run(results, done.stdout + done.stderr)


def test_pytest_benchmark_compare_reads_the_run(smoke_run) -> None:
    _, results = smoke_run
    done = subprocess.run(
        [str(Path(sys.executable).with_name("pytest-benchmark")), "compare",
         str(results / "latest.json")],
        text=True, capture_output=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "floor-dataframe-tiny" in done.stdout


def test_rounds_that_met_a_client_retry_are_dropped_while_a_clean_one_remains() -> None:
    from bench.measure import drop_retried_rounds

    rounds = [0.2, 2.3, 0.21]
    drop_retried_rounds(rounds, [0, 1, 0])
    assert rounds == [0.2, 0.21]
    only = [2.4]
    drop_retried_rounds(only, [1])
    assert only == [2.4]  # nothing clean to keep: the round stays, counted in server_retries
