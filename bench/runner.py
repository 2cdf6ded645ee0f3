"""Run one case once: prepare (untimed), run (timed), verify and checksum (untimed).

Every failure mode becomes a status with a one-line reason, so one broken case never
stops a session: ``ok``, ``not_applied`` (ran, but the optimization did not take effect),
``failed`` (error, or an output that differs from ``floor``'s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from strategies import STRATEGIES, et
from strategies.base import Case, CaseFailed, Context, NotApplied

STATUSES = ("ok", "failed", "not_applied", "timeout")


@dataclass
class CaseResult:
    """What one run of one case showed."""

    case: Case
    status: str
    reason: str | None = None
    seconds: float | None = None
    checksum: str | None = None
    stored_bytes: int = 0
    evidence: str = ""


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def run_case(case: Case, ctx: Context, reference: str | None = None,
             mark: Callable[[str], None] | None = None) -> CaseResult:
    """Run ``case`` once and check it; ``reference`` is floor's checksum on the same input.

    ``mark("start")`` and ``mark("end")`` are called just around the run (for memory
    sampling in another process).
    """
    try:
        prepared = STRATEGIES[case.strategy].prepare(case, ctx)
        if mark:
            mark("start")
        start = time.perf_counter()
        raw = prepared.run()
        seconds = time.perf_counter() - start
        if mark:
            mark("end")
        outcome = prepared.verify(raw)
        checksum = et.checksum(outcome.output)
    except NotApplied as err:
        return CaseResult(case, "not_applied", str(err))
    except CaseFailed as err:
        return CaseResult(case, "failed", str(err))
    except Exception as err:
        return CaseResult(case, "failed", one_line(err))
    result = CaseResult(case, "ok", None, seconds, checksum, outcome.stored_bytes, outcome.evidence)
    if reference is not None and checksum != reference:
        result.status = "failed"
        result.reason = f"output checksum {checksum} differs from floor's {reference}"
    return result
