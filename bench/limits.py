"""Limits on one run of a case: a time limit in this process, and stopping what it started.

The memory run is its own process and is simply killed (with its children) when it takes
too long or grows past the memory cap. Warm-ups and timed rounds run in the pytest process,
where the limit is a ``SIGALRM`` timer that raises :class:`CaseTimeout` in the main thread
(this interrupts sleeps, waits on locks, futures and child processes); whatever processes
the case started are then killed (:func:`started_processes`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.services.processes import child_pids, kill_tree


class CaseTimeout(BaseException):  # BaseException: flow engines must not catch it
    """A run of a case went past its time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not finish within {seconds:g} s (--bench-case-timeout)")
        self.seconds = seconds


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`CaseTimeout` in this (main) thread after ``seconds``.

    :func:`rearm` inside restarts the clock (once per round). Without a limit, or off the main
    thread, where signals cannot be delivered, nothing is enforced.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise CaseTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def rearm(seconds: float | None) -> None:
    """Restart a running :func:`time_limit`'s clock (no-op without a limit)."""
    if seconds and threading.current_thread() is threading.main_thread():
        signal.setitimer(signal.ITIMER_REAL, seconds)


@contextmanager
def paused() -> Iterator[None]:
    """Stop a running :func:`time_limit`'s clock inside (waiting for the other side of
    ``bin/bench-ab`` is not the case's time); it goes on with the time it had left."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    left, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if left:
            signal.setitimer(signal.ITIMER_REAL, left)


@contextmanager
def started_processes() -> Iterator[None]:
    """On any exception inside, kill the child processes started inside (and theirs): a
    timed-out case leaves no worker behind. Processes that existed before (the Prefect
    server, the S3 endpoint, a Dask cluster) are left alone."""
    before = child_pids()
    try:
        yield
    except BaseException:
        for pid in child_pids() - before:
            kill_tree(pid)
        raise


# --- interruption -------------------------------------------------------------------------

_INTERRUPTED = threading.Event()


def stop_on_signals() -> None:
    """Make Ctrl-C (SIGINT) and SIGTERM raise ``KeyboardInterrupt`` in the main thread, so
    every ``finally`` and context manager runs and all started processes are stopped.
    The signal is also remembered (:func:`raise_if_interrupted`): code under test, such as
    a flow engine, may swallow the exception."""

    def interrupt(signum: int, frame: Any) -> None:
        _INTERRUPTED.set()
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` again if a signal came while something swallowed it."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt
