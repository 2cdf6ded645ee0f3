"""quote: the guide's ET flow with the large argument wrapped in ``quote``.

The one change: ``transform(quote(data))``, which tells Prefect not to walk the argument
looking for futures. The guide's claim only has something to skip on a collection
(the ``records`` shape); a DataFrame is one opaque object either way.
"""

from __future__ import annotations

from prefect import flow
from prefect.utilities.annotations import quote

from strategies import et
from strategies.base import Case, Context, Prepared, Strategy
from strategies.flowrun import prepare_flow
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
        return prepare_flow(et_quote, case)


STRATEGY = Quote()
