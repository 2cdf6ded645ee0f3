"""The recommendation (``reporting.recommend``) on copies of a real quick run: the picks move
with the data, non-ok cases and floor are never picked, the Pareto front is right, and
``report.py recommend`` prints it. Expected picks are computed from the run, never typed in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_report import (
    FIXTURE,
    ROOT,
    entries,
    heavy_copies,
    rounds_like,
    run_with,
    section,
    set_status,
)

from reporting import recommend, units
from reporting.charts import FRONT
from reporting.html import build, render
from runfile import CaseRecord, Run


def at(run: Run, shape: str = "dataframe", workload: str = "guide") -> recommend.Recommendation:
    """The recommendation for one place of the run."""
    return next(r for r in recommend.recommend(run.cases)
                if (r.place.workload, r.place.shape) == (workload, shape))


def pick(rec: recommend.Recommendation, title: str) -> CaseRecord:
    return next(p.case for p in rec.picks if p.title == title)


def candidates(run: Run, shape: str = "dataframe") -> list[CaseRecord]:
    return [c for c in run.cases if c.ok and c.shape == shape and c.strategy != "floor"]


def test_the_picks_are_the_best_ok_cases_but_floor(tmp_path: Path) -> None:
    run = run_with(tmp_path)
    rec = at(run)
    mine = candidates(run)
    assert pick(rec, "fastest") == min(mine, key=lambda c: c.median or 0)
    persisting = [c for c in mine if c.stored_bytes]
    assert pick(rec, "least stored") == min(persisting, key=lambda c: c.stored_bytes or 0)
    assert all(p.case.strategy != "floor" for r in recommend.recommend(run.cases)
               for p in r.picks)
    assert {r.place.shape for r in recommend.recommend(run.cases)} == {"dataframe", "records"}


def test_making_another_case_fastest_moves_the_pick(tmp_path: Path) -> None:
    before = pick(at(run_with(tmp_path)), "fastest")
    assert before.label != "disk"
    run = run_with(tmp_path, rounds_like("disk", before.label, 0.5))
    rec = at(run)
    disk = pick(rec, "fastest")
    assert disk.label == "disk"
    baseline = rec.reference("baseline")
    assert baseline is not None and disk.median is not None and baseline.median is not None
    factor = units.ratio(baseline.median / disk.median)
    assert rec.sentence.startswith(f"At 100,000 rows of guide (dataframe): disk is {factor} "
                                   "faster than baseline with ")
    row = recommend.cells(rec, rec.picks[0])
    assert row[1] == "disk" and row[-2].startswith(f"{factor} faster, ")


def test_a_case_not_ok_is_never_picked_even_when_best(tmp_path: Path) -> None:
    def lightest_and_fastest(data: dict) -> None:
        for entry in entries(data, "quote", "dataframe"):
            entry["stats"]["data"] = [1e-6]
            entry["extra_info"]["peak_rss_bytes"] = entry["extra_info"]["start_rss_bytes"]

    assert pick(at(run_with(tmp_path, lightest_and_fastest)), "fastest").label == "quote"
    run = run_with(tmp_path, lightest_and_fastest,
                   set_status("quote", "dataframe", "failed", "boom"))
    rec = at(run)
    assert all(p.case.label != "quote" for p in rec.picks)
    assert all(c.label != "quote" for c in rec.front)


def test_cached_warm_is_said_to_need_the_same_input(tmp_path: Path) -> None:
    run = run_with(tmp_path, rounds_like("cached/warm", "floor", 2.0))
    rec = at(run)
    warm = pick(rec, "fastest")
    fresh = pick(rec, "fastest on a new input")
    assert warm.label == "cached/warm" and fresh.label != "cached/warm"
    assert fresh == min((c for c in candidates(run) if c.label != "cached/warm"),
                        key=lambda c: c.median or 0)
    assert f": {fresh.label} is " in rec.sentence
    assert "cached/warm is x" in rec.sentence
    assert rec.sentence.endswith(f"{recommend.AGAIN}.")
    assert recommend.cells(rec, rec.picks[0])[1] == f"cached/warm ({recommend.REPEATED})"


def case(name: str, seconds: float, megabytes: int) -> CaseRecord:
    return CaseRecord(name, None, "dataframe", "small", 100, "ok", start_rss_bytes=0,
                      peak_rss_bytes=megabytes * units.MB, rounds=(seconds,))


def test_the_pareto_front() -> None:
    cases = [case("a", 1, 100), case("b", 2, 50), case("c", 3, 60), case("d", 1, 120),
             case("e", 0.5, 200), case("f", 2, 50), case("g", 4, 40), case("h", 4, 45)]
    assert [c.strategy for c in recommend.pareto_front(cases)] == ["e", "a", "b", "f", "g"]
    assert recommend.pareto_front([]) == []


def test_one_recommendation_per_workload_from_its_own_cases(tmp_path: Path) -> None:
    run = run_with(tmp_path, heavy_copies("floor", "baseline", "quote"),
                   heavy_copies("disk", factor=0.01))
    heavy = at(run, workload="heavy")
    assert heavy.place.named and pick(heavy, "fastest").name == "heavy:disk-dataframe-small"
    assert {c.workload for c in heavy.cases} == {"heavy"}
    assert heavy.sentence.startswith("At 100,000 rows of heavy (dataframe): disk is ")
    assert pick(at(run), "fastest").workload == "guide"


def test_the_report_opens_with_the_recommendation(tmp_path: Path) -> None:
    run = run_with(tmp_path)
    report = build([run])
    found = report.leading[0]
    assert found.id == "recommendation" and section(report, "time")
    assert found.findings == [r.sentence for r in recommend.recommend(run.cases)]
    html = render(report)
    assert html.index('id="recommendation"') < html.index('id="verdicts"')
    charts = [block.chart for block in found.blocks if hasattr(block, "chart")]
    rec = at(run)
    chart = next(c for c in charts if c.id == "pareto-dataframe-100000")
    front = next(line for line in chart.lines if line.label == FRONT)
    assert front.points == tuple((c.median, (c.rss_delta_bytes or 0) / units.MB)
                                 for c in rec.front)
    assert {p.label for p in chart.points} == {c.label for c in rec.cases}


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "report.py", "recommend", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_the_command_prints_the_picks(tmp_path: Path) -> None:
    done = _cli(FIXTURE)
    assert done.returncode == 0, done.stderr
    rec = at(run_with(tmp_path))
    assert rec.sentence in done.stdout
    for row in (recommend.cells(rec, p) for p in rec.picks):
        assert any(line.split() == " ".join(row).split() for line in done.stdout.splitlines())


def test_the_command_merges_runs_later_ones_winning(tmp_path: Path) -> None:
    first = run_with(tmp_path, name="first.json")
    second = run_with(tmp_path, rounds_like("disk", "floor", 2.0), name="second.json")
    assert "): disk is " in _cli(first.path, second.path).stdout
    assert "): disk is " not in _cli(second.path, first.path).stdout


def test_a_bad_file_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    done = _cli(FIXTURE, broken)
    assert done.returncode == 2 and done.stdout == ""
    assert str(broken) in done.stderr and done.stderr.strip().count("\n") == 0


def test_runs_of_two_versions_of_a_workload_are_not_merged(tmp_path: Path) -> None:
    """Their figures would compare one version's work with the other's."""
    first = run_with(tmp_path, heavy_copies("floor", "baseline"), name="first.json")
    second = run_with(tmp_path, heavy_copies("floor", "baseline", digest="heavy-2"),
                      name="second.json")
    done = _cli(first.path, second.path)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "workload heavy is not the one of" in done.stderr
    assert "(its source changed: heavy-1 -> heavy-2)" in done.stderr
    assert _cli(first.path, first.path).returncode == 0


def test_a_difference_within_the_noise_reads_as_none() -> None:
    ref = case("baseline", 1.0, 100)
    assert recommend.time_change(case("a", 0.95, 100), ref) == "as fast"
    assert recommend.time_change(case("a", 0.8, 100), ref) == "x1.2 faster"
    assert recommend.memory_change(case("a", 1.0, 92), ref) == "the same memory"
    assert recommend.memory_change(case("a", 1.0, 80), ref) == "20% less memory"
