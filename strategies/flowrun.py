"""Running a Prefect flow and reading back what happened, without changing the flow.

The final state of each task run and the warnings Prefect logged are observed through a
logging handler on Prefect's task-run logger: a passive witness, so the flow under test is
exactly the guide's code. This is how a case proves a cache hit (``Cached`` states) or
explains why nothing was persisted (Prefect's serialization warning), and where a task run
that finished in this process ran (its thread). The same witness
counts the requests Prefect's client had to retry (a server answering 503 makes it sleep
about 2 s), so a harness can tell when a round measured that sleep.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from prefect import Flow
from prefect.states import State

from strategies.base import Case, CaseFailed, NotApplied, Outcome, Prepared, Storage
from strategies.workloads import DEFAULT

_FINAL_STATE = re.compile(r"Finished in state (\w+)")
_TASK_LOGGER = "prefect.task_runs"
_CLIENT_LOGGER = "prefect.client"


@dataclass(frozen=True)
class Finished:
    """A task run that finished in this process: its id, task, final state, and where it
    ran (process id and thread name, from Prefect's own log record)."""

    task_run_id: str
    task: str
    state: str
    process: int | None
    thread: str | None


@dataclass
class FlowRun:
    """The final state of one flow run plus what its task runs logged."""

    state: State
    task_states: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    server_retries: int = 0  # requests Prefect's client had to retry (e.g. a 503, ~2 s sleep)
    finished: list[Finished] = field(default_factory=list)  # task runs that ended in-process

    def output(self) -> Any:
        """The flow's return value; :class:`CaseFailed` if the flow did not complete."""
        if not self.state.is_completed():
            raise CaseFailed(f"flow ended {self.state.name}: {self.state.message or ''}".strip())
        return self.state.result()

    def require_states(self, expected: str) -> str:
        """Every task run ended in state ``expected`` (e.g. ``Cached``), else NotApplied."""
        if not self.task_states:
            raise NotApplied("no task run reported a final state")
        wrong = {t: s for t, states in self.task_states.items() for s in states if s != expected}
        if wrong:
            found = ", ".join(f"{t} ended {s}" for t, s in sorted(wrong.items()))
            raise NotApplied(f"expected every task run to end {expected}, but {found}")
        counts = ", ".join(f"{t} x{len(s)}" for t, s in sorted(self.task_states.items()))
        return f"all task runs ended {expected} ({counts})"

    def task_inputs(self, task_name: str, timeout: float = 10.0) -> dict[str, list[Any]]:
        """The upstream inputs the server recorded for this flow run's ``task_name`` run
        (task runs reach the server as events, so this polls up to ``timeout`` seconds)."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        flow_runs = FlowRunFilter(id=FlowRunFilterId(any_=[self.state.state_details.flow_run_id]))
        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while True:
                found = [run for run in client.read_task_runs(flow_run_filter=flow_runs)
                         if run.name.startswith(f"{task_name}-")]
                if found or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        if not found:
            raise CaseFailed(f"the server recorded no {task_name} task run within {timeout:.0f} s")
        return {name: list(inputs) for name, inputs in found[0].task_inputs.items()}

    def why_not_persisted(self) -> str:
        """A one-line reason for a missing result record, from Prefect's own warning."""
        for message in self.warnings:
            if "serializ" in message:
                detail = message.split("': ", 1)[-1].split(". ", 1)[0]
                return f"Prefect did not persist the result: {detail}"
        return "Prefect did not persist any task result (no record in result storage)"


class _TaskRunWitness(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.finished: list[Finished] = []
        self.warnings: list[str] = []
        self.server_retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.name == _CLIENT_LOGGER:
            self.server_retries += "retryable" in message
            return
        found = _FINAL_STATE.match(message)
        if found:
            self.finished.append(Finished(str(getattr(record, "task_run_id", "?")),
                                          getattr(record, "task_name", "?"), found.group(1),
                                          record.process, record.threadName))
        elif record.levelno >= logging.WARNING:
            self.warnings.append(message.splitlines()[0])

    def task_states(self) -> dict[str, list[str]]:
        states: dict[str, list[str]] = defaultdict(list)
        for run in self.finished:
            states[run.task].append(run.state)
        return dict(states)


@contextmanager
def _witness() -> Iterator[_TaskRunWitness]:
    """Listen to Prefect's task-run logger (INFO) and its client's retries (DEBUG)."""
    witness = _TaskRunWitness()
    with ExitStack() as stack:
        for name, level in ((_TASK_LOGGER, logging.INFO), (_CLIENT_LOGGER, logging.DEBUG)):
            stack.enter_context(_listening(logging.getLogger(name), level, witness))
        yield witness


@contextmanager
def _listening(logger: logging.Logger, level: int, handler: logging.Handler) -> Iterator[None]:
    old_level = logger.level
    if not logger.isEnabledFor(level):
        logger.setLevel(level)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def run_flow(flow: Flow[..., Any], during: Callable[[], AbstractContextManager[Any]] | None = None,
             **parameters: Any) -> FlowRun:
    """Run ``flow`` once with ``parameters`` (inside ``during()``, if given: e.g. spies
    watching Prefect) and return its final state and task states."""
    with _witness() as witness, during() if during else nullcontext():
        state = flow(**parameters, return_state=True)
    return FlowRun(state, witness.task_states(), witness.warnings, witness.server_retries,
                   witness.finished)


Check = Callable[[FlowRun, Any], Outcome]


def prepare_flow(
    flow: Flow[..., Any],
    case: Case,
    check: Check | None = None,
    reset: Callable[[], None] | None = None,
    during: Callable[[], AbstractContextManager[Any]] | None = None,
    **parameters: Any,
) -> Prepared:
    """A case that runs ``flow(source, shape, workload, **parameters)`` (inside
    ``during()``, if given) and verifies it with ``check``; ``reset`` runs now and between
    two runs."""
    if reset:
        reset()
    given = {**flow_parameters(flow, case), **parameters}

    def run() -> FlowRun:
        return run_flow(flow, during, **given)

    def verify(result: FlowRun) -> Outcome:
        output = result.output()
        return check(result, output) if check else Outcome(output, evidence="flow completed")

    return Prepared(run, verify, reset)


def flow_parameters(flow: Flow[..., Any], case: Case) -> dict[str, str]:
    """``case.parameters()`` for ``flow``; a flow without a ``workload`` parameter (a
    strategy written before workloads) runs the guide's only: ``CaseFailed`` for another."""
    found = case.parameters()
    if "workload" not in inspect.signature(flow.fn).parameters:
        if case.workload != DEFAULT:
            raise CaseFailed(f"flow {flow.name} takes no workload parameter: it runs the "
                             f"guide's ET only, not workload {case.workload}")
        del found["workload"]
    return found


def persisted(storage: Storage, run: FlowRun) -> str:
    """The evidence that ``run`` left result records of nonzero size in ``storage``, else
    :class:`NotApplied` with Prefect's reason."""
    sizes = storage.sizes()
    total = sum(sizes.values())
    if total == 0:
        raise NotApplied(run.why_not_persisted())
    return f"{len(sizes)} result records, {total:,} bytes persisted"


def persisted_in(storage: Storage) -> Check:
    """A check that the run left result records of nonzero size in ``storage``."""

    def check(run: FlowRun, output: Any) -> Outcome:
        evidence = persisted(storage, run)
        return Outcome(output, sum(storage.sizes().values()), evidence)

    return check
