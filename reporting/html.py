"""The HTML report: runs -> sections of tables and charts -> one self-contained file.

``build`` turns runs into a ``Report`` (plain data: the recommendation, verdicts,
``Table``s, ``Figure``s whose ``Chart`` a test can read); ``render`` fills
``templates/report.html.j2`` (Jinja2, autoescape on: every text from a run is escaped);
``write_report`` writes it atomically. Cases are compared and grouped within one workload:
when a run has another workload than the guide's, tables get a workload column, chart
titles and verdict rows name it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reporting import breakdown, charts, paired, recommend, speedup, units
from reporting.cases import Place, groups, merge, name_workloads, workloads
from reporting.verdicts import TOLERANCE, Verdict, per_workload
from runfile import DEFAULT_WORKLOAD, CaseRecord, Run, RunError, write_text_atomic

TEMPLATES = Path(__file__).parent / "templates"
TIMELINE_SHAPE = "dataframe"
"""The memory timelines are overlaid for the largest size of this shape."""

VERDICT_NOTE = (
    f"Computed from the cases in the last column, never written in advance. A difference counts "
    f"as a change when it exceeds {TOLERANCE:.0%} of the reference and, for time, when the "
    f"interquartile ranges of the two cases' rounds do not overlap. Only cases with status ok "
    f"are evidence; the others are listed as left out. Caching's compute saving shows as time: "
    f"CPU time is not measured apart.")

Cell = str | tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """Rows of text cells; ``numeric`` columns are right-aligned, ``marked`` rows stand out."""

    headers: tuple[str, ...]
    rows: list[tuple[Cell, ...]]
    numeric: frozenset[int] = frozenset()
    marked: tuple[bool, ...] = ()
    caption: str = ""
    kind: str = field(default="table", init=False)


@dataclass(frozen=True)
class Figure:
    """A chart as data and as inline SVG."""

    chart: charts.Chart
    svg: Markup
    kind: str = field(default="figure", init=False)


Figures = Callable[[Iterable[charts.Chart]], list[Figure]]
"""Draws charts as ``Figure``s (see ``_figure_maker``)."""


@dataclass
class Section:
    """A heading with an anchor, findings (said plainly), explanatory notes, then tables and
    figures in order."""

    id: str
    title: str
    notes: list[str] = field(default_factory=list)
    blocks: list[Table | Figure] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Everything the template shows: ``leading`` sections, the verdicts (per claim, one
    per workload), then the other sections."""

    title: str
    intro: str
    verdicts: list[list[Verdict]]
    verdict_note: str
    sections: list[Section]
    leading: list[Section] = field(default_factory=list)
    name_workloads: bool = False

    def charts(self) -> list[charts.Chart]:
        """Every chart of the report, in reading order."""
        return [block.chart for section in (*self.leading, *self.sections)
                for block in section.blocks if isinstance(block, Figure)]

    def verdict(self, claim: str, workload: str = DEFAULT_WORKLOAD) -> Verdict:
        """The verdict on ``claim`` for ``workload``."""
        return next(v for row in self.verdicts for v in row
                    if (v.claim, v.workload) == (claim, workload))


@dataclass(frozen=True)
class _Where:
    """The first columns of a table of cases: strategy, workload (when the report names
    workloads), shape, and the size (rows)."""

    workload: bool

    def headers(self, *rest: str, first: str = "strategy", size: str = "rows") -> tuple[str, ...]:
        return (first, *(("workload",) if self.workload else ()), "shape", size, *rest)

    def cells(self, label: str, workload: str, shape: str, size: str) -> tuple[str, ...]:
        return (label, *((workload,) if self.workload else ()), shape, size)

    def of(self, case: CaseRecord) -> tuple[str, ...]:
        return self.cells(case.label, case.workload, case.shape, f"{case.rows:,}")

    @property
    def size_column(self) -> int:
        return 3 if self.workload else 2

    def numeric(self, after: int) -> frozenset[int]:
        """The size column and the ``after`` columns that follow it."""
        return frozenset(range(self.size_column, self.size_column + 1 + after))


def write_report(runs: list[Run], baseline: Run | None, out: Path) -> Path:
    """Write the report of ``runs`` (against ``baseline`` if given) to ``out``; returns it."""
    return write_text_atomic(render(build(runs, baseline)), Path(out))


