"""Paths on the command line as users write them: outside the checkout, with a space and
non-ASCII characters, given as ``--option=PATH`` or ``--option PATH``; and two runs at
once into one results folder, each keeping its run file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import data
from bench.services.s3 import moto_s3
from runfile import FORMAT_VERSION, load
from tests.processes import ROOT, bench_pytest, clean_env, marker, no_survivors

pytestmark = pytest.mark.e2e

FLOOR_ONLY = ("--bench-profile", "smoke", "--bench-strategies", "floor", "-k", "dataframe")


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the checkout whose name has a space and non-ASCII characters,
    holding a copy of the tiny data set, also with such a name."""
    folder = tmp_path_factory.mktemp("runs") / "my data é"
    folder.mkdir()
    shutil.copyfile(data.dataset("tiny"), folder / "trips ü.parquet")
    return folder


def _floor_ran(results: Path, source: Path) -> None:
    run = load(results / "latest.json")
    assert [case.name for case in run.cases] == ["floor-dataframe-source"]
    assert run.cases[0].ok and run.bench["data_source"] == str(source)


def test_equals_form_with_paths_outside_the_checkout(outside: Path) -> None:
    source, results, user_json = outside / "trips ü.parquet", outside / "runs", \
        outside / "mine é.json"
    user_json.write_text("{}")  # an existing file: pytest would take it as a test path
    process = bench_pytest(*FLOOR_ONLY, f"--bench-source={source}",
                           f"--bench-results={results}", f"--benchmark-json={user_json}",
                           env=clean_env(marker()))
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]
    _floor_ran(results, source)
    assert load(user_json).format_version == FORMAT_VERSION  # pytest-benchmark's own copy


@pytest.mark.parametrize("flag", ["--bench-source", "--bench-results", "--benchmark-json"])
def test_space_form_with_an_existing_path_stops_with_one_line(outside: Path,
                                                              flag: str) -> None:
    """pytest takes a separate existing path as a test path before it knows the option:
    the run stops before any work with one line saying to write ``--option=PATH``."""
    path = outside / "trips ü.parquet" if flag == "--bench-source" else outside
    process = bench_pytest(*FLOOR_ONLY, flag, str(path), env=clean_env(marker()))
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 4, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {flag} {path}: write "), output
    assert f"{flag}={path}" in lines[0] and "unrecognized arguments" not in output


def test_bin_bench_takes_both_forms(outside: Path) -> None:
    """The README's main command passes either form on as ``--option=PATH``, also with a
    path relative to where it is started."""
    source, results = outside / "trips ü.parquet", outside / "bin-runs"
    done = subprocess.run([str(ROOT / "bin" / "bench"), "--bench-source", str(source),
                           "--bench-results", results.name, "--bench-strategies", "floor",
                           "-k", "dataframe"], cwd=outside,
                          env=clean_env(marker(), BENCH_PROFILE="smoke"), text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    _floor_ran(results, source)
    assert (results / "report.html").exists()


@pytest.mark.parametrize(("flag", "form"), [("--bench-source", "space"),
                                            ("--source", "equals")])
def test_python_m_bench_takes_both_forms(outside: Path, flag: str, form: str) -> None:
    source = outside / "trips ü.parquet"
    given = [f"{flag}={source}"] if form == "equals" else [flag, str(source)]
    done = subprocess.run([sys.executable, "-m", "bench", *given, "--shapes", "dataframe",
                           "--bench-strategies", "floor"], cwd=outside, text=True,
                          env=clean_env(marker()), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "floor" in done.stdout and "ok" in done.stdout


@pytest.mark.slow
def test_two_runs_at_once_into_one_folder_keep_two_run_files(tmp_path: Path) -> None:
    """Both runs start from an empty data cache (both generate the data and the Prefect
    database template), persist results through one S3 endpoint, and save into the same
    folder at about the same time."""
    results, cache = tmp_path / "results", tmp_path / "cache"
    sessions = [marker(), marker()]
    with moto_s3() as endpoint:
        runs = [bench_pytest("--bench-profile", "smoke", "--bench-strategies", "floor,s3",
                             "-k", "dataframe", f"--bench-results={results}",
                             f"--bench-s3-endpoint={endpoint}",
                             env=clean_env(session, BENCH_DATA_DIR=str(cache)))
                for session in sessions]
        outputs = [run.communicate(timeout=600)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
    files = sorted(results.glob("run-*.json"))
    assert len(files) == 2, [p.name for p in results.iterdir()]
    for path in files:  # each run's s3 case persisted and found its own results
        s3 = next(case for case in load(path).cases if case.strategy == "s3")
        assert s3.ok and s3.stored_bytes, s3.reason
    latest = (results / "latest.json").read_text()
    assert latest in [path.read_text() for path in files]
    assert not list(results.glob(".*")) and not list(cache.rglob(".*tmp*"))
    for session in sessions:
        assert no_survivors(session) == []
