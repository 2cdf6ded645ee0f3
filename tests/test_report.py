"""The HTML report, built from a real recorded quick run (``tests/data/quick-run.json``).

Tests edit copies of that run (drop a strategy, fail a case, scale a case's rounds) and check
what the report then says; expected figures are computed from the run, never typed in.
"""

from __future__ import annotations

import copy
import json
import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import runfile
from reporting import breakdown, charts, units, verdicts
from reporting.cases import Place, groups
from reporting.html import Figure, Report, Table, build, merge, render, write_report
from runfile import Run, case_name, load

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "data" / "quick-run.json"
SCRIPT = "<script>alert(1)</script>"

Edit = Callable[[dict[str, Any]], None]


def label_of(entry: dict[str, Any]) -> str:
    info = entry["extra_info"]
    return f"{info['strategy']}/{info['variant']}" if info["variant"] else info["strategy"]


def entries(data: dict[str, Any], label: str, shape: str | None = None) -> list[dict[str, Any]]:
    """The benchmark entries of ``label`` (and ``shape``) in a run's JSON."""
    return [e for e in data["benchmarks"]
            if label_of(e) == label and shape in (None, e["extra_info"]["shape"])]


def run_with(tmp_path: Path, *edits: Edit, name: str = "run.json") -> Run:
    """The fixture run after ``edits`` to its JSON, saved under ``tmp_path`` and loaded."""
    data = json.loads(FIXTURE.read_text())
    for edit in edits:
        edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return load(path)


