"""baseline: the guide's ET flow exactly as written, with Prefect's defaults.

Proof that it ran with Prefect's defaults: while the flow runs, a witness notes the cache
key Prefect computed for each task run; under its default cache policy every task run has
one (its inputs were hashed). Another notes every result Prefect persisted: by default,
none. Without that, the comparisons with ``nocache`` and the other levers would compare a
changed flow.
"""

from __future__ import annotations

from prefect.results import ResultStore

from strategies import et
from strategies.base import Case, Context, NotApplied
from strategies.flowrun import FlowRun
from strategies.levers import Change, Lever, LeverStrategy, Spy, cache_keys


class Defaults(Lever):
    """No lever: Prefect's defaults, proven to be in force."""

    name = "defaults"
    summary = "the guide's flow with Prefect defaults"

    def apply(self, case: Case, ctx: Context) -> Change:
        keys, writes = cache_keys(), Spy(ResultStore, "persist_result_record")

        def prove(run: FlowRun, output: et.Payload) -> str:
            unkeyed = sum(not key for key, _ in keys.facts)
            if not keys.facts or unkeyed:
                raise NotApplied(f"Prefect computed no cache key for {unkeyed} of "
                                 f"{len(keys.facts)} task runs: its default cache policy is "
                                 "not in force")
            if writes.facts:
                raise NotApplied(f"Prefect persisted {len(writes.facts)} task results: by "
                                 "default it persists none")
            return (f"flow completed with Prefect's default cache policy (a cache key for "
                    f"each of the {len(keys.facts)} task runs) and no result persisted")

        return Change(prove=prove, spies=(keys, writes))


STRATEGY = LeverStrategy("baseline", Defaults.summary, {None: (Defaults(),)})
