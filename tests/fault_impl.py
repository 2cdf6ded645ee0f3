"""Strategies that fail the way real cases do; importing this module registers them
(tests only). Each is the guide's flow with a fault inside a task:

- ``broken``: the task raises.
- ``hangs/always``: the task starts a child process and waits for it forever (as a task
  stuck on a dead worker would). ``hangs/later`` runs normally the first time in a process
  and hangs from the second run on: it passes the memory run and hangs in the timed rounds.
- ``hog``: the task allocates memory in steps, up to HOG_BYTES, then finishes normally.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import numpy as np
from prefect import flow, task

from strategies import STRATEGIES, et, workloads
from strategies.base import Case, Context, Outcome, Prepared, Strategy
from strategies.flowrun import prepare_flow
from tests.fault_strategies import HOG_BYTES

HOG_STEP = 100_000_000
_runs_in_this_process = {"count": 0}


def explode() -> None:
    raise RuntimeError("boom <script>alert(1)</script>")


@task
def _transform_then_hang(data: et.Payload, hang: bool) -> et.Payload:
    if hang:  # a child that never exits, waited for without a timeout
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"]).wait()
    return workloads.load().transform_any(data)


@task
def _transform_after_hogging(data: et.Payload) -> et.Payload:
    held = []
    for _ in range(HOG_BYTES // HOG_STEP):
        held.append(np.ones(HOG_STEP // 8))  # written, so resident
        time.sleep(0.05)
    return workloads.load().transform_any(data)


@task
def _extract(source: str) -> et.Payload:
    return et.extract(source)


class Broken(Strategy):
    name = "broken"
    summary = "always fails (tests only)"

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        return Prepared(run=explode, verify=lambda raw: Outcome(raw))


class Hangs(Strategy):
    name = "hangs"
    summary = "waits forever on a child process (tests only)"
    variants = ("always", "later")

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        @flow(name="et-hangs")
        def hangs(source: str, shape: str = "dataframe") -> Any:
            _runs_in_this_process["count"] += 1
            hang = case.variant == "always" or _runs_in_this_process["count"] > 1
            return _transform_then_hang(_extract(source), hang)

        return prepare_flow(hangs, case)


class Hog(Strategy):
    name = "hog"
    summary = f"holds {HOG_BYTES / 1e9:.0f} GB before it transforms (tests only)"

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        @flow(name="et-hog")
        def hog(source: str, shape: str = "dataframe") -> Any:
            return _transform_after_hogging(_extract(source))

        return prepare_flow(hog, case)


for strategy in (Broken(), Hog(), Hangs()):
    STRATEGIES[strategy.name] = strategy
