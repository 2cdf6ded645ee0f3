"""A pytest plugin for tests only (``-p tests.broken_strategy``): registers a strategy
whose flow always fails. Imports wait for ``pytest_configure``, after the root conftest
has isolated Prefect."""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
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
