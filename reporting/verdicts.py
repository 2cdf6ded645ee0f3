"""The guide's six claims, and this project's own, each judged from a run's cases.

A claim compares candidate cases with a reference case on the same workload, shape and rows
(``quote`` against ``baseline``, ``compressed/zstd`` against ``compressed/none``...) on one
or more parts: time (median seconds), memory (``rss_delta_bytes``) or space (``stored_bytes``). A
difference counts only beyond ``TOLERANCE`` and, for time, only when the two cases'
interquartile ranges do not overlap. Only ``ok`` cases are evidence; the others are listed
as left out. A claim with no comparable pair is "not measured", naming what is missing.
With several workloads in a run, each claim is judged on each workload apart
(:func:`per_workload`): a guide case is never compared with a heavy one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from reporting import units
from reporting.cases import workloads
from runfile import DEFAULT_WORKLOAD, CaseRecord

TOLERANCE = 0.10
"""Relative differences below this count as "no change"."""

HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured"
LOWER, HIGHER, SAME = "lower", "higher", "same"


@dataclass(frozen=True)
class Metric:
    """A figure of a case, how it is written, and the words for less and more of it."""

    name: str
    value: Callable[[CaseRecord], float | None]
    write: Callable[[float | None], str]
    less: str
    more: str


TIME = Metric("time", lambda c: c.median, units.seconds, "faster", "slower")
MEMORY = Metric("memory", lambda c: c.rss_delta_bytes, units.megabytes,
                "less memory", "more memory")
SPACE = Metric("space", lambda c: c.stored_bytes, units.megabytes, "smaller", "larger")


@dataclass(frozen=True)
class Part:
    """One measurable half of a claim: which way the metric must move, and how to say it."""

    metric: Metric
    expect: str
    says: str
    denies: str


SAVES_TIME = Part(TIME, LOWER, "saves time", "does not save time")
SAVES_MEMORY = Part(MEMORY, LOWER, "saves memory", "does not save memory")
SAVES_SPACE = Part(SPACE, LOWER, "saves space", "does not save space")
COSTS_TIME = Part(TIME, HIGHER, "costs time", "costs no time")
COSTS_MEMORY = Part(MEMORY, HIGHER, "costs memory", "costs no memory")


@dataclass(frozen=True)
class Comparison:
    """A case against its reference on one metric."""

    case: CaseRecord
    reference: CaseRecord
    metric: Metric

    @property
    def value(self) -> float | None:
        return self.metric.value(self.case)

    @property
    def reference_value(self) -> float | None:
        return self.metric.value(self.reference)

    @property
    def direction(self) -> str:
        """``lower``, ``higher`` or ``same`` (within tolerance) than the reference."""
        value, ref = self.value, self.reference_value
        assert value is not None and ref is not None
        if abs(value - ref) <= TOLERANCE * abs(ref) or self._iqrs_overlap():
            return SAME
        return LOWER if value < ref else HIGHER

    def _iqrs_overlap(self) -> bool:
        if self.metric is not TIME:
            return False
        mine, theirs = self.case.iqr, self.reference.iqr
        return mine is not None and theirs is not None and (
            mine[0] <= theirs[1] and theirs[0] <= mine[1])

    def text(self, name_reference: bool = True) -> str:
        """``x2.5 faster than baseline (1.69 s vs 4.25 s)`` or ``no change in time (...)``."""
        value, ref = self.value, self.reference_value
        figures = f"({self.metric.write(value)} vs {self.metric.write(ref)})"
        direction = self.direction
        if direction == SAME:
            against = f" vs {self.reference.label}" if name_reference else ""
            return f"no change in {self.metric.name}{against} {figures}"
        word = self.metric.less if direction == LOWER else self.metric.more
        than = f" than {self.reference.label}" if name_reference else ""
        return f"{_factor(value, ref)}{word}{than} {figures}"


def _factor(value: float | None, ref: float | None) -> str:
    """``x2.5 `` (always >= 1) when both figures are positive, else nothing."""
    if not value or not ref or value <= 0 or ref <= 0:
        return ""
    return f"{units.ratio(max(value, ref) / min(value, ref))} "


@dataclass(frozen=True)
class Verdict:
    """One claim: its outcome, the measured figure behind it, the cases it rests on."""

    claim: str
    outcome: str
    figure: str
    cases: tuple[str, ...]
    left_out: tuple[str, ...] = ()
    by_size: str = ""
    """From which measured size the claim holds, per payload shape (``holds from 1M rows``)."""
    workload: str = DEFAULT_WORKLOAD
    """The workload whose cases were judged."""

    @property
    def kind(self) -> str:
        """``holds``, ``fails``, ``partial`` or ``unmeasured``: for styling."""
        return {HOLDS: "holds", FAILS: "fails", NOT_MEASURED: "unmeasured"}.get(
            self.outcome, "partial")


@dataclass(frozen=True)
class _Pair:
    case: CaseRecord
    reference: CaseRecord


def judge(claim: str, cases: Sequence[CaseRecord], candidates: tuple[str, ...],
          reference: str, parts: tuple[Part, ...]) -> Verdict:
    """Judge ``claim``: each ``ok`` candidate against the ``ok`` reference at its place."""
    wanted = [c for c in cases if (c.strategy in candidates or c.label in candidates)
              and c.label != reference]
    refs = [c for c in cases if c.label == reference]
    at = {_place(c): c for c in refs if c.ok}
    pairs = [_Pair(c, at[_place(c)]) for c in wanted if c.ok and _place(c) in at]
    unpaired = [c for c in wanted if c.ok and _place(c) not in at]
    left_out = (*(f"{c.name}: {c.status}" for c in (*wanted, *refs) if not c.ok),
                *(f"{c.name}: no ok {reference} on its shape and rows" for c in unpaired))
    if not pairs:
        return Verdict(claim, NOT_MEASURED, _missing(wanted, refs, candidates, reference),
                       (), left_out)
    used = _unique(name for pair in pairs for name in (pair.case.name, pair.reference.name))
    return Verdict(claim, _outcome(pairs, parts), _figure(pairs, parts), used, left_out,
                   _by_size(pairs, parts))


def _place(case: CaseRecord) -> tuple[str, str, int]:
    return (case.workload, case.shape, case.rows)


def _by_size(pairs: list[_Pair], parts: tuple[Part, ...]) -> str:
    """Per payload shape (and per compared case, when the claim compares several), the
    claim judged at each size that case was measured at, said as from which size it holds."""
    several = len({pair.case.label for pair in pairs}) > 1
    lines = []
    for label, shape in _unique((pair.case.label, pair.case.shape) for pair in pairs):
        mine = [p for p in pairs if p.case.shape == shape and (p.case.label == label
                                                               or not several)]
        judged = [(rows, _outcome([p for p in mine if p.case.rows == rows], parts))
                  for rows in sorted({p.case.rows for p in mine})]
        judged = [(rows, outcome) for rows, outcome in judged if outcome != NOT_MEASURED]
        if judged:
            where = f"{label} on {shape}" if several else shape
            lines.append(f"{where}: {from_which_size(judged)}")
    return "; ".join(lines)


def from_which_size(judged: Sequence[tuple[int, str]]) -> str:
    """``holds from 1,000,000 rows (not at 100,000 rows)``, ``does not hold at any size up
    to 2,846,722 rows``...: outcomes by size (rows ascending) in one phrase."""
    holding = [rows for rows, outcome in judged if outcome == HOLDS]
    sizes = [rows for rows, _ in judged]
    others = " or ".join(f"{rows:,}" for rows in sizes if rows not in holding)
    if len(judged) == 1:
        return f"{judged[0][1]} at {sizes[0]:,} rows (the one size measured)"
    if not holding:
        partly = any(outcome != FAILS for _, outcome in judged)
        return f"does not hold{' fully' if partly else ''} at any size up to {sizes[-1]:,} rows"
    if len(holding) == len(sizes):
        return f"holds at every size measured, {sizes[0]:,} to {sizes[-1]:,} rows"
    if holding == sizes[sizes.index(holding[0]):]:
        return f"holds from {holding[0]:,} rows (not at {others} rows)"
    if holding == sizes[:len(holding)]:
        return f"holds up to {holding[-1]:,} rows (not at {others} rows)"
    return f"holds at {' and '.join(f'{rows:,}' for rows in holding)} rows (not at {others})"


def _missing(wanted: list[CaseRecord], refs: list[CaseRecord], candidates: tuple[str, ...],
             reference: str) -> str:
    names = " or ".join(candidates)
    if not any(c.ok for c in wanted):
        return f"missing: no ok case of {names}"
    if not any(c.ok for c in refs):
        return f"missing: no ok {reference} case"
    return f"missing: no ok {reference} case on the same shape and rows as {names}"


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _measured(pairs: list[_Pair], part: Part) -> list[Comparison]:
    comparisons = [Comparison(p.case, p.reference, part.metric) for p in pairs]
    return [c for c in comparisons if c.value is not None and c.reference_value is not None]


def _outcome(pairs: list[_Pair], parts: tuple[Part, ...]) -> str:
    """Combine each part's outcome: all hold, none holds, or which part holds where."""
    per_part = [(part, _part_outcome(pairs, part)) for part in parts]
    outcomes = {outcome for _, outcome in per_part}
    for plain in (HOLDS, FAILS, NOT_MEASURED):
        if outcomes == {plain}:
            return plain
    if len(parts) == 1:
        return f"{HOLDS} only when run {per_part[0][1]}"
    return "holds in part: " + "; ".join(_part_text(part, outcome) for part, outcome in per_part)


