"""The regression gate: did a run get slower, hungrier or broken against a baseline run?

``check(baseline, run)`` compares the cases the two runs have in common, one row each:

* status: a case ``ok`` in the baseline and now ``failed``, ``timeout`` or ``not_applied``
  regressed. Other status changes (fixed, not ok in both, now ``skipped`` because predicted
  not to fit in this machine's memory or time limit) are reported, never failed.
* time: a case's time is its fastest round (interference only ever adds time), read as a
  ratio to its reference in the same run (same workload, shape and rows, ``ok`` in both):
  ``baseline``, which cancels Prefect's per-flow cost and a machine slower or busier for
  Prefect; ``floor`` for the baseline itself, without a baseline, and once the baseline case
  itself regressed (Prefect as a whole got slower, e.g. its flow heartbeat rounding every
  flow up to whole seconds); raw seconds, noted, without either. A case regressed when its
  time grew by more than ``max_slowdown`` both relative to its reference and in seconds,
  with its rounds clear of the baseline's (now's first quartile above the baseline's
  third): seconds alone would fail a slower machine, the ratio alone would fail every case
  whenever the reference ran fast (the floor is milliseconds of pandas, and its time shifts
  between sessions). ``floor`` itself is never gated on time.
* memory: ``rss_delta_bytes`` regressed when it grew by more than ``max_memory_growth`` of
  the baseline's and by more than ``MIN_MEMORY_GROWTH_BYTES``. Runs with different core
  counts are not gated on memory: process-pool and Dask cases start one worker per core.
* stored bytes: a change is reported, never failed.

Cases are matched on workload, strategy/variant, shape and rows (``runfile.Key``). Cases in
only one of the runs are listed (``new``, ``missing``), never failed; so is a case whose
workload's source changed between the runs (``workload_digest`` differs, both recorded):
listed as ``workload changed`` and not gated, its figures measure other work.

The two sides of a ``bin/bench-ab`` job are gated by ``reporting.paired`` instead, which
reuses these rules for status, memory, stored bytes and a changed workload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reporting import units
from reporting.terminal import format_table
from runfile import CaseRecord, Key, Run, RunError

DEFAULT_MAX_SLOWDOWN = 0.9
"""R for time: 0.9 lets a case's fastest round get 90% slower (relative to its reference in
the same run, and in seconds) before it counts, so a doubling fails. How it was chosen
from back-to-back runs: docs/gate.md."""

DEFAULT_MAX_MEMORY_GROWTH = 0.4
"""R for memory: 0.4 lets a case's ``rss_delta_bytes`` grow by 40% before it counts."""

MIN_MEMORY_GROWTH_BYTES = 32 * 2**20
"""Memory growth up to 32 MiB never counts, whatever the ratio: it is within the run-to-run
noise of a fresh process's peak RSS."""

FLOOR, BASELINE = "floor", "baseline"
REFERENCES = (BASELINE, FLOOR)
"""A case's time reference, in order of preference: the first ``ok`` in both runs (and not
the case itself; ``baseline`` not once it regressed itself)."""

LEGEND = ("baseline, now: a case's fastest round; change: relative to its reference in the "
          "same run (baseline, else floor); a slowdown counts beyond the limit both in the "
          "change and in seconds")
"""How to read the table; printed under it."""

CHANGED_TITLE = "workload changed (not gated)"
"""How the cases whose workload's source differs between the runs are listed."""

BENCH_KEYS = ("profile", "rounds_policy", "data_source", "heartbeat", "cores", "s3_endpoint",
              "dask_address", "versions")
"""Entries of a run's ``bench`` object whose differences are worth a note."""

HEADERS = ("case", "baseline", "now", "change", "verdict")
ONLY_IN = ("new (not in the baseline)", "missing (in the baseline only)")
"""How the cases in only one of the runs are listed: those of the run, those of the
baseline."""


@dataclass(frozen=True)
class GateRow:
    """One case in both runs: time as text, the verdict, and whether it regressed."""

    name: str
    key: Key
    baseline: str
    now: str
    change: str
    verdict: str
    regression: bool

    def cells(self) -> tuple[str, ...]:
        """The row as the table shows it, one cell per header."""
        return (self.name, self.baseline, self.now, self.change, self.verdict)


