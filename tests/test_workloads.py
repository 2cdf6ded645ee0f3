"""Workloads (``--bench-workload``): the built-ins, a user's module from a folder outside
the checkout, and each bad workload's one line and exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench.cases import PROFILES, bench_cases, listing
from bench.options import OptionError, workload_choice
from bench.session import SessionOptions
from runfile import load
from strategies import workloads
from tests.processes import ROOT, bench_pytest, clean_env, marker

EXAMPLE = ROOT / "examples" / "my_workload.py"

BAD = {
    "missing-file": (None, "not found (no such file)"),
    "missing-module": ("no_such_package.tasks", "not found (no module named 'no_such_package'"),
    "import-error": ("import pandas\n1 / 0\n", "does not import (ZeroDivisionError: division "
                     "by zero)"),
    "no-extract": ("def transform(data):\n    return data\n", "defines no extract()"),
    "no-transform": ("def extract(source):\n    return source\n", "defines no transform()"),
    "not-callable": ("def extract(source):\n    return source\ntransform = 3\n",
                     "transform is not a function (it is int 3)"),
}


def _bad(tmp_path: Path, name: str) -> str:
    """The ``--bench-workload`` value of the bad workload ``name`` (a file in tmp_path)."""
    text, _ = BAD[name]
    if name == "missing-module":
        return str(text)
    path = tmp_path / f"bad_{name.replace('-', '_')}.py"
    if text is not None:
        path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_workload_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    spec = _bad(tmp_path, name)
    with pytest.raises(OptionError) as raised:
        workload_choice(spec)
    assert str(raised.value) == f"--bench-workload {spec}: {BAD[name][1]}" or \
        str(raised.value).startswith(f"--bench-workload {spec}: {BAD[name][1]}")
    assert "\n" not in str(raised.value)


def test_built_in_workloads_run_in_both_shapes() -> None:
    for name in workloads.BUILT_IN:
        found = workloads.load(name)
        assert found.name == name and found.shapes == ("dataframe", "records")
        assert found.partitioned is None and len(found.digest) == 12


def test_a_user_workload_is_named_by_its_file_and_loads_from_anywhere(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "my_tasks.py"
    copy.parent.mkdir()
    shutil.copy(EXAMPLE, copy)
    (chosen,) = workload_choice(str(copy)) or ()
    found = workloads.load(chosen)
    assert (found.name, found.shapes, found.partitioned) == ("my_tasks", ("dataframe",), None)
    cases = bench_cases(PROFILES["quick"], listing(SessionOptions()), chosen=(chosen,))
    names = {case.name for case in cases}
    assert "my_tasks:baseline-dataframe-small" in names
    assert not any("records" in name for name in names)  # a user's workload has one shape


def test_a_workload_without_partitions_says_why_parallel_does_not_apply(
        tmp_path: Path) -> None:
    path = tmp_path / "unsplit.py"
    path.write_text("def extract(source):\n    return source\n"
                    "def transform(data):\n    return data\n"
                    "def partitions(source):\n    return 2\n")
    assert workloads.load(str(path)).partitioned == (
        "workload unsplit defines no extract_partition: it cannot be split into partitions "
        "for a task runner")


def test_two_workloads_of_one_name_are_refused(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(EXAMPLE, tmp_path / folder / "tasks.py")
    with pytest.raises(OptionError, match="have the same name 'tasks'"):
        workload_choice(f"{tmp_path}/a/tasks.py,{tmp_path}/b/tasks.py")


def test_the_standard_profile_runs_heavy_next_to_the_guide() -> None:
    cases = bench_cases(PROFILES["standard"], listing(SessionOptions()))
    by_workload = {case.workload for case in cases}
    assert by_workload == {"guide", "heavy"}
    heavy = [c for c in cases if c.workload == "heavy"]
    assert {c.strategy for c in heavy} >= {"floor", "baseline", "cached", "parallel"}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_workload_stops_python_m_bench_with_exit_4(
        tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before any service starts (none is: ``session`` would fail here): one line naming
    it, exit 4."""
    monkeypatch.setattr(bench_main, "session", None)
    spec = _bad(tmp_path, name)
    with pytest.raises(SystemExit) as stopped:
        bench_main.main(["--bench-workload", spec])
    out, err = capsys.readouterr()
    assert stopped.value.code == 4 and out == ""
    assert err.startswith(f"error: --bench-workload {spec}: {BAD[name][1]}")
    assert err.count("\n") == 1


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["missing-file", "import-error"])
def test_a_bad_workload_stops_the_benchmark_suite_with_exit_4(tmp_path: Path,
                                                              name: str) -> None:
    """The same check, in ``pytest --benchmark-only``: pytest's usage error."""
    spec = _bad(tmp_path, name)
    run = bench_pytest(f"--bench-workload={spec}", f"--bench-results={tmp_path}",
                       env=clean_env(marker()))
    out, _ = run.communicate(timeout=120)
    assert run.returncode == 4, out
    assert f"--bench-workload {spec}: {BAD[name][1]}" in out and "Traceback" not in out


