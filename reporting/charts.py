"""Charts as plain data (``Chart``), built from a run's cases, then drawn as inline SVG.

Building and drawing are separate so a test can read what each chart plots
(``Chart.labels``) without parsing SVG. Every label keeps one colour in every chart: the
``Palette`` assigns colours from the sorted set of labels in the report.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import Bbox

from reporting import breakdown, units
from reporting.cases import Place
from runfile import CATEGORY_LABELS, TIME_CATEGORIES, CaseRecord

LOG_SPAN = 20
"""Use a log axis when the largest value is at least this many times the smallest."""

COMPRESSION_CONTROL = "compressed/none"
"""The uncompressed pickle every compression ratio is taken against."""

WIDTH_IN = 9.0
COLOURS = (  # matplotlib's tab10, ten more that stay apart from it, then Paul Tol's muted
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#111111", "#e6ab02", "#66c2a5", "#a6cee3", "#fb9a99",
    "#6a3d9a", "#b15928", "#b2df8a", "#fdbf6f", "#882255", "#44aa99", "#999933", "#cc6677",
    "#332288", "#aa4499", "#117733", "#ddcc77",
)

CATEGORY_COLOURS = ("#2ca02c", "#d62728", "#ff7f0e", "#1f77b4", "#9467bd", "#17becf",
                    "#7f7f7f")  # in runfile.TIME_CATEGORIES' order: work is green, other grey


class Palette:
    """A fixed colour per label, from the sorted labels (cycling past 28 labels)."""

    def __init__(self, labels: Iterable[str]) -> None:
        self.colours = {label: COLOURS[i % len(COLOURS)]
                        for i, label in enumerate(sorted(set(labels)))}

    def __getitem__(self, label: str) -> str:
        return self.colours.get(label, "#444444")


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: a value, an optional spread (low, high) and a note at its end."""

    label: str
    value: float
    spread: tuple[float, float] | None = None
    note: str = ""


@dataclass(frozen=True)
class Line:
    """One line of (x, y) points; ``note`` goes into the legend (e.g. a fitted exponent)."""

    label: str
    points: tuple[tuple[float, float], ...]
    note: str = ""


@dataclass(frozen=True)
class Stack:
    """One horizontal bar split into parts: ``(category, value)`` in drawing order."""

    label: str
    parts: tuple[tuple[str, float], ...]
    note: str = ""


@dataclass(frozen=True)
class Point:
    """One labelled point of a scatter chart."""

    label: str
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    """What a chart plots, in data: bars, stacks, or points and lines; axis labels, scales,
    a reference line."""

    id: str
    title: str
    x_label: str
    y_label: str
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()
    stacks: tuple[Stack, ...] = ()
    points: tuple[Point, ...] = ()
    log_x: bool = False
    log_y: bool = False
    reference: tuple[str, float] | None = None
    write: Callable[[float | None], str] = field(default=str, repr=False)

    @property
    def empty(self) -> bool:
        """True when there is nothing to plot."""
        return (not self.bars and not self.stacks and not self.points
                and not any(line.points for line in self.lines))

    @property
    def labels(self) -> list[str]:
        """Every label the chart plots (bars, stacks, points, lines, the reference line)."""
        found = ([bar.label for bar in self.bars] + [stack.label for stack in self.stacks]
                 + [point.label for point in self.points] + [line.label for line in self.lines])
        return found + ([self.reference[0]] if self.reference else [])


def _needs_log(values: Iterable[float]) -> bool:
    values = list(values)
    return bool(values) and min(values) > 0 and max(values) >= LOG_SPAN * min(values)


def _slug(*parts: object) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