def _part_text(part: Part, outcome: str) -> str:
    if outcome == HOLDS:
        return part.says
    if outcome == FAILS:
        return part.denies
    if outcome == NOT_MEASURED:
        return f"{part.metric.name} not measured"
    return f"{part.says} only when run {outcome}"


def _part_outcome(pairs: list[_Pair], part: Part) -> str:
    """``holds``, ``does not hold``, ``not measured``, or the condition where it holds."""
    comparisons = _measured(pairs, part)
    if not comparisons:
        return NOT_MEASURED
    holding = [c for c in comparisons if c.direction == part.expect]
    if not holding:
        return FAILS
    if len(holding) == len(comparisons):
        return HOLDS
    varying = _varying(comparisons)
    if varying == {"label"}:
        return "using " + " or ".join(_unique(c.case.label for c in holding))
    return " or ".join(_unique(_condition(c.case, varying) for c in holding))


def _varying(comparisons: list[Comparison]) -> set[str]:
    """Which of label, shape and rows differ between the compared cases."""
    return {name for name, get in (("label", lambda c: c.label), ("shape", lambda c: c.shape),
                                   ("rows", lambda c: c.rows))
            if len({get(c.case) for c in comparisons}) > 1}


def _condition(case: CaseRecord, varying: set[str]) -> str:
    """``using parallel/threads``, ``on records at 10k rows``: what sets this case apart."""
    words = []
    if "label" in varying:
        words.append(f"using {case.label}")
    if "shape" in varying:
        words.append(f"on {case.shape}")
    if "rows" in varying:
        words.append(f"at {units.rows(case.rows)} rows")
    return " ".join(words)