@dataclass(frozen=True)
class GateResult:
    """Every row, the cases in only one run, notes on the runs, and a one-line summary."""

    rows: Sequence[GateRow]
    new: list[str]
    missing: list[str]
    summary: str
    notes: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    """Cases whose workload's source differs between the runs: shown, never gated."""
    headers: tuple[str, ...] = HEADERS
    only_in: tuple[str, str] = ONLY_IN
    preamble: list[str] = field(default_factory=list)
    """Lines printed before the table (which run is which)."""

    @property
    def regressions(self) -> list[GateRow]:
        return [row for row in self.rows if row.regression]

    @property
    def exit_code(self) -> int:
        """1 when any case regressed, else 0."""
        return 1 if self.regressions else 0

    def listed(self) -> list[tuple[str, list[str]]]:
        """The cases listed apart, as (title, names): only titles with names."""
        return [(title, names) for title, names in ((self.only_in[0], self.new),
                                                    (self.only_in[1], self.missing),
                                                    (CHANGED_TITLE, self.changed)) if names]

    def render(self) -> str:
        """The preamble, the table, the cases listed apart, the notes, then the summary."""
        table = format_table(self.headers, [row.cells() for row in self.rows])
        lines = [table, *(f"{title}: {', '.join(names)}" for title, names in self.listed())]
        return "\n".join([*self.preamble, *lines, *self.notes, self.summary])


@dataclass(frozen=True)
class RowVerdict:
    """Parts of a row's verdict, and short reasons it regressed (for the summary)."""

    parts: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    def __add__(self, other: RowVerdict) -> RowVerdict:
        return RowVerdict(self.parts + other.parts, self.reasons + other.reasons)


@dataclass(frozen=True)
class _View:
    """A case's time change read one way: in seconds, or relative to a reference case."""

    unit: str  # "in seconds", "vs baseline", "vs floor"
    change: float  # now's fastest round / the baseline's, each in this unit
    clear: bool  # now's first quartile above the baseline's third, in this unit

    def beyond(self, max_slowdown: float) -> bool:
        return self.change > 1 + max_slowdown and self.clear

    def __str__(self) -> str:
        return f"{units.ratio(self.change)} {self.unit}"


def check(baseline: Run, run: Run, max_slowdown: float = DEFAULT_MAX_SLOWDOWN,
          max_memory_growth: float = DEFAULT_MAX_MEMORY_GROWTH) -> GateResult:
    """Compare ``run`` with ``baseline`` case by case; ``RunError`` without cases in common.

    ``max_slowdown`` R: a case may get slower by R (0.9 = 90%) before it counts; it counts
    when its fastest round grew by more than that both relative to its reference in the same
    run and in seconds, with its rounds clear of the baseline's.
    ``max_memory_growth`` R: a case's ``rss_delta_bytes`` may grow by R (0.4 = 40%), and
    always by ``MIN_MEMORY_GROWTH_BYTES``, before it counts.
    """
    m = match(baseline, run, max_memory_growth)
    before, now, common, memory_limit = m.before, m.now, m.common, m.memory_limit
    changed = [key for key in common if workload_changed(before[key], now[key])]
    compared = [_compare(baseline, run, before[key], now[key], max_slowdown, memory_limit)
                if key not in changed else _changed_row(before[key], now[key])
                for key in common]
    rows = [row for row, _ in compared]
    reasons = [f"{row.name} {', '.join(why)}" for row, why in compared if why]
    return GateResult(rows=rows, new=m.new, missing=m.missing,
                      summary=_summary(reasons, len(rows), m.same_cores, len(changed)),
                      notes=[LEGEND, *differences(baseline, run)],
                      changed=[now[key].name for key in changed])


@dataclass(frozen=True)
class Matched:
    """Two runs' cases matched on ``runfile.Key``, and the memory limit that applies."""

    before: dict[Key, CaseRecord]
    now: dict[Key, CaseRecord]
    common: list[Key]  # in ``now``'s order
    same_cores: bool
    memory_limit: float | None  # None: the core counts differ, memory is not gated

    @property
    def new(self) -> list[str]:
        return [case.name for key, case in self.now.items() if key not in self.before]

    @property
    def missing(self) -> list[str]:
        return [case.name for key, case in self.before.items() if key not in self.now]


def match(baseline: Run, run: Run, max_memory_growth: float) -> Matched:
    """The cases of ``run`` and ``baseline``; ``RunError`` without cases in common."""
    before, now = baseline.by_key(), run.by_key()
    common = [key for key in now if key in before]
    if not common:
        raise RunError(f"{run.path}: no cases in common with {baseline.path}")
    same_cores = baseline.bench.get("cores") == run.bench.get("cores")
    return Matched(before, now, common, same_cores,
                   max_memory_growth if same_cores else None)