def time_chart(place: Place, cases: Sequence[CaseRecord]) -> Chart:
    """Median seconds per label with the IQR; ``floor`` as the reference line."""
    floor = next((c for c in cases if c.strategy == "floor"), None)
    timed = sorted((c for c in cases if c is not floor and c.median is not None),
                   key=lambda c: c.median or 0.0)
    bars = tuple(Bar(c.label, c.median or 0.0, c.iqr, units.seconds(c.median)) for c in timed)
    reference = ("floor", floor.median) if floor and floor.median else None
    values = [b.value for b in bars] + ([reference[1]] if reference else [])
    return Chart(id=_slug("time", *place.slug), title=f"Time, {place.title}",
                 x_label="median seconds per flow run (bars: IQR of the rounds)",
                 y_label="", bars=bars, log_x=_needs_log(values), reference=reference,
                 write=units.seconds)


def memory_chart(place: Place, cases: Sequence[CaseRecord]) -> Chart:
    """Peak RSS growth during the flow per label."""
    measured = sorted((c for c in cases if c.rss_delta_bytes is not None),
                      key=lambda c: c.rss_delta_bytes or 0)
    bars = tuple(Bar(c.label, (c.rss_delta_bytes or 0) / units.MB,
                     note=units.megabytes(c.rss_delta_bytes)) for c in measured)
    return Chart(id=_slug("memory", *place.slug), title=f"Peak memory growth, {place.title}",
                 x_label="peak RSS growth during the flow (MB)", y_label="", bars=bars,
                 log_x=_needs_log(b.value for b in bars))


def storage_chart(place: Place, cases: Sequence[CaseRecord],
                  ratios: dict[str, float]) -> Chart:
    """Bytes stored per persisting label, the compression ratio in the note."""
    stored = sorted((c for c in cases if c.stored_bytes), key=lambda c: c.stored_bytes or 0)
    bars = tuple(Bar(c.label, (c.stored_bytes or 0) / units.MB,
                     note=_storage_note(c, ratios)) for c in stored)
    return Chart(id=_slug("storage", *place.slug), title=f"Bytes stored, {place.title}",
                 x_label="bytes left in result storage (MB)", y_label="", bars=bars,
                 log_x=_needs_log(b.value for b in bars))


def breakdown_charts(place: Place, cases: Sequence[CaseRecord]) -> tuple[Chart, Chart]:
    """Where the time went (seconds per category of each case's sampled run) and where the
    memory went (MB per category held at its tracked run's peak), per label."""
    timed = sorted((c for c in cases if c.time_breakdown), key=lambda c: c.median or 0.0)
    held = sorted((c for c in cases if c.memory_breakdown),
                  key=lambda c: breakdown.held_sum(c) or 0)
    time = tuple(Stack(c.label, _parts(c.time_breakdown), _time_note(c)) for c in timed)
    memory = tuple(Stack(c.label, _parts(c.memory_breakdown, units.MB), _memory_note(c))
                   for c in held)
    return (
        Chart(id=_slug("breakdown-time", *place.slug), title=f"Where the time goes, {place.title}",
              x_label="seconds of one sampled run, by category", y_label="", stacks=time),
        Chart(id=_slug("breakdown-memory", *place.slug),
              title=f"Where the memory goes, {place.title}",
              x_label="MB held at the tracked run's peak, by where it was allocated",
              y_label="", stacks=memory),
    )


def _parts(values: dict[str, float] | dict[str, int] | None,
           scale: float = 1.0) -> tuple[tuple[str, float], ...]:
    return tuple((name, (values or {}).get(name, 0) / scale) for name in TIME_CATEGORIES)


def _time_note(case: CaseRecord) -> str:
    gap = breakdown.time_gap(case)
    note = units.seconds(breakdown.time_sum(case))
    if gap is None:
        return note
    flag = (f" (off by more than {breakdown.TOLERANCE:.0%})" if breakdown.off_median(case)
            else "")
    return f"{note}; median {units.seconds(case.median)}, {gap:+.0%}{flag}"


def _memory_note(case: CaseRecord) -> str:
    note = units.megabytes(breakdown.held_sum(case))
    return f"{note} of +{units.megabytes(case.rss_delta_bytes)} RSS growth" \
        if case.rss_delta_bytes is not None else note


