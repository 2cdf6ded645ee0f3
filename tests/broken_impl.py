"""A strategy whose flow always fails; importing this module registers it (tests only)."""

from __future__ import annotations

from strategies import STRATEGIES
from strategies.base import Case, Context, Outcome, Prepared, Strategy


def explode() -> None:
    raise RuntimeError("boom <script>alert(1)</script>")


class Broken(Strategy):
    name = "broken"
    summary = "always fails (tests only)"

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        return Prepared(run=explode, verify=lambda raw: Outcome(raw))


STRATEGIES["broken"] = Broken()
