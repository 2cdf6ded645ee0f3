"""Measuring one case: time (a :class:`Timer`, in this process) and memory (a fresh process).

Memory (first): the case runs once in a fresh Python process (forked from a server
process that has only imported the code, never run a flow), sampled from outside by
memory-profiler including the process's children (Dask and process-pool workers). The
Prefect server and the S3 endpoint are other processes, never part of that tree. That
run also tells whether the case works and how long one run takes.

Time (then): one verified warm-up run, then ``rounds`` timed rounds through a
:class:`Timer` (pytest-benchmark's ``benchmark.pedantic``, or a plain loop). Between rounds
(untimed) the previous round is verified, so a cold-cache round that was not cold, or a
cache that stopped hitting, is caught; the case's state is reset and the Prefect server
let settle (``settle_server``). Only the flow run itself is inside the timer. Rounds in
which Prefect's client had to retry a request (a ~2 s sleep) are counted
(``server_retries``) and dropped from the timings when a clean round remains; a warm-up
that met one is run again.

Limits (``bench.limits``): each run (memory run, warm-up, round) has a time limit, the
memory run also a memory cap. A case that is not ``ok`` in its memory run is never run in
this process.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import multiprocessing
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import psutil
from memory_profiler import memory_usage

from bench.limits import (
    CaseTimeout,
    paused,
    raise_if_interrupted,
    rearm,
    started_processes,
    time_limit,
)
from bench.runner import RunResult, checked, failure, run_case
from bench.services.prefect_server import abandon_unfinished, settle_server
from bench.services.processes import kill_tree, tree_rss, trees_rss
from bench.session import heartbeat
from reporting.units import whole_megabytes
from strategies import STRATEGIES, workloads
from strategies.base import Case, Context, Prepared

MAX_TIMELINE_POINTS = 200
MIB = 1024 * 1024


@dataclass
class Memory:
    """What the fresh-process run showed. ``seconds``: the flow's time when ``ok``, else the
    wall time until the process ended or was stopped."""

    status: str
    reason: str | None = None
    peak_rss_bytes: int | None = None
    start_rss_bytes: int | None = None
    timeline: list[list[float]] = field(default_factory=list)
    seconds: float | None = None
    run: RunResult | None = None  # the run's verified result (checksum, stored bytes...)

    @property
    def delta(self) -> int | None:
        if self.peak_rss_bytes is None or self.start_rss_bytes is None:
            return None
        return self.peak_rss_bytes - self.start_rss_bytes


# --- time ---------------------------------------------------------------------------------


class Timer(Protocol):
    """What times a case's rounds: pytest-benchmark's fixture (:class:`BenchmarkTimer`) or
    a plain loop (:class:`LoopTimer`)."""

    def rounds(self, target: Callable[[], None], setup: Callable[[], None],
               rounds: int, one_run_s: float | None = None) -> None:
        """Call ``setup`` (untimed), then ``target`` (timed), ``rounds`` times (a case whose
        one run took ``one_run_s``)."""

    def attempt(self, seconds: float) -> None:
        """Record a case that could not be timed: one "round" of ``seconds``, the time its
        attempt ran until it failed or was stopped (not a measurement)."""

    def once(self, seconds: float) -> None:
        """Record the case's one round, measured elsewhere (by its memory run)."""

    @property
    def data(self) -> list[float]:
        """The rounds recorded so far, in seconds (editable: retried rounds are dropped)."""

    def paired_blocks(self) -> tuple[float | None, ...] | None:
        """Each block's time when the rounds took turns with another session
        (:class:`PairedTimer`); None when they did not."""

    def rounds_reason(self, alone: str | None) -> str | None:
        """Why the case has the rounds it has, given why the profile chose ``alone``."""


class Alone:
    """A timer whose rounds take no turns: no paired blocks, the profile's reason."""

    def paired_blocks(self) -> tuple[float | None, ...] | None:
        return None

    def rounds_reason(self, alone: str | None) -> str | None:
        return alone