def _storage_note(case: CaseRecord, ratios: dict[str, float]) -> str:
    ratio = ratios.get(case.label)
    size = units.megabytes(case.stored_bytes)
    if not ratio or case.label == COMPRESSION_CONTROL:
        return size
    return f"{size}, {units.ratio(ratio)} smaller than {COMPRESSION_CONTROL}"


def compression_ratios(cases: Sequence[CaseRecord]) -> dict[str, float]:
    """``compressed/none``'s bytes over each case's bytes, for the cases of one group."""
    control = next((c for c in cases if c.label == COMPRESSION_CONTROL and c.stored_bytes),
                   None)
    if control is None:
        return {}
    return {c.label: (control.stored_bytes or 0) / c.stored_bytes
            for c in cases if c.stored_bytes and c.strategy == "compressed"}


def timeline_chart(place: Place, cases: Sequence[CaseRecord]) -> Chart:
    """Each case's RSS above its start against seconds since the flow started; a log time
    axis (without the t=0 samples) when the cases' durations span orders of magnitude."""
    timed = sorted((c for c in cases if c.memory_timeline), key=lambda c: c.label)
    log = _needs_log(c.memory_timeline[-1][0] for c in timed)
    lines = tuple(Line(c.label, tuple((t, (rss - _start(c)) / units.MB)
                                      for t, rss in c.memory_timeline if t > 0 or not log))
                  for c in timed)
    return Chart(id=_slug("timeline", *place.slug), title=f"Memory over time, {place.title}",
                 x_label="seconds since the flow started", y_label="RSS above start (MB)",
                 lines=lines, log_x=log)


def _start(case: CaseRecord) -> int:
    return case.start_rss_bytes or case.memory_timeline[0][1]


def sizes_of(cases: Sequence[CaseRecord], shape: str) -> list[int]:
    """The distinct row counts of ``ok`` cases of a shape."""
    return sorted({c.rows for c in cases if c.ok and c.shape == shape})


def growth_exponent(points: Sequence[tuple[float, float]]) -> float | None:
    """Slope of log(y) against log(x): 1 is linear growth. None under three points."""
    usable = [(x, y) for x, y in points if x > 0 and y > 0]
    if len(usable) < 3:
        return None
    slope, _ = np.polyfit([math.log(x) for x, _ in usable],
                          [math.log(y) for _, y in usable], 1)
    return float(slope)


def scaling_lines(cases: Sequence[CaseRecord], shape: str,
                  value: Callable[[CaseRecord], float | None]) -> tuple[Line, ...]:
    """Per label, (rows, value) of its ``ok`` cases of ``shape``; the exponent as note."""
    by_label: dict[str, list[tuple[float, float]]] = {}
    for case in sorted(cases, key=lambda c: c.rows):
        figure = value(case)
        if case.ok and case.shape == shape and figure is not None and figure > 0:
            by_label.setdefault(case.label, []).append((float(case.rows), figure))
    return tuple(Line(label, tuple(points), _exponent_note(points))
                 for label, points in sorted(by_label.items()))


def _exponent_note(points: Sequence[tuple[float, float]]) -> str:
    exponent = growth_exponent(points)
    return "" if exponent is None else f"rows^{exponent:.2f}"


def scaling_charts(cases: Sequence[CaseRecord], shape: str,
                   workload: str | None = None) -> tuple[Chart, Chart]:
    """Time and memory against rows, log-log, for one shape of the cases of one workload
    (named in the titles when given)."""
    time = scaling_lines(cases, shape, lambda c: c.median)
    memory = scaling_lines(cases, shape, lambda c: (c.rss_delta_bytes or 0) / units.MB)
    where = (workload, shape) if workload else (shape,)
    return (
        Chart(id=_slug("scaling-time", *where), title=f"Time against rows, {', '.join(where)}",
              x_label="rows", y_label="median seconds per flow run", lines=time,
              log_x=True, log_y=True),
        Chart(id=_slug("scaling-memory", *where),
              title=f"Memory against rows, {', '.join(where)}", x_label="rows",
              y_label="peak RSS growth (MB)", lines=memory, log_x=True, log_y=True),
    )


FRONT = "Pareto front"


