"""Faults provoked for real, in a benchmark run as a user starts it (``pytest
--benchmark-only`` in a subprocess): an S3 endpoint stopped mid-run, cases that hang or run
out of memory, Ctrl-C, SIGTERM and SIGKILL, bad input files and bad options. Each must end
the way the README's "When things go wrong" says, without leaking credentials."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.isolation import free_port
from bench.services.processes import http_ok, stop_orphans
from runfile import read_json
from tests.fault_strategies import HOG_BYTES
from tests.processes import (
    ROOT,
    SECRET_ENV,
    assert_no_secret_in_run,
    bench_pytest,
    clean_env,
    marker,
    no_survivors,
    report,
    spawned,
    survivors,
    wait_for,
)

pytestmark = pytest.mark.e2e  # runs the tool in subprocesses

EARLIER_RUN = ROOT / "tests" / "data" / "quick-run.json"
TIMEOUT_S = 8
MEMORY_CAP_MB = 1500


def _follow(process: subprocess.Popen[str], when: str, then: Any) -> str:
    """Read the run's output; call ``then()`` once, when a line contains ``when``."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if when and when in line:
            then()
            when = ""
    process.wait(timeout=60)
    return "".join(lines)


# --------------------------------------------------------------------------- one faulty run


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run against the user's S3 endpoint (a moto server this test starts and then kills
    when the s3 case starts), with AWS credentials set, a case timeout and a memory cap,
    and cases that hang or hog memory."""
    results = tmp_path_factory.mktemp("results")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: http_ok(endpoint), 60), "moto did not start"
        session = marker()
        process = bench_pytest(
            "--bench-profile", "smoke", "-p", "tests.fault_strategies",
            "--bench-strategies", "floor,s3,cached/cold,hog,hangs",
            "--bench-s3-endpoint", endpoint, f"--bench-case-timeout={TIMEOUT_S}",
            f"--bench-memory-cap={MEMORY_CAP_MB}", f"--bench-results={results}",
            env=clean_env(session, **SECRET_ENV),
        )
        output = _follow(process, "s3-dataframe-tiny: running", moto.kill)
    finally:
        moto.kill()
        moto.wait()
    run = read_json(results / "latest.json")
    return {"output": output, "returncode": process.returncode, "results": results,
            "endpoint": endpoint, "left": no_survivors(session), "run": run,
            "cases": {_label(b["extra_info"]): b["extra_info"] for b in run["benchmarks"]}}


def _label(info: dict[str, Any]) -> str:
    name = f"{info['strategy']}/{info['variant']}" if info["variant"] else info["strategy"]
    return name + ("[records]" if info["shape"] == "records" else "")


def test_s3_endpoint_stopped_mid_run_fails_only_s3(faulty_run: dict[str, Any]) -> None:
    cases = faulty_run["cases"]
    assert cases["s3"]["status"] == "failed"
    assert faulty_run["endpoint"] in cases["s3"]["reason"]
    assert "unreachable" in cases["s3"]["reason"]
    assert cases["cached/cold"]["status"] == "ok"  # the case after it ran
    assert faulty_run["run"]["bench"]["complete"] is True
    assert set(cases) == {"floor", "floor[records]", "s3", "cached/cold", "hog",
                          "hangs/always", "hangs/later"}


def test_a_hanging_case_times_out_and_leaves_no_process(faulty_run: dict[str, Any]) -> None:
    cases = faulty_run["cases"]
    always, later = cases["hangs/always"], cases["hangs/later"]
    assert always["status"] == "timeout"  # hangs in the memory run (its own process)
    assert f"within {TIMEOUT_S} s" in always["reason"] and "memory run" in always["reason"]
    assert later["status"] == "timeout"  # passes the memory run, hangs in a timed round
    assert "pytest process" in later["reason"]
    assert later["peak_rss_bytes"] > 0  # its memory run did finish
    assert f"hangs/later-dataframe-tiny: timeout after {TIMEOUT_S}" in faulty_run["output"]
    assert faulty_run["left"] == []  # no waiting child, no service, nothing


def test_out_of_memory_is_failed_with_its_peak(faulty_run: dict[str, Any]) -> None:
    hog = faulty_run["cases"]["hog"]
    assert hog["status"] == "failed"
    assert hog["reason"].startswith("out of memory:")
    assert f"memory cap of {MEMORY_CAP_MB:,} MB" in hog["reason"]
    assert MEMORY_CAP_MB * 1e6 < hog["peak_rss_bytes"] < HOG_BYTES
    assert faulty_run["cases"]["hangs/always"]["status"] == "timeout"  # the run went on


def test_the_run_fails_and_says_why_in_one_line_per_case(faulty_run: dict[str, Any]) -> None:
    assert faulty_run["returncode"] == 1
    output = faulty_run["output"]
    for case in ("s3", "hog", "hangs/always", "hangs/later"):
        assert f"{case}-dataframe-tiny: " in output
    assert "Traceback" not in output


def test_no_credential_in_any_output(faulty_run: dict[str, Any]) -> None:
    assert_no_secret_in_run(faulty_run["results"], faulty_run["output"])


# --------------------------------------------------------------------------- signals


def _results_with_an_earlier_run(folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    for name in ("run-20260101T000000Z.json", "latest.json"):
        shutil.copyfile(EARLIER_RUN, folder / name)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _interrupt_run(tmp_path: Path, how: signal.Signals, when: str) -> dict[str, Any]:
    results = tmp_path / "results"
    before = _results_with_an_earlier_run(results)
    session = marker()
    process = bench_pytest("--bench-profile", "smoke",
                           "--bench-strategies=floor,parallel/processes",
                           "--bench-dask-address=local", f"--bench-results={results}",
                           env=clean_env(session))

    def send() -> None:  # once the case's pool has started its worker processes
        running = spawned(session)
        assert wait_for(lambda: spawned(session) > running, 60), "the case started no worker"
        process.send_signal(how)

    output = _follow(process, when, send)
    return {"output": output, "returncode": process.returncode, "results": results,
            "before": before, "session": session}


@pytest.mark.parametrize("how", [signal.SIGINT, pytest.param(signal.SIGTERM,
                                                                marks=pytest.mark.slow)],
                         ids=["SIGINT", "SIGTERM"])
def test_interrupt_stops_everything_and_keeps_results_whole(tmp_path: Path,
                                                            how: signal.Signals) -> None:
    ended = _interrupt_run(tmp_path, how, "parallel/processes-dataframe-tiny: running")
    assert ended["returncode"] == 2, ended["output"][-2000:]  # pytest: "interrupted"
    assert no_survivors(ended["session"]) == []
    results, before = ended["results"], ended["before"]
    now = {p.name: p.read_bytes() for p in results.iterdir()}
    assert {name: now[name] for name in before} == before  # earlier runs untouched
    new = sorted(set(now) - set(before))
    assert all(n.startswith("run-") and n.endswith("-interrupted.json") for n in new), new
    for name in new:  # whole JSON, marked incomplete, refused as a result
        assert json.loads(now[name])["bench"]["complete"] is False
        refused = report("check", str(EARLIER_RUN), str(results / name))
        assert refused.returncode == 2 and "incomplete run" in refused.stderr


@pytest.mark.slow
def test_sigkill_leaves_nothing_taken_for_a_complete_run(tmp_path: Path) -> None:
    ended = _interrupt_run(tmp_path, signal.SIGKILL, "parallel/processes-dataframe-tiny: running")
    assert ended["returncode"] == -signal.SIGKILL
    results, before = ended["results"], ended["before"]
    for path in results.iterdir():  # anything new (a temp file cut short) is refused
        if path.name not in before or path.read_bytes() != before[path.name]:
            for command in ("html", "check"):
                args = [str(path)] if command == "html" else [str(EARLIER_RUN), str(path)]
                refused = report(command, *args, *(["-o", str(tmp_path / "r.html")]
                                                    if command == "html" else []))
                assert refused.returncode == 2, path.name
    assert report("check", str(EARLIER_RUN), str(results / "latest.json")).returncode == 0
    # SIGKILL gave the run no chance to stop its services: the next session does.
    assert survivors(ended["session"]), "expected the killed run's services to be orphaned"
    assert stop_orphans() >= 1
    assert no_survivors(ended["session"]) == []


# --------------------------------------------------------------------------- bad input


def _odd_file(tmp_path: Path, tiny_source: str, change: Any) -> Path:
    table = pq.read_table(tiny_source).slice(0, 100)
    path = tmp_path / "input.parquet"
    pq.write_table(change(table), path)
    return path


def _retyped(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


BAD_INPUTS = {
    "missing": (lambda tmp, tiny, url: tmp / "missing.parquet", "no such file"),
    "http-404": (lambda tmp, tiny, url: f"{url}/missing.parquet", "HTTP 404 Not Found"),
    "not-parquet": (lambda tmp, tiny, url: _write_text(tmp / "trips.parquet", "id,fare\n1,2\n"),
                    "not a parquet file"),
    "truncated": (lambda tmp, tiny, url: _truncated(tmp, tiny), "not a parquet file"),
    "missing-column": (lambda tmp, tiny, url: _odd_file(
        tmp, tiny, lambda t: t.drop_columns(["tip_amount"])), "missing required column(s) "
        "tip_amount"),
    "wrong-type": (lambda tmp, tiny, url: _odd_file(tmp, tiny, lambda t: _retyped(
        t, "total_amount", pa.array(["12.5"] * len(t)))), "column total_amount is string"),
    "empty": (lambda tmp, tiny, url: _odd_file(tmp, tiny, lambda t: t.slice(0, 0)),
              "has no rows"),
}


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _truncated(tmp: Path, tiny: str) -> Path:
    path = tmp / "cut.parquet"
    path.write_bytes(Path(tiny).read_bytes()[:50_000])
    return path


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_it(kind: str, tmp_path: Path, tiny_source: str,
                                         http_root: tuple[str, Path]) -> None:
    make, problem = BAD_INPUTS[kind]
    source = str(make(tmp_path, tiny_source, http_root[0]))
    process = bench_pytest(f"--bench-source={source}", f"--bench-results={tmp_path / 'r'}",
                           env=clean_env(marker(), BENCH_DATA_DIR=str(tmp_path / "cache")))
    output = _follow(process, "", None)
    assert process.returncode == 4, output
    assert output.strip().startswith(f"ERROR: --bench-source {source}: {problem}"), output
    assert output.strip().count("\n") == 0, output
    assert not (tmp_path / "r").exists()  # nothing started, nothing saved


# --------------------------------------------------------------------------- bad options


BAD_OPTIONS = {
    "strategy": (["--bench-strategies=baseline,qoute"], {},
                 "--bench-strategies 'baseline,qoute': unknown strategy 'qoute'"),
    "profile": (["--bench-profile=quik"], {}, "--bench-profile 'quik': unknown"),
    "dask-address": (["--bench-dask-address=tcp://127.0.0.1"], {},
                     "--bench-dask-address 'tcp://127.0.0.1': expected"),
    "s3-endpoint": (["--bench-s3-endpoint=127.0.0.1:9000"], {},
                    "--bench-s3-endpoint '127.0.0.1:9000': expected an http(s) URL"),
    "s3-endpoint-env": ([], {"BENCH_S3_ENDPOINT_URL": "s3://bucket"},
                        "BENCH_S3_ENDPOINT_URL 's3://bucket': expected an http(s) URL"),
    "results-dir": (["--bench-results={tmp}/a-file/results"], {},
                    "--bench-results {tmp}/a-file/results: {tmp}/a-file is not a folder"),
    "timeout": (["--bench-case-timeout=soon"], {},
                "--bench-case-timeout 'soon': expected a positive number"),
    "workers": (["--bench-workers=1,two"], {},
                "--bench-workers '1,two': expected positive whole numbers"),
    "memory-cap": (["--bench-memory-cap=-5"], {},
                   "--bench-memory-cap '-5': expected a positive number"),
}


@pytest.mark.parametrize("kind", list(BAD_OPTIONS))
def test_bad_option_is_one_line_before_any_work(kind: str, tmp_path: Path) -> None:
    args, env, message = BAD_OPTIONS[kind]
    (tmp_path / "a-file").write_text("not a folder")
    args = [a.format(tmp=tmp_path) for a in args]
    process = bench_pytest(*args, env=clean_env(marker(), **env))
    output = _follow(process, "", None)
    assert process.returncode == 4, output
    assert output.strip().startswith(f"ERROR: {message.format(tmp=tmp_path)}"), output
    assert output.strip().count("\n") == 0, output
