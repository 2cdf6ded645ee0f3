"""Profiles -> benchmark cases: which data sizes, payload shapes and how many rounds.

A profile names the sizes it measures and a timing budget per case: a case gets as many
rounds as fit in the budget (at least ``min_rounds``, at most ``max_rounds``), so slow cases
(lzma on a million rows, a Dask cluster started per flow run) cap their rounds and the
profile stays within its time budget. The number of rounds is stored with every result.
A profile's ``guarded`` sizes run only for the cases whose smaller sizes predict that they
fit in memory and time (``bench.fits``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.options import selects
from strategies import STRATEGIES
from strategies.base import Case, Context

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
    "quick": Profile("quick", ("small",), budget_s=1.2, min_rounds=1, max_rounds=7),
    "standard": Profile("standard", ("small", "medium"), budget_s=4.0, min_rounds=2),
    "full": Profile("full", ("small", "medium", "full"), budget_s=8.0, min_rounds=3),
    "xl": Profile("xl", ("small", "medium", "xl"), budget_s=8.0, min_rounds=2,
                  guarded=("xl",)),
}


@dataclass(frozen=True)
class BenchCase:
    """A strategy case on one data size; ``source`` is resolved later (data is lazy)."""

    strategy: str
    variant: str | None
    shape: str
    size: str

    @property
    def id(self) -> str:
        return f"{self.with_source('').name}-{self.shape}-{self.size}"

    def with_source(self, source: str) -> Case:
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
    for strategy in STRATEGIES.values():
        for variant in strategy.available_variants(ctx):
            if not selects(only, strategy.name, variant):
                continue
            found += [BenchCase(strategy.name, variant, "dataframe", s) for s in sizes]
            if "records" in strategy.shapes:
                found.append(BenchCase(strategy.name, variant, "records", records_size))
    return found
