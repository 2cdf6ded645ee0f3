"""baseline: the guide's ET flow exactly as written, with Prefect's defaults."""

from __future__ import annotations

from strategies.base import Case, Context, Prepared, Strategy
from strategies.flowrun import prepare_flow
from strategies.tasks import et_flow

FLOW = et_flow("et-baseline")


class Baseline(Strategy):
    name = "baseline"
    summary = "the guide's flow with Prefect defaults"
    shapes = ("dataframe", "records")

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        return prepare_flow(FLOW, case)


STRATEGY = Baseline()
