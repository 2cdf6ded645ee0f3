"""Whether a case fits at a size it has not run yet, predicted from its smaller sizes.

A profile's guarded sizes (the ``xl`` profile's 10M rows) run only where the same case's
memory runs at the profile's smaller sizes predict that one run fits: its process tree's
peak under the memory cap, its growth under the memory available now, and its flow time
under the case time limit. Otherwise the case is ``skipped`` with the prediction as reason.

Each figure is extrapolated through the case's two largest measured sizes, taking the
larger of a straight line and a power law: a fixed overhead plus a per-row cost follows
the line (a power law fitted through it bends too low), a cost growing faster than the
rows follows the power law. Neither is ever below the figure measured at the larger size.
How close the predictions came in a real run: docs/xl.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from reporting.units import whole_megabytes as mb
from runfile import PredictionRecord


@dataclass(frozen=True)
class Observation:
    """One ``ok`` memory run: rows, RSS before the flow and its growth (bytes), flow time."""

    rows: int
    start: int
    growth: int
    seconds: float


@dataclass(frozen=True)
class Prediction:
    """The predicted run at ``rows``; ``reason`` says why it would not fit (None: it fits)."""

    rows: int
    peak: int
    growth: int
    seconds: float
    reason: str | None
    basis: tuple[int, ...]  # the measured row counts it was extrapolated from

    def summary(self) -> str:
        return f"peak {mb(self.peak)}, growth {mb(self.growth)}, {self.seconds:,.1f} s a run"

    def record(self) -> PredictionRecord:
        """As the run file records it."""
        return {"rows": self.rows, "peak_rss_bytes": self.peak, "rss_delta_bytes": self.growth,
                "seconds": round(self.seconds, 3), "from_rows": list(self.basis)}


NOISE = {"start": 32 * 2**20, "growth": 32 * 2**20, "seconds": 0.02}
"""Per figure, the value under which run-to-run noise dominates: a power law through a
smaller point under it is left out (a growth of 4 MB then 300 MB is not a power of 1.9)."""


def extrapolate(points: Sequence[tuple[float, float]], x: float, noise: float = 0.0) -> float:
    """The larger of a line and a power law through the two points of largest x, at ``x``;
    only the line when the smaller point's value is under ``noise`` (or not positive)."""
    if len(points) < 2:
        raise ValueError("extrapolating needs two points")
    (x1, y1), (x2, y2) = sorted(points)[-2:]
    if x1 == x2:
        raise ValueError("extrapolating needs two different sizes")
    line = y2 + (y2 - y1) / (x2 - x1) * (x - x2)
    power = (y2 * (x / x2) ** (math.log(y2 / y1) / math.log(x2 / x1))
             if y1 > 0 and y1 >= noise else line)
    return max(line, power, y2)


def predict(points: Sequence[Observation], rows: int, memory_cap: int, available: int,
            timeout: float | None) -> Prediction:
    """Predict a run at ``rows`` from ``points`` (at least two sizes) and say if it fits."""
    def at_rows(figure: str) -> float:
        return extrapolate([(p.rows, getattr(p, figure)) for p in points], rows, NOISE[figure])

    start, growth, seconds = int(at_rows("start")), int(at_rows("growth")), at_rows("seconds")
    basis = tuple(sorted(p.rows for p in points)[-2:])
    peak = start + growth
    why = (f"predicted peak {mb(peak)} (the process tree's, before the flow {mb(start)}) "
           f"is over the memory cap of {mb(memory_cap)}" if peak > memory_cap else
           f"predicted growth {mb(growth)} is over the {mb(available)} of memory available"
           if growth > available else
           f"predicted {seconds:,.0f} s per run is over the case time limit of {timeout:g} s"
           if timeout is not None and seconds > timeout else None)
    reason = None if why is None else (
        f"not run at {rows:,} rows: {why} (extrapolated from its memory runs at "
        f"{' and '.join(f'{r:,}' for r in basis)} rows)")
    return Prediction(rows, peak, growth, seconds, reason, basis)
