"""quote: the guide's ET flow with the large argument wrapped in ``quote``.

The one change: ``transform(quote(data))``, which tells Prefect not to walk the argument
looking for futures. The guide's claim only has something to skip on a collection
(the ``records`` shape); a DataFrame is one opaque object either way.

Proof it took effect: without ``quote``, Prefect traces ``data`` back to the ``extract``
task run that returned it and records that lineage as ``transform``'s task input; with
``quote`` it does not look, so the server records no upstream input for ``data``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.utilities.annotations import quote

from strategies import et
from strategies.base import Case, Context, NotApplied, Outcome, Prepared, Strategy
from strategies.flowrun import FlowRun, prepare_flow
from strategies.tasks import extract, transform


@flow(name="et-quote")
def et_quote(source: str, shape: str = "dataframe") -> et.Payload:
    data = extract(source, shape)
    return transform(quote(data))


class Quote(Strategy):
    name = "quote"
    summary = "transform(quote(data)): skip Prefect's introspection of the argument"
    shapes = ("dataframe", "records")

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        return prepare_flow(et_quote, case, _not_introspected)


def _not_introspected(run: FlowRun, output: Any) -> Outcome:
    traced = run.task_inputs("transform").get("data")
    if traced:
        raise NotApplied(f"Prefect still traced transform's input to {traced[0]}")
    return Outcome(output, evidence="transform's input not traced upstream (no task input)")


STRATEGY = Quote()