def drop(label: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        data["benchmarks"] = [e for e in data["benchmarks"] if label_of(e) != label]
    return edit


def set_status(label: str, shape: str, status: str, reason: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for entry in entries(data, label, shape):
            entry["extra_info"].update(status=status, reason=reason)
    return edit


def rounds_like(label: str, reference: str, factor: float) -> Edit:
    """Make ``label``'s rounds ``factor`` times ``reference``'s, on every shape."""
    def edit(data: dict[str, Any]) -> None:
        for entry in entries(data, label):
            shape = entry["extra_info"]["shape"]
            base = entries(data, reference, shape)[0]["stats"]["data"]
            entry["stats"]["data"] = [x * factor for x in base]
    return edit


def table_labels(report: Report) -> set[str]:
    """Every cell of every table outside the environment section."""
    return {str(cell) for section in (*report.leading, *report.sections)
            if section.id != "environment" for block in section.blocks
            if isinstance(block, Table) for row in block.rows for cell in row}


def verdict(report: Report, claim: Callable[..., verdicts.Verdict],
            workload: str = "guide") -> verdicts.Verdict:
    return report.verdict(claim([]).claim, workload)


def heavy_copies(*labels: str, factor: float = 1.0, digest: str = "heavy-1",
                 shape: str = "dataframe") -> Edit:
    """Make the run format 4 (its cases the guide's) and add a ``heavy`` copy of the
    ``shape`` cases of ``labels``, their rounds ``factor`` times the guide's."""
    def edit(data: dict[str, Any]) -> None:
        data["bench"]["format_version"] = 4
        for entry in data["benchmarks"]:
            entry["extra_info"].setdefault("workload", "guide")
            entry["extra_info"].setdefault("workload_digest", "guide-1")
        for label in labels:
            for entry in entries(data, label, shape):
                if entry["extra_info"]["workload"] == "guide":
                    copied = slower_copy(entry, factor)
                    copied["extra_info"].update(workload="heavy", workload_digest=digest)
                    copied["param"] = f"heavy:{copied['param']}"
                    data["benchmarks"].append(copied)
    return edit


@pytest.fixture(scope="module")
def quick() -> Run:
    return load(FIXTURE)


@pytest.fixture(scope="module")
def report(quick: Run) -> Report:
    return build([quick])


def test_fixture_is_a_real_quick_run(quick: Run) -> None:
    assert quick.bench["profile"] == "quick" and quick.bench["complete"]
    labels = {case.label for case in quick.cases}
    assert {"floor", "baseline", "quote", "compressed/none", "cached/warm"} <= labels
    assert {case.shape for case in quick.cases} == {"dataframe", "records"}


def test_every_verdict_always(report: Report, tmp_path: Path) -> None:
    assert [[v.claim for v in row] for row in report.verdicts] == [
        [c([]).claim] for c in verdicts.CLAIMS]
    empty = build([run_with(tmp_path, *(drop(c.label) for c in load(FIXTURE).cases
                                         if c.label != "floor"))])
    assert len(empty.verdicts) == len(verdicts.CLAIMS) == 7
    assert {v.outcome for row in empty.verdicts for v in row} == {verdicts.NOT_MEASURED}
    assert all(v.figure.startswith("missing:") for row in empty.verdicts for v in row)


def test_quote_figure_is_the_measured_medians(quick: Run, report: Report) -> None:
    found = verdict(report, verdicts.quote)
    for case in quick.cases:
        if case.label in ("quote", "baseline"):
            assert units.seconds(case.median) in found.figure
            assert case.name in found.cases


def test_verdict_follows_the_data(tmp_path: Path) -> None:
    faster = build([run_with(tmp_path, rounds_like("quote", "baseline", 0.2))])
    slower = build([run_with(tmp_path, rounds_like("quote", "baseline", 5.0))])
    same = build([run_with(tmp_path, rounds_like("quote", "baseline", 1.0))])
    assert verdict(faster, verdicts.quote).outcome == verdicts.HOLDS
    assert "x5 faster than baseline" in verdict(faster, verdicts.quote).figure
    assert verdict(slower, verdicts.quote).outcome == verdicts.FAILS
    assert verdict(same, verdicts.quote).outcome == verdicts.FAILS
    assert "no change in time" in verdict(same, verdicts.quote).figure


def test_holds_only_when_names_the_condition(tmp_path: Path) -> None:
    def quote_faster_on_records_only(data: dict[str, Any]) -> None:
        rounds_like("quote", "baseline", 1.0)(data)
        for entry in entries(data, "quote", "records"):
            entry["stats"]["data"] = [x * 0.2 for x in entry["stats"]["data"]]

    found = verdict(build([run_with(tmp_path, quote_faster_on_records_only)]), verdicts.quote)
    assert found.outcome.startswith("holds only when")
    assert "records" in found.outcome and "dataframe" not in found.outcome


def test_deleting_a_strategy_removes_it_everywhere(tmp_path: Path, report: Report) -> None:
    assert any("quote" in chart.labels for chart in report.charts())
    without = build([run_with(tmp_path, drop("quote"))])
    for chart in without.charts():
        assert "quote" not in chart.labels, chart.id
    assert "quote" not in table_labels(without)
    found = verdict(without, verdicts.quote)
    assert found.outcome == verdicts.NOT_MEASURED
    assert "quote" in found.figure and found.cases == ()
    others = [v for row in without.verdicts for v in row if v is not found]
    assert all("quote" not in name for v in others for name in v.cases)


def test_cases_not_ok_are_never_evidence(tmp_path: Path) -> None:
    failed = build([run_with(tmp_path, set_status("baseline", "records", "failed", "boom"))])
    found = verdict(failed, verdicts.quote)
    assert not any("records" in name for name in found.cases)
    assert "records" not in found.figure
    assert any("baseline-records" in name and "failed" in name for name in found.left_out)
    time_charts = [c for c in failed.charts() if c.id.startswith("time-records")]
    assert time_charts and all("baseline" not in c.labels for c in time_charts)


def test_compression_compares_with_the_uncompressed_control(quick: Run, report: Report,
                                                            tmp_path: Path) -> None:
    found = verdict(report, verdicts.compression)
    control = next(c for c in quick.cases if c.label == "compressed/none")
    ok = [c for c in quick.cases if c.strategy == "compressed" and c.ok and c is not control]
    assert ok and all(case.name in found.cases for case in ok)
    assert units.megabytes(control.stored_bytes) in found.figure
    not_ok = [c for c in quick.cases if c.strategy == "compressed" and not c.ok]
    assert all(any(c.name in name for name in found.left_out) for c in not_ok)
    without_control = build([run_with(tmp_path, drop("compressed/none"))])
    assert verdict(without_control, verdicts.compression).outcome == verdicts.NOT_MEASURED


def test_text_from_runs_is_escaped(tmp_path: Path) -> None:
    run = run_with(tmp_path, set_status("quote", "records", "failed", SCRIPT))
    html = render(build([run]))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()


def test_report_is_self_contained(report: Report) -> None:
    html = render(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"""url\(\s*["']?[^#"'\s]""", html) and "@import" not in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids repeat across the inline SVGs"
    assert html.count("<svg") == len(report.charts())
    assert "default-src 'none'" in html


def test_a_label_has_one_colour_in_every_chart(report: Report, quick: Run) -> None:
    palette = charts.Palette(case.label for case in quick.cases)
    assert charts.Palette(["b", "a", "b"]).colours == {"a": charts.COLOURS[0],
                                                       "b": charts.COLOURS[1]}
    for block in (b for s in report.sections for b in s.blocks if isinstance(b, Figure)):
        if block.chart.stacks:  # coloured by category, the same in every breakdown chart
            for index, name in enumerate(runfile.TIME_CATEGORIES):
                if any(dict(stack.parts)[name] for stack in block.chart.stacks):
                    assert charts.CATEGORY_COLOURS[index] in block.svg, (block.chart.id, name)
            continue
        for label in block.chart.labels:
            assert palette[label] in block.svg, (block.chart.id, label)
    assert len(set(palette.colours.values())) == len(palette.colours)


def test_log_scale_only_when_values_span_orders_of_magnitude(quick: Run) -> None:
    for key, cases in groups(quick.cases).items():
        chart = charts.time_chart(key, cases)
        values = [bar.value for bar in chart.bars] + [chart.reference[1]]
        assert chart.log_x == (max(values) >= charts.LOG_SPAN * min(values))
    narrow = charts.time_chart(Place("guide", "dataframe", 1), [
        c for c in quick.cases if c.label in ("baseline", "quote") and c.shape == "dataframe"])
    assert not narrow.log_x and narrow.reference is None


def test_time_table_has_ratios_to_floor_and_baseline(quick: Run, report: Report) -> None:
    time = next(s for s in report.sections if s.id == "time")
    table = next(b for b in time.blocks if isinstance(b, Table))
    assert table.headers[-2:] == ("x floor", "x baseline")
    by_label = {(row[0], row[1]): row for row in table.rows}
    for case in quick.cases:
        floor = quick.reference(case, "floor")
        if case.ok and floor:
            row = by_label[(case.label, case.shape)]
            assert row[-2] == units.ratio(case.median / floor.median)


def scaled_copies(data: dict[str, Any]) -> None:
    """Add the dataframe cases at 10x and 100x rows with 10x and 100x time and memory."""
    originals = [e for e in data["benchmarks"] if e["extra_info"]["shape"] == "dataframe"]
    for factor in (10, 100):
        for entry in originals:
            copied = slower_copy(entry, factor)
            info = copied["extra_info"]
            info["rows"] *= factor
            if info["rss_delta_bytes"] is not None:
                info["rss_delta_bytes"] *= factor
            data["benchmarks"].append(copied)


def slower_copy(entry: dict[str, Any], factor: float) -> dict[str, Any]:
    """A deep copy of a benchmark entry with every round ``factor`` times as long."""
    copied = copy.deepcopy(entry)
    copied["stats"]["data"] = [x * factor for x in copied["stats"]["data"]]
    return copied


def nocache_like_baseline(factor: float) -> Edit:
    """Add ``nocache`` cases made from ``baseline``'s, ``factor`` times its time."""
    def edit(data: dict[str, Any]) -> None:
        for entry in entries(data, "baseline"):
            copied = slower_copy(entry, factor)
            copied["extra_info"]["strategy"] = "nocache"
            copied["param"] = copied["param"].replace("baseline", "nocache", 1)
            data["benchmarks"].append(copied)
    return edit


def test_the_default_cache_policy_claim_follows_the_data(tmp_path: Path) -> None:
    costly = verdict(build([run_with(tmp_path, nocache_like_baseline(0.2))]),
                     verdicts.default_cache_policy)
    assert costly.outcome.startswith("holds in part: costs time"), costly
    assert "baseline-dataframe-small" in costly.cases and "nocache-records-tiny" in costly.cases
    free = verdict(build([run_with(tmp_path, nocache_like_baseline(1.0))]),
                   verdicts.default_cache_policy)
    assert free.outcome == verdicts.FAILS, free


def test_scaling_needs_three_sizes(report: Report, tmp_path: Path) -> None:
    scaling = next(s for s in report.sections if s.id == "scaling")
    assert not scaling.blocks and "at least three" in scaling.notes[-1]
    scaled = build([run_with(tmp_path, scaled_copies)])
    section = next(s for s in scaled.sections if s.id == "scaling")
    time, memory = (b.chart for b in section.blocks if isinstance(b, Figure))
    assert time.log_x and time.log_y and memory.log_x and memory.log_y
    table = next(b for b in section.blocks if isinstance(b, Table))
    for row in table.rows:
        assert row[2] == "3" and row[3] == "1.00", row
    assert "quote" in {row[0] for row in table.rows}


def test_growth_exponent() -> None:
    assert charts.growth_exponent([(1, 1), (10, 100), (100, 10_000)]) == pytest.approx(2.0)
    assert charts.growth_exponent([(1, 1), (10, 100)]) is None


def test_later_run_replaces_earlier_cases_and_both_are_listed(tmp_path: Path) -> None:
    first = run_with(tmp_path, name="first.json")
    second = run_with(tmp_path, drop("floor"), rounds_like("quote", "baseline", 0.2),
                      name="second.json")
    merged = merge([first, second])
    assert len(merged.cases) == len(first.cases)
    assert {c.label for c in merged.cases} >= {"floor"}
    quote = next(c for c in merged.cases if c.label == "quote")
    assert quote == next(c for c in second.cases if c.label == "quote")
    report = build([first, second])
    environment = next(s for s in report.sections if s.id == "environment")
    assert [t.caption for t in environment.blocks] == ["first.json", "second.json"]
    assert "2 runs merged" in report.intro


def test_write_report_is_atomic_and_returns_the_path(tmp_path: Path, quick: Run) -> None:
    out = tmp_path / "new" / "report.html"
    assert write_report([quick], None, out) == out
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_baseline_section_renders_the_gate_rows(tmp_path: Path) -> None:
    gate = pytest.importorskip("reporting.gate")
    baseline = run_with(tmp_path, name="baseline.json")
    now = run_with(tmp_path, rounds_like("disk", "disk", 5.0), name="now.json")
    report = build([now], baseline)
    section = next(s for s in report.sections if s.id == "baseline")
    table = next(b for b in section.blocks if isinstance(b, Table))
    result = gate.check(baseline, now)
    assert [row[0] for row in table.rows] == [row.name for row in result.rows]
    assert table.marked == tuple(row.regression for row in result.rows)
    assert any(table.marked) and result.summary in " ".join(section.notes)
    assert 'class="marked"' in render(report)
    assert "baseline" not in [s.id for s in build([now]).sections]


def test_command_line_writes_the_report(tmp_path: Path) -> None:
    pytest.importorskip("reporting.gate")
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "report.py", "html", str(FIXTURE), "--baseline",
                           str(FIXTURE), "-o", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out) and out.stat().st_size > 0


def scale_out_copies(data: dict[str, Any]) -> None:
    """Add parallel/dask-w1 and -w2 (frames and paths) made from parallel/dask, the paths
    series twice as fast on two workers, the frames series no faster."""
    dask = entries(data, "parallel/dask", "dataframe")[0]
    for workers, movement, factor in ((1, "frames", 1.0), (2, "frames", 1.0),
                                      (1, "paths", 1.0), (2, "paths", 0.5)):
        copied = slower_copy(dask, factor)
        info = copied["extra_info"]
        info["variant"] = f"dask-w{workers}" + ("-paths" if movement == "paths" else "")
        copied["param"] = case_name("parallel", info["variant"], "dataframe", "small")
        info["runner"] = {"runner": "dask", "workers": workers, "movement": movement,
                          "cluster": f"started by the harness: {workers} worker(s)"}
        data["benchmarks"].append(copied)


def test_speedup_and_efficiency_against_workers(report: Report, tmp_path: Path) -> None:
    section = next(s for s in report.sections if s.id == "speedup")
    assert not section.blocks and "--bench-scale-out" in section.notes[-1]
    scaled = build([run_with(tmp_path, scale_out_copies)])
    section = next(s for s in scaled.sections if s.id == "speedup")
    chart = next(b.chart for b in section.blocks if isinstance(b, Figure))
    lines = {line.label: line.points for line in chart.lines}
    assert lines["parallel/dask-w*-paths"] == ((1.0, 1.0), (2.0, 2.0))
    assert lines["parallel/dask-w*"] == ((1.0, 1.0), (2.0, 1.0))
    assert lines["ideal (linear)"] == ((1.0, 1.0), (2.0, 2.0))
    table = next(b for b in section.blocks if isinstance(b, Table))
    two = {row[0]: row for row in table.rows if row[3] == "2"}
    assert two["parallel/dask-w*-paths"][5:7] == ("x2", "1.00")
    assert two["parallel/dask-w*"][5:7] == ("x1", "0.50")
    assert "cores" in section.notes[0]


def predicted(label: str, shape: str, peak: int, seconds: float) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for entry in entries(data, label, shape):
            entry["extra_info"]["prediction"] = {
                "rows": entry["extra_info"]["rows"], "peak_rss_bytes": peak,
                "rss_delta_bytes": peak // 2, "seconds": seconds, "from_rows": [1, 10]}
    return edit


def test_predictions_are_set_against_what_was_measured(report: Report, tmp_path: Path) -> None:
    assert "predictions" not in {s.id for s in report.sections}
    run = run_with(tmp_path, predicted("baseline", "dataframe", 3_000_000_000, 12.5),
                   set_status("quote", "dataframe", "skipped", "not run at 10 rows: ..."),
                   predicted("quote", "dataframe", 9_000_000_000, 700.0))
    section = next(s for s in build([run]).sections if s.id == "predictions")
    [table] = section.blocks
    assert isinstance(table, Table)
    rows = {row[0]: row for row in table.rows}
    baseline = next(c for c in run.cases if c.label == "baseline" and c.shape == "dataframe")
    assert rows[baseline.name][1:] == ("ok", "3000.0 MB", units.megabytes(baseline.peak_rss_bytes),
                                       "12.5 s", units.seconds(baseline.median))
    quote = next(c for c in run.cases if c.label == "quote" and c.shape == "dataframe")
    assert rows[quote.name][1:] == ("skipped", "9000.0 MB", units.megabytes(quote.peak_rss_bytes),
                                    "700 s", "-")


def bigger_size(rows: int, quote_factor: float) -> Edit:
    """Add a second dataframe size: baseline and quote copied at ``rows`` rows, quote
    taking ``quote_factor`` times baseline's rounds there."""
    def edit(data: dict[str, Any]) -> None:
        base = entries(data, "baseline", "dataframe")[0]
        for label, factor in (("baseline", 1.0), ("quote", quote_factor)):
            copied = slower_copy(base, factor)
            copied["extra_info"].update(strategy=label, rows=rows)
            copied["param"] = case_name(label, None, "dataframe", "medium")
            data["benchmarks"].append(copied)
    return edit


def test_a_verdict_says_from_which_size_it_holds(tmp_path: Path) -> None:
    """Move the crossing in a copy of a run and the line moves with it."""
    same_small = rounds_like("quote", "baseline", 1.0)
    found = verdict(build([run_with(tmp_path, same_small, bigger_size(1_000_000, 0.3))]),
                    verdicts.quote)
    assert "dataframe: holds from 1,000,000 rows (not at 100,000 rows)" in found.by_size
    found = verdict(build([run_with(tmp_path, rounds_like("quote", "baseline", 0.3),
                                    bigger_size(1_000_000, 1.0))]), verdicts.quote)
    assert "dataframe: holds up to 100,000 rows (not at 1,000,000 rows)" in found.by_size
    found = verdict(build([run_with(tmp_path, same_small, bigger_size(1_000_000, 1.0))]),
                    verdicts.quote)
    assert "dataframe: does not hold at any size up to 1,000,000 rows" in found.by_size


@pytest.mark.parametrize(("judged", "says"), [
    ([(10, "holds")], "holds at 10 rows (the one size measured)"),
    ([(10, "holds"), (20, "holds")], "holds at every size measured, 10 to 20 rows"),
    ([(10, "does not hold"), (20, "holds"), (30, "holds")],
     "holds from 20 rows (not at 10 rows)"),
    ([(10, "does not hold"), (20, "does not hold"), (30, "holds")],
     "holds from 30 rows (not at 10 or 20 rows)"),
    ([(10, "holds"), (20, "does not hold")], "holds up to 10 rows (not at 20 rows)"),
    ([(10, "holds"), (20, "does not hold"), (30, "holds")],
     "holds at 10 and 30 rows (not at 20)"),
    ([(10, "holds only when run using x"), (20, "does not hold")],
     "does not hold fully at any size up to 20 rows"),
])
def test_from_which_size(judged: list[tuple[int, str]], says: str) -> None:
    assert verdicts.from_which_size(judged) == says


def test_the_by_size_line_of_a_claim_on_several_cases_is_per_case(tmp_path: Path) -> None:
    found = verdict(build([run_with(tmp_path)]), verdicts.compression)
    assert "compressed/pickle on dataframe: holds at 100,000 rows" in found.by_size
    assert "compressed/zstd on dataframe: " in found.by_size


def section(report: Report, section_id: str) -> Any:
    return next(s for s in report.sections if s.id == section_id)


def test_where_the_time_and_memory_go(quick: Run, report: Report) -> None:
    """One time and one memory chart per shape and size, stacks in the categories' order,
    a table row per profiled case; the records shape's memory is said to be left out."""
    found = section(report, "breakdown")
    figures = [b for b in found.blocks if isinstance(b, Figure)]
    profiled = [c for c in quick.cases if c.ok and c.time_breakdown]
    assert profiled and any(c.memory_breakdown for c in profiled)
    for case in profiled:
        chart = next(f.chart for f in figures if f.chart.id.startswith("breakdown-time")
                     and f"{case.shape}" in f.chart.id and str(case.rows) in f.chart.id
                     and case.label in f.chart.labels)
        stack = next(s for s in chart.stacks if s.label == case.label)
        assert [name for name, _ in stack.parts] == list(runfile.TIME_CATEGORIES)
        assert sum(v for _, v in stack.parts) == pytest.approx(breakdown.time_sum(case))
    table = next(b for b in found.blocks if isinstance(b, Table))
    records = [row for row in table.rows if row[1] == "records"]
    assert records and all("memory not broken down" in row[-1] for row in records)


def breakdown_scaled(label: str, shape: str, factor: float) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for entry in entries(data, label, shape):
            seconds = entry["extra_info"]["time_breakdown"]
            median = statistics.median(entry["stats"]["data"])
            total = sum(seconds.values())
            entry["extra_info"]["time_breakdown"] = {
                k: v / total * median * factor for k, v in seconds.items()}
    return edit


def test_a_breakdown_far_from_the_median_is_said(tmp_path: Path) -> None:
    name = case_name("baseline", None, "dataframe", "small")

    def named_off(factor: float) -> list[str]:
        built = build([run_with(tmp_path, breakdown_scaled("baseline", "dataframe", factor))])
        notes = section(built, "breakdown").notes
        note = next((n for n in notes if n.startswith("The sampled run's seconds")), "")
        return note.split("median for: ")[-1].split(";")[0].split(", ") if note else []

    assert name not in named_off(1.1)
    assert name in named_off(1.3)
    far = section(build([run_with(tmp_path, breakdown_scaled("baseline", "dataframe", 1.3))]),
                  "breakdown")
    table = next(b for b in far.blocks if isinstance(b, Table))
    marked = {row[0] for row, flag in zip(table.rows, table.marked, strict=True)
              if flag and row[1] == "dataframe"}
    assert "baseline" in marked


def test_a_run_without_breakdowns_says_so() -> None:
    older = load(ROOT / "results" / "findings-2026-12-01-standard.json")  # format 2
    found = section(build([older]), "breakdown")
    assert not found.blocks and "No case of this run was profiled" in found.notes[-1]


# --- workloads ------------------------------------------------------------------------------

def test_a_run_of_the_guide_alone_names_no_workload(report: Report) -> None:
    assert not report.name_workloads
    headers = [block.headers for s in (*report.leading, *report.sections)
               for block in s.blocks if isinstance(block, Table)]
    assert all("workload" not in h for h in headers)
    assert section(report, "time").blocks[-1].headers[:3] == ("strategy", "shape", "rows")
    assert not any("guide" in chart.title for chart in report.charts())
    assert "<th>workload</th>" not in render(report)


def test_verdicts_are_judged_per_workload(tmp_path: Path) -> None:
    """Quote and caching hold on heavy only; each verdict rests on its own workload's cases."""
    run = run_with(tmp_path, rounds_like("quote", "baseline", 1.0),
                   heavy_copies("floor", "baseline", "cached/cold"),
                   heavy_copies("quote", factor=0.2), heavy_copies("cached/warm", factor=0.05))
    report = build([run])
    assert report.name_workloads
    assert all([v.workload for v in row] == ["guide", "heavy"] for row in report.verdicts)
    for claim in (verdicts.quote, verdicts.caching):
        guide, heavy = verdict(report, claim), verdict(report, claim, "heavy")
        assert guide.outcome != verdicts.HOLDS and heavy.outcome == verdicts.HOLDS, claim
        assert heavy.cases and all(name.startswith("heavy:") for name in heavy.cases)
        assert guide.cases and not any(name.startswith("heavy:") for name in guide.cases)
    assert verdict(report, verdicts.task_runner, "heavy").outcome == verdicts.NOT_MEASURED
    assert verdict(report, verdicts.task_runner).outcome != verdicts.NOT_MEASURED
    html = render(report)
    assert "<th>workload</th>" in html and f'rowspan="2">{verdicts.quote([]).claim}' in html


def test_tables_and_charts_compare_within_a_workload(tmp_path: Path) -> None:
    """heavy's floor is 10x the guide's: heavy's x floor is read against heavy's floor."""
    run = run_with(tmp_path, heavy_copies("baseline"), heavy_copies("floor", factor=10.0))
    report = build([run])
    table = section(report, "time").blocks[-1]
    assert table.headers[:4] == ("strategy", "workload", "shape", "rows")
    rows = {(row[0], row[1], row[2]): row for row in table.rows}
    for case in run.cases:
        if case.label == "baseline" and case.shape == "dataframe":
            floor = run.reference(case, "floor")
            assert floor is not None and floor.workload == case.workload
            row = rows[("baseline", case.workload, "dataframe")]
            assert row[table.headers.index("x floor")] == units.ratio(case.median / floor.median)
    heavy_time = next(c for c in report.charts() if c.id == "time-heavy-dataframe-100000")
    assert heavy_time.title == "Time, heavy, dataframe, 100k rows"
    assert heavy_time.labels == ["baseline", "floor"]
    assert any(c.title == "Time, guide, dataframe, 100k rows" for c in report.charts())
    html = render(report)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)) and html.count("<svg") == len(report.charts())
    assert "Workloads: guide, heavy." in report.intro