def render(report: Report) -> str:
    """The report as HTML text."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    return environment.get_template("report.html.j2").render(report=report)


def build(runs: Sequence[Run], baseline: Run | None = None) -> Report:
    """The report's content: the recommendation, the verdicts, then one section per topic.

    Two runs that are the sides of one ``bin/bench-ab`` job (either order) add a side by
    side section after the recommendation; the rest shows side B's case wherever both sides
    have one (side B alone when their workloads differ and cannot be merged)."""
    if not runs:
        raise ValueError("a report needs at least one run")
    pair = paired.sides(*runs) if len(runs) == 2 and paired.is_pair(*runs) else None
    runs = list(pair) if pair else runs
    shown = _shown(*pair) if pair else runs
    run = merge(shown)
    palette = charts.Palette(case.label for case in run.cases)
    figures = _figure_maker(palette)
    cases = run.cases
    where = _Where(name_workloads(cases))
    sections = [
        _time_section(run, where, figures),
        _memory_section(run, where, figures),
        _breakdown_section(cases, where, figures),
        _storage_section(cases, where, figures),
        _scaling_section(cases, where, figures),
        _speedup_section(run, where, figures),
        *([_baseline_section(baseline, run)] if baseline else []),
        *_predictions_section(cases),
        _problems_section(cases),
        _environment_section(runs),
    ]
    leading = [_recommendation_section(cases, where, figures),
               *([_side_by_side_section(*pair, shown)] if pair else [])]
    return Report(title="Prefect big-data benchmark", intro=_intro(shown, run),
                  verdicts=per_workload(cases), verdict_note=VERDICT_NOTE, sections=sections,
                  leading=leading, name_workloads=where.workload)


def _shown(a: Run, b: Run) -> list[Run]:
    """The runs the report's other sections show for a pair: both, B's cases winning, or B
    alone when a workload's source differs between the sides."""
    try:
        merge([a, b])
    except RunError:
        return [b]
    return [a, b]


def _figure_maker(palette: charts.Palette) -> Figures:
    """Draw charts with the report's palette, leaving out those with nothing to plot."""
    return lambda charts_: [Figure(chart, Markup(charts.render(chart, palette)))
                            for chart in charts_ if not chart.empty]


def _when(run: Run) -> str:
    """``2026-11-26 06:01 UTC`` from the run file's ISO ``datetime``."""
    stamp = run.created or "an unknown time"
    return stamp[:16].replace("T", " ") + " UTC" if stamp[:1].isdigit() else stamp


def _intro(runs: Sequence[Run], run: Run) -> str:
    statuses: dict[str, int] = {}
    for case in run.cases:
        statuses[case.status] = statuses.get(case.status, 0) + 1
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    sources = "; ".join(f"{r.path.name} ({_when(r)}, profile {r.bench.get('profile', '?')})"
                        for r in runs)
    merged = f"{len(runs)} runs merged: " if len(runs) > 1 else "Run "
    names = workloads(run.cases)
    ran = f" Workloads: {', '.join(names)}." if name_workloads(run.cases) else ""
    return f"{merged}{sources}. {len(run.cases)} cases: {counts}.{ran}"


def _ratio_to(run: Run, case: CaseRecord, strategy: str) -> str:
    reference = run.reference(case, strategy)
    if reference is None or not reference.median or case.median is None:
        return "-"
    return units.ratio(case.median / reference.median)


def _iqr_text(case: CaseRecord) -> str:
    """``0.169 s - 0.187 s``; ``-`` under two rounds (no spread to show)."""
    if len(case.rounds) < 2 or case.iqr is None:
        return "-"
    low, high = case.iqr
    return f"{units.seconds(low)} - {units.seconds(high)}"


def _recommendation_section(cases: Sequence[CaseRecord], where: _Where,
                            figures: Figures) -> Section:
    found = recommend.recommend(cases)
    section = Section(
        "recommendation", "Recommendation", findings=[r.sentence for r in found],
        notes=[f"{recommend.NOTE} Recommendations are per payload shape: a DataFrame and "
               f"a list of records do not pay the same costs. "
               f"{' and '.join(sorted(recommend.RECURRING_ONLY))} pays off only "
               f"{recommend.AGAIN} (a cache hit); the best case on a new input is then "
               "picked too.",
               "The charts set each ok case's median time against its peak memory growth; "
               "the line joins the Pareto front: the Prefect cases no other case beats on one "
               "without losing on the other (floor is drawn, but is not Prefect)."])
    if not found:
        section.notes.append(recommend.NOTHING)
        return section
    section.blocks.append(Table(
        where.headers(*recommend.HEADERS[1:], first="pick"),
        [where.cells(pick.title, r.place.workload, r.place.shape, f"{r.place.rows:,}")
         + recommend.cells(r, pick)[1:] for r in found for pick in r.picks],
        numeric=frozenset({where.size_column, *range(where.size_column + 2,
                                                     where.size_column + 5)}),
        caption="Per workload, shape and size: the fastest case, the one growing memory "
                "least, and of those that persist results the one storing least; each "
                "against baseline and floor of its place."))
    section.blocks += figures(charts.pareto_chart(r.place, r.cases, r.front) for r in found)
    return section


