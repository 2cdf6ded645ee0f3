"""The regression gate on a real recorded quick run (tests/data/quick-run.json): copies of it
are edited in tmp_path, then checked through the CLI (exit codes, as CI sees them) or
``gate.check`` (the rule). Nothing here measures time."""

from __future__ import annotations

import copy
import json
import math
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report import heavy_copies

from reporting import gate
from runfile import CaseRecord, RunError, load

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "tests" / "data" / "quick-run.json"
COMMITTED_BASELINE = ROOT / "results" / "baseline-quick.json"  # format 1

Entry = dict[str, Any]


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return json.loads(RUN.read_text())


@pytest.fixture
def data(recorded: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy of the recorded run, to edit."""
    return copy.deepcopy(recorded)


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "report.py", "check", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _save(data: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(data))
    return path


def _check(tmp_path: Path, baseline: dict[str, Any], run: dict[str, Any],
           **limits: float) -> gate.GateResult:
    return gate.check(load(_save(baseline, tmp_path / "baseline.json")),
                      load(_save(run, tmp_path / "run.json")), **limits)


def _entries(data: dict[str, Any]) -> Iterator[Entry]:
    yield from data["benchmarks"]


def _name(entry: Entry) -> str:
    """The case's name (``runfile.case_name``, which is also its pytest ``param``)."""
    return CaseRecord.from_entry(entry, version=1).name


def _is_ok(entry: Entry) -> bool:
    return entry["extra_info"]["status"] == "ok"


def _ok(data: dict[str, Any], keep: Callable[[Entry], bool] = lambda e: True) -> list[Entry]:
    return [e for e in _entries(data) if _is_ok(e) and keep(e)]


def _gated(entry: Entry) -> bool:
    """Not the floor, which is the time reference and never gated on time."""
    return entry["extra_info"]["strategy"] != "floor"


def _median(entry: Entry) -> float:
    return statistics.median(entry["stats"]["data"])


def _multiply_rounds(entry: Entry, factor: float) -> None:
    entry["stats"]["data"] = [r * factor for r in entry["stats"]["data"]]


def _grow_memory(entry: Entry, growth: float) -> None:
    info = entry["extra_info"]
    info["rss_delta_bytes"] = int(info["rss_delta_bytes"] + growth)
    info["peak_rss_bytes"] = info["start_rss_bytes"] + info["rss_delta_bytes"]


def _row(result: gate.GateResult, name: str) -> gate.GateRow:
    return next(row for row in result.rows if row.name == name)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.strip() and "\n" not in done.stderr.strip(), done.stderr
    return done.stderr


# --- the cases, through the CLI ---------------------------------------------------

def test_a_run_against_itself_passes(data: dict[str, Any]) -> None:
    done = _cli(RUN, RUN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "REGRESSION" not in done.stdout
    assert done.stdout.strip().splitlines()[-1] == \
        f"no regression in {len(data['benchmarks'])} cases"


def test_b_doubled_rounds_fail_and_name_the_case(tmp_path: Path, data: dict[str, Any]) -> None:
    slowed = min(_ok(data, _gated), key=_median)
    _multiply_rounds(slowed, 2)
    done = _cli(RUN, _save(data, tmp_path / "run.json"))
    assert done.returncode == 1, done.stdout
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("1 regression in ") and f"{_name(slowed)} time x2" in summary


def test_c_memory_grown_by_half_fails_on_memory(tmp_path: Path, data: dict[str, Any]) -> None:
    hungrier = max(_ok(data), key=lambda e: e["extra_info"]["rss_delta_bytes"])
    growth = hungrier["extra_info"]["rss_delta_bytes"] * 0.5
    assert growth > gate.MIN_MEMORY_GROWTH_BYTES
    _grow_memory(hungrier, growth)
    done = _cli(RUN, _save(data, tmp_path / "run.json"))
    assert done.returncode == 1, done.stdout
    assert f"{_name(hungrier)} memory +50%" in done.stdout.strip().splitlines()[-1]


def test_d_a_newly_failing_case_fails(tmp_path: Path, data: dict[str, Any]) -> None:
    broken = _ok(data, _gated)[0]
    broken["extra_info"].update(status="failed", reason="checksum differs from floor's")
    done = _cli(RUN, _save(data, tmp_path / "run.json"))
    assert done.returncode == 1, done.stdout
    assert f"{_name(broken)} now failed" in done.stdout.strip().splitlines()[-1]
    assert "checksum differs from floor's" in done.stdout


def test_e_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.json"
    truncated.write_text(RUN.read_text()[:5000])
    assert str(truncated) in _one_line_error(_cli(RUN, truncated))
    assert "missing.json" in _one_line_error(_cli(tmp_path / "missing.json", RUN))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x00\xff not text")
    _one_line_error(_cli(binary, RUN))


def test_a_file_that_is_not_a_run_exits_2(tmp_path: Path) -> None:
    other = _save({"benchmarks": [], "machine_info": {}}, tmp_path / "other.json")
    assert "not a run" in _one_line_error(_cli(other, RUN))


def test_no_cases_in_common_exits_2(tmp_path: Path, data: dict[str, Any]) -> None:
    for entry in _entries(data):
        entry["extra_info"]["rows"] += 1
    assert "no cases in common" in _one_line_error(_cli(RUN, _save(data, tmp_path / "r.json")))


def test_max_slowdown_is_the_allowed_growth(tmp_path: Path, data: dict[str, Any]) -> None:
    _multiply_rounds(min(_ok(data, _gated), key=_median), 2)
    run = _save(data, tmp_path / "run.json")
    assert _cli(RUN, run, "--max-slowdown", "1.5").returncode == 0
    assert _cli(RUN, run, "--max-slowdown", "0.9").returncode == 1


# --- time ---------------------------------------------------------------------------------

def test_doubling_any_case_fails_on_that_case_alone(tmp_path: Path, recorded: dict[str, Any],
                                                    data: dict[str, Any]) -> None:
    for index, entry in enumerate(data["benchmarks"]):
        if not (_is_ok(entry) and _gated(entry)):
            continue
        run = copy.deepcopy(data)
        _multiply_rounds(run["benchmarks"][index], 2)
        result = _check(tmp_path, recorded, run)
        assert [row.name for row in result.regressions] == [_name(entry)], result.render()


def test_noise_within_the_rounds_spread_passes(tmp_path: Path, recorded: dict[str, Any],
                                               data: dict[str, Any]) -> None:
    """One lucky fast round in the baseline: now's fastest round is 2x slower, but its
    rounds sit inside the baseline's quartiles."""
    baseline = copy.deepcopy(recorded)
    lucky = max(_ok(baseline, _gated), key=lambda e: len(e["stats"]["data"]))
    lucky["stats"]["data"].append(min(lucky["stats"]["data"]) / 2)
    result = _check(tmp_path, baseline, data)
    assert result.exit_code == 0, result.render()
    verdict = _row(result, _name(lucky)).verdict
    assert verdict.startswith("time x2 vs ") and verdict.endswith(", within the rounds' spread")


@pytest.mark.parametrize("faster", [("floor",), ("baseline",), ("floor", "baseline")])
def test_a_faster_reference_alone_fails_nothing(tmp_path: Path, recorded: dict[str, Any],
                                                data: dict[str, Any],
                                                faster: tuple[str, ...]) -> None:
    """A reference that ran fast this time (the floor's time shifts between sessions) must
    not fail the cases read against it: they are no slower in seconds."""
    for reference in _ok(data, lambda e: e["extra_info"]["strategy"] in faster):
        _multiply_rounds(reference, 0.5)
    result = _check(tmp_path, recorded, data)
    assert result.exit_code == 0, result.render()
    assert any(row.verdict.endswith("but x1 in seconds") for row in result.rows)


@pytest.mark.parametrize("factor", [0.5, 2.0], ids=["faster-machine", "slower-machine"])
def test_a_uniformly_faster_or_slower_machine_passes(tmp_path: Path, recorded: dict[str, Any],
                                                     data: dict[str, Any],
                                                     factor: float) -> None:
    for entry in _entries(data):
        _multiply_rounds(entry, factor)
    result = _check(tmp_path, recorded, data)
    assert result.exit_code == 0, result.render()


def test_the_floor_is_never_gated_on_time(tmp_path: Path, recorded: dict[str, Any],
                                          data: dict[str, Any]) -> None:
    floors = _ok(data, lambda e: not _gated(e))
    for floor in floors:
        _multiply_rounds(floor, 10)
    result = _check(tmp_path, recorded, data)
    assert result.exit_code == 0, result.render()
    for floor in floors:
        row = _row(result, _name(floor))
        assert row.verdict == "reference: time not gated" and row.change == "+900%"


def test_a_heartbeat_like_slowdown_fails_the_sub_second_cases(
        tmp_path: Path, recorded: dict[str, Any], data: dict[str, Any]) -> None:
    """Prefect's heartbeat rounds every flow up to whole seconds: the cases under half a
    second (now at least twice as slow) fail, the ones it slowed by less than 1.5x pass."""
    for entry in _ok(data, _gated):
        entry["stats"]["data"] = [float(math.ceil(r)) for r in entry["stats"]["data"]]
    result = _check(tmp_path, recorded, data)
    failed = {row.name for row in result.regressions}
    fastest = {_name(e): min(e["stats"]["data"]) for e in _ok(recorded, _gated)}
    assert {name for name, seconds in fastest.items() if seconds < 0.5} <= failed
    assert failed <= {name for name, seconds in fastest.items()
                      if math.ceil(seconds) / seconds >= 1.5}
    # the baseline flow regressed too, so the others are judged against the floor
    assert all("vs floor" in row.verdict for row in result.regressions), result.render()


def test_a_machine_busier_for_prefect_passes(tmp_path: Path, recorded: dict[str, Any],
                                            data: dict[str, Any]) -> None:
    """Every flow slower in seconds, the baseline flow too (but within the limit), one case
    beyond the limit in seconds: relative to the baseline flow it is not."""
    busier = 1 + gate.DEFAULT_MAX_SLOWDOWN * 0.9
    for entry in _ok(data, _gated):
        _multiply_rounds(entry, busier)
    unlucky = max(_ok(data, lambda e: e["extra_info"]["strategy"] not in gate.REFERENCES),
                  key=_median)
    _multiply_rounds(unlucky, busier)
    result = _check(tmp_path, recorded, data)
    assert result.exit_code == 0, result.render()
    assert _row(result, _name(unlucky)).verdict.endswith("vs baseline")


@pytest.mark.parametrize("unusable", [("baseline",), ("baseline", "floor")],
                         ids=["no-baseline", "no-reference"])
def test_without_references_the_next_one_judges(tmp_path: Path, recorded: dict[str, Any],
                                               data: dict[str, Any],
                                               unusable: tuple[str, ...]) -> None:
    """baseline, else floor, else seconds alone (noted): a doubled case is still caught."""
    runs = (copy.deepcopy(recorded), data)
    for run in runs:
        for entry in _ok(run, lambda e: e["extra_info"]["strategy"] in unusable):
            entry["extra_info"].update(status="failed", reason="not today")
    slowed = min(_ok(data, _gated), key=_median)
    _multiply_rounds(slowed, 2)
    result = _check(tmp_path, *runs)
    assert [row.name for row in result.regressions] == [_name(slowed)], result.render()
    verdict = result.regressions[0].verdict
    assert ("no reference" in verdict) if "floor" in unusable else ("vs floor" in verdict)


# --- status -------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["failed", "timeout", "not_applied"])
def test_ok_then_not_ok_is_a_regression(tmp_path: Path, recorded: dict[str, Any],
                                        data: dict[str, Any], status: str) -> None:
    broken = _ok(data)[-1]
    broken["extra_info"].update(status=status, reason="one line why")
    result = _check(tmp_path, recorded, data)
    assert [row.name for row in result.regressions] == [_name(broken)]
    assert result.regressions[0].verdict == f"REGRESSION: now {status}: one line why"


def test_ok_then_skipped_as_predicted_not_to_fit_is_reported_not_failed(
        tmp_path: Path, recorded: dict[str, Any], data: dict[str, Any]) -> None:
    skipped = _ok(data)[-1]
    skipped["extra_info"].update(status="skipped", reason="not run at 10,000,000 rows: ...")
    result = _check(tmp_path, recorded, data)
    assert result.exit_code == 0, result.render()
    assert _row(result, _name(skipped)).verdict == ("now skipped: not run at 10,000,000 "
                                                    "rows: ...")


def test_not_ok_in_both_or_fixed_passes(tmp_path: Path, recorded: dict[str, Any],
                                        data: dict[str, Any]) -> None:
    fixed = _ok(data)[-1]
    broken = copy.deepcopy(recorded)
    next(e for e in _entries(broken) if _name(e) == _name(fixed))["extra_info"].update(
        status="timeout", reason="took too long")
    result = _check(tmp_path, broken, data)
    assert result.exit_code == 0, result.render()
    assert _row(result, _name(fixed)).verdict == "fixed (was timeout)"
    for entry in _entries(recorded):
        if entry["extra_info"]["status"] != "ok":
            assert _row(result, _name(entry)).verdict.endswith("in both")


def test_new_and_missing_cases_are_listed_not_failed(tmp_path: Path,
                                                     recorded: dict[str, Any],
                                                     data: dict[str, Any]) -> None:
    baseline = copy.deepcopy(recorded)
    dropped_now, dropped_before = data["benchmarks"].pop(), baseline["benchmarks"].pop(0)
    result = _check(tmp_path, baseline, data)
    assert result.exit_code == 0
    assert result.missing == [_name(dropped_now)] and result.new == [_name(dropped_before)]
    assert f"missing (in the baseline only): {_name(dropped_now)}" in result.render()


# --- memory and storage ---------------------------------------------------------------------

def test_memory_growth_under_the_minimum_passes(tmp_path: Path, recorded: dict[str, Any],
                                                data: dict[str, Any]) -> None:
    smallest = min(_ok(data), key=lambda e: e["extra_info"]["rss_delta_bytes"])
    assert smallest["extra_info"]["rss_delta_bytes"] * gate.DEFAULT_MAX_MEMORY_GROWTH \
        < gate.MIN_MEMORY_GROWTH_BYTES
    _grow_memory(smallest, gate.MIN_MEMORY_GROWTH_BYTES)
    result = _check(tmp_path, recorded, data)
    assert result.exit_code == 0, result.render()
    assert "under" in _row(result, _name(smallest)).verdict


def test_memory_is_not_gated_across_core_counts(tmp_path: Path, recorded: dict[str, Any],
                                                data: dict[str, Any]) -> None:
    """Process-pool and Dask cases start a worker per core: their memory follows the cores."""
    data["bench"]["cores"] = recorded["bench"]["cores"] * 2
    for entry in _ok(data):
        _grow_memory(entry, entry["extra_info"]["rss_delta_bytes"])
    result = _check(tmp_path, recorded, data)
    assert result.exit_code == 0, result.render()
    assert "memory not gated" in result.summary
    assert "cores" in result.render()


def test_stored_bytes_change_is_reported_not_failed(tmp_path: Path, recorded: dict[str, Any],
                                                   data: dict[str, Any]) -> None:
    storing = max(_ok(data), key=lambda e: e["extra_info"]["stored_bytes"])
    storing["extra_info"]["stored_bytes"] *= 3
    result = _check(tmp_path, recorded, data)
    assert result.exit_code == 0
    assert "stored " in _row(result, _name(storing)).verdict


# --- the result as text ---------------------------------------------------------------------

def test_render_is_a_table_then_one_summary_line(tmp_path: Path, recorded: dict[str, Any],
                                                 data: dict[str, Any]) -> None:
    data["bench"]["heartbeat"] = "Prefect default (30 s)"
    result = _check(tmp_path, recorded, data)
    lines = result.render().splitlines()
    assert lines[0].split() == ["case", "baseline", "now", "change", "verdict"]
    assert len(result.rows) == len(recorded["benchmarks"])
    assert lines[-1] == result.summary and "\n" not in result.summary
    assert any(line.startswith("runs differ: heartbeat off -> ") for line in lines)


def test_no_cases_in_common_raises_run_error(tmp_path: Path, recorded: dict[str, Any],
                                            data: dict[str, Any]) -> None:
    data["benchmarks"] = [e for e in data["benchmarks"] if _gated(e)]
    baseline = copy.deepcopy(recorded)
    baseline["benchmarks"] = [e for e in baseline["benchmarks"] if not _gated(e)]
    with pytest.raises(RunError, match="no cases in common"):
        _check(tmp_path, baseline, data)


# --- workloads ----------------------------------------------------------------------------

GUIDE_AND_HEAVY = ("floor", "baseline", "quote", "disk")


def test_the_committed_format_1_baseline_gates_the_guide_as_before(
        tmp_path: Path, recorded: dict[str, Any], data: dict[str, Any]) -> None:
    """A format-4 run with heavy cases besides the guide's: the guide's rows are those of the
    same run without workloads, the heavy cases only listed as new."""
    heavy_copies(*GUIDE_AND_HEAVY, factor=3.0)(data)
    baseline = load(COMMITTED_BASELINE)
    assert baseline.format_version == 1
    before = gate.check(baseline, load(_save(recorded, tmp_path / "before.json")))
    after = gate.check(baseline, load(_save(data, tmp_path / "after.json")))
    assert after.rows == before.rows and after.exit_code == before.exit_code
    assert after.summary == before.summary and after.changed == []
    assert set(after.new) - set(before.new) == {
        f"heavy:{_name(e)}" for e in _entries(recorded)
        if e["extra_info"]["strategy"] in GUIDE_AND_HEAVY
        and e["extra_info"]["shape"] == "dataframe"}


def test_cases_are_matched_on_their_workload(tmp_path: Path, data: dict[str, Any]) -> None:
    """heavy's cases are gated against heavy's, never against the guide's: heavy 3x slower
    than the guide passes, heavy's quote doubled against heavy fails alone."""
    heavy_copies(*GUIDE_AND_HEAVY, factor=3.0)(data)
    now = copy.deepcopy(data)
    quote = next(e for e in _entries(now) if e["param"] == "heavy:quote-dataframe-small")
    _multiply_rounds(quote, 2)
    assert _check(tmp_path, data, data).exit_code == 0
    result = _check(tmp_path, data, now)
    assert [row.name for row in result.regressions] == ["heavy:quote-dataframe-small"]
    assert _row(result, "quote-dataframe-small").verdict == "ok"


def test_a_changed_workload_is_listed_never_failed(tmp_path: Path,
                                                   data: dict[str, Any]) -> None:
    baseline = copy.deepcopy(data)
    heavy_copies(*GUIDE_AND_HEAVY, digest="heavy-1")(baseline)
    heavy_copies(*GUIDE_AND_HEAVY, factor=5.0, digest="heavy-2")(data)
    next(e for e in _entries(data) if e["param"] == "heavy:disk-dataframe-small")[
        "extra_info"].update(status="failed", reason="boom")
    result = _check(tmp_path, baseline, data)
    assert result.exit_code == 0, result.render()
    heavy = [row.name for row in result.rows if row.key[0] == "heavy"]
    assert heavy and result.changed == heavy
    assert all(_row(result, name).verdict.startswith("workload changed") for name in heavy)
    assert f"{gate.CHANGED_TITLE}: {', '.join(heavy)}" in result.render()
    assert f"({len(heavy)} not gated: workload changed)" in result.summary
    data["benchmarks"] = [e for e in _entries(data) if e["param"].startswith("heavy:")]
    for entry in _entries(data):  # a digest not recorded: compared as before
        entry["extra_info"]["workload_digest"] = None
    result = _check(tmp_path, baseline, data)
    assert result.changed == [] and result.exit_code == 1
