"""The guide's ET flow, once per strategy. ``STRATEGIES`` lists them in report order."""

from __future__ import annotations

from strategies import (
    baseline,
    cached,
    combined,
    compressed,
    disk,
    floor,
    nocache,
    offload,
    opaque,
    parallel,
    quote,
    s3,
)
from strategies.base import Strategy

STRATEGIES: dict[str, Strategy] = {
    module.STRATEGY.name: module.STRATEGY
    for module in (floor, baseline, quote, opaque, nocache, disk, s3, cached, compressed,
                   offload, combined, parallel)
}


class Labels(list[str]):
    """Every strategy name and ``name/variant``: what a user may select. ``in`` also knows
    the variants a strategy makes per session (``Strategy.accepts``, e.g. dask-w4)."""

    def __contains__(self, label: object) -> bool:
        name, _, variant = str(label).partition("/")
        strategy = STRATEGIES.get(name)
        return strategy is not None and (not variant or strategy.accepts(variant))


def labels() -> Labels:
    """The selectable labels (see :class:`Labels`)."""
    found = Labels()
    for strategy in STRATEGIES.values():
        found.append(strategy.name)
        found += [f"{strategy.name}/{v}" for v in strategy.variants if v is not None]
    return found
