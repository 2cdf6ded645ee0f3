"""opaque: the guide's ET flow with ``transform(opaque(data))``.

The one change: ``opaque`` (recent Prefect 3 releases) resolves the argument's top level
and keeps its lineage, but does not walk into its contents, as Prefect otherwise does for
every element of a collection (the ``records`` shape: every key and value of every row).

Proof it took effect: while the flow runs, a witness counts Prefect's lookups of the
objects it meets in the tasks' arguments (``get_state_for_result``, once per object it
walks). With ``opaque`` they are a handful (never none: the top level is still looked up);
without it, at least one per record. And the server records ``extract``'s run as
``transform``'s input: the lineage that ``quote`` loses. A DataFrame is one object that
Prefect never walks into: there ``opaque`` has nothing to skip, and the case says so
(``not_applied``).
"""

from __future__ import annotations

import prefect.utilities.engine

from strategies import et
from strategies.base import Case, Context, NotApplied
from strategies.flowrun import FlowRun
from strategies.levers import Change, Lever, LeverStrategy, Spy

try:
    from prefect.utilities.annotations import opaque
except ImportError:  # added in a recent Prefect 3 release
    opaque = None


class Opaque(Lever):
    name = "opaque"
    summary = "transform(opaque(data)): resolve the argument, do not walk into it"

    def apply(self, case: Case, ctx: Context) -> Change:
        if opaque is None:
            raise NotApplied(f"Prefect {prefect.__version__} has no opaque annotation")
        lookups = Spy(prefect.utilities.engine, "get_state_for_result")

        def prove(run: FlowRun, output: et.Payload) -> str:
            if not isinstance(output, list):
                raise NotApplied("transform's argument is a DataFrame, one object Prefect "
                                 "does not walk into with or without opaque: nothing to skip")
            looked = len(lookups.facts)
            if not looked:
                raise NotApplied("the witness saw no lookup of the tasks' arguments: "
                                 "nothing shows how Prefect tracked transform's input")
            if looked >= len(output):
                raise NotApplied(f"Prefect looked up {looked:,} objects in the tasks' "
                                 f"arguments: it walked into transform's {len(output):,} "
                                 "records")
            if not run.task_inputs("transform").get("data"):
                raise NotApplied("the server recorded no input for transform: its lineage "
                                 "was lost, as with quote")
            return (f"Prefect looked up {looked} objects in the tasks' arguments, not "
                    f"transform's {len(output):,} records: it did not walk into them; "
                    "transform's input still traced to extract's run")

        return Change(prove=prove, wrap=opaque, spies=(lookups,))


OPAQUE = Opaque()
STRATEGY = LeverStrategy("opaque", OPAQUE.summary, {None: (OPAQUE,)})
