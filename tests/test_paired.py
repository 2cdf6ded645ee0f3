"""The paired gate and the side by side report on committed pairs of runs of bin/bench-ab
(tests/data/ab/, made from tests/data/quick-run.json by its make_pairs.py): ``a.json`` and
``b.json`` changed nothing, ``b-slow.json`` made baseline, disk and cached/* 1.25 times
slower. Copies are edited in tmp_path; the command line runs in-process. Nothing here
measures time."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reporting import cli, gate, html, paired
from runfile import CaseRecord, RunError, load

AB = Path(__file__).parent / "data" / "ab"
A, B, B_SLOW = AB / "a.json", AB / "b.json", AB / "b-slow.json"
SLOWED = ("baseline", "disk", "cached/cold", "cached/warm")

Data = dict[str, Any]
Entry = dict[str, Any]


def _json(path: Path) -> Data:
    return json.loads(path.read_text())


def _save(data: Data, path: Path) -> Path:
    path.write_text(json.dumps(data))
    return path


def _entry(data: Data, name: str) -> Entry:
    return next(e for e in data["benchmarks"] if e["param"] == name)


def _name(entry: Entry) -> str:
    return CaseRecord.from_entry(entry).name


def _label(entry: Entry) -> str:
    return CaseRecord.from_entry(entry).label


def _edited(tmp_path: Path, source: Path, edit: Callable[[Data], None], name: str) -> Path:
    data = _json(source)
    edit(data)
    return _save(data, tmp_path / name)


def _cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = cli.main(["check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _check(first: Path, second: Path, **limits: float) -> paired.PairedResult:
    return paired.check(load(first), load(second), **limits)


def _row(result: gate.GateResult, name: str) -> Any:
    return next(row for row in result.rows if row.name == name)


# --- the committed pairs -----------------------------------------------------------------

def test_the_committed_pairs_are_what_make_pairs_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_pairs", AB / "make_pairs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for written in module.main(tmp_path):
        assert written.read_text() == (AB / written.name).read_text(), written.name
    a, b = load(A), load(B)
    assert paired.is_pair(a, b) and paired.is_pair(b, a) and paired.is_pair(a, load(B_SLOW))
    assert all(len(c.paired_blocks or ()) >= 6 for c in a.cases if c.ok)
    assert all(len(c.memory_timeline) <= 5 for c in a.cases)


def test_an_unchanged_pair_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, A, B)
    assert code == 0, out
    assert "REGRESSION" not in out
    assert out.splitlines()[-1] == ("B prefect==3.9.1 against A prefect==3.6.29: no case of "
                                    "28 slower beyond 10% (whole 95% interval)")
    assert out.splitlines()[1].split() == ["case", "A", "B", "B/A", "[95%]", "blocks",
                                           "verdict"]


def test_a_planted_slowdown_fails_exactly_those_cases(capsys: pytest.CaptureFixture[str]) -> None:
    planted = {_name(e) for e in _json(B_SLOW)["benchmarks"]
               if _label(e) in SLOWED and e["extra_info"]["status"] == "ok"}
    code, out, _ = _cli(capsys, A, B_SLOW)
    assert code == 1, out
    result = _check(A, B_SLOW)
    assert {row.name for row in result.regressions} == planted
    assert all(row.on_time == "slower" for row in result.regressions)
    summary = out.splitlines()[-1]
    assert summary.startswith(f"B prefect==3.9.1 against A prefect==3.6.29: {len(planted)} of "
                              "28 cases slower beyond 10% (whole 95% interval): ")
    assert all(name in summary for name in planted)


def test_either_order_gives_the_same_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    forward, backward = _check(A, B_SLOW), _check(B_SLOW, A)
    assert forward.rows == backward.rows and forward.summary == backward.summary
    _, out, _ = _cli(capsys, B_SLOW, A)
    assert out.splitlines()[0] == ("paired runs (bin/bench-ab): A = prefect==3.6.29 (a.json), "
                                   "B = prefect==3.9.1 (b-slow.json); B is gated against A "
                                   "(given in the order B, A)")
    assert _cli(capsys, B_SLOW, A)[0] == _cli(capsys, A, B_SLOW)[0] == 1


def test_max_slowdown_sets_the_paired_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(capsys, A, B_SLOW, "--max-slowdown", "0.3")[0] == 0
    assert _cli(capsys, A, B_SLOW, "--max-slowdown", "0.1")[0] == 1


# --- what is listed, never failed ---------------------------------------------------------

def _blocks(name: str, keep: int) -> Callable[[Data], None]:
    """Leave ``keep`` of the case's blocks (the others None, a round left out)."""
    def edit(data: Data) -> None:
        info = _entry(data, name)["extra_info"]
        info["paired_blocks"] = [x if i < keep else None
                                 for i, x in enumerate(info["paired_blocks"])]
    return edit


