"""floor: the ET logic in plain pandas, no Prefect. The physical reference for every ratio."""

from __future__ import annotations

from strategies import et
from strategies.base import Case, Context, Outcome, Prepared, Strategy


def run(source: str) -> et.Payload:
    return et.transform(et.extract(source))


class Floor(Strategy):
    name = "floor"
    summary = "plain pandas read_parquet + transform, no Prefect"

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        return Prepared(
            run=lambda: run(case.source),
            verify=lambda output: Outcome(output, evidence="plain pandas"),
        )


STRATEGY = Floor()