def workload_changed(base: CaseRecord, now: CaseRecord) -> bool:
    """Both runs recorded the workload's digest, and it differs."""
    return None not in (base.workload_digest, now.workload_digest) \
        and base.workload_digest != now.workload_digest


def _changed_row(base: CaseRecord, now: CaseRecord) -> tuple[GateRow, tuple[str, ...]]:
    """A case whose workload changed: its fastest rounds shown, never a regression."""
    def fastest(case: CaseRecord) -> str:
        return units.seconds(min(case.rounds)) if case.ok and case.rounds else case.status

    return GateRow(name=now.name, key=now.key, baseline=fastest(base), now=fastest(now),
                   change="-", verdict=changed_verdict(base, now), regression=False), ()


def changed_verdict(base: CaseRecord, now: CaseRecord) -> str:
    """``workload changed (3f2a1b0c -> 9e8d7c6b): not gated``."""
    return (f"workload changed ({str(base.workload_digest)[:8]} -> "
            f"{str(now.workload_digest)[:8]}): not gated")


def _compare(baseline: Run, run: Run, base: CaseRecord, now: CaseRecord, max_slowdown: float,
             max_memory_growth: float | None) -> tuple[GateRow, tuple[str, ...]]:
    """One row, and why it regressed (empty when it did not)."""
    if base.ok and now.ok:
        cells, verdict = _timed(baseline, run, base, now, max_slowdown)
        verdict += memory_verdict(base, now, max_memory_growth) + stored_verdict(base, now)
    else:
        cells, verdict = (base.status, now.status, "-"), status_verdict(base, now)
    row = GateRow(name=now.name, key=now.key, baseline=cells[0], now=cells[1],
                  change=cells[2], verdict="; ".join(verdict.parts) or "ok",
                  regression=bool(verdict.reasons))
    return row, verdict.reasons


def status_verdict(base: CaseRecord, now: CaseRecord) -> RowVerdict:
    """A case not ok in either run: a regression when it was ok and is now failed, timed out
    or not applied; reported otherwise."""
    if base.ok and now.status == "skipped":  # the limits it was predicted against may differ
        return RowVerdict((f"now skipped: {now.reason or 'no reason given'}",))
    if base.ok:
        return RowVerdict((f"REGRESSION: now {now.status}: {now.reason or 'no reason given'}",),
                          (f"now {now.status}",))
    if now.ok:
        return RowVerdict((f"fixed (was {base.status})",))
    if base.status == now.status:
        return RowVerdict((f"{now.status} in both",))
    return RowVerdict((f"was {base.status}, now {now.status}",))


# --- time --------------------------------------------------------------------------------

def _timed(baseline: Run, run: Run, base: CaseRecord, now: CaseRecord,
           max_slowdown: float) -> tuple[tuple[str, str, str], RowVerdict]:
    """The time cells (baseline, now, change) and the time verdict of a case ok in both."""
    if not (base.rounds and now.rounds):
        return ("-", "-", "-"), RowVerdict(("no rounds to compare",))
    seconds, relative = _views(baseline, run, base, now, max_slowdown)
    if now.strategy == FLOOR:
        relative, verdict = None, RowVerdict(("reference: time not gated",))
    else:
        verdict = _time_verdict(seconds, relative, max_slowdown)
    cells = (units.seconds(min(base.rounds)), units.seconds(min(now.rounds)),
             units.change((relative or seconds).change))
    return cells, verdict


def _views(baseline: Run, run: Run, base: CaseRecord, now: CaseRecord,
           max_slowdown: float) -> tuple[_View, _View | None]:
    """The change in seconds, and relative to the case's reference (None without one)."""
    seconds = _view(base, now, (1.0, 1.0), "in seconds")
    for strategy in REFERENCES:
        pair = (baseline.reference(base, strategy), run.reference(now, strategy))
        if strategy == now.strategy or not all(ref and ref.rounds for ref in pair):
            continue
        if strategy == BASELINE and _slower(*_views(baseline, run, *pair, max_slowdown),
                                            max_slowdown=max_slowdown):
            continue  # Prefect as a whole got slower: judge against the floor
        return seconds, _view(base, now, [min(ref.rounds) for ref in pair], f"vs {strategy}")
    return seconds, None


def _view(base: CaseRecord, now: CaseRecord, scales: Sequence[float], unit: str) -> _View:
    """The change of the fastest round and the separation of the quartiles, each run's
    times divided by its own scale (the reference's fastest round, or 1.0 for seconds)."""
    base_scale, now_scale = scales
    return _View(unit, change=(min(now.rounds) / now_scale) / (min(base.rounds) / base_scale),
                 clear=now.iqr[0] / now_scale > base.iqr[1] / base_scale)


