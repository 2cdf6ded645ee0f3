"""Reading a case's breakdowns (``runfile.CaseRecord.time_breakdown`` and
``memory_breakdown``): how far the sampled run's sum is from the case's median, and a short
summary of where the time or memory went. Used by the report and the progress lines."""

from __future__ import annotations

from runfile import CATEGORY_LABELS, TIME_CATEGORIES, CaseRecord

TOLERANCE = 0.15
"""A time breakdown whose sum is further than this from the case's median is flagged."""


def time_sum(case: CaseRecord) -> float | None:
    """Seconds of the sampled run, over all categories (None without a breakdown)."""
    return sum(case.time_breakdown.values()) if case.time_breakdown else None


def time_gap(case: CaseRecord) -> float | None:
    """The sampled run's seconds over the case's median, minus 1 (None without both)."""
    total = time_sum(case)
    if total is None or not case.median:
        return None
    return total / case.median - 1


def off_median(case: CaseRecord) -> bool:
    """Whether the time breakdown's sum is more than :data:`TOLERANCE` from the median."""
    gap = time_gap(case)
    return gap is not None and abs(gap) > TOLERANCE


def held_sum(case: CaseRecord) -> int | None:
    """Bytes held at the tracked run's peak, over all categories."""
    return sum(case.memory_breakdown.values()) if case.memory_breakdown else None


def shares(values: dict[str, float] | dict[str, int] | None, top: int = 3) -> str:
    """The largest categories as shares: ``orchestration 56%, hashing 26%, ET work 11%``."""
    if not values:
        return "-"
    total = sum(values.values())
    if total <= 0:
        return "-"
    ranked = sorted((name for name in TIME_CATEGORIES if values.get(name, 0) > 0),
                    key=lambda name: -values[name])[:top]
    return ", ".join(f"{CATEGORY_LABELS[name]} {values[name] / total:.0%}" for name in ranked)
