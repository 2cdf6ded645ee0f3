"""Parallel speedup: how a runner's time falls as it gets more workers.

Cases whose recorded ``runner`` differs only in the worker count (``parallel/dask-w1``,
``parallel/dask-w2``... with the same data movement, workload, shape and rows) form a series.
Speedup is the series' time on its fewest workers over its time on N workers; parallel
efficiency is that speedup over the ratio of worker counts (1.0 = perfectly linear).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from reporting.cases import Place, name_workloads, place
from reporting.charts import Chart, Line
from runfile import CaseRecord

IDEAL = "ideal (linear)"


@dataclass(frozen=True)
class SpeedupPoint:
    """One case of a series: its workers, median seconds, speedup and efficiency."""

    case: CaseRecord
    workers: int
    seconds: float
    speedup: float
    efficiency: float


def series_label(case: CaseRecord) -> str:
    """The case's label with its worker count left out: ``parallel/dask-w*-paths``."""
    return re.sub(r"-w\d+", "-w*", case.label)


SeriesKey = tuple[Place, str]
"""Where a series ran, and its label."""


def series(cases: Sequence[CaseRecord]) -> dict[SeriesKey, list[SpeedupPoint]]:
    """Per (place, series label): its points by worker count, for series of ok cases with
    at least two worker counts."""
    grouped: dict[SeriesKey, list[tuple[int, float, CaseRecord]]] = {}
    name = name_workloads(cases)
    for case in cases:
        workers = (case.runner or {}).get("workers")
        if case.ok and isinstance(workers, int) and workers > 0 and case.median:
            key = (place(case, name), series_label(case))
            grouped.setdefault(key, []).append((workers, case.median, case))
    found = {}
    for key, members in grouped.items():
        members.sort(key=lambda member: member[0])
        if len({workers for workers, _, _ in members}) < 2:
            continue
        base_workers, base_seconds, _ = members[0]
        found[key] = [SpeedupPoint(case, workers, seconds, base_seconds / seconds,
                            base_seconds / seconds / (workers / base_workers))
                      for workers, seconds, case in members]
    return found


def speedup_chart(where: Place, by_series: dict[SeriesKey, list[SpeedupPoint]]) -> Chart:
    """Speedup against workers for every series of one place, with the ideal."""
    lines = [Line(label, tuple((float(p.workers), p.speedup) for p in points))
             for (at, label), points in sorted(by_series.items()) if at == where]
    counts = sorted({x for line in lines for x, _ in line.points})
    ideal = Line(IDEAL, tuple((x, x / counts[0]) for x in counts)) if counts else None
    return Chart(id="-".join(map(str, ("speedup", *where.slug))),
                 title=f"Speedup against workers, {where.title}", x_label="workers",
                 y_label="speedup (x fewest workers)", lines=(*lines, *([ideal] if ideal else [])))