def _time_section(run: Run, where: _Where, figures: Figures) -> Section:
    grouped = groups(run.cases)
    table = Table(
        where.headers("median", "IQR", "rounds", "x floor", "x baseline"),
        [(*where.of(c), units.seconds(c.median), _iqr_text(c), str(len(c.rounds)),
          _ratio_to(run, c, "floor"), _ratio_to(run, c, "baseline"))
         for cases in grouped.values() for c in cases],
        numeric=where.numeric(5),
        caption="Median seconds per flow run, and as a multiple of floor and of baseline "
                "on the same workload, shape and rows (x1 = as fast; above 1 = slower).")
    return Section(
        "time", "Time",
        notes=["One chart per shape and size; bars are the median of the timed rounds, the "
               "black whisker spans the interquartile range, the dashed line is floor "
               "(plain pandas, no Prefect). Only ok cases are shown."],
        blocks=[*figures(charts.time_chart(key, cases) for key, cases in grouped.items()),
                table])


def _memory_section(run: Run, where: _Where, figures: Figures) -> Section:
    grouped = groups(run.cases)
    measured = [c for cases in grouped.values() for c in cases if c.rss_delta_bytes is not None]
    table = Table(
        where.headers("RSS at start", "peak RSS", "growth", "x baseline"),
        [(*where.of(c), units.megabytes(c.start_rss_bytes), units.megabytes(c.peak_rss_bytes),
          units.megabytes(c.rss_delta_bytes), _growth_ratio(run, c)) for c in measured],
        numeric=where.numeric(4),
        caption="RSS of the fresh process and its children (MB = 10^6 bytes).")
    blocks: list[Table | Figure] = [
        *figures(charts.memory_chart(key, cases) for key, cases in grouped.items())]
    blocks += figures(charts.timeline_chart(key, grouped[key]) for key in _timeline_places(grouped))
    return Section(
        "memory", "Memory",
        notes=["Peak RSS growth: peak RSS during the flow minus RSS just before it started, "
               "measured in a fresh process with its children (Dask and process-pool "
               "workers). The timelines overlay every case of one size."],
        blocks=[*blocks, table])


def _growth_ratio(run: Run, case: CaseRecord) -> str:
    reference = run.reference(case, "baseline")
    if reference is None or not reference.rss_delta_bytes or case.rss_delta_bytes is None:
        return "-"
    return units.ratio(case.rss_delta_bytes / reference.rss_delta_bytes)


def _timeline_places(grouped: dict[Place, list[CaseRecord]]) -> list[Place]:
    """Per workload, the largest size of ``TIMELINE_SHAPE`` with timelines, else any place
    of that workload that has some."""
    with_timelines = [key for key, cases in grouped.items()
                      if any(c.memory_timeline for c in cases)]
    chosen = {}
    for key in sorted(with_timelines, key=lambda key: (key.shape == TIMELINE_SHAPE, key.rows)):
        chosen[key.workload] = key
    return list(chosen.values())


