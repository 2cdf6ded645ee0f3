"""Which case to use: per workload, payload shape and size, picked from a run's ``ok`` cases.

For each place (workload, shape, rows; see ``reporting.cases``), among its ``ok`` cases
other than ``floor`` (plain pandas, not Prefect: a reference, never a pick): the fastest
(median seconds), the one with the least peak memory growth (``rss_delta_bytes``) and, of
those that persist results (``stored_bytes`` > 0), the one storing the least. Each pick is
set against ``baseline`` and ``floor`` of its place. A case only fast on an input seen
before (``cached/warm``) is said to be so, and the best case on a new input is picked too.
The Pareto front of time against memory is the cases no other case beats on one without
losing on the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reporting import units
from reporting.cases import Place, groups
from reporting.terminal import format_table
from reporting.verdicts import TOLERANCE
from runfile import CaseRecord

FLOOR, BASELINE = "floor", "baseline"
REFERENCES = (BASELINE, FLOOR)
"""What each pick is set against, on its place."""

RECURRING_ONLY = frozenset({"cached/warm"})
"""Cases whose figures hold only when the same input comes back (a cache hit)."""

AGAIN = "when the same input comes back"
REPEATED = "repeated input only"


def time_change(case: CaseRecord, ref: CaseRecord, name: bool = False) -> str | None:
    """``x1.8 faster``, ``x1.2 slower`` or ``as fast`` (within ``TOLERANCE``: noise)
    (``... than baseline`` with ``name``); None without both medians."""
    if not case.median or not ref.median:
        return None
    ratio = case.median / ref.median
    factor = units.ratio(1 / ratio if ratio < 1 else ratio)
    if factor == "x1" or abs(1 - ratio) < TOLERANCE:
        return f"as fast as {ref.label}" if name else "as fast"
    word = "faster" if ratio < 1 else "slower"
    return f"{factor} {word} than {ref.label}" if name else f"{factor} {word}"


def memory_change(case: CaseRecord, ref: CaseRecord, name: bool = False) -> str | None:
    """``40% less memory``, ``25% more memory``, ``x5.2 the memory`` (from twice as much),
    ``the same memory`` (``... than baseline`` with ``name``), of peak RSS growth; None
    without both growths or when the reference's is not positive."""
    mine, theirs = case.rss_delta_bytes, ref.rss_delta_bytes
    if mine is None or not theirs or theirs <= 0:
        return None
    ratio = mine / theirs
    percent = round(abs(1 - ratio) * 100)
    if ratio >= 2:
        text, joint = f"{units.ratio(ratio)} the memory", "of"
    elif ratio <= 0:
        text, joint = "no memory growth", "unlike"
    elif percent < TOLERANCE * 100:  # within run-to-run noise
        text, joint = "the same memory", "as"
    else:
        text, joint = f"{percent}% {'less' if ratio < 1 else 'more'} memory", "than"
    return f"{text} {joint} {ref.label}" if name else text


@dataclass(frozen=True)
class Aspect:
    """What a pick is best at: its figure (None leaves a case out) and how to say it."""

    name: str
    value: Callable[[CaseRecord], float | None]
    says: Callable[[CaseRecord, CaseRecord | None], str]


def _is_fastest(case: CaseRecord, ref: CaseRecord | None) -> str:
    change = time_change(case, ref, name=True) if ref and ref is not case else None
    return f"is {change}" if change else f"is the fastest ({units.seconds(case.median)})"


def _is_lightest(case: CaseRecord, ref: CaseRecord | None) -> str:
    change = memory_change(case, ref, name=True) if ref and ref is not case else None
    return f"needs {change}" if change else \
        f"needs the least memory ({units.megabytes(case.rss_delta_bytes)})"


def _growth(case: CaseRecord) -> int | None:
    """The case's memory growth, when it covers all its work: not on a user's cluster,
    whose workers' memory is not measured (``runner.workers`` is None)."""
    return None if case.runner and case.runner.get("workers") is None \
        else case.rss_delta_bytes


FASTEST = Aspect("fastest", lambda c: c.median, _is_fastest)
LIGHTEST = Aspect("least memory", _growth, _is_lightest)
SMALLEST = Aspect("least stored", lambda c: c.stored_bytes or None,
                  lambda c, _: f"stores the least ({units.megabytes(c.stored_bytes)})")
ASPECTS = (FASTEST, LIGHTEST, SMALLEST)


@dataclass(frozen=True)
class Pick:
    """The best case of its place at one aspect; ``new_input``: the best on an input not
    seen before, picked because the best overall needs a recurring one."""

    aspect: Aspect
    case: CaseRecord
    new_input: bool = False

    @property
    def title(self) -> str:
        return f"{self.aspect.name} on a new input" if self.new_input else self.aspect.name

    @property
    def recurring(self) -> bool:
        return self.case.label in RECURRING_ONLY


