"""The paired gate: side B of ``bin/bench-ab`` against side A, case by case.

The two sides ran in one job, their timed rounds alternating in blocks (A B B A A B ...):
round ``i`` of A and round ``i`` of B ran next to each other, so whatever slowed the machine
then slowed both. ``check(a, b)`` therefore reads time block by block:

* time: per case (matched on ``runfile.Key``), the log ratio ``log(B_i / A_i)`` of every
  block both sides timed; the estimate is ``exp`` of their mean (the geometric mean of the
  per-block ratios), its 95% interval a percentile bootstrap of that mean (``RESAMPLES``
  resamples, seeded from the case's name: the same runs give the same interval). A case is
  slower when the whole interval lies beyond ``1 + max_slowdown`` (a failure), faster when
  it lies below ``1 / (1 + max_slowdown)`` (reported). Under ``MIN_BLOCKS`` blocks there is
  no interval: listed, not gated on time. ``floor`` (plain pandas) is shown, never gated on
  time.
* memory, stored bytes, status, a changed workload: as the unpaired gate
  (``reporting.gate``), whose functions are reused. A lever that stopped taking effect
  (``ok`` in A, ``not_applied`` in B) heads the summary.

Cases on one side only are listed, never failed.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from reporting import gate, units
from runfile import CaseRecord, Run, RunError

DEFAULT_PAIRED_MAX_SLOWDOWN = 0.10
"""R for a pair: a case fails when its whole 95% interval of B/A lies above 1 + R. Pairing
cancels most of the machine's drift, so the limit is far tighter than the unpaired gate's."""

MIN_BLOCKS = 6
"""Fewer blocks timed on both sides give no interval: the case is not gated on time. With
fewer, a percentile bootstrap's 95% interval misses a true ratio of 1 far more often than
5% (with 3 blocks it is the smallest and largest ratio: 25% of the time)."""

RESAMPLES = 10_000
CONFIDENCE = 0.95
FLOOR = gate.FLOOR

SIDES = ("A", "B")
TOO_FEW = "too few blocks: not gated on time"
NOT_PAIRED = "not paired (one side timed it alone, or only by its memory run)"
ONLY_IN = ("in B only", "in A only")
HEADERS = ("case", "A", "B", "B/A [95%]", "blocks", "verdict")
SETTINGS = ("versions", "heartbeat", "prefect_defaults")
"""The ``bench`` entries whose differences are shown side by side (besides packages)."""
NOTE_SETTINGS = (*gate.BENCH_KEYS, "prefect_defaults")
"""The ``bench`` entries whose differences the gate's note names."""


def is_pair(a: Run, b: Run) -> bool:
    """Whether ``a`` and ``b`` are the two sides of one ``bin/bench-ab`` job (either order):
    both paired, with the same id, one side A and the other B."""
    if a.pairing is None or b.pairing is None:
        return False
    return a.pairing.get("id") == b.pairing.get("id") \
        and {a.pairing.get("side"), b.pairing.get("side")} == set(SIDES)


def sides(a: Run, b: Run) -> tuple[Run, Run]:
    """The pair as (side A, side B), whatever the order given; ``RunError`` if no pair."""
    if not is_pair(a, b):
        raise RunError(f"{b.path}: not the other side of {a.path} (bin/bench-ab pairing)")
    return (a, b) if a.pairing and a.pairing.get("side") == "A" else (b, a)


def label(run: Run) -> str:
    """The side's label (``prefect==3.6.29``), or its file name."""
    return str((run.pairing or {}).get("label") or run.path.name)


# --- the statistic ----------------------------------------------------------------------

@dataclass(frozen=True)
class PairedTime:
    """B against A on the blocks both sides timed: the geometric mean of ``B_i / A_i`` and
    its 95% bootstrap interval (None under ``MIN_BLOCKS`` blocks), and each side's median."""

    blocks: int
    estimate: float | None = None
    interval: tuple[float, float] | None = None
    a_median: float | None = None
    b_median: float | None = None

    def slower(self, max_slowdown: float) -> bool:
        """The whole interval beyond ``1 + max_slowdown``."""
        return self.interval is not None and self.interval[0] > 1 + max_slowdown

    def faster(self, max_slowdown: float) -> bool:
        """The whole interval below ``1 / (1 + max_slowdown)``."""
        return self.interval is not None and self.interval[1] < 1 / (1 + max_slowdown)

    def __str__(self) -> str:
        """``x1.25 [1.21, 1.29]``, ``x1.05 (no interval)``, or ``-``."""
        if self.estimate is None:
            return "-"
        if self.interval is None:
            return f"{times(self.estimate)} (no interval)"
        low, high = self.interval
        return f"{times(self.estimate)} [{low:.2f}, {high:.2f}]"