def _breakdown_section(cases: Sequence[CaseRecord], where: _Where, figures: Figures) -> Section:
    section = Section(
        "breakdown", "Where the time and memory go",
        notes=["Before its timed rounds (as their warm-up), each ok case ran once or twice "
               "more, untimed. One run was tracked by memray: bytes still held at the run's "
               "high-water mark, by where they were allocated (not for the records shape, "
               "whose rows are small Python objects memray does not see, nor for runners "
               "whose tasks run in other processes). Then one run was sampled every 5 ms on "
               "every thread, each tick given to what the flow's thread was doing (to the "
               "threads running tasks while it waited on a task runner); work done in other "
               "processes (Dask, Ray, a process pool) shows as task runner. See "
               "docs/breakdown.md for the categories."])
    grouped = groups(cases)
    profiled = [c for group in grouped.values() for c in group
                if c.time_breakdown or c.memory_breakdown or c.breakdown_note]
    if not profiled:
        section.notes.append("No case of this run was profiled (runs before format 3, or "
                             "--bench-no-breakdown).")
        return section
    off = [c.name for c in profiled if breakdown.off_median(c)]
    if off:
        section.notes.append(
            f"The sampled run's seconds are more than {breakdown.TOLERANCE:.0%} away from "
            f"the case's median for: {', '.join(off)}; read their shares, not their seconds.")
    for key, group in grouped.items():
        section.blocks += figures(charts.breakdown_charts(key, group))
    section.blocks.append(Table(
        where.headers("median", "sampled", "gap", "where the time goes", "held at peak",
                      "where the memory goes", "note"),
        [(*where.of(c), units.seconds(c.median), units.seconds(breakdown.time_sum(c)),
          _gap_text(c), breakdown.shares(c.time_breakdown),
          units.megabytes(breakdown.held_sum(c)), breakdown.shares(c.memory_breakdown),
          c.breakdown_note or "") for c in profiled],
        numeric=where.numeric(3), marked=tuple(breakdown.off_median(c) for c in profiled),
        caption=f"Marked: the sampled run is more than {breakdown.TOLERANCE:.0%} away from "
                "the median of the timed rounds."))
    return section


def _gap_text(case: CaseRecord) -> str:
    gap = breakdown.time_gap(case)
    return "-" if gap is None else f"{gap:+.0%}"


def _storage_section(cases: Sequence[CaseRecord], where: _Where, figures: Figures) -> Section:
    section = Section(
        "storage", "Storage",
        notes=["Bytes each persisting case left in result storage (disk or S3). The ratio is "
               "compressed/none's bytes (uncompressed pickle) over the case's bytes."])
    rows, blocks = [], []
    for key, group in groups(cases).items():
        ratios = charts.compression_ratios(group)
        stored = [c for c in group if c.stored_bytes]
        if stored:
            blocks += figures([charts.storage_chart(key, group, ratios)])
        rows += [(*where.of(c), units.megabytes(c.stored_bytes),
                  units.ratio(ratios.get(c.label))) for c in stored]
    if not rows:
        section.notes.append("No ok case stored anything.")
        return section
    section.blocks = [*blocks, Table(where.headers("stored", "ratio vs none"), rows,
                                     numeric=where.numeric(2))]
    return section


def _scaling_section(cases: Sequence[CaseRecord], where: _Where, figures: Figures) -> Section:
    section = Section(
        "scaling", "Scaling",
        notes=["Time and memory against rows on log-log axes; the growth exponent is the "
               "slope of a least-squares line through a strategy's points (1 = linear)."])
    series = [(workload, shape, [c for c in cases if c.workload == workload])
              for workload in workloads(cases)
              for shape in sorted({c.shape for c in cases if c.ok and c.workload == workload})]
    scalable = [(w, s, mine) for w, s, mine in series if len(charts.sizes_of(mine, s)) >= 3]
    if not scalable:
        sizes = "; ".join(
            f"{f'{w} ' if where.workload else ''}{s}: "
            f"{', '.join(units.rows(n) for n in charts.sizes_of(mine, s))}"
            for w, s, mine in series)
        section.notes.append(f"Needs at least three data sizes of one shape; this report "
                             f"has {sizes or 'none'} rows.")
        return section
    rows = []
    for workload, shape, mine in scalable:
        time, memory = charts.scaling_charts(mine, shape, workload if where.workload else None)
        section.blocks += figures([time, memory])
        memory_lines = {line.label: line for line in memory.lines}
        rows += [(*where.cells(line.label, workload, shape, str(len(line.points))),
                  _exponent(line), _exponent(memory_lines.get(line.label)))
                 for line in time.lines]
    section.blocks.append(Table(where.headers("time exponent", "memory exponent",
                                              size="sizes"), rows, numeric=where.numeric(2)))
    return section


def _exponent(line: charts.Line | None) -> str:
    exponent = charts.growth_exponent(line.points) if line else None
    return "-" if exponent is None else f"{exponent:.2f}"


