"""Run one case once: prepare (untimed), run (timed), verify and checksum (untimed).

Every failure mode becomes a status with a one-line reason, so one broken case never
stops a session: ``ok``, ``not_applied`` (ran, but the optimization did not take effect),
``failed`` (error, or an output that differs from ``floor``'s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from strategies import STRATEGIES, workloads
from strategies.base import Case, CaseFailed, Context, NotApplied, Prepared, one_line


@dataclass
class RunResult:
    """What one run of one case showed."""

    case: Case
    status: str
    reason: str | None = None
    seconds: float | None = None
    checksum: str | None = None
    stored_bytes: int = 0
    evidence: str = ""
    server_retries: int = 0  # requests Prefect's client retried (strategies.flowrun.FlowRun)


def floor_checksum(source: str, workload: str = workloads.DEFAULT) -> str:
    """floor's output checksum on ``source`` with ``workload``: what every strategy must
    reproduce."""
    found = workloads.load(workload)
    return found.checksum(found.transform_any(found.extract_as(found.shapes[0], source)))


def failure(case: Case, err: BaseException, during: str = "") -> RunResult:
    """The status and one-line reason an exception from a case stands for."""
    prefix = f"{during}: " if during else ""
    if isinstance(err, NotApplied):
        return RunResult(case, "not_applied", f"{prefix}{err}")
    if isinstance(err, CaseFailed):
        return RunResult(case, "failed", f"{prefix}{err}")
    return RunResult(case, "failed", f"{prefix}{one_line(err)}")


def checked(case: Case, prepared: Prepared, raw: object, reference: str | None,
            seconds: float | None) -> RunResult:
    """Verify a run's raw result; ``failed`` when its checksum differs from ``reference``.

    Raises what ``prepared.verify`` raises (``NotApplied``, ``CaseFailed``...)."""
    outcome = prepared.verify(raw)
    checksum = workloads.load(case.workload).checksum(outcome.output)
    if reference is not None and checksum != reference:
        return RunResult(case, "failed",
                          f"output checksum {checksum} differs from floor's {reference} on "
                          "the same input (a workload's output must be the same on every "
                          "run, and its partitions' outputs put together the same as the "
                          "whole file's)")
    return RunResult(case, "ok", None, seconds, checksum, outcome.stored_bytes,
                      outcome.evidence)


def run_case(case: Case, ctx: Context, reference: str | None = None,
             mark: Callable[[str], None] | None = None,
             prepared: Prepared | None = None) -> RunResult:
    """Run ``case`` once and check it; ``reference`` is floor's checksum on the same input.

    ``prepared`` reuses a prepared case (else the strategy prepares it). ``mark("start")``
    and ``mark("end")`` are called just around the run (for memory sampling in another
    process).
    """
    try:
        if prepared is None:
            prepared = STRATEGIES[case.strategy].prepare(case, ctx)
        if mark:
            mark("start")
        start = time.perf_counter()
        raw = prepared.run()
        seconds = time.perf_counter() - start
        if mark:
            mark("end")
        result = checked(case, prepared, raw, reference, seconds)
    except Exception as err:
        return failure(case, err)
    result.server_retries = getattr(raw, "server_retries", 0)
    return result