def times(value: float | None) -> str:
    """A ratio near 1 to two decimals: ``x1.25``, ``x0.98``; ``-`` for None."""
    if value is None:
        return "-"
    return f"x{value:.2f}" if value < 10 else f"x{value:.3g}"


def paired_time(name: str, a_blocks: Sequence[float | None] | None,
                b_blocks: Sequence[float | None] | None) -> PairedTime:
    """The statistic for one case (``name`` seeds the bootstrap); ``RunError`` when both
    sides have blocks but not as many (they cannot be aligned)."""
    if a_blocks is None or b_blocks is None:
        return PairedTime(blocks=0)
    if len(a_blocks) != len(b_blocks):
        raise RunError(f"{name}: {len(a_blocks)} paired blocks in A, {len(b_blocks)} in B; "
                       "the sides are not aligned")
    both = [(a, b) for a, b in zip(a_blocks, b_blocks, strict=True)
            if a is not None and b is not None and a > 0 and b > 0]
    if not both:
        return PairedTime(blocks=0)
    logs = np.log([b / a for a, b in both])
    found = PairedTime(blocks=len(both), estimate=math.exp(float(logs.mean())),
                       a_median=statistics.median(a for a, _ in both),
                       b_median=statistics.median(b for _, b in both))
    if len(both) < MIN_BLOCKS:
        return found
    return replace(found, interval=_bootstrap(logs, _seed(name)))


def _seed(name: str) -> int:
    """A seed from the case's name (not ``hash``, which changes between processes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def _bootstrap(logs: np.ndarray, seed: int) -> tuple[float, float]:
    """The percentile bootstrap interval of ``exp(mean(logs))``."""
    rng = np.random.default_rng(seed)
    means = logs[rng.integers(0, len(logs), size=(RESAMPLES, len(logs)))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return math.exp(float(low)), math.exp(float(high))


# --- the gate -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PairedRow(gate.GateRow):
    """A gate row (``baseline`` is A, ``now`` is B) with the paired figures."""

    blocks: str = "-"
    time: PairedTime | None = None
    on_time: str | None = None
    """``slower`` (a failure), ``faster`` (beyond the limit), ``too few`` (blocks),
    ``unpaired`` (timed alone on a side), or None (within the limit, or not judged on
    time)."""
    memory: float | None = None  # B's rss_delta_bytes over A's
    status_change: str | None = None  # "ok -> not_applied"
    reasons: tuple[str, ...] = ()
    """Why it failed, short (for the summary)."""

    def cells(self) -> tuple[str, ...]:
        return (self.name, self.baseline, self.now, self.change, self.blocks, self.verdict)


@dataclass(frozen=True)
class PairedResult(gate.GateResult):
    """The gate's result for a pair: its rows are ``PairedRow``s."""

    rows: Sequence[PairedRow]
    headline: str | None = None
    """Levers that stopped taking effect in B (also the summary's first line)."""
    a_label: str = "A"
    b_label: str = "B"

    @property
    def too_few(self) -> list[str]:
        """The cases with too few blocks to be gated on time."""
        return [row.name for row in self.rows if row.on_time == "too few"]

    @property
    def unpaired(self) -> list[str]:
        """The cases a side timed alone: not gated on time."""
        return [row.name for row in self.rows if row.on_time == "unpaired"]

    def listed(self) -> list[tuple[str, list[str]]]:
        own = ((TOO_FEW, self.too_few), (f"{NOT_PAIRED}: not gated on time", self.unpaired))
        return [*super().listed(), *((title, names) for title, names in own if names)]


def check(a: Run, b: Run, max_slowdown: float = DEFAULT_PAIRED_MAX_SLOWDOWN,
          max_memory_growth: float = gate.DEFAULT_MAX_MEMORY_GROWTH) -> PairedResult:
    """Gate side B against side A (given in either order); ``RunError`` when they are not a
    pair, have no case in common, or a case's blocks do not align."""
    given_b_first = a.pairing is not None and a.pairing.get("side") == "B"
    a, b = sides(a, b)
    m = gate.match(a, b, max_memory_growth)
    before, now, common = m.before, m.now, m.common
    rows = [_row(before[key], now[key], max_slowdown, m.memory_limit) for key in common]
    changed = [now[key].name for key in common if gate.workload_changed(before[key], now[key])]
    levers = [row for row in rows if row.status_change == "ok -> not_applied"]
    headline = _headline(levers, b) if levers else None
    summary = _summary(rows, a, b, max_slowdown, m.same_cores, len(changed))
    return PairedResult(
        rows=rows, new=m.new, missing=m.missing,
        summary="\n".join(line for line in (headline, summary) if line),
        notes=[legend(max_slowdown), *gate.differences(a, b, NOTE_SETTINGS),
               *_packages_note(a, b)],
        changed=changed, headers=HEADERS, only_in=ONLY_IN,
        preamble=[_which(a, b, given_b_first)], headline=headline, a_label=label(a),
        b_label=label(b))


