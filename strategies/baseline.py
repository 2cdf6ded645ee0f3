"""baseline: the guide's ET flow exactly as written, with Prefect's defaults (no lever)."""

from __future__ import annotations

from strategies.levers import LeverStrategy

STRATEGY = LeverStrategy("baseline", "the guide's flow with Prefect defaults", {None: ()})