def pareto_chart(place: Place, cases: Sequence[CaseRecord],
                 front: Sequence[CaseRecord]) -> Chart:
    """Median seconds against peak RSS growth: one labelled point per case, the ``front``
    (cases in order of time) joined by a line."""
    def xy(case: CaseRecord) -> tuple[float, float]:
        return (case.median or 0.0, (case.rss_delta_bytes or 0) / units.MB)

    measured = [c for c in cases if c.median is not None and c.rss_delta_bytes is not None]
    points = tuple(Point(c.label, *xy(c)) for c in measured)
    return Chart(id=_slug("pareto", *place.slug), title=f"Time against memory, {place.title}",
                 x_label="median seconds per flow run", y_label="peak RSS growth (MB)",
                 points=points, lines=(Line(FRONT, tuple(xy(c) for c in front)),),
                 log_x=_needs_log(p.x for p in points), log_y=_needs_log(p.y for p in points))


def render(chart: Chart, palette: Palette) -> str:
    """The chart as an ``<svg>`` element (no XML prolog), text kept as text."""
    figure = _draw(chart, palette)
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart.id}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    svg = buffer.getvalue()
    return _own_ids(svg[svg.index("<svg"):], chart.id)


def _own_ids(svg: str, prefix: str) -> str:
    """Prefix the SVG's element ids (and references to them) so charts never share one."""
    svg = re.sub(r'\bid="', f'id="{prefix}-', svg)
    return re.sub(r'(url\(#|href="#)', rf"\g<1>{prefix}-", svg)


def _draw(chart: Chart, palette: Palette) -> plt.Figure:
    rows = len(chart.bars) or len(chart.stacks)
    height = 1.6 + 0.32 * rows if rows else 5.6 if chart.points else 4.2
    figure, axes = plt.subplots(figsize=(WIDTH_IN, height), dpi=100)
    if chart.bars:
        _draw_bars(axes, chart, palette)
    elif chart.stacks:
        _draw_stacks(axes, chart)
    else:
        _draw_points(axes, chart, palette)
        _draw_lines(axes, chart, palette)
        _label_points(axes, chart.points)
    axes.set_title(chart.title, loc="left", fontsize=12, fontweight="bold")
    axes.set_xlabel(chart.x_label + (" (log scale)" if chart.log_x else ""))
    axes.set_ylabel(chart.y_label + (" (log scale)" if chart.log_y and chart.y_label else ""))
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="x" if chart.bars or chart.stacks else "both", alpha=0.3, which="major")
    return figure


def _draw_bars(axes: Axes, chart: Chart, palette: Palette) -> None:
    labels = [bar.label for bar in chart.bars]
    values = [bar.value for bar in chart.bars]
    positions = range(len(chart.bars))
    axes.barh(positions, values, color=[palette[label] for label in labels], height=0.7)
    for y, bar in zip(positions, chart.bars, strict=True):
        if bar.spread:
            axes.plot(bar.spread, (y, y), color="#222222", linewidth=1.4,
                      marker="|", markersize=8)
        axes.annotate(bar.note, (max(bar.value, *(bar.spread or (0.0,))), y), xytext=(6, 0),
                      textcoords="offset points", va="center", fontsize=9)
    axes.set_yticks(list(positions), labels, fontsize=10)
    axes.invert_yaxis()
    if chart.log_x:
        _log_axis(axes, "x")
    if chart.reference:
        name, value = chart.reference
        axes.axvline(value, color=palette[name], linestyle="--", linewidth=1.5,
                     label=f"{name}: {chart.write(value)}")
        axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False,
                    borderaxespad=0.2)
    axes.margins(x=0.18)


