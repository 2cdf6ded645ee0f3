"""nocache: the guide's ET flow with ``cache_policy=NO_CACHE`` on both tasks.

The one change: Prefect's default cache policy computes a cache key for every task run,
persisted or not, by hashing the task's inputs (for a DataFrame, a full serialization and
a digest); ``NO_CACHE`` computes none.

Proof it took effect: while the flow runs, a witness notes the cache key Prefect computed
for each task run (``compute_transaction_key``): none may have one.
"""

from __future__ import annotations

from prefect.cache_policies import NO_CACHE
from prefect.task_engine import BaseTaskRunEngine

from strategies import et
from strategies.base import Case, Context, NotApplied
from strategies.flowrun import FlowRun
from strategies.levers import Change, Lever, LeverStrategy, Spy


class NoCache(Lever):
    name = "nocache"
    summary = "cache_policy=NO_CACHE: no cache key, so no hashing of the task inputs"

    def apply(self, case: Case, ctx: Context) -> Change:
        keys = Spy(BaseTaskRunEngine, "compute_transaction_key",
                   note=lambda key, *_, **__: key is not None)

        def prove(run: FlowRun, output: et.Payload) -> str:
            if not keys.facts:
                raise NotApplied("no task run asked Prefect for a cache key")
            keyed = sum(keys.facts)
            if keyed:
                raise NotApplied(f"Prefect computed a cache key for {keyed} of "
                                 f"{len(keys.facts)} task runs, hashing their inputs")
            return f"Prefect computed no cache key for any of the {len(keys.facts)} task runs"

        return Change(prove=prove, options={"cache_policy": NO_CACHE}, spies=(keys,))


NOCACHE = NoCache()
STRATEGY = LeverStrategy("nocache", NOCACHE.summary, {None: (NOCACHE,)})
