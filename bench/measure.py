"""Measuring one case: time (pytest-benchmark, in this process) and memory (a fresh process).

Memory (first): the case runs once in a fresh Python process (forked from a server
process that has only imported the code, never run a flow), sampled from outside by
memory-profiler including the process's children (Dask and process-pool workers). The
Prefect server and the S3 endpoint are other processes, never part of that tree. That
run also tells whether the case works and how long one run takes.

Time (then): one verified warm-up run, then ``rounds`` timed rounds through
``benchmark.pedantic``. Between rounds (untimed) the previous round is verified, so a
cold-cache round that was not cold, or a cache that stopped hitting, is caught; the
case's state is reset and the Prefect server let settle (``settle_server``). Only the
flow run itself is inside the timer. Rounds in which Prefect's client had to retry a
request (a ~2 s sleep) are counted (``server_retries``) and dropped from the timings when
a clean round remains; a warm-up that met one is run again.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
from memory_profiler import memory_usage

from bench.runner import CaseResult, checked, failure, run_case
from bench.services import settle_server
from strategies import STRATEGIES
from strategies.base import Case, Context, Prepared

MAX_TIMELINE_POINTS = 200
MIB = 1024 * 1024


@dataclass
class Memory:
    """What the fresh-process run showed."""

    status: str
    reason: str | None = None
    peak_rss_bytes: int | None = None
    start_rss_bytes: int | None = None
    timeline: list[list[float]] = field(default_factory=list)
    seconds: float | None = None

    @property
    def delta(self) -> int | None:
        if self.peak_rss_bytes is None or self.start_rss_bytes is None:
            return None
        return self.peak_rss_bytes - self.start_rss_bytes


# --- time ---------------------------------------------------------------------------------


def time_case(case: Case, ctx: Context, benchmark: Any, rounds_for: Callable[[float], int],
              reference: str, warm_up: tuple[Case, str] | None = None) -> CaseResult:
    """One verified warm-up run, then ``rounds_for(warm-up seconds)`` timed rounds.

    The case is prepared once (a warm cache is primed once). The warm-up runs the case
    itself, or ``warm_up`` (a smaller case and its reference checksum) when one run of the
    case would cost more than the profile's budget. Before each round, untimed: the last
    round is verified, the case's state reset and the Prefect server settled.
    Returns the verified result of the last round (status ``ok``), or the status and
    reason of the first problem. Every path times at least one real attempt, so every case
    gets a benchmark entry; a failed attempt is timed until it failed.
    """
    settle_server()
    try:
        if warm_up:  # first: the smaller case may share the case's storage (a primed cache)
            probe = run_case(warm_up[0], ctx, warm_up[1])
        prepared = STRATEGIES[case.strategy].prepare(case, ctx)
    except Exception as err:
        time_attempt(case, ctx, benchmark)
        return failure(case, err)
    if not warm_up:
        probe = run_case(case, ctx, reference, prepared=prepared)
        if probe.server_retries:  # its time includes a ~2 s retry sleep: rounds need better
            settle_server()
            probe = run_case(case, ctx, reference, prepared=prepared)
    if probe.status != "ok":
        time_attempt(case, ctx, benchmark)
        return probe
    last: list[Any] = []
    retries: list[int] = []  # per round: requests Prefect's client had to retry

    def setup() -> None:
        if last:
            raw = last.pop()
            retries.append(getattr(raw, "server_retries", 0))
            prepared.verify(raw)
        between_rounds(prepared)

    def target() -> None:
        last.append(prepared.run())

    try:
        benchmark.pedantic(target, setup=setup, rounds=rounds_for(probe.seconds or 0.0),
                           iterations=1)
        raw = last.pop()
        retries.append(getattr(raw, "server_retries", 0))
        result = checked(case, prepared, raw, reference, None)
    except Exception as err:
        return failure(case, err, during="during timed rounds")
    result.server_retries = sum(retries)
    _drop_retried_rounds(benchmark.stats.stats.data, retries)
    return result


def _drop_retried_rounds(rounds: list[float], retries: list[int]) -> None:
    """Remove the rounds that include a client retry sleep (about 2 s of waiting on the
    server, not the case's cost), as long as one clean round remains; they stay counted
    in ``server_retries``."""
    clean = [seconds for seconds, retried in zip(rounds, retries, strict=True) if not retried]
    if clean and len(clean) < len(rounds):
        rounds[:] = clean


def between_rounds(prepared: Prepared) -> None:
    """Untimed, before every round: reset the case's state and let the Prefect server
    settle. (No ``gc.collect()``: in a process with Prefect loaded it costs about 0.25 s, a
    quarter of the quick profile's budget over its rounds.)"""
    if prepared.reset:
        prepared.reset()
    settle_server()


def time_attempt(case: Case, ctx: Context, benchmark: Any, attempt: bool = True) -> None:
    """Time one attempt of a case that cannot be measured, until it ends or fails.

    With ``attempt=False`` (a case that already timed out once) nothing is run: the entry
    times a no-op rather than hang the session."""
    benchmark.pedantic(_attempt(case, ctx) if attempt else lambda: None, rounds=1,
                       iterations=1)


def _attempt(case: Case, ctx: Context) -> Callable[[], None]:
    def attempt() -> None:
        try:
            prepared = STRATEGIES[case.strategy].prepare(case, ctx)
            prepared.run()
        except Exception:
            pass

    return attempt


# --- memory -------------------------------------------------------------------------------

_FORKSERVER: multiprocessing.context.ForkServerContext | None = None


def _context() -> multiprocessing.context.ForkServerContext:
    global _FORKSERVER
    if _FORKSERVER is None:
        _FORKSERVER = multiprocessing.get_context("forkserver")
        _FORKSERVER.set_forkserver_preload(["strategies", "bench.measure", "bench.session"])
    return _FORKSERVER


def _tree_rss(pid: int) -> int:
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _child(case: Case, ctx: Context, keep_heartbeat: bool, reference: str, conn: Any,
           finished: Any, release: Any, module: str) -> None:
    """In the fresh process: run the case once, marking when the flow starts and ends.

    ``module`` defines the case's strategy; importing it registers a strategy defined
    outside ``strategies/``. The process then waits for ``release`` so the sampler never
    races its exit."""
    import importlib

    from bench.session import heartbeat

    importlib.import_module(module)

    def mark(event: str) -> None:
        conn.send((event, time.time(), _tree_rss(os.getpid())))

    with heartbeat(keep_heartbeat):
        result = run_case(case, ctx, reference, mark=mark)
    conn.send(("result", result.status, result.reason))
    conn.close()
    finished.set()
    release.wait(timeout=60)


class _Watched(subprocess.Popen):  # type: ignore[type-arg]
    """Lets memory-profiler watch a multiprocessing child as it watches a Popen."""

    def __init__(self, process: multiprocessing.process.BaseProcess, finished: Any) -> None:
        self.pid = int(process.pid or 0)
        self.returncode = None
        self._child_created = False
        self._process = process
        self._finished = finished

    def poll(self) -> int | None:
        return 0 if self._finished.is_set() else self._process.exitcode

    def __del__(self) -> None:
        pass


def measure_memory(case: Case, ctx: Context, keep_heartbeat: bool, reference: str,
                   interval: float, timeout: float) -> Memory:
    """Run ``case`` once in a fresh process; peak and start RSS of its process tree."""
    settle_server()
    mp = _context()
    receive, send = mp.Pipe(duplex=False)
    finished, release = mp.Event(), mp.Event()
    process = mp.Process(target=_child, daemon=False,
                         args=(case, ctx, keep_heartbeat, reference, send, finished, release,
                                   type(STRATEGIES[case.strategy]).__module__))
    process.start()
    send.close()
    try:
        samples = memory_usage(_Watched(process, finished), interval=interval, timeout=timeout,
                               include_children=True, timestamps=True)
    except psutil.NoSuchProcess:
        samples = []
    done = finished.is_set()
    release.set()
    if not done and process.exitcode is None:
        _kill_tree(process.pid)
        process.join()
        return Memory("timeout", f"the memory run did not finish within {timeout:.0f} s")
    process.join(timeout=60)
    messages = _drain(receive)
    if "result" not in messages:
        return Memory("failed", f"the memory process exited with code {process.exitcode}")
    _, status, reason = messages["result"]
    if "end" not in messages:
        return Memory(status, reason)
    _, started, start_rss = messages["start"]
    _, ended, end_rss = messages["end"]
    during = [(t, mib * MIB) for mib, t in samples if started <= t <= ended]
    during = [(started, start_rss), *during, (ended, end_rss)]
    peak = max(rss for _, rss in during)
    timeline = [[round(t - started, 4), int(rss)] for t, rss in _thin(during)]
    return Memory(status, reason, int(peak), int(start_rss), timeline, ended - started)


def _drain(receive: Any) -> dict[str, tuple[Any, ...]]:
    messages: dict[str, tuple[Any, ...]] = {}
    while receive.poll():
        try:
            message = receive.recv()
        except EOFError:
            break
        messages[message[0]] = message
    return messages


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """At most MAX_TIMELINE_POINTS points, always keeping the first, last and peak."""
    if len(points) <= MAX_TIMELINE_POINTS:
        return points
    peak = max(range(len(points)), key=lambda i: points[i][1])
    step = (len(points) - 1) / (MAX_TIMELINE_POINTS - 2)
    keep = {round(i * step) for i in range(MAX_TIMELINE_POINTS - 1)} | {peak}
    return [points[i] for i in sorted(keep)][:MAX_TIMELINE_POINTS]


def _kill_tree(pid: int | None) -> None:
    if pid is None:
        return
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for process in [*parent.children(recursive=True), parent]:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