def test_fewer_than_six_blocks_is_listed_not_failed(tmp_path: Path) -> None:
    name = "baseline-dataframe-small"
    a = _edited(tmp_path, A, _blocks(name, 5), "a.json")
    result = _check(a, B_SLOW)
    row = _row(result, name)
    assert not row.regression and row.on_time == "too few" and row.blocks == "5"
    assert row.verdict.startswith(f"{paired.TOO_FEW} (5 of 6)")
    assert row.time.interval is None and row.change.endswith("(no interval)")
    assert name in result.too_few and name not in {r.name for r in result.regressions}
    assert f"{paired.TOO_FEW}: {name}" in result.render()
    assert "1 not gated on time (too few blocks)" in result.summary


def test_a_case_not_paired_on_one_side_is_not_gated_on_time(tmp_path: Path) -> None:
    def unpaired(data: Data) -> None:
        _entry(data, "disk-dataframe-small")["extra_info"]["paired_blocks"] = None
    result = _check(A, _edited(tmp_path, B_SLOW, unpaired, "b.json"))
    row = _row(result, "disk-dataframe-small")
    assert not row.regression and row.on_time == "unpaired" and row.blocks == "-"
    assert row.verdict.startswith(paired.NOT_PAIRED)
    assert f"{paired.NOT_PAIRED}: not gated on time: disk-dataframe-small" in result.render()
    assert "1 not gated on time (not paired)" in result.summary
    assert "too few blocks" not in result.summary  # (session 9: it listed them so)


def test_a_case_on_one_side_only_is_listed_not_failed(tmp_path: Path) -> None:
    def drop(name: str) -> Callable[[Data], None]:
        return lambda data: data["benchmarks"].remove(_entry(data, name))
    b = _edited(tmp_path, B, drop("quote-dataframe-small"), "b.json")
    a = _edited(tmp_path, A, drop("nocache-dataframe-small"), "a.json")
    result = _check(a, b)
    assert result.exit_code == 0, result.render()
    assert result.missing == ["quote-dataframe-small"] and result.new == [
        "nocache-dataframe-small"]
    assert "in A only: quote-dataframe-small" in result.render()
    assert "in B only: nocache-dataframe-small" in result.render()


def test_the_floor_is_shown_never_gated_on_time(tmp_path: Path) -> None:
    def slower_floor(data: Data) -> None:
        for entry in data["benchmarks"]:
            if entry["extra_info"]["strategy"] == "floor":
                info = entry["extra_info"]
                info["paired_blocks"] = [x * 3 for x in info["paired_blocks"]]
    result = _check(A, _edited(tmp_path, B, slower_floor, "b.json"))
    assert result.exit_code == 0, result.render()
    row = _row(result, "floor-dataframe-small")
    before = _row(_check(A, B), "floor-dataframe-small").time.estimate
    assert row.verdict == "reference: time not gated"
    assert row.time.estimate == pytest.approx(3 * before) and row.time.interval[0] > 2


def test_a_changed_workload_is_listed_not_gated(tmp_path: Path) -> None:
    """Two commits whose guide workload differs: its cases measure other work. The report
    then shows side B alone below the side by side (the runs cannot be merged)."""
    def changed(data: Data) -> None:
        for entry in data["benchmarks"]:
            entry["extra_info"]["workload_digest"] = "a1b2c3d4e5f6"
    b = _edited(tmp_path, B_SLOW, changed, "b.json")
    result = _check(A, b)
    assert result.exit_code == 0, result.render()
    assert result.changed == [row.name for row in result.rows]
    assert "28 not gated: workload changed" in result.summary
    assert html._shown(load(A), load(b)) == [load(b)]


# --- status and memory ---------------------------------------------------------------------

def _status(name: str, status: str, reason: str | None) -> Callable[[Data], None]:
    def edit(data: Data) -> None:
        _entry(data, name)["extra_info"].update(status=status, reason=reason, evidence=None,
                                                paired_blocks=None)
    return edit