@dataclass(frozen=True)
class Recommendation:
    """The picks of one place, its ``ok`` cases, references and Pareto front."""

    place: Place
    cases: tuple[CaseRecord, ...]
    picks: tuple[Pick, ...]
    front: tuple[CaseRecord, ...]

    def reference(self, strategy: str) -> CaseRecord | None:
        return next((c for c in self.cases if c.strategy == strategy), None)

    @property
    def sentence(self) -> str:
        """``At 1,000,000 rows of heavy (dataframe): nocache is x1.8 faster than baseline
        with 40% less memory (...); cached/warm is x12 faster ... when the same input comes
        back.``"""
        ref = self.reference(BASELINE) or self.reference(FLOOR)
        fresh = {p.aspect.name: p.case for p in self.picks if not p.recurring}
        clauses = []
        fast = fresh.get(FASTEST.name)
        if fast:
            clauses.append(f"{fast.label} {_is_fastest(fast, ref)}{self._beside(fast, ref)}")
        light = fresh.get(LIGHTEST.name)
        if light and light is not fast:
            slower = time_change(light, ref) if ref and ref is not light else None
            clauses.append(f"{light.label} {_is_lightest(light, ref)}"
                           + (f" and is {slower}" if slower else ""))
        again: dict[str, list[str]] = {}
        for p in self.picks:
            if p.recurring:
                again.setdefault(p.case.label, []).append(p.aspect.says(p.case, ref))
        clauses += [f"{label} {' and '.join(says)} {AGAIN}" for label, says in again.items()]
        where = f"At {self.place.rows:,} rows of {self.place.workload} ({self.place.shape})"
        return f"{where}: {'; '.join(clauses) or 'no case was measured'}."

    def _beside(self, fast: CaseRecord, ref: CaseRecord | None) -> str:
        """`` with 40% less memory (x7 slower than floor, plain pandas)``."""
        memory = memory_change(fast, ref) if ref and ref is not fast else None
        floor = self.reference(FLOOR)
        against_floor = time_change(fast, floor, name=True) if floor and floor is not ref \
            else None
        return (f" with {memory}" if memory else "") + (
            f" ({against_floor}, plain pandas)" if against_floor else "")


def pareto_front(cases: Sequence[CaseRecord]) -> list[CaseRecord]:
    """The cases with a median and a memory growth that no other case dominates (as fast
    and as light, and better at one of the two), fastest first."""
    measured = [c for c in cases if c.median is not None and _growth(c) is not None]

    def figures(case: CaseRecord) -> tuple[float, float]:
        return (case.median or 0.0, float(case.rss_delta_bytes or 0))

    def dominated(case: CaseRecord) -> bool:
        mine = figures(case)
        return any(all(a <= b for a, b in zip(figures(o), mine, strict=True))
                   and figures(o) != mine for o in measured)

    return sorted((c for c in measured if not dominated(c)), key=figures)


def _picks(candidates: Sequence[CaseRecord]) -> list[Pick]:
    picks = []
    for aspect in ASPECTS:
        scored = [c for c in candidates if aspect.value(c) is not None]
        if not scored:
            continue
        best = min(scored, key=lambda c: aspect.value(c) or 0.0)
        picks.append(Pick(aspect, best))
        fresh = [c for c in scored if c.label not in RECURRING_ONLY]
        if best.label in RECURRING_ONLY and fresh:
            picks.append(Pick(aspect, min(fresh, key=lambda c: aspect.value(c) or 0.0), True))
    return picks


def recommend(cases: Sequence[CaseRecord]) -> list[Recommendation]:
    """One recommendation per place with an ``ok`` case other than ``floor``."""
    found = []
    for place, group in groups(cases).items():
        candidates = [c for c in group if c.strategy != FLOOR]
        if candidates:
            found.append(Recommendation(place, tuple(group), tuple(_picks(candidates)),
                                        tuple(pareto_front(candidates))))
    return found


HEADERS = ("pick", "case", "median", "growth", "stored", "vs baseline", "vs floor")


def cells(recommendation: Recommendation, pick: Pick) -> tuple[str, ...]:
    """A pick as a row of ``HEADERS``."""
    case = pick.case
    label = f"{case.label} ({REPEATED})" if pick.recurring else case.label
    return (pick.title, label, units.seconds(case.median),
            units.megabytes(case.rss_delta_bytes), units.megabytes(case.stored_bytes or None),
            *(_against(case, recommendation.reference(name)) for name in REFERENCES))


def _against(case: CaseRecord, ref: CaseRecord | None) -> str:
    """``x1.8 faster, 40% less memory`` against a reference; ``itself``, or ``-``."""
    if ref is case:
        return "itself"
    changes = [time_change(case, ref), memory_change(case, ref)] if ref else []
    return ", ".join(change for change in changes if change) or "-"


NOTHING = "Nothing to recommend: no ok case other than floor."
NOTE = ("Picked from ok cases only, per workload, payload shape and size; floor (plain "
        "pandas, not Prefect) is a reference, never a pick. Memory is peak RSS growth. "
        f"Differences under {TOLERANCE:.0%} are within run-to-run noise (see the verdicts).")


def render(recommendations: Sequence[Recommendation]) -> str:
    """The recommendations as terminal text: per place, its sentence, then its picks."""
    if not recommendations:
        return NOTHING
    lines = [NOTE]
    for rec in recommendations:
        lines += ["", f"{rec.place.workload}, {rec.place.shape}, {rec.place.rows:,} rows",
                  rec.sentence, format_table(HEADERS, [cells(rec, p) for p in rec.picks])]
    return "\n".join(lines)