def _slower(*views: _View | None, max_slowdown: float) -> bool:
    """Every view (a missing one aside) beyond the limit."""
    return all(view.beyond(max_slowdown) for view in views if view)


def _time_verdict(seconds: _View, relative: _View | None, max_slowdown: float) -> RowVerdict:
    """A regression needs both views beyond the limit; say why a large change did not count."""
    shown, other = (relative, seconds) if relative else (seconds, None)
    if _slower(seconds, relative, max_slowdown=max_slowdown):
        detail = f" ({other})" if other else " (no reference in both runs)"
        return RowVerdict((f"REGRESSION: time {shown}{detail}",),
                          (f"time {units.ratio(shown.change)}",))
    limit = 1 + max_slowdown
    views = [view for view in (shown, other) if view]
    large = [view for view in views if view.change > limit]
    if len(large) == len(views):
        return RowVerdict((f"time {shown}, within the rounds' spread",))
    if large:
        small = next(view for view in views if view.change <= limit)
        return RowVerdict((f"time {large[0]}, but {small}",))
    return RowVerdict(() if relative else (f"time {seconds} (no reference in both runs)",))


# --- memory and storage ------------------------------------------------------------------

def memory_verdict(base: CaseRecord, now: CaseRecord, max_growth: float | None) -> RowVerdict:
    """``rss_delta_bytes``: said when it grew by more than R, a regression when also by more
    than ``MIN_MEMORY_GROWTH_BYTES`` (``max_growth`` None: never a regression)."""
    if base.rss_delta_bytes is None or now.rss_delta_bytes is None:
        return RowVerdict()
    growth_limit = DEFAULT_MAX_MEMORY_GROWTH if max_growth is None else max_growth
    grown = now.rss_delta_bytes - base.rss_delta_bytes
    if grown <= growth_limit * base.rss_delta_bytes:
        return RowVerdict()
    relative = now.rss_delta_bytes / base.rss_delta_bytes if base.rss_delta_bytes > 0 else None
    said = f"memory {units.change(relative)} (+{units.megabytes(grown)})"
    if max_growth is None:
        return RowVerdict((f"{said}, not gated: the core counts differ",))
    if grown <= MIN_MEMORY_GROWTH_BYTES:
        return RowVerdict((f"{said}, under {units.megabytes(MIN_MEMORY_GROWTH_BYTES)}",))
    return RowVerdict((f"REGRESSION: {said}",), (f"memory {units.change(relative)}",))


def stored_verdict(base: CaseRecord, now: CaseRecord) -> RowVerdict:
    """Bytes left in result storage: reported when they differ at the table's precision."""
    before, after = units.megabytes(base.stored_bytes), units.megabytes(now.stored_bytes)
    return RowVerdict(() if before == after else (f"stored {before} -> {after}",))


# --- the runs as a whole -----------------------------------------------------------------

def differences(baseline: Run, run: Run, keys: Sequence[str] = BENCH_KEYS) -> list[str]:
    """One note listing the settings and versions (``keys`` of the ``bench`` object) that
    differ between the runs, if any."""
    before, after = settings(baseline, keys), settings(run, keys)
    changed = [f"{key} {before.get(key)} -> {after.get(key)}" for key in dict.fromkeys(
        [*before, *after]) if before.get(key) != after.get(key)]
    return [f"runs differ: {'; '.join(changed)}"] if changed else []


def settings(run: Run, keys: Sequence[str] = BENCH_KEYS) -> dict[str, Any]:
    """``keys`` of the run's ``bench`` object, a dict as ``key.subkey`` entries."""
    flat: dict[str, Any] = {}
    for key in keys:
        value = run.bench.get(key)
        if isinstance(value, dict):
            flat.update({f"{key}.{name}": item for name, item in value.items()})
        else:
            flat[key] = value
    return flat


def _summary(reasons: list[str], cases: int, same_cores: bool, changed: int = 0) -> str:
    """``2 regressions in 19 cases: <case> time x2.1, <case> now failed``, then what was
    not gated and why."""
    counted = f"in {cases} case{'s' if cases != 1 else ''}"
    if reasons:
        plural = "s" if len(reasons) != 1 else ""
        line = f"{len(reasons)} regression{plural} {counted}: {', '.join(reasons)}"
    else:
        line = f"no regression {counted}"
    if changed:
        line += f" ({changed} not gated: workload changed)"
    return line if same_cores else f"{line} (memory not gated: the core counts differ)"