def _which(a: Run, b: Run, given_b_first: bool) -> str:
    order = " (given in the order B, A)" if given_b_first else ""
    return (f"paired runs (bin/bench-ab): A = {label(a)} ({a.path.name}), B = {label(b)} "
            f"({b.path.name}); B is gated against A{order}")


def legend(max_slowdown: float = DEFAULT_PAIRED_MAX_SLOWDOWN) -> str:
    """How to read the paired table."""
    return (f"A, B: the median of the case's blocks timed on both sides; B/A: the geometric "
            f"mean of the per-block ratios B_i/A_i and its {CONFIDENCE:.0%} bootstrap "
            f"interval; a case fails when the whole interval lies above "
            f"{1 + max_slowdown:.2f} (under {MIN_BLOCKS} blocks: not gated on time)")


def _row(base: CaseRecord, now: CaseRecord, max_slowdown: float,
         memory_limit: float | None) -> PairedRow:
    """One case in both runs: its figures and verdict (status, time, memory, stored)."""
    time = paired_time(now.name, base.paired_blocks, now.paired_blocks)
    memory = _memory_ratio(base, now)
    common = {"name": now.name, "key": now.key, "blocks": str(time.blocks or "-"),
              "time": time, "memory": memory, "change": str(time)}
    if gate.workload_changed(base, now):
        return PairedRow(**common, baseline=_seconds(base, time.a_median),
                         now=_seconds(now, time.b_median), regression=False,
                         verdict=gate.changed_verdict(base, now))
    if not (base.ok and now.ok):
        verdict = gate.status_verdict(base, now)
        change = None if base.status == now.status else f"{base.status} -> {now.status}"
        return PairedRow(**{**common, "change": "-"}, baseline=base.status, now=now.status,
                         verdict="; ".join(verdict.parts), regression=bool(verdict.reasons),
                         status_change=change, reasons=verdict.reasons)
    unpaired = base.paired_blocks is None or now.paired_blocks is None
    on_time = _on_time(now, time, max_slowdown, unpaired)
    verdict = _time_verdict(now, on_time, time, max_slowdown) \
        + gate.memory_verdict(base, now, memory_limit) + gate.stored_verdict(base, now)
    return PairedRow(**common, baseline=_seconds(base, time.a_median),
                     now=_seconds(now, time.b_median), verdict="; ".join(verdict.parts) or "ok",
                     regression=bool(verdict.reasons), on_time=on_time,
                     reasons=verdict.reasons)


def _seconds(case: CaseRecord, paired_median: float | None) -> str:
    """The median of the paired blocks, else of the rounds; the status when not ok."""
    if not case.ok:
        return case.status
    return units.seconds(paired_median if paired_median is not None else case.median)


def _memory_ratio(base: CaseRecord, now: CaseRecord) -> float | None:
    """B's peak RSS growth over A's, for a case ok on both sides."""
    if not (base.ok and now.ok) or not base.rss_delta_bytes or now.rss_delta_bytes is None:
        return None
    return now.rss_delta_bytes / base.rss_delta_bytes


def _on_time(now: CaseRecord, time: PairedTime, max_slowdown: float,
             unpaired: bool) -> str | None:
    """How a case ok on both sides fares on time (see ``PairedRow.on_time``)."""
    if now.strategy == FLOOR:
        return None
    if unpaired:
        return "unpaired"
    if time.interval is None:
        return "too few"
    if time.slower(max_slowdown):
        return "slower"
    return "faster" if time.faster(max_slowdown) else None


