"""nocache: the guide's ET flow with ``cache_policy=NO_CACHE`` on both tasks.

The one change: Prefect's default cache policy computes a cache key for every task run,
persisted or not, by hashing the task's inputs (for a DataFrame, a full serialization and
a digest); ``NO_CACHE`` computes none.

Proof it took effect: while the flow runs, a witness notes the cache key Prefect computed
for each task run, and the task's cache policy (``compute_transaction_key``): every task
run must have run under ``NO_CACHE`` and have no key.
"""

from __future__ import annotations

from prefect.cache_policies import NO_CACHE

from strategies import et
from strategies.base import Case, Context, NotApplied
from strategies.flowrun import FlowRun
from strategies.levers import Change, Lever, LeverStrategy, cache_keys


class NoCache(Lever):
    name = "nocache"
    summary = "cache_policy=NO_CACHE: no cache key, so no hashing of the task inputs"

    def apply(self, case: Case, ctx: Context) -> Change:
        keys = cache_keys()

        def prove(run: FlowRun, output: et.Payload) -> str:
            if not keys.facts:
                raise NotApplied("no task run asked Prefect for a cache key")
            keyed = sum(key for key, _ in keys.facts)
            if keyed:
                raise NotApplied(f"Prefect computed a cache key for {keyed} of "
                                 f"{len(keys.facts)} task runs, hashing their inputs")
            policies = {policy for _, policy in keys.facts}
            if policies != {type(NO_CACHE).__name__}:
                raise NotApplied(f"the task runs ran under {', '.join(sorted(policies))}, "
                                 "not NO_CACHE")
            return f"Prefect computed no cache key for any of the {len(keys.facts)} task runs"

        return Change(prove=prove, options={"cache_policy": NO_CACHE}, spies=(keys,))


NOCACHE = NoCache()
STRATEGY = LeverStrategy("nocache", NOCACHE.summary, {None: (NOCACHE,)})