@dataclass
class BenchmarkTimer(Alone):
    """pytest-benchmark's ``benchmark`` fixture as a :class:`Timer`."""

    benchmark: Any

    def rounds(self, target: Callable[[], None], setup: Callable[[], None],
               rounds: int, one_run_s: float | None = None) -> None:
        self.benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1)

    def attempt(self, seconds: float) -> None:
        """pytest-benchmark drops an entry whose rounds raised; this keeps it."""
        self.once(seconds)

    def once(self, seconds: float) -> None:
        """The entry made with one round of ``seconds`` (none of its own was timed)."""
        if self.benchmark.stats is None:  # no round started: make the entry
            self.benchmark.pedantic(lambda: None, rounds=1, iterations=1)
            self.benchmark.stats.stats.data[:] = []
        self.benchmark.has_error = False
        if not self.data:
            self.data.append(seconds)

    @property
    def data(self) -> list[float]:
        stats = self.benchmark.stats
        return stats.stats.data if stats is not None else []


@dataclass
class LoopTimer(Alone):
    """A ``time.perf_counter`` loop as a :class:`Timer` (``python -m bench``)."""

    data: list[float] = field(default_factory=list)

    def rounds(self, target: Callable[[], None], setup: Callable[[], None],
               rounds: int, one_run_s: float | None = None) -> None:
        for _ in range(rounds):
            setup()
            start = time.perf_counter()
            try:
                target()
            finally:
                self.data.append(time.perf_counter() - start)

    def attempt(self, seconds: float) -> None:
        self.once(seconds)

    def once(self, seconds: float) -> None:
        if not self.data:
            self.data.append(seconds)


class Turns(Protocol):
    """What a paired timer asks before its rounds (``pairing.client.Pairing``), and how
    many rounds it aims for."""

    blocks: int  # the blocks a short case gets
    rounds_per_block: int  # rounds in a row of one side, where a case has enough rounds
    budget_s: float  # the timed seconds a case may take per side, short of ``blocks``
    other_side: str  # the other side's name and label, e.g. "B (prefect==3.9.1)"

    def agree(self, case: str, rounds: int) -> tuple[int, int, bool]: ...

    def round(self, case: str, index: int) -> None: ...


@dataclass
class PairedTimer:
    """A :class:`Timer` whose rounds alternate with another session's (``bin/bench-ab``) in
    blocks: both sides time the same rounds in the same blocks, and each block waits for
    its turn, untimed (the case's time limit paused) and after this side's Prefect server
    settled (so its writes do not overlap the other side's rounds). ``timed`` keeps the
    rounds in order (``data`` may lose retried rounds)."""

    inner: Timer
    turns: Turns
    case: str
    timed: list[float] = field(default_factory=list)
    shared: bool = False  # the other side timed the same blocks
    per_block: int = 1
    settle: Callable[[], object] = settle_server  # before this side hands its turn over

    def wanted(self, rounds: int, one_run_s: float | None) -> int:
        """The profile's ``rounds``, or more: ``blocks`` blocks, as far as the budget goes
        (without a one-run time, the profile's)."""
        if not one_run_s:
            return rounds
        most = self.turns.blocks * self.turns.rounds_per_block
        return max(rounds, min(most, math.floor(self.turns.budget_s / one_run_s)))

    def rounds(self, target: Callable[[], None], setup: Callable[[], None],
               rounds: int, one_run_s: float | None = None) -> None:
        self.settle()
        with paused():
            agreed, self.per_block, self.shared = self.turns.agree(
                self.case, self.wanted(rounds, one_run_s))
        index = iter(range(agreed))

        def paired_setup() -> None:
            block, within = divmod(next(index), self.per_block)
            if within == 0:
                self.settle()
                with paused():
                    self.turns.round(self.case, block)
            setup()

        before = len(self.inner.data)
        try:
            self.inner.rounds(target, paired_setup, agreed, one_run_s)
        finally:
            self.timed = list(self.inner.data[before:])

    def attempt(self, seconds: float) -> None:
        self.inner.attempt(seconds)

    def once(self, seconds: float) -> None:
        self.inner.once(seconds)

    @property
    def data(self) -> list[float]:
        return self.inner.data

    def paired_blocks(self) -> tuple[float | None, ...] | None:
        """Each block's fastest round (interference only ever adds time), leaving out the
        rounds since dropped from ``data`` (they waited on a retried request): None for a
        block without a round left; None when no round was paired."""
        if not self.timed or not self.shared:
            return None
        kept = Counter(self.data)
        rounds: list[float | None] = []
        for seconds in self.timed:
            rounds.append(seconds if kept[seconds] > 0 else None)
            kept[seconds] -= 1
        per_block = self.per_block
        blocks = (rounds[i:i + per_block] for i in range(0, len(rounds), per_block))
        return tuple(min((x for x in block if x is not None), default=None)
                     for block in blocks)

    def rounds_reason(self, alone: str | None) -> str | None:
        if self.paired_blocks() is None:
            return alone
        return (f"{len(self.timed)} round(s) in blocks of {self.per_block}, taking turns "
                f"with side {self.turns.other_side} (bin/bench-ab); alone: {alone}")


