"""offload: persisted task results that Prefect does not keep in memory.

The one change: ``persist_result=True, cache_result_in_memory=False`` on both tasks
(results written to local disk). By default Prefect keeps every persisted result in an
in-memory cache of up to 1,000 records for as long as the flow runs.

Proof it took effect: while the flow runs a witness notes, for each result Prefect
persists (``ResultStore.persist_result_record``), whether it kept it in its in-memory
result cache: at least one is persisted, and none is kept there. (The task's state and
the flow still hold each value while they need it: only the cache is off.)
"""

from __future__ import annotations

from typing import Any

from prefect.results import ResultStore

from strategies import et
from strategies.base import Case, Context, NotApplied
from strategies.flowrun import FlowRun
from strategies.levers import Change, Lever, LeverStrategy, Spy, persisted_record


def _kept(_: object, store: ResultStore, *args: Any, **kwargs: Any) -> bool:
    """Whether ``store`` kept the record it just persisted in its in-memory cache."""
    return persisted_record(args, kwargs).metadata.storage_key in store.cache


class Offload(Lever):
    name = "offload"
    summary = "cache_result_in_memory=False: persisted results not kept in Prefect's cache"
    shapes = ("dataframe",)

    def apply(self, case: Case, ctx: Context) -> Change:
        storage = ctx.local(case, "results")
        kept = Spy(ResultStore, "persist_result_record", note=_kept)

        def prove(run: FlowRun, output: et.Payload) -> str:
            if not kept.facts:
                raise NotApplied(run.why_not_persisted())
            if any(kept.facts):
                raise NotApplied(f"Prefect kept {sum(kept.facts)} of {len(kept.facts)} "
                                 "persisted results in its in-memory cache")
            return (f"none of the {len(kept.facts)} results Prefect persisted was kept in "
                    "its in-memory result cache")

        return Change(prove=prove, storage=storage, spies=(kept,),
                      options={"persist_result": True, "result_storage": storage.path,
                               "cache_result_in_memory": False})


OFFLOAD = Offload()
STRATEGY = LeverStrategy("offload", OFFLOAD.summary, {None: (OFFLOAD,)})