def _draw_stacks(axes: Axes, chart: Chart) -> None:
    positions = range(len(chart.stacks))
    left = [0.0] * len(chart.stacks)
    for index, name in enumerate(TIME_CATEGORIES):
        widths = [dict(stack.parts).get(name, 0.0) for stack in chart.stacks]
        if any(widths):
            axes.barh(positions, widths, left=left, height=0.7, label=CATEGORY_LABELS[name],
                      color=CATEGORY_COLOURS[index % len(CATEGORY_COLOURS)])
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, (stack, end) in enumerate(zip(chart.stacks, left, strict=True)):
        axes.annotate(stack.note, (end, y), xytext=(6, 0), textcoords="offset points",
                      va="center", fontsize=9)
    axes.set_yticks(list(positions), [stack.label for stack in chart.stacks], fontsize=10)
    axes.invert_yaxis()
    axes.figure.legend(loc="upper left", bbox_to_anchor=(0.0, 0.0), ncol=4, fontsize=9,
                       frameon=False)  # below the axis label
    axes.margins(x=0.35)


def _log_axis(axes: Axes, which: str) -> None:
    """A log ``x`` or ``y`` axis whose ticks read as plain numbers (0.01, 1, 100,000)."""
    getattr(axes, f"set_{which}scale")("log")
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    getattr(axes, f"{which}axis").set_major_formatter(plain)


def _draw_points(axes: Axes, chart: Chart, palette: Palette) -> None:
    """Each point in its label's colour (``floor``, not Prefect, as a hollow diamond)."""
    for point in chart.points:
        floor = point.label == "floor"
        axes.scatter([point.x], [point.y], s=36, zorder=3, marker="D" if floor else "o",
                     facecolors="none" if floor else palette[point.label],
                     edgecolors=palette[point.label])


LABEL_OFFSETS = tuple((dx, dy) for dy in (3, -11, 13, -21, 23, -31, 33, -41, 43, -51)
                      for dx in (5, -5))
"""Where a point's label may go (in points: beside it, then further away), in order; to
the left first for a point in the right fifth of the axes."""


def _label_points(axes: Axes, points: Sequence[Point]) -> None:
    """Label every point at the first of ``LABEL_OFFSETS`` that overlaps no label placed
    before it, else at the first offset."""
    renderer = axes.figure.canvas.get_renderer()
    to_axes = axes.transData + axes.transAxes.inverted()
    taken: list[Bbox] = []
    for point in sorted(points, key=lambda p: (p.x, p.y)):
        side = -1 if to_axes.transform((point.x, point.y))[0] > 0.8 else 1
        offsets = [(dx * side, dy) for dx, dy in LABEL_OFFSETS]
        for dx, dy in offsets:
            text = _annotate(axes, point, dx, dy)
            box = _text_box(text, renderer)
            if not any(box.overlaps(other) for other in taken):
                break
            text.remove()
        else:
            box = _text_box(_annotate(axes, point, *offsets[0]), renderer)
        taken.append(box)


def _text_box(text: Annotation, renderer: RendererBase) -> Bbox:
    """Where a label's text is drawn, without its leader line."""
    text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


def _annotate(axes: Axes, point: Point, dx: float, dy: float) -> Annotation:
    """The point's label ``dx``, ``dy`` points away, with a thin leader line unless beside it."""
    leader = {"arrowstyle": "-", "color": "#999999", "linewidth": 0.5}
    return axes.annotate(point.label, (point.x, point.y), xytext=(dx, dy),
                         textcoords="offset points", ha="left" if dx > 0 else "right",
                         va="center", fontsize=8, arrowprops=leader if abs(dy) > 3 else None)


def _draw_lines(axes: Axes, chart: Chart, palette: Palette) -> None:
    for line in chart.lines:
        xs, ys = zip(*line.points, strict=True) if line.points else ((), ())
        label = f"{line.label} ({line.note})" if line.note else line.label
        axes.plot(xs, ys, color=palette[line.label], label=label, linewidth=1.6,
                  marker="o" if len(line.points) < 12 else None, markersize=4)
    if chart.log_x:
        _log_axis(axes, "x")
    if chart.log_y:
        _log_axis(axes, "y")
    if chart.points:  # labels sit by the points: the legend goes below the axis label
        axes.figure.legend(loc="upper left", bbox_to_anchor=(0.0, 0.0), fontsize=9,
                           frameon=False)
    elif chart.lines:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