def time_case(case: Case, ctx: Context, timer: Timer, rounds_for: Callable[[float], int],
              reference: str, warm_up: tuple[Case, str] | None = None,
              timeout: float | None = None, warm: bool = True,
              profile: Callable[[Prepared], RunResult] | None = None,
              one_run_s: float | None = None) -> RunResult:
    """One verified warm-up run (none without ``warm``), then ``rounds_for(warm-up
    seconds)`` timed rounds (0: none, the warm-up's result is returned).

    The case is prepared once (a warm cache is primed once). The warm-up runs the case
    itself, or ``warm_up`` (a smaller case and its reference checksum) when one run of the
    case would cost more than the profile's budget, or is ``profile(prepared case)``: the
    profiled runs (``bench.profiled``), untimed, whose verified result and seconds stand
    for the warm-up's. Before each round, untimed: the last round is verified, the case's
    state reset and the Prefect server settled. The timer is told one run's seconds: the
    warm-up's, or ``one_run_s`` (the memory run's) when the warm-up ran a smaller case.
    Returns the verified result of the last round (status ``ok``), or the status and
    reason of the first problem. A run (warm-up or round) that takes longer than
    ``timeout`` seconds is stopped (status ``timeout``) with the processes it started.
    Every path leaves the timer a round: a failed or stopped run is timed until it ended.
    """
    settle_server()
    try:
        with time_limit(timeout), started_processes():
            return _warm_up_and_rounds(case, ctx, timer, rounds_for, reference, warm_up,
                                       timeout, warm, profile, one_run_s)
    except CaseTimeout as err:
        abandon_unfinished()
        timer.attempt(err.seconds)
        return RunResult(case, "timeout", f"a run in the pytest process {err}; the "
                         "processes it started were stopped")


def _warm_up_and_rounds(case: Case, ctx: Context, timer: Timer,
                        rounds_for: Callable[[float], int], reference: str,
                        warm_up: tuple[Case, str] | None, timeout: float | None,
                        warm: bool, profile: Callable[[Prepared], RunResult] | None,
                        one_run_s: float | None = None) -> RunResult:
    started = time.perf_counter()
    try:
        if warm_up and not profile:  # first: the smaller case may share the case's
            probe = run_case(warm_up[0], ctx, warm_up[1])  # storage (a primed cache)
        prepared = STRATEGIES[case.strategy].prepare(case, ctx)
    except Exception as err:
        timer.attempt(time.perf_counter() - started)
        return failure(case, err)
    if profile:
        probe = profile(prepared)
    elif not warm_up:
        probe = (run_case(case, ctx, reference, prepared=prepared) if warm
                 else RunResult(case, "ok", seconds=0.0))
    if probe.server_retries and (profile or not warm_up):  # its time includes a ~2 s
        between_rounds(prepared)  # retry sleep: rounds need a better probe
        probe = run_case(case, ctx, reference, prepared=prepared)
    if probe.status != "ok":
        timer.attempt(probe.seconds or time.perf_counter() - started)
        return probe
    last: list[Any] = []
    retries: list[int] = []  # per round: requests Prefect's client had to retry
    round_started = [time.perf_counter()]

    def setup() -> None:
        raise_if_interrupted()  # a flow engine may have swallowed Ctrl-C in the last round
        rearm(timeout)
        if last:
            raw = last.pop()
            retries.append(getattr(raw, "server_retries", 0))
            prepared.verify(raw)
        between_rounds(prepared)
        round_started[0] = time.perf_counter()

    def target() -> None:
        last.append(prepared.run())

    rounds = rounds_for(probe.seconds or 0.0)
    if rounds == 0:  # timed elsewhere (by its memory run): the warm-up was all it needed
        return probe
    try:
        timer.rounds(target, setup, rounds, one_run_s if warm_up else probe.seconds)
        raw = last.pop()
        retries.append(getattr(raw, "server_retries", 0))
        result = checked(case, prepared, raw, reference, None)
    except Exception as err:
        timer.attempt(time.perf_counter() - round_started[0])
        return failure(case, err, during="during timed rounds")
    result.server_retries = sum(retries)
    drop_retried_rounds(timer.data, retries)
    return result


