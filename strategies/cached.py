"""cached: task results cached across flow runs with ``INPUTS + TASK_SOURCE``.

The one change: ``cache_policy=INPUTS + TASK_SOURCE, persist_result=True`` on both tasks
(Prefect's DEFAULT policy includes the flow run id, so it never hits across runs).
Variants: ``cold`` (the cache is emptied before every run) and ``warm`` (the cache is primed by one
untimed run; the timed run must end with every task run ``Cached``).
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import INPUTS, TASK_SOURCE

from strategies.base import Case, Context, NotApplied, Outcome, Prepared, Strategy
from strategies.flowrun import FlowRun, flow_parameters, persisted_in, prepare_flow, run_flow
from strategies.tasks import et_flow


class Cached(Strategy):
    name = "cached"
    summary = "INPUTS + TASK_SOURCE cache policy, results on local disk"
    variants = ("cold", "warm")

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        storage = ctx.local(case, "results")
        storage.clear()
        flow = et_flow(
            f"et-cached-{case.variant}",
            cache_policy=INPUTS + TASK_SOURCE,
            persist_result=True,
            result_storage=storage.path,
        )
        persisted = persisted_in(storage)
        expected = "Cached" if case.variant == "warm" else "Completed"
        if case.variant == "warm":
            primer = run_flow(flow, **flow_parameters(flow, case))
            primer.output()
            persisted(primer, None)

        def check(run: FlowRun, output: Any) -> Outcome:
            outcome = persisted(run, output)
            try:
                outcome.evidence = f"{run.require_states(expected)}; {outcome.evidence}"
            except NotApplied as err:
                hit = "cache did not hit" if expected == "Cached" else "cache was not cold"
                raise NotApplied(f"{hit}: {err}") from None
            return outcome

        # cold: every round starts from an empty cache; warm: the primed cache stays
        return prepare_flow(flow, case, check, None if case.variant == "warm" else storage.clear)


STRATEGY = Cached()