def _figure(pairs: list[_Pair], parts: tuple[Part, ...]) -> str:
    """One clause (and line) per compared case: where, then each part's measured change."""
    several_labels = len({p.case.label for p in pairs}) > 1
    clauses = []
    for pair in pairs:
        where = f"{pair.case.shape}, {units.rows(pair.case.rows)} rows"
        if several_labels:
            where = f"{pair.case.label} ({where})"
        measured = [c for part in parts for c in _measured([pair], part)]
        texts = [c.text(name_reference=i == 0) for i, c in enumerate(measured)]
        clauses.append(f"{where}: {', '.join(texts) or 'no figures recorded'}")
    return ";\n".join(clauses)


REFERENCES: dict[str, str] = {
    "quote": "baseline", "s3": "baseline", "disk": "baseline", "cached/warm": "cached/cold",
    "compressed": "compressed/none", "parallel": "baseline", "baseline": "nocache",
}
"""What each claim judges (a strategy, or strategy/variant) against: the claims below, as
data the harness reads too (a reference case gets its full rounds, ``bench.rounds``)."""


REFERENCE_LABELS = frozenset({"floor", *REFERENCES.values()})
"""The cases other cases are judged against."""


def reference_of(label: str) -> str:
    """The case a case of ``label`` is compared with: its claim's reference, ``floor`` for
    ``nocache`` (the fastest Prefect flow), else ``baseline``."""
    strategy = label.partition("/")[0]
    if label in ("baseline", "nocache"):
        return "floor"
    return REFERENCES.get(label) or REFERENCES.get(strategy) or "baseline"


