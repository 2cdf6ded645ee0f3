"""Cases across runs and workloads: several runs merged into one, the workloads a set of
cases ran, and where each case sits (its :class:`Place`: workload, shape and rows), which is
what cases are grouped by and compared within. Light on purpose (no plotting, no templates):
the gate, the verdicts, the recommendation and the harness's tables use it too."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from reporting import units
from runfile import DEFAULT_WORKLOAD, CaseRecord, Key, Run, RunError


def merge(runs: Sequence[Run]) -> Run:
    """One run of all cases; a later run's case replaces an earlier one with the same key
    (workload, label, shape, rows). :class:`RunError` when a workload's source differs
    between the runs (its figures would mix two workloads)."""
    if not runs:
        raise ValueError("merging needs at least one run")
    cases: dict[Key, CaseRecord] = {}
    digests: dict[str, tuple[str, Run]] = {}
    for run in runs:
        for case in run.cases:
            known = digests.setdefault(case.workload, (case.workload_digest or "", run))
            if case.workload_digest and known[0] and known[0] != case.workload_digest:
                raise RunError(f"{run.path}: workload {case.workload} is not the one of "
                               f"{known[1].path} (its source changed: {known[0]} -> "
                               f"{case.workload_digest}); report them apart")
        cases.update(run.by_key())
    last = runs[-1]
    return Run(path=last.path, bench=last.bench, machine=last.machine,
               cases=tuple(cases.values()))


def workloads(cases: Iterable[CaseRecord]) -> list[str]:
    """The workloads of ``cases``: the guide's first, then the others as they first appear."""
    found = list(dict.fromkeys(case.workload for case in cases))
    return sorted(found, key=lambda name: name != DEFAULT_WORKLOAD)


def name_workloads(cases: Iterable[CaseRecord]) -> bool:
    """Whether the workload is worth naming: any case ran another workload than the guide's
    (a run of the guide alone reads as before)."""
    return any(case.workload != DEFAULT_WORKLOAD for case in cases)


def labelled(case: CaseRecord) -> str:
    """The case's label, prefixed with its workload unless it is the guide's
    (``heavy:cached/warm``), as in its name."""
    return case.label if case.workload == DEFAULT_WORKLOAD else f"{case.workload}:{case.label}"


@dataclass(frozen=True, order=True)
class Place:
    """Where a case sits: its workload, shape and rows. Cases are compared only within one
    place; ``named`` (not part of the key) says whether titles name the workload."""

    workload: str
    shape: str
    rows: int
    named: bool = field(default=False, compare=False)

    @property
    def title(self) -> str:
        """``dataframe, 100k rows``, or ``heavy, dataframe, 1M rows`` when ``named``."""
        where = f"{self.shape}, {units.rows(self.rows)} rows"
        return f"{self.workload}, {where}" if self.named else where

    @property
    def slug(self) -> tuple[str | int, ...]:
        """Parts of a chart id: the guide's places keep the ids they had before workloads."""
        if self.workload == DEFAULT_WORKLOAD:
            return (self.shape, self.rows)
        return (self.workload, self.shape, self.rows)


def place(case: CaseRecord, name_workload: bool = False) -> Place:
    return Place(case.workload, case.shape, case.rows, name_workload)


def groups(cases: Sequence[CaseRecord]) -> dict[Place, list[CaseRecord]]:
    """``ok`` cases by place, in workload order (:func:`workloads`), then shape, then rows;
    the workload is named in the places when :func:`name_workloads`."""
    order = {name: index for index, name in enumerate(workloads(cases))}
    name_workload = name_workloads(cases)
    found: dict[Place, list[CaseRecord]] = {}
    for case in sorted((c for c in cases if c.ok),
                       key=lambda c: (order[c.workload], c.shape, c.rows)):
        found.setdefault(place(case, name_workload), []).append(case)
    return found