def _speedup_section(run: Run, where: _Where, figures: Figures) -> Section:
    cores = run.bench.get("cores", "?")
    section = Section(
        "speedup", "Parallel speedup",
        notes=[f"Time on the fewest workers over time on N workers (speedup), and that over "
               f"the ratio of worker counts (efficiency: 1.0 is linear). This machine had "
               f"{cores} cores: workers beyond the core count share them."])
    by_series = speedup.series(run.cases)
    if not by_series:
        section.notes.append("Needs one runner on two worker counts or more: run with "
                             "--bench-scale-out.")
        return section
    places = sorted({at for at, _ in by_series})
    section.blocks += figures(speedup.speedup_chart(at, by_series) for at in places)
    section.blocks.append(Table(
        where.headers("workers", "median", "speedup", "efficiency", "cluster", first="series"),
        [(*where.cells(label, at.workload, at.shape, f"{at.rows:,}"), str(p.workers),
          units.seconds(p.seconds), units.ratio(p.speedup), f"{p.efficiency:.2f}",
          str((p.case.runner or {}).get("cluster", "-")))
         for (at, label), points in sorted(by_series.items()) for p in points],
        numeric=where.numeric(4),
        caption="Series: the parallel case with its worker count as *; paths = only "
                "partition paths pass through the runner."))
    return section


def _baseline_section(baseline: Run, run: Run) -> Section:
    from reporting import gate

    result = gate.check(baseline, run)
    notes = [f"Against {baseline.path.name}: {result.summary}", *result.notes]
    notes += [f"{title}: {', '.join(names)}" for title, names in
              (("New cases (not in the baseline)", result.new),
               ("Missing cases (in the baseline only)", result.missing),
               (gate.CHANGED_TITLE, result.changed)) if names]
    table = Table(("case", "baseline", "now", "change", "verdict"),
                  [(r.name, r.baseline, r.now, r.change, r.verdict) for r in result.rows],
                  numeric=frozenset({1, 2, 3}),
                  marked=tuple(r.regression for r in result.rows),
                  caption="Regressions are highlighted.")
    return Section("baseline", "Against the baseline", notes=notes, blocks=[table])


SIDE_BY_SIDE_HEADERS = ("case", "A", "B", "time B/A [95%]", "blocks", "memory B/A", "verdict")


def _side_by_side_section(a: Run, b: Run, shown: Sequence[Run]) -> Section:
    """Side B against side A of a ``bin/bench-ab`` pair: the paired gate's rows, and the
    settings, versions and packages that differ."""
    result = paired.check(a, b)
    pairing = b.pairing or {}
    rest = (f"side B's ({result.b_label}) where both sides have a case, side A's where only "
            "A has one" if len(shown) == 2 else
            f"side B ({result.b_label}) alone: a workload's source differs between the sides")
    notes = [f"The two sides of one bin/bench-ab job ({pairing.get('id', '?')}): "
             f"A = {result.a_label} ({a.path.name}), B = {result.b_label} ({b.path.name}). "
             f"Their timed rounds alternated in blocks ({pairing.get('blocks', '?')}...), so "
             "block i of A ran next to block i of B; B is set against A.",
             f"{paired.legend()}. Memory: B's peak RSS growth over A's (one memory run each), "
             "gated as by the regression gate. Status changes and failures are highlighted.",
             *(f"{title}: {', '.join(names)}" for title, names in result.listed()),
             f"The sections below show {rest}."]
    table = Table(SIDE_BY_SIDE_HEADERS,
                  [(r.name, r.baseline, r.now, r.change, r.blocks, paired.times(r.memory),
                    r.verdict) for r in result.rows],
                  numeric=frozenset({1, 2, 3, 4, 5}),
                  marked=tuple(r.regression or bool(r.status_change) for r in result.rows),
                  caption=f"B {result.b_label} against A {result.a_label}, per case.")
    return Section("side-by-side", "Side by side", findings=result.summary.splitlines(),
                   notes=notes, blocks=[table, _differences_table(a, b)])


def _differences_table(a: Run, b: Run) -> Table:
    """The settings, versions and packages that differ between the sides (packages: at most
    ``paired.MAX_PACKAGES`` rows)."""
    settings = paired.setting_differences(a, b)
    packages = paired.package_differences(a, b)
    rows = [*settings, *((f"package {name}", old, new)
                         for name, old, new in packages[:paired.MAX_PACKAGES])]
    if len(packages) > paired.MAX_PACKAGES:
        rows.append((f"and {len(packages) - paired.MAX_PACKAGES} more packages", "", ""))
    if not rows:
        return Table(("setting", "A", "B"), [("nothing differs", "", "")],
                     caption="Versions, heartbeat, Prefect defaults and packages: the same on "
                     "both sides.")
    counted = (paired.packages_differ(len(packages)) if packages
               else "no package differs (or a side did not record its packages)")
    return Table(("setting", "A", "B"), rows,
                 caption=f"What differs between the sides: versions, heartbeat, Prefect "
                 f"defaults; {counted}.")