def test_a_lever_that_stopped_taking_effect_is_the_headline(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = _edited(tmp_path, B, _status("quote-dataframe-small", "not_applied",
                                     "the flow's tasks still introspected the frame"), "b.json")
    code, out, _ = _cli(capsys, A, b)
    assert code == 1, out
    headline, summary = out.splitlines()[-2:]
    assert headline == ("HEADLINE: 1 lever stopped taking effect in B prefect==3.9.1 (ok in "
                        "A, not_applied in B): quote-dataframe-small (the flow's tasks still "
                        "introspected the frame)")
    assert "1 broken: quote-dataframe-small now not_applied" in summary
    assert _check(A, b).summary.splitlines()[0] == headline
    assert _row(_check(A, b), "quote-dataframe-small").status_change == "ok -> not_applied"


@pytest.mark.parametrize("status", ["failed", "timeout"])
def test_ok_then_broken_fails_without_a_headline(tmp_path: Path, status: str) -> None:
    b = _edited(tmp_path, B, _status("disk-dataframe-small", status, "boom"), "b.json")
    result = _check(A, b)
    assert [row.name for row in result.regressions] == ["disk-dataframe-small"]
    assert result.headline is None and "\n" not in result.summary


def test_a_lever_taking_effect_again_is_reported_not_failed(tmp_path: Path) -> None:
    a = _edited(tmp_path, A, _status("quote-dataframe-small", "not_applied", "why"), "a.json")
    result = _check(a, B)
    assert result.exit_code == 0, result.render()
    row = _row(result, "quote-dataframe-small")
    assert row.verdict == "fixed (was not_applied)" and row.status_change == "not_applied -> ok"


def test_memory_is_gated_as_by_the_unpaired_gate(tmp_path: Path) -> None:
    name = "s3-dataframe-small"

    def hungrier(data: Data) -> None:
        info = _entry(data, name)["extra_info"]
        info["peak_rss_bytes"] += info["rss_delta_bytes"] // 2
        info["rss_delta_bytes"] += info["rss_delta_bytes"] // 2
    result = _check(A, _edited(tmp_path, B, hungrier, "b.json"))
    assert [row.name for row in result.regressions] == [name]
    assert "REGRESSION: memory +50%" in _row(result, name).verdict
    assert f"1 grew in memory: {name} memory +50%" in result.summary
    assert _check(A, _edited(tmp_path, B, hungrier, "b2.json"),
                  max_memory_growth=0.6).exit_code == 0


# --- what is not a pair --------------------------------------------------------------------

def _unpaired(data: Data) -> None:
    del data["bench"]["pairing"]


def test_runs_that_are_not_a_pair_use_the_unpaired_gate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without pairing, x1.25 is well within the unpaired gate's default (0.9)."""
    a = _edited(tmp_path, A, _unpaired, "a.json")
    b = _edited(tmp_path, B_SLOW, _unpaired, "b.json")
    code, out, _ = _cli(capsys, a, b)
    assert code == 0, out
    assert out.splitlines()[0].split() == list(gate.HEADERS)
    assert out.splitlines()[-1] == "no regression in 28 cases"

    def other_job(data: Data) -> None:
        data["bench"]["pairing"]["id"] = "another job"
    assert not paired.is_pair(load(A), load(_edited(tmp_path, B_SLOW, other_job, "c.json")))
    assert not paired.is_pair(load(A), load(A))
    with pytest.raises(RunError, match="not the other side"):
        paired.check(load(A), load(a))


def test_blocks_that_do_not_align_are_a_one_line_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def longer(data: Data) -> None:
        _entry(data, "quote-dataframe-small")["extra_info"]["paired_blocks"].append(0.1)
    code, out, err = _cli(capsys, A, _edited(tmp_path, B, longer, "b.json"))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "quote-dataframe-small" in err and "not aligned" in err


# --- the statistic --------------------------------------------------------------------------

def test_the_estimate_is_the_geometric_mean_of_the_block_ratios() -> None:
    found = paired.paired_time("x", [1.0, 2.0, None, 4.0, 1.0, 1.0, 1.0],
                               [1.1, 2.2, 3.0, 4.4, 1.1, 1.1, 1.1])
    assert found.blocks == 6 and found.estimate == pytest.approx(1.1)
    assert found.interval == pytest.approx((1.1, 1.1))
    mixed = paired.paired_time("x", [1.0] * 6, [1.0, 4.0, 1.0, 4.0, 1.0, 4.0])
    assert mixed.estimate == pytest.approx(2.0)  # exp(mean(log ratios)), not their mean
    low, high = mixed.interval or (0, 0)
    assert 1.0 <= low < 2.0 < high <= 4.0


def test_the_interval_is_reproducible() -> None:
    a, b = [1.0, 1.1, 0.9, 1.0, 1.2, 0.95], [1.05, 1.0, 1.1, 1.3, 1.1, 1.0]
    first = paired.paired_time("quote-dataframe-small", a, b)
    assert first == paired.paired_time("quote-dataframe-small", a, b)
    low, high = first.interval or (0, 0)
    assert low < first.estimate < high
    assert paired.paired_time("x", a[:2], b[:2]).interval is None


# --- the HTML report ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair_report(tmp_path_factory: pytest.TempPathFactory) -> html.Report:
    """The report of the slow pair, given as B, A; B's Prefect defaults differ. Charts are
    not drawn (tests/test_report.py checks them): it keeps this file fast."""
    folder = tmp_path_factory.mktemp("pair")
    data = _json(B_SLOW)
    data["bench"]["prefect_defaults"]["flows.heartbeat_frequency"] = "None"
    b = load(_save(data, folder / "b-slow.json"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(html.charts, "render", lambda chart, palette: "<svg></svg>")
        return html.build([b, load(A)])


def _section(report: html.Report, section_id: str) -> html.Section:
    return next(s for s in (*report.leading, *report.sections) if s.id == section_id)


def test_the_report_of_a_pair_sets_b_against_a(pair_report: html.Report) -> None:
    assert [s.id for s in pair_report.leading] == ["recommendation", "side-by-side"]
    section = _section(pair_report, "side-by-side")
    cases, settings = section.blocks
    assert isinstance(cases, html.Table) and isinstance(settings, html.Table)
    result = _check(A, B_SLOW)
    assert [row[0] for row in cases.rows] == [row.name for row in result.rows]
    assert [row[3] for row in cases.rows] == [row.change for row in result.rows]
    assert cases.marked == tuple(row.regression for row in result.rows) and any(cases.marked)
    assert section.findings == result.summary.splitlines()
    assert "The sections below show side B's (prefect==3.9.1)" in " ".join(section.notes)
    assert ("versions.prefect", "3.6.29", "3.9.1") in settings.rows
    assert ("prefect_defaults.flows.heartbeat_frequency", "180", "None") in settings.rows
    assert ("package cyclopts", "absent", "4.2.1") in settings.rows
    assert "5 packages differ" in settings.caption
    text = html.render(pair_report)
    assert 'id="side-by-side"' in text and "prefect==3.6.29" in text
    assert "<script" not in text


def test_the_rest_of_the_report_shows_side_b(pair_report: html.Report) -> None:
    b = load(B_SLOW)
    time_table = next(t for t in _section(pair_report, "time").blocks
                      if isinstance(t, html.Table))
    medians = {(row[0], row[1], row[2].replace(",", "")): row[3] for row in time_table.rows}
    for case in b.cases:
        if case.ok:
            assert medians[(case.label, case.shape, str(case.rows))] == \
                html.units.seconds(case.median)
    environment = _section(pair_report, "environment")
    assert [t.caption for t in environment.blocks] == ["a.json", "b-slow.json"]


def test_changed_status_rows_are_marked(tmp_path: Path) -> None:
    b = load(_edited(tmp_path, B, _status("quote-dataframe-small", "not_applied", "why"),
                     "b.json"))
    a = load(_edited(tmp_path, A, _status("disk-dataframe-small", "failed", "boom"), "a.json"))
    section = html._side_by_side_section(a, b, [a, b])
    cases = section.blocks[0]
    assert isinstance(cases, html.Table)
    marked = {row[0] for row, mark in zip(cases.rows, cases.marked, strict=True) if mark}
    assert marked == {"quote-dataframe-small", "disk-dataframe-small"}
    assert section.findings[0].startswith("HEADLINE: 1 lever stopped taking effect")


def test_at_most_forty_differing_packages_are_listed(tmp_path: Path) -> None:
    def many(version: str) -> Callable[[Data], None]:
        def edit(data: Data) -> None:
            data["bench"]["packages"] = {f"pkg{i:02d}": version for i in range(50)}
        return edit
    a = load(_edited(tmp_path, A, many("1.0"), "a.json"))
    b = load(_edited(tmp_path, B, many("2.0"), "b.json"))
    settings = html._differences_table(a, b)
    packages = [row for row in settings.rows if row[0].startswith("package ")]
    assert len(packages) == paired.MAX_PACKAGES
    assert settings.rows[-1][0] == "and 10 more packages" and "50 packages" in settings.caption



# --- real pairs: two bin/bench-ab jobs of 2026-12-02 (tests/data/ab/real/) ----------------

REAL = Path(__file__).parent / "data" / "ab" / "real"
"""``same-*``: the same commit on both sides; ``planted-*``: side B a commit that makes
``baseline``, ``disk`` and ``cached`` 1.25x slower (busy work after each flow run). Quick
profile, ``-k "dataframe and (baseline or disk or cold) and not combined"``."""


def test_a_real_pair_of_the_same_commit_passes() -> None:
    result = paired.check(load(REAL / "same-A.json"), load(REAL / "same-B.json"))
    assert result.exit_code == 0 and not result.regressions
    assert all(row.time.blocks == 10 for row in result.rows)


def test_a_real_pair_with_a_planted_slowdown_fails_naming_its_cases() -> None:
    result = paired.check(load(REAL / "planted-A.json"), load(REAL / "planted-B.json"))
    assert result.exit_code == 1
    assert {row.name for row in result.regressions} == {
        "baseline-dataframe-small", "disk-dataframe-small", "cached/cold-dataframe-small"}
    assert "against A commit" in result.summary
