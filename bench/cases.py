"""Profiles -> benchmark cases: which data sizes, payload shapes and how many rounds, and
which services the selected cases need.

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
from strategies import STRATEGIES
from strategies.base import Case, Cluster, Context, Strategy

RECORDS_ROWS = 10_000


@dataclass(frozen=True)
class Profile:
    name: str
    sizes: tuple[str, ...]
    budget_s: float
    min_rounds: int = 2
    max_rounds: int = 10
    warmup_rounds: int = 1
    guarded: tuple[str, ...] = ()  # sizes run only where predicted to fit (``bench.fits``)

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
    "standard": Profile("standard", ("small", "medium"), budget_s=3.0, min_rounds=2,
                        max_rounds=8),
    "full": Profile("full", ("small", "medium", "full"), budget_s=8.0, min_rounds=3),
    "xl": Profile("xl", ("small", "medium", "xl"), budget_s=8.0, min_rounds=2,
                  guarded=("xl",)),
}


@dataclass(frozen=True)
class BenchCase:
    """A strategy case on one data size; its ``source`` is resolved later (data is lazy)."""

    strategy: str
    variant: str | None
    shape: str
    size: str

    @property
    def name(self) -> str:
        """``label-shape-size`` (``runfile.case_name``): the pytest id and progress name."""
        return case_name(self.strategy, self.variant, self.shape, self.size)

    def on(self, source: str) -> Case:
        """The case to run on the parquet file ``source``."""
        return Case(self.strategy, self.variant, self.shape, source)


def bench_cases(profile: Profile, ctx: Context, user_source: bool = False,
                only: set[str] | None = None) -> list[BenchCase]:
    """Every strategy and variant on the profile's sizes (dataframe shape), plus the
    ``records`` shape on ``RECORDS_ROWS`` rows for the strategies that support it.
    ``only`` keeps the selected ones (``bench.options.selection``).

    With a user-supplied source, the sizes collapse to that file (``source``) and the
    records shape uses its first ``RECORDS_ROWS`` rows (``source-head``).
    """
    sizes = ("source",) if user_source else profile.sizes
    records_size = "source-head" if user_source else "tiny"
    found = []
    for strategy, variant in _selected(ctx, only):
        if strategy.supports(variant, "dataframe"):
            found += [BenchCase(strategy.name, variant, "dataframe", s) for s in sizes]
        if strategy.supports(variant, "records"):
            found.append(BenchCase(strategy.name, variant, "records", records_size))
    return found


def one_size_cases(size: str, shapes: tuple[str, ...], ctx: Context,
                   only: set[str] | None = None) -> list[BenchCase]:
    """Every strategy and variant on one size, in each of ``shapes`` it supports (by shape,
    then strategy: ``python -m bench``'s order)."""
    return [BenchCase(strategy.name, variant, shape, size) for shape in shapes
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