def _time_verdict(now: CaseRecord, on_time: str | None, time: PairedTime,
                  max_slowdown: float) -> gate.RowVerdict:
    if now.strategy == FLOOR:
        return gate.RowVerdict(("reference: time not gated",))
    limit = f"{max_slowdown:.0%}"
    if on_time == "slower":
        return gate.RowVerdict((f"REGRESSION: slower beyond {limit}: {time}",),
                               (f"time {time}",))
    if on_time == "faster":
        return gate.RowVerdict((f"faster beyond {limit}: {time}",))
    if on_time == "unpaired":
        return gate.RowVerdict((f"{NOT_PAIRED}: not gated on time",))
    if on_time == "too few":
        return gate.RowVerdict((f"{TOO_FEW} ({time.blocks} of {MIN_BLOCKS})",))
    return gate.RowVerdict()


def _headline(levers: list[PairedRow], b: Run) -> str:
    """``HEADLINE: 1 lever stopped taking effect in B ...: case (reason)``."""
    cases = b.by_key()
    named = ", ".join(f"{row.name} ({cases[row.key].reason or 'no reason given'})"
                      for row in levers)
    plural = "s" if len(levers) != 1 else ""
    return (f"HEADLINE: {len(levers)} lever{plural} stopped taking effect in B {label(b)} "
            f"(ok in A, not_applied in B): {named}")


def _summary(rows: list[PairedRow], a: Run, b: Run, max_slowdown: float,
             same_cores: bool, changed: int) -> str:
    """``B x against A y: 2 of 14 cases slower beyond 10% (whole 95% interval): ...``,
    then the other failures, the faster cases and what was not gated."""
    beyond = f"beyond {max_slowdown:.0%}"
    slower = [f"{row.name} {row.time}" for row in rows if row.on_time == "slower"]
    parts = [f"{len(slower)} of {len(rows)} cases slower {beyond} (whole {CONFIDENCE:.0%} "
             f"interval): {', '.join(slower)}" if slower else
             f"no case of {len(rows)} slower {beyond} (whole {CONFIDENCE:.0%} interval)"]
    listed = (
        ("broken", [f"{row.name} now {row.now}" for row in rows
                    if row.regression and row.status_change]),
        ("grew in memory", [f"{row.name} memory {units.change(row.memory)}" for row in rows
                            if any(why.startswith("memory") for why in row.reasons)]),
        (f"faster {beyond}", [f"{row.name} {row.time}" for row in rows
                              if row.on_time == "faster"]))
    parts += [f"{len(names)} {title}: {', '.join(names)}" for title, names in listed if names]
    few = sum(row.on_time == "too few" for row in rows)
    parts += [f"{few} not gated on time (too few blocks)"] if few else []
    alone = sum(row.on_time == "unpaired" for row in rows)
    parts += [f"{alone} not gated on time (not paired)"] if alone else []
    parts += [f"{changed} not gated: workload changed"] if changed else []
    parts += [] if same_cores else ["memory not gated: the core counts differ"]
    return f"B {label(b)} against A {label(a)}: " + "; ".join(parts)


# --- what differs between the sides -------------------------------------------------------

MAX_PACKAGES = 40
"""At most this many differing packages are listed side by side."""


def setting_differences(a: Run, b: Run) -> list[tuple[str, str, str]]:
    """``(setting, A's, B's)`` for each of ``SETTINGS`` (a dict as ``key.name``) that
    differs."""
    before, after = gate.settings(a, SETTINGS), gate.settings(b, SETTINGS)
    return [(key, _text(before.get(key)), _text(after.get(key)))
            for key in dict.fromkeys([*before, *after]) if before.get(key) != after.get(key)]


def package_differences(a: Run, b: Run) -> list[tuple[str, str, str]]:
    """``(distribution, A's version, B's)`` for each package installed in a different version
    (or on one side only), by name; empty when a run did not record its packages."""
    before, after = a.bench.get("packages"), b.bench.get("packages")
    if not before or not after:
        return []
    return [(name, _text(before.get(name)), _text(after.get(name)))
            for name in sorted({*before, *after}, key=str.lower)
            if before.get(name) != after.get(name)]


def _packages_note(a: Run, b: Run) -> list[str]:
    found = package_differences(a, b)
    if not found:
        return []
    shown = ", ".join(f"{name} {old} -> {new}" for name, old, new in found[:MAX_PACKAGES])
    more = f" and {len(found) - MAX_PACKAGES} more" if len(found) > MAX_PACKAGES else ""
    return [f"{packages_differ(len(found))}: {shown}{more}"]


def packages_differ(count: int) -> str:
    """``1 package differs``, ``5 packages differ``."""
    return f"{count} package differs" if count == 1 else f"{count} packages differ"


def _text(value: object) -> str:
    """A setting or version as text; ``absent`` on a side that lacks it."""
    return "absent" if value is None else str(value)
