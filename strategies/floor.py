"""floor: the workload's extract and transform called directly, no Prefect. The physical
reference for every ratio."""

from __future__ import annotations

from typing import Any

from strategies import workloads
from strategies.base import Case, Context, Outcome, Prepared, Strategy


def run(source: str, shape: str = "dataframe", workload: str = workloads.DEFAULT) -> Any:
    found = workloads.load(workload)
    return found.transform_any(found.extract_as(shape, source))


class Floor(Strategy):
    name = "floor"
    summary = "the workload's functions called directly (plain pandas), no Prefect"
    shapes = ("dataframe", "records")

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        return Prepared(
            run=lambda: run(**case.parameters()),
            verify=lambda output: Outcome(output, evidence="plain pandas"),
        )


STRATEGY = Floor()
