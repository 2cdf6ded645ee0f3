"""The Prefect server a run talks to, and waiting until it has recorded a flow run.

The ephemeral server is Prefect's own ``SubprocessASGIServer`` on the loopback port that
``bench.isolation`` chose, with a throw-away SQLite database; with ``PREFECT_API_URL`` set
by the user, that server is used as it is.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.client.orchestration import get_client
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

from bench.data import atomic_path, cache_dir
from bench.isolation import SERVER_PORT_ENV
from bench.services import ServiceError
from bench.services.processes import STARTUP_TIMEOUT_S, http_ok

if TYPE_CHECKING:
    from prefect.server.api.server import SubprocessASGIServer

_SERVING: list[SubprocessASGIServer] = []  # the ephemeral server while a session runs it


@contextmanager
def prefect_server() -> Iterator[str]:
    """The run's Prefect API URL: an ephemeral server on the port ``bench.isolation``
    chose, or the user's ``PREFECT_API_URL``. Prefect's log and event queues are drained
    before the server stops, so nothing is left trying to reach it."""
    url = os.environ.get("PREFECT_API_URL", "")
    port = os.environ.get(SERVER_PORT_ENV)
    if not port or _SERVING:  # the user's server, or an outer session's (sessions nest)
        if not port and not http_ok(f"{url.rstrip('/')}/health"):
            raise ServiceError(f"PREFECT_API_URL={url}: no Prefect server answers there")
        with _drained():
            yield url
        if not _SERVING:  # the user's server: this run's client goes with the run
            _close_settling_client(url)
        return
    # Prefect's server code takes more than a second to import: only when it is started
    from prefect.server.api.server import SubprocessASGIServer

    database, template = _database_paths()
    if template.exists():
        shutil.copyfile(template, database)
    server = SubprocessASGIServer(port=int(port))  # one per port and process (Prefect's)
    _SERVING.append(server)
    try:
        server.start(timeout=int(STARTUP_TIMEOUT_S))
        if server.api_url != url:
            raise ServiceError(f"port {port} was taken; Prefect moved to {server.api_url}")
        if not template.exists():
            _snapshot(database, template)
        with _drained():
            yield url
    finally:
        _SERVING.clear()
        _close_settling_client(url)
        server.stop()


def _database_paths() -> tuple[Path, Path]:
    """The run's SQLite file, and the cached copy of a freshly migrated one.

    Migrating a new database takes about half of the ephemeral server's start-up, so the
    first run snapshots the migrated, still empty database into the data cache (one per
    Prefect version) and later runs start from a copy of it.
    """
    url = os.environ["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    database = Path(url.split(":///", 1)[1])
    return database, cache_dir() / f"prefect-{version('prefect')}-empty.db"


def _snapshot(database: Path, template: Path) -> None:
    """Copy a live SQLite database consistently (its WAL included) to ``template``."""
    with atomic_path(template) as tmp:
        source, copy = sqlite3.connect(database), sqlite3.connect(tmp)
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()


@contextmanager
def _drained() -> Iterator[None]:
    try:
        yield
    finally:
        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)


SETTLE_TIMEOUT_S = 10.0
_NOT_FINAL = {"task_runs": {"state": {"type": {"any_": [
    "SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"]}}}}
_ABANDONED: set[str] = set()  # task runs of processes killed mid-flow: never final


def settle_server(timeout: float = SETTLE_TIMEOUT_S) -> float:
    """Wait until the Prefect server has recorded everything the last flow run sent.

    Task-run states reach the server as events, which it writes to its database after the
    flow has returned. A flow run started while it still writes can meet SQLite's
    "database is locked"; Prefect's client then retries after about 2 s, and that sleep
    would land in the next timed round. So, untimed: flush this process's event and log
    queues (without stopping their workers: reconnecting would land in the round), then
    poll until no task run is left in a non-final state (but those of killed processes,
    see :func:`abandon_unfinished`) and the number of task runs stops changing.
    Returns the seconds waited.
    """
    start = time.monotonic()
    for worker in (EventsWorker, APILogWorker):  # flush, but keep them (and their connection)
        with _instances_lock(worker):
            running = [w for w in worker._instances.values() if not w._stopped]
        for instance in running:
            while instance._queue.qsize() and time.monotonic() - start < timeout:
                time.sleep(0.01)
    client = _settling_client()
    _until_stable(client, start + timeout, 0.03, lambda: not _unfinished(client) - _ABANDONED)
    return time.monotonic() - start


def _instances_lock(worker: Any) -> Any:
    """The lock over a Prefect queue service's instances (named ``_instance_lock`` before
    Prefect 3.8.8)."""
    return getattr(worker, "_instance_cache_lock", None) or worker._instance_lock


_CLIENTS: dict[str, Any] = {}  # by API URL: settle_server runs before every round, and
# abandon_unfinished after a killed run


def _settling_client() -> Any:
    """One open sync client per API URL for :func:`settle_server` and
    :func:`abandon_unfinished` (opening one costs about 20 ms, mostly loading the CA
    bundle)."""
    url = os.environ.get("PREFECT_API_URL", "")
    if url not in _CLIENTS:
        _CLIENTS[url] = get_client(sync_client=True).__enter__()
    return _CLIENTS[url]


def _close_settling_client(url: str) -> None:
    client = _CLIENTS.pop(url, None)
    if client is not None:
        client.__exit__(None, None, None)


def abandon_unfinished(timeout: float = SETTLE_TIMEOUT_S) -> None:
    """After a process was killed in the middle of a flow: its task runs will never reach a
    final state. Wait until the server's count of task runs stops changing (what the
    process sent has arrived), then leave the still unfinished ones out of
    :func:`settle_server`'s wait. (They are not changed on the server, which may be the
    user's own.)"""
    client = _settling_client()
    _until_stable(client, time.monotonic() + timeout, 0.1)
    _ABANDONED.update(_unfinished(client))


def _until_stable(client: Any, deadline: float, interval: float,
                  also: Callable[[], bool] = lambda: True) -> None:
    """Poll every ``interval`` s until the server's task-run count is unchanged since the
    last poll and ``also()`` holds, or until ``deadline`` (``time.monotonic()``)."""
    last = _task_runs(client)
    while time.monotonic() < deadline:
        time.sleep(interval)
        total = _task_runs(client)
        if total == last and also():
            break
        last = total


def _task_runs(client: Any) -> int:
    return int(client.request("POST", "/task_runs/count", json={}).json())


def _unfinished(client: Any) -> set[str]:
    found = client.request("POST", "/task_runs/filter", json={**_NOT_FINAL, "limit": 200})
    return {run["id"] for run in found.json()}
