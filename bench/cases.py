"""Profiles -> benchmark cases: which workloads, data sizes, payload shapes and how many
rounds, and which services the selected cases need.

A profile names the sizes it measures and a timing budget per case: a case gets as many
rounds as fit in the budget (at least ``min_rounds``, at most ``max_rounds``), so slow cases
(lzma on a million rows, a Dask cluster started per flow run) cap their rounds and the
profile stays within its time budget. The number of rounds is stored with every result.
A profile's ``guarded`` sizes run only for the cases whose smaller sizes predict that they
fit in memory and time (``bench.fits``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from bench.options import selects
from bench.services.ray import available_engines
from bench.session import SessionOptions
from runfile import case_name
from strategies import STRATEGIES, workloads
from strategies.base import Case, Cluster, Context, Strategy

RECORDS_ROWS = 10_000


@dataclass(frozen=True)
class WorkloadPlan:
    """A workload a profile runs (``strategies.workloads``): on which of its sizes (None:
    all), for which strategies or strategy/variant labels (None: all), and whether in the
    records shape too (where the workload has it)."""

    workload: str = workloads.DEFAULT
    sizes: tuple[str, ...] | None = None
    strategies: frozenset[str] | None = None
    records: bool = True

    def selects(self, strategy: str, variant: str | None) -> bool:
        return (self.strategies is None or strategy == "floor" or strategy in self.strategies
                or case_name(strategy, variant) in self.strategies)


GUIDE = (WorkloadPlan(),)
HEAVY_CASES = frozenset({"baseline", "nocache", "cached", "parallel/threads"})
"""What ``heavy`` runs in the standard profile and up: the cases of the verdicts whose
answer depends on how much work the transform does (caching, task runners, the default
cache policy), within the profile's time."""
HEAVY_SMALL = WorkloadPlan("heavy", ("small",), HEAVY_CASES, records=False)


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: tuple[str, ...]
    budget_s: float
    min_rounds: int = 2
    max_rounds: int = 10
    warmup_rounds: int = 1
    guarded: tuple[str, ...] = ()  # sizes run only where predicted to fit (``bench.fits``)
    workloads: tuple[WorkloadPlan, ...] = GUIDE  # unless --bench-workload names others
    run_limit_s: float | None = None  # skip a case whose one run at this size is predicted,
    # from its smaller size, to take longer (``Orchestrator``); never a reference case

    def __post_init__(self) -> None:
        if self.guarded and len(self.sizes) - len(self.guarded) < 2:
            raise ValueError(f"profile {self.name}: a guarded size is predicted from two "
                             "smaller sizes; give at least two")

    def rounds(self, probe_s: float) -> int:
        """Rounds for a case whose warm-up run took ``probe_s`` seconds."""
        fit = math.floor(self.budget_s / max(probe_s, 1e-6))
        return max(self.min_rounds, min(self.max_rounds, fit))


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", ("tiny",), budget_s=0.5, min_rounds=1, max_rounds=2),
    "quick": Profile("quick", ("small",), budget_s=0.9, min_rounds=1, max_rounds=5),
    "standard": Profile("standard", ("small", "medium"), budget_s=2.5, min_rounds=2,
                        max_rounds=8, workloads=(*GUIDE, HEAVY_SMALL), run_limit_s=60.0),
    "full": Profile("full", ("small", "medium", "full"), budget_s=8.0, min_rounds=3,
                    workloads=(*GUIDE, WorkloadPlan("heavy", ("small", "medium"), HEAVY_CASES,
                                                    False))),
    "xl": Profile("xl", ("small", "medium", "xl"), budget_s=8.0, min_rounds=2,
                  guarded=("xl",), workloads=(*GUIDE, HEAVY_SMALL)),
}


@dataclass(frozen=True)
class BenchCase:
    """A strategy case on one data size; its ``source`` is resolved later (data is lazy).
    ``workload`` is the spec of the workload it runs (``strategies.workloads``)."""

    strategy: str
    variant: str | None
    shape: str
    size: str
    workload: str = workloads.DEFAULT

    @property
    def name(self) -> str:
        """``label-shape-size``, prefixed by a workload other than the guide's
        (``runfile.case_name``): the pytest id and progress name."""
        return case_name(self.strategy, self.variant, self.shape, self.size,
                         workloads.load(self.workload).name)

    def on(self, source: str) -> Case:
        """The case to run on the parquet file ``source``."""
        return Case(self.strategy, self.variant, self.shape, source, self.workload)