def quote(cases: Sequence[CaseRecord]) -> Verdict:
    """``quote`` against ``baseline``, on time."""
    return judge("quote saves time", cases, ("quote",), REFERENCES["quote"], (SAVES_TIME,))


def s3_storage(cases: Sequence[CaseRecord]) -> Verdict:
    """``s3`` against ``baseline``, on peak RSS growth."""
    return judge("S3 result storage saves memory", cases, ("s3",), REFERENCES["s3"],
                 (SAVES_MEMORY,))


def disk(cases: Sequence[CaseRecord]) -> Verdict:
    """``disk`` against ``baseline``, on peak RSS growth and time."""
    return judge("saving to disk within the flow saves memory and time", cases, ("disk",),
                 REFERENCES["disk"], (SAVES_MEMORY, SAVES_TIME))


def caching(cases: Sequence[CaseRecord]) -> Verdict:
    """``cached/warm`` against ``cached/cold``, on time (compute shows as time here)."""
    return judge("caching saves time and compute", cases, ("cached/warm",),
                 REFERENCES["cached/warm"], (SAVES_TIME,))


def compression(cases: Sequence[CaseRecord]) -> Verdict:
    """Each ``compressed/*`` against the uncompressed ``compressed/none``: space and time."""
    return judge("compression saves space and costs time", cases, ("compressed",),
                 REFERENCES["compressed"], (SAVES_SPACE, COSTS_TIME))


def task_runner(cases: Sequence[CaseRecord]) -> Verdict:
    """Each ``parallel/*`` runner against ``baseline``, on time."""
    return judge("a task runner saves time on parallel work", cases, ("parallel",),
                 REFERENCES["parallel"], (SAVES_TIME,))


def default_cache_policy(cases: Sequence[CaseRecord]) -> Verdict:
    """``baseline`` (Prefect's default cache policy) against ``nocache``: time and memory."""
    return judge("Prefect's default cache policy costs time and memory on big inputs", cases,
                 ("baseline",), REFERENCES["baseline"], (COSTS_TIME, COSTS_MEMORY))


CLAIMS = (quote, s3_storage, disk, caching, compression, task_runner, default_cache_policy)
"""The guide's six claims in its order, then this project's own."""


def verdicts(cases: Sequence[CaseRecord]) -> list[Verdict]:
    """Every claim's verdict on cases of one workload, in the order of ``CLAIMS``."""
    return [claim(cases) for claim in CLAIMS]


def per_workload(cases: Sequence[CaseRecord]) -> list[list[Verdict]]:
    """Per claim (in the order of ``CLAIMS``), its verdict on each workload of ``cases``
    (the guide's first; just the guide's for a run without workloads)."""
    names = workloads(cases) or [DEFAULT_WORKLOAD]
    judged = [[replace(verdict, workload=name) for verdict in
               verdicts([c for c in cases if c.workload == name])] for name in names]
    return [list(row) for row in zip(*judged, strict=True)]
