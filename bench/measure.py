"""Measuring one case: time (pytest-benchmark, in this process) and memory (a fresh process).

Time: one verified warm-up run, then ``rounds`` timed rounds through
``benchmark.pedantic``. Between rounds (untimed) the previous round is verified, so a
cold-cache round that was not cold, or a cache that stopped hitting, is caught, and the
case's state is reset. Only the flow run itself is inside the timer.

Memory: the case runs once more in a fresh Python process (forked from a server process
that has only imported the code, never run a flow), sampled from outside by
memory-profiler including the process's children (Dask and process-pool workers). The
Prefect server and the S3 endpoint are other processes, never part of that tree.
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

from bench.runner import CaseResult, one_line, run_case
from strategies import STRATEGIES, et
from strategies.base import Case, CaseFailed, Context, NotApplied

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

    @property
    def delta(self) -> int | None:
        if self.peak_rss_bytes is None or self.start_rss_bytes is None:
            return None
        return self.peak_rss_bytes - self.start_rss_bytes


# --- time ---------------------------------------------------------------------------------


def time_case(case: Case, ctx: Context, benchmark: Any, rounds_for: Callable[[float], int],
              reference: str) -> CaseResult:
    """Warm up, then time ``rounds_for(warm-up seconds)`` rounds with ``benchmark``.

    Returns the verified result of the last round (status ``ok``), or the status and reason
    of the first problem. Every path times at least one real attempt, so every case gets a
    benchmark entry; a failed attempt is timed until it failed.
    """
    probe = run_case(case, ctx, reference)
    if probe.status != "ok":
        benchmark.pedantic(_attempt(case, ctx), rounds=1, iterations=1)
        return probe
    prepared = STRATEGIES[case.strategy].prepare(case, ctx)
    last: list[Any] = []

    def setup() -> None:
        if last:
            prepared.verify(last.pop())
        if prepared.reset:
            prepared.reset()

    def target() -> None:
        last.append(prepared.run())

    try:
        benchmark.pedantic(target, setup=setup, rounds=rounds_for(probe.seconds or 0.0),
                           iterations=1)
        outcome = prepared.verify(last.pop())
        checksum = et.checksum(outcome.output)
    except NotApplied as err:
        return CaseResult(case, "not_applied", f"during timed rounds: {err}")
    except CaseFailed as err:
        return CaseResult(case, "failed", f"during timed rounds: {err}")
    except Exception as err:
        return CaseResult(case, "failed", f"during timed rounds: {one_line(err)}")
    if checksum != reference:
        return CaseResult(case, "failed", f"output checksum {checksum} differs from {reference}")
    return CaseResult(case, "ok", None, probe.seconds, checksum, outcome.stored_bytes,
                      outcome.evidence)


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
           finished: Any, release: Any) -> None:
    """In the fresh process: run the case once, marking when the flow starts and ends.

    It then waits for ``release`` so the sampler never races the process's exit."""
    from bench.session import heartbeat

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
    mp = _context()
    receive, send = mp.Pipe(duplex=False)
    finished, release = mp.Event(), mp.Event()
    process = mp.Process(target=_child, daemon=False,
                         args=(case, ctx, keep_heartbeat, reference, send, finished, release))
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
    return Memory(status, reason, int(peak), int(start_rss), timeline)


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