def drop_retried_rounds(rounds: list[float], retries: list[int]) -> None:
    """Remove the rounds that include a client retry sleep (about 2 s of waiting on the
    server, not the case's cost), as long as one clean round remains; they stay counted
    in ``server_retries``."""
    clean = [seconds for seconds, retried in zip(rounds, retries, strict=True) if not retried]
    if clean and len(clean) < len(rounds):
        rounds[:] = clean


def between_rounds(prepared: Prepared) -> None:
    """Untimed, before every round: reset the case's state and let the Prefect server
    settle. (No ``gc.collect()``: in a process with Prefect loaded it costs a sizeable share
    of a quick profile's budget; see docs/measurement.md.)"""
    if prepared.reset:
        prepared.reset()
    settle_server()


# --- memory -------------------------------------------------------------------------------

_FORKSERVER: multiprocessing.context.ForkServerContext | None = None


def _context() -> multiprocessing.context.ForkServerContext:
    global _FORKSERVER
    if _FORKSERVER is None:
        _FORKSERVER = multiprocessing.get_context("forkserver")
        _FORKSERVER.set_forkserver_preload(["bench.measure", "bench.session"])
    return _FORKSERVER


def _child(case: Case, ctx: Context, keep_heartbeat: bool, reference: str, conn: Any,
           finished: Any, release: Any, module: str, outside: tuple[int, ...]) -> None:
    """In the fresh process: run the case once, marking when the flow starts and ends.

    ``module`` defines the case's strategy; importing it registers a strategy defined
    outside ``strategies/``. The process then waits for ``release`` so the sampler never
    races its exit."""
    importlib.import_module(module)
    with contextlib.suppress(workloads.WorkloadError):  # (then the run fails, saying why)
        workloads.load(case.workload)  # its imports are not the flow's memory

    def mark(event: str) -> None:
        conn.send((event, time.time(), tree_rss(os.getpid()) + trees_rss(outside)))

    with heartbeat(keep_heartbeat):
        result = run_case(case, ctx, reference, mark=mark)
    conn.send(("result", result))
    conn.close()
    finished.set()
    release.wait(timeout=60)


