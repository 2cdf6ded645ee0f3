"""Prefect's settings for one benchmark run, made before Prefect is imported.

Prefect reads its settings when it is imported, and the threads it starts (log and event
workers, process-pool forwarders) and the processes a run starts (the measuring process,
Dask and process-pool workers) see only those. So importing the ``bench`` package runs
:func:`isolate` first (``bench/__init__.py``), before any of its modules can import Prefect:
a throw-away ``PREFECT_HOME`` and SQLite database, telemetry off, and the ephemeral server's
port chosen up front (unless the user set ``PREFECT_API_URL``, which is then used as it is).

This module imports nothing of Prefect, of the harness or of the strategies (an
import-linter contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import psutil

SESSION_ENV = "PREFECT_BIGDATA_BENCH_SESSION"
"""A marker every process of one run carries in its environment (tests find them by it)."""
OWNER_ENV = "PREFECT_BIGDATA_BENCH_OWNER"
"""``<pid>:<start time>`` of the run's main process: a process whose owner is gone was left
behind by a killed run (``bench.services.processes.stop_orphans``)."""
HOME_ENV = "PREFECT_BIGDATA_BENCH_HOME"
"""The run's throw-away folder (Prefect's home and database)."""
SERVER_PORT_ENV = "PREFECT_BIGDATA_BENCH_SERVER_PORT"
"""The ephemeral Prefect server's port; unset when the user gave ``PREFECT_API_URL``."""
DEFAULTS_CHANGED_BY = ("PREFECT_TASKS_", "PREFECT_RESULTS_")
"""Settings that change what Prefect does by default to tasks and their results: left out
of a run, which measures Prefect's defaults against its levers."""
IGNORED: list[str] = []
"""The variables of ``DEFAULTS_CHANGED_BY`` this process found set, and left out."""


def isolate() -> Path:
    """Point Prefect at a throw-away home and database, telemetry off; returns the folder.

    A process started by the run (it inherits the environment) keeps the run's isolation.
    The process that made the folder removes it when it exits.
    """
    inherited = os.environ.get(HOME_ENV)
    if (inherited and os.environ.get("PREFECT_API_URL") and Path(inherited).is_dir()
            and os.environ.get("PREFECT_HOME") == str(Path(inherited) / "home")):
        return Path(inherited)
    if "prefect" in sys.modules:
        raise RuntimeError("bench.isolation.isolate() must run before prefect is imported")
    for name in sorted(os.environ):
        if name.startswith(DEFAULTS_CHANGED_BY):
            IGNORED.append(name)
            del os.environ[name]
    folder = Path(tempfile.mkdtemp(prefix="prefect-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    me = psutil.Process()
    os.environ.setdefault(SESSION_ENV, uuid.uuid4().hex[:12])
    os.environ[OWNER_ENV] = f"{me.pid}:{me.create_time()}"
    os.environ.update(
        {HOME_ENV: str(folder)},
        PREFECT_HOME=str(folder / "home"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{folder}/prefect.db",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=os.environ.get(
            "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "ERROR"),
    )
    if os.environ.get("PREFECT_API_URL"):
        os.environ.pop(SERVER_PORT_ENV, None)
    else:
        port = free_port()
        os.environ[SERVER_PORT_ENV] = str(port)
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    return folder


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