def _predictions_section(cases: Sequence[CaseRecord]) -> list[Section]:
    """Predicted against measured, for the cases of a guarded size (the xl profile)."""
    predicted = [c for c in cases if c.prediction]
    if not predicted:
        return []
    table = Table(
        ("case", "status", "peak predicted", "peak measured", "time predicted",
         "median measured"),
        [(c.name, c.status, units.megabytes(c.prediction["peak_rss_bytes"]),
          units.megabytes(c.peak_rss_bytes), units.seconds(c.prediction["seconds"]),
          units.seconds(c.median if c.ok else None)) for c in predicted if c.prediction],
        numeric=frozenset({2, 3, 4, 5}))
    return [Section("predictions", "Predicted against measured", blocks=[table], notes=[
        "A case runs at this size only where its memory runs at the smaller sizes predict "
        "that one run fits: peak under the memory cap, growth under the memory available, "
        "time under the case time limit (the larger of a line and a power law through the "
        "two largest sizes). The predicted time is one run in a fresh process, first-run "
        "costs included; the measured one the median of the timed rounds."])]


def _problems_section(cases: Sequence[CaseRecord]) -> Section:
    problems = [c for c in cases if not c.ok]
    section = Section("problems", "Cases that failed, timed out, were not applied or were skipped",
                      notes=["These cases are never used as evidence in the verdicts."])
    if problems:
        section.blocks.append(Table(("case", "status", "reason"),
                                    [(c.name, c.status, c.reason or "-") for c in problems]))
    else:
        section.notes = ["Every case ran and its optimization took effect."]
    return section


def _environment_section(runs: Sequence[Run]) -> Section:
    return Section("environment", "Environment",
                   notes=["Every run the report is built from, in order (a later run's case "
                          "replaces an earlier one's)."],
                   blocks=[_environment_table(run) for run in runs])


def _environment_table(run: Run) -> Table:
    bench, machine = run.bench, run.machine
    cpu = machine.get("cpu") or {}
    versions = bench.get("versions") or {}
    policy = bench.get("rounds_policy") or {}
    rows = [
        ("file", f"{run.path} (run file format {run.format_version})"),
        ("recorded", _when(run)),
        ("commit", _commit_text(run.commit)),
        ("profile", str(bench.get("profile", "-"))),
        ("sizes", ", ".join(bench.get("sizes") or ()) or "-"),
        ("rounds policy", ", ".join(f"{k} {v}" for k, v in policy.items()) or "-"),
        ("data source", str(bench.get("data_source", "-"))),
        *([("workloads", _workloads_text(bench))] if bench.get("workloads") else []),
        ("machine", " ".join(str(machine.get(k, "")) for k in ("node", "system", "release"))),
        ("CPU", f"{cpu.get('brand_raw', '?')}, {bench.get('cores', '?')} cores"),
        ("heartbeat", str(bench.get("heartbeat", "-"))),
        ("S3 endpoint", str(bench.get("s3_endpoint", "-"))),
        ("Dask address", str(bench.get("dask_address") or "none (dask-address not run)")),
        ("complete", str(bench.get("complete", "-"))),
        ("server retries in timed rounds", _retries_text(bench)),
        ("versions", tuple(f"{name} {v}" for name, v in versions.items())),
    ]
    return Table(("", ""), rows, caption=run.path.name)


def _workloads_text(bench: dict[str, Any]) -> tuple[str, ...]:
    """``heavy (strategies.heavy, digest 3f2a...)`` per workload the run recorded."""
    return tuple(f"{w.get('name', '?')} ({w.get('module', '?')}, digest "
                 f"{str(w.get('digest') or '-')[:12]})" for w in bench.get("workloads") or ())


def _retries_text(bench: dict[str, Any]) -> str:
    if "server_retries" not in bench:
        return "not recorded by this run"
    found = ", ".join(f"{case} ({n})" for case, n in bench["server_retries"].items())
    return found or "none (no round met Prefect's ~2 s client retry)"


def _commit_text(commit: dict[str, Any]) -> str:
    if not commit.get("id"):
        return "-"
    dirty = " (uncommitted changes)" if commit.get("dirty") else ""
    return f"{commit['id'][:10]} on {commit.get('branch', '?')}{dirty}"