@pytest.mark.e2e
def test_the_example_runs_from_a_folder_outside_the_checkout(tmp_path: Path) -> None:
    """The README's example, copied out of the checkout, measured by the benchmark suite:
    every case ok (or not_applied with a reason), recorded with its workload."""
    copy = tmp_path / "mine" / "my_workload.py"
    copy.parent.mkdir()
    shutil.copy(EXAMPLE, copy)
    results = tmp_path / "results"
    run = bench_pytest("--bench-profile", "smoke", f"--bench-workload={copy}",
                       "--bench-strategies", "baseline,cached/warm,parallel/threads",
                       "--bench-no-breakdown", f"--bench-results={results}",
                       env=clean_env(marker()))
    out, _ = run.communicate(timeout=600)
    assert run.returncode == 0, out
    done = load(results / "latest.json")
    assert {c.workload for c in done.cases} == {"my_workload"}
    assert {c.label: c.status for c in done.cases} == {
        "floor": "ok", "baseline": "ok", "cached/warm": "ok", "parallel/threads": "ok"}
    digest = workloads.load(str(copy)).digest
    assert {c.workload_digest for c in done.cases} == {digest}
    bench = json.loads((results / "latest.json").read_text())["bench"]
    assert bench["workloads"] == [{"name": "my_workload", "module": str(copy),
                                   "digest": digest}]


@pytest.mark.e2e
@pytest.mark.slow
def test_a_failing_or_unsteady_workload_fails_its_cases_and_the_run_goes_on(
        tmp_path: Path) -> None:
    """A transform that raises, and one whose output changes between runs: their cases
    are failed with a one-line reason; the guide's cases in the same run are ok."""
    raising = tmp_path / "raising.py"
    raising.write_text("import pandas as pd\n"
                       "def extract(source):\n    return pd.read_parquet(source)\n"
                       "def transform(data):\n    raise KeyError('no column fare')\n")
    unsteady = tmp_path / "unsteady.py"
    unsteady.write_text("import itertools\nimport pandas as pd\nRUNS = itertools.count()\n"
                        "def extract(source):\n    return pd.read_parquet(source)\n"
                        "def transform(data):\n    data['run'] = next(RUNS)\n"
                        "    return data\n")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", "--shapes", "dataframe",
         "--bench-workload", f"{raising},{unsteady},guide", "-k", "baseline"],
        cwd=ROOT, env=clean_env(marker()), capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    status = {line.split("] ")[1].split(" ...")[0]: line.split(" ... ")[1]
              for line in lines if " ... " in line}
    assert status["raising:baseline-dataframe-tiny"].startswith(
        "failed (floor's run of the workload, the reference, failed: KeyError: 'no column")
    assert status["unsteady:floor-dataframe-tiny"].startswith("failed (output checksum")
    assert "must be the same on every run" in status["unsteady:baseline-dataframe-tiny"]
    assert status["baseline-dataframe-tiny"] == "ok"
    assert "Traceback" not in done.stderr


def test_a_flow_without_a_workload_parameter_runs_the_guide_only() -> None:
    """A strategy written before workloads keeps running the guide's ET, and refuses to
    run another workload rather than silently measure the guide's."""
    from prefect import flow

    from strategies.base import Case, CaseFailed
    from strategies.flowrun import flow_parameters

    @flow
    def older(source: str, shape: str = "dataframe") -> None: ...

    guide = Case("x", None, "dataframe", "f.parquet")
    assert flow_parameters(older, guide) == {"source": "f.parquet", "shape": "dataframe"}
    with pytest.raises(CaseFailed, match="runs the guide's ET only, not workload heavy"):
        flow_parameters(older, Case("x", None, "dataframe", "f.parquet", "heavy"))
