"""quote: the guide's ET flow with the large argument wrapped in ``quote``.

The one change: ``transform(quote(data))``, which tells Prefect not to walk the argument
looking for futures. The guide's claim only has something to skip on a collection
(the ``records`` shape); a DataFrame is one opaque object either way.

Proof it took effect: without ``quote``, Prefect traces ``data`` back to the ``extract``
task run that returned it and records that lineage as ``transform``'s task input; with
``quote`` it does not look, so the server records no upstream input for ``data``.
"""

from __future__ import annotations

from prefect.utilities.annotations import quote

from strategies import et
from strategies.base import Case, Context, NotApplied
from strategies.flowrun import FlowRun
from strategies.levers import Change, Lever, LeverStrategy


class Quote(Lever):
    name = "quote"
    summary = "transform(quote(data)): skip Prefect's introspection of the argument"

    def apply(self, case: Case, ctx: Context) -> Change:
        return Change(prove=_not_introspected, wrap=quote)


def _not_introspected(run: FlowRun, output: et.Payload) -> str:
    traced = run.task_inputs("transform").get("data")
    if traced:
        raise NotApplied(f"Prefect still traced transform's input to {traced[0]}")
    return "transform's input not traced upstream (no task input)"


QUOTE = Quote()
STRATEGY = LeverStrategy("quote", QUOTE.summary, {None: (QUOTE,)})
