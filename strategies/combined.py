"""combined: named combinations of the single levers, each the same lever objects the
single strategies use, composed (``strategies.levers.compose``); every lever proves
itself in every run.

- ``nocache+quote``: no input hashing and no walk over transform's argument;
- ``nocache+disk``: the disk flow's tasks with no cache key either;
- ``parquet+offload``: results persisted as parquet and not kept in memory.

``NO_CACHE`` with a persisting lever is left out on purpose: Prefect then persists nothing
(a result is committed under its cache key), which ``compressed`` and ``offload`` show.
"""

from __future__ import annotations

from strategies.compressed import PARQUET
from strategies.disk import DISK
from strategies.levers import LeverStrategy
from strategies.nocache import NOCACHE
from strategies.offload import OFFLOAD
from strategies.quote import QUOTE

COMBINATIONS = (
    (NOCACHE, QUOTE),
    (NOCACHE, DISK),
    (PARQUET, OFFLOAD),
)

STRATEGY = LeverStrategy("combined", "named combinations of the single levers",
                         {"+".join(lever.name for lever in levers): levers
                          for levers in COMBINATIONS})
