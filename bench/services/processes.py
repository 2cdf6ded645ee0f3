"""Starting, watching and stopping the processes a run starts, and measuring their memory.

Every process a run starts inherits its environment, so it carries the run's markers
(``bench.isolation.SESSION_ENV``, ``OWNER_ENV``): a run's leftovers can always be found.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from bench.isolation import OWNER_ENV
from bench.services import ServiceError

STARTUP_TIMEOUT_S = 90.0


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[Any] | None = None,
               timeout: float = STARTUP_TIMEOUT_S, interval: float = 0.1) -> None:
    """Poll ``ready()`` every ``interval`` s until it holds; :class:`ServiceError` when
    ``process`` exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(f"{what} exited with code {process.returncode} during start-up")
        if ready():
            return
        time.sleep(interval)
    raise ServiceError(f"{what} did not become ready within {timeout:.0f} s")


def http_ok(url: str) -> bool:
    """Whether ``url`` answers with a status under 500."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except OSError:
        return False


@contextmanager
def started(args: list[str], what: str, ready: Callable[[], bool],
            interval: float = 0.1) -> Iterator[subprocess.Popen[Any]]:
    """``args`` as a process of its own, output discarded, ready (``ready()`` polled every
    ``interval`` s) when this yields; stopped (terminated, then killed) when the block ends."""
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_until(ready, what, process, interval=interval)
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any]) -> None:
    """Terminate ``process``; kill it if it has not ended 10 s later."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kill_tree(pid: int | None) -> list[psutil.Process]:
    """Kill process ``pid`` and all its descendants (children first); returns them."""
    if pid is None:
        return []
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return []
    for process in family:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    return family


def child_pids() -> set[int]:
    """The pids of this process's children, recursively."""
    return {child.pid for child in psutil.Process().children(recursive=True)}


def tree_rss(pid: int) -> int:
    """Resident memory of process ``pid`` and all its descendants, in bytes."""
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def trees_rss(pids: tuple[int, ...]) -> int:
    """Resident memory of the trees of ``pids`` (0 for those that are gone)."""
    total = 0
    for pid in pids:
        try:
            total += tree_rss(pid)
        except psutil.NoSuchProcess:
            continue
    return total


def stop_orphans() -> int:
    """Kill the processes an earlier run left behind when it was killed (SIGKILL gives it
    no chance to stop them): they carry ``OWNER_ENV`` naming a main process that no longer
    runs. Returns how many were stopped."""
    stopped = 0
    for process in psutil.process_iter():
        try:
            owner = process.environ().get(OWNER_ENV)
            if owner and not _running(owner) and process.status() != psutil.STATUS_ZOMBIE:
                process.kill()
                stopped += 1
        except (psutil.Error, OSError):
            continue
    return stopped


def _running(owner: str) -> bool:
    pid, _, started_at = owner.partition(":")
    try:
        return abs(psutil.Process(int(pid)).create_time() - float(started_at)) < 1.0
    except (psutil.NoSuchProcess, ValueError):
        return False


def process_group(group: int) -> list[psutil.Process]:
    """The processes whose process group is ``group``."""
    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == group:
                found.append(process)
        except OSError:
            continue
    return found


def stop_group(group: int) -> None:
    """Kill a process group and every descendant of its members (which may have groups of
    their own, as Ray's workers do)."""
    members = process_group(group)
    psutil.wait_procs([p for m in members for p in kill_tree(m.pid)], timeout=10)
