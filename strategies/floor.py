"""floor: the ET logic in plain pandas, no Prefect. The physical reference for every ratio."""

from __future__ import annotations

from strategies import et
from strategies.base import Case, Context, Outcome, Prepared, Strategy


def run(source: str, shape: str = "dataframe") -> et.Payload:
    return et.transform_any(et.extract_as(shape, source))


class Floor(Strategy):
    name = "floor"
    summary = "plain pandas read_parquet + transform, no Prefect"
    shapes = ("dataframe", "records")

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        return Prepared(
            run=lambda: run(case.source, case.shape),
            verify=lambda output: Outcome(output, evidence="plain pandas"),
        )


STRATEGY = Floor()