def plans(profile: Profile, chosen: tuple[str, ...] | None) -> tuple[WorkloadPlan, ...]:
    """The workloads a run measures: the profile's, or those ``--bench-workload`` chose
    (each on all the profile's sizes)."""
    return profile.workloads if chosen is None else tuple(WorkloadPlan(w) for w in chosen)


def bench_cases(profile: Profile, ctx: Context, user_source: bool = False,
                only: set[str] | None = None,
                chosen: tuple[str, ...] | None = None) -> list[BenchCase]:
    """For each workload (:func:`plans`), every strategy and variant on its sizes (in the
    workload's first shape: ``dataframe`` for the built-ins), plus the ``records`` shape on
    ``RECORDS_ROWS`` rows for the strategies that support it, where the workload has it.
    ``only`` keeps the selected ones (``bench.options.selection``).

    With a user-supplied source, the sizes collapse to that file (``source``) and the
    records shape uses its first ``RECORDS_ROWS`` rows (``source-head``).
    """
    records_size = "source-head" if user_source else "tiny"
    found = []
    for plan in plans(profile, chosen):
        sizes = ("source",) if user_source else plan.sizes or profile.sizes
        main, *others = workloads.load(plan.workload).shapes
        records = plan.records and "records" in others
        for strategy, variant in _selected(ctx, only):
            if not plan.selects(strategy.name, variant):
                continue
            if strategy.supports(variant, main):
                found += [BenchCase(strategy.name, variant, main, s, plan.workload)
                          for s in sizes]
            if records and strategy.supports(variant, "records"):
                found.append(BenchCase(strategy.name, variant, "records", records_size,
                                       plan.workload))
    return found


def one_size_cases(size: str, shapes: tuple[str, ...], ctx: Context,
                   only: set[str] | None = None,
                   chosen: tuple[str, ...] = (workloads.DEFAULT,)) -> list[BenchCase]:
    """Every strategy and variant on one size, for each workload in ``chosen``, in each of
    ``shapes`` it and the workload support (by workload, shape, then strategy:
    ``python -m bench``'s order)."""
    return [BenchCase(strategy.name, variant, shape, size, workload)
            for workload in chosen for shape in shapes
            if shape in workloads.load(workload).shapes
            for strategy, variant in _selected(ctx, only) if strategy.supports(variant, shape)]


def _selected(ctx: Context, only: set[str] | None) -> list[tuple[Strategy, str | None]]:
    """Every strategy and variant runnable in ``ctx`` and in the selection ``only``."""
    return [(strategy, variant) for strategy in STRATEGIES.values()
            for variant in strategy.available_variants(ctx)
            if selects(only, strategy.name, variant)]


def listing(options: SessionOptions) -> Context:
    """A context to list cases with: the session's services as chosen, none started."""
    return Context(Path("."), dask_address=options.dask_address,
                   clusters=tuple(Cluster(engine, n)
                                  for engine in available_engines(options.engines)
                                  for n in options.scale_out),
                   ray_address=options.ray_address)


def services_for(options: SessionOptions, cases: Iterable[BenchCase]) -> SessionOptions:
    """``options`` with only the services ``cases`` (those selected after ``-k``) use: the
    S3 endpoint, and the scale-out engines and worker counts. Nothing is started for
    nothing."""
    cases = list(cases)
    options = replace(options, s3=any(STRATEGIES[c.strategy].needs_s3 for c in cases))
    if not options.scale_out:
        return options
    context, needed = listing(options), []
    for case in cases:
        cluster = STRATEGIES[case.strategy].cluster(case.on(""), context)
        if cluster:
            needed.append(cluster)
    return replace(options, engines=tuple(dict.fromkeys(c.engine for c in needed)),
                   scale_out=tuple(sorted({c.workers for c in needed})))