class _Watched(subprocess.Popen):  # type: ignore[type-arg]
    """Lets memory-profiler watch a multiprocessing child as it watches a Popen, and
    enforces the memory run's limits: memory-profiler calls ``poll()`` after each sample
    (written to ``write()``, as to a stream), and a child over its time limit or memory cap
    is killed there with all its children (``stopped`` says why)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, finished: Any,
                 timeout: float | None, memory_cap: int | None,
                 outside: tuple[int, ...] = ()) -> None:
        self.pid = int(process.pid or 0)
        self.returncode = None
        self._child_created = False
        self._process = process
        self._finished = finished
        self._deadline = time.monotonic() + timeout if timeout else None
        self._cap = memory_cap
        self.samples: list[tuple[float, float]] = []  # (unix time, bytes)
        self.stopped: str | None = None  # "timeout" or "memory"
        self._outside = outside  # processes doing the case's work outside its tree

    def write(self, line: str) -> None:
        """A sample from memory-profiler: ``MEM <MiB> <unix time>``."""
        _, mib, stamp = line.split()
        self.samples.append((float(stamp), float(mib) * MIB + trees_rss(self._outside)))

    def flush(self) -> None:
        pass

    def poll(self) -> int | None:
        if self._finished.is_set():
            return 0
        if self._process.exitcode is not None:
            return self._process.exitcode
        if self._deadline is not None and time.monotonic() > self._deadline:
            self.stopped = "timeout"
        elif self._cap is not None and self.samples and self.samples[-1][1] > self._cap:
            self.stopped = "memory"
        if self.stopped:
            kill_tree(self.pid)
            return -9
        return None

    def __del__(self) -> None:
        pass


def measure_memory(case: Case, ctx: Context, keep_heartbeat: bool, reference: str,
                   interval: float, timeout: float | None = None,
                   memory_cap: int | None = None, outside: tuple[int, ...] = ()) -> Memory:
    """Run ``case`` once in a fresh process; peak and start RSS of its process tree, plus
    the trees of ``outside`` processes doing its work (a cluster's scheduler and workers).

    The process (with its children) is killed when it runs longer than ``timeout`` seconds
    (status ``timeout``) or its tree's RSS grows past ``memory_cap`` bytes (``failed``,
    "out of memory"); so is it when this process is interrupted.
    """
    settle_server()
    mp = _context()
    receive, send = mp.Pipe(duplex=False)
    finished, release = mp.Event(), mp.Event()
    process = mp.Process(target=_child, daemon=False,
                         args=(case, ctx, keep_heartbeat, reference, send, finished, release,
                                   type(STRATEGIES[case.strategy]).__module__, outside))
    started = time.monotonic()
    process.start()
    send.close()
    watched = _Watched(process, finished, timeout, memory_cap, outside)
    try:
        memory_usage(watched, interval=interval, include_children=True, timestamps=True,
                     stream=watched)
    except psutil.NoSuchProcess:
        pass
    except BaseException:  # Ctrl-C, SIGTERM: the child must not outlive us
        kill_tree(process.pid)
        raise
    finally:
        release.set()
    elapsed = time.monotonic() - started
    if watched.stopped or (not finished.is_set() and process.exitcode is None):
        kill_tree(process.pid)
    process.join(timeout=60)
    messages = _drain(receive)
    if "result" not in messages:  # killed or crashed mid-flow: its task runs stay unfinished
        abandon_unfinished()
    peak = int(max((rss for _, rss in watched.samples), default=0)) or None
    if watched.stopped == "timeout":
        return Memory("timeout", f"the memory run did not finish within {timeout:g} s "
                      "(--bench-case-timeout); it was stopped with its child processes",
                      seconds=elapsed)
    if watched.stopped == "memory":
        return _out_of_memory(f"its process tree reached {whole_megabytes(peak)}, over the "
                              f"memory cap of {whole_megabytes(memory_cap)} "
                              "(--bench-memory-cap)",
                              peak, messages, elapsed)
    if "result" not in messages:
        if process.exitcode == -signal.SIGKILL:  # the kernel's OOM killer, most likely
            return _out_of_memory("the memory process was killed (SIGKILL), most likely by "
                                  f"the kernel's OOM killer, at {whole_megabytes(peak or 0)}",
                                  peak, messages, elapsed)
        return Memory("failed", f"the memory process exited with code {process.exitcode}",
                      seconds=elapsed)
    run: RunResult = messages["result"][1]
    status, reason = run.status, run.reason
    if "end" not in messages:
        return Memory(status, reason, seconds=elapsed, run=run)
    _, flow_started, start_rss = messages["start"]
    _, ended, end_rss = messages["end"]
    during = [(t, rss) for t, rss in watched.samples if flow_started <= t <= ended]
    during = [(flow_started, start_rss), *during, (ended, end_rss)]
    peak = max(rss for _, rss in during)
    timeline = [[round(t - flow_started, 4), int(rss)] for t, rss in _thin(during)]
    return Memory(status, reason, int(peak), int(start_rss), timeline, ended - flow_started,
                  run)


def _out_of_memory(why: str, peak: int | None, messages: dict[str, tuple[Any, ...]],
                   elapsed: float) -> Memory:
    start_rss = int(messages["start"][2]) if "start" in messages else None
    return Memory("failed", f"out of memory: {why}", peak, start_rss, seconds=elapsed)


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
