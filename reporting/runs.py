"""One saved run as the report and the gate see it: cases keyed the same way everywhere.

A run file is pytest-benchmark's JSON with our ``extra_info`` and ``bench`` object
(``bench/runfile.py``). ``load`` turns it into a ``Run`` of ``CaseResult``s, or raises
``RunError`` with one line when the file is unusable (unreadable, not a run of this tool,
incomplete).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.runfile import EXTRA_INFO_KEYS, load_run


class RunError(ValueError):
    """A run file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class CaseResult:
    """One benchmark entry: the case, its status, its rounds and its other figures."""

    strategy: str
    variant: str | None
    shape: str
    rows: int
    status: str
    reason: str | None
    rounds: tuple[float, ...]
    peak_rss_bytes: int | None
    start_rss_bytes: int | None
    rss_delta_bytes: int | None
    stored_bytes: int | None
    checksum: str | None
    memory_timeline: tuple[tuple[float, int], ...] = field(default=(), repr=False)
    runner: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """For parallel cases: runner, workers, movement, cluster (absent in older runs)."""
    prediction: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """For a profile's guarded sizes (xl): the predicted run (``bench.fits.Prediction``)."""

    @property
    def label(self) -> str:
        """``strategy`` or ``strategy/variant``: the name used in tables and legends."""
        return f"{self.strategy}/{self.variant}" if self.variant else self.strategy

    @property
    def key(self) -> tuple[str, str, int]:
        """What identifies a case across runs: label, shape, rows."""
        return (self.label, self.shape, self.rows)

    @property
    def name(self) -> str:
        """``label [shape, rows]``: the case as one line of text."""
        return f"{self.label} [{self.shape}, {self.rows:,} rows]"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def median(self) -> float | None:
        """Median seconds of the timed rounds (None without rounds)."""
        return statistics.median(self.rounds) if self.rounds else None

    @property
    def iqr(self) -> tuple[float, float] | None:
        """First and third quartile of the rounds (both the round for a single round)."""
        if not self.rounds:
            return None
        if len(self.rounds) == 1:
            return (self.rounds[0], self.rounds[0])
        q1, _, q3 = statistics.quantiles(self.rounds, n=4, method="inclusive")
        return (q1, q3)


@dataclass(frozen=True)
class Run:
    """A loaded run: where it came from, its ``bench`` object, its cases in file order."""

    path: Path
    bench: dict[str, Any]
    machine: dict[str, Any]
    cases: tuple[CaseResult, ...]
    created: str | None = None
    commit: dict[str, Any] = field(default_factory=dict)

    def by_key(self) -> dict[tuple[str, str, int], CaseResult]:
        return {case.key: case for case in self.cases}

    def reference(self, case: CaseResult, strategy: str = "floor") -> CaseResult | None:
        """The ``ok`` case of ``strategy`` on the same shape and rows, if the run has it."""
        for other in self.cases:
            if (other.strategy, other.shape, other.rows) == (strategy, case.shape, case.rows):
                return other if other.ok else None
        return None


def load(path: Path | str, allow_incomplete: bool = False) -> Run:
    """Load a run file; ``RunError`` (one line) when it cannot be used."""
    path = Path(path)
    try:
        data = load_run(path)
    except ValueError as err:
        raise RunError(str(err)) from None
    bench = data["bench"]
    if not allow_incomplete and not bench.get("complete", False):
        raise RunError(f"{path}: an incomplete run (interrupted or killed); "
                       "not usable as a result")
    cases = []
    for entry in data.get("benchmarks") or []:
        info = entry.get("extra_info") or {}
        missing = [key for key in EXTRA_INFO_KEYS if key not in info]
        if missing:
            raise RunError(f"{path}: benchmark {entry.get('name')!r} lacks "
                           f"extra_info keys {', '.join(missing)}")
        cases.append(_case(entry, info))
    if not cases:
        raise RunError(f"{path}: a run with no benchmark cases")
    return Run(path=path, bench=bench, machine=data.get("machine_info") or {},
               cases=tuple(cases), created=data.get("datetime"),
               commit=data.get("commit_info") or {})


def _case(entry: dict[str, Any], info: dict[str, Any]) -> CaseResult:
    stats = entry.get("stats") or {}
    return CaseResult(
        strategy=info["strategy"], variant=info["variant"], shape=info["shape"],
        rows=int(info["rows"]), status=info["status"], reason=info["reason"],
        rounds=tuple(float(x) for x in stats.get("data") or ()),
        peak_rss_bytes=info["peak_rss_bytes"], start_rss_bytes=info["start_rss_bytes"],
        rss_delta_bytes=info["rss_delta_bytes"], stored_bytes=info["stored_bytes"],
        checksum=info["checksum"],
        memory_timeline=tuple((float(t), int(r)) for t, r in info["memory_timeline"] or ()),
        runner=info.get("runner"), prediction=info.get("prediction"),
    )
