"""Nothing a benchmark run starts listens beyond loopback. A real run (``pytest
--benchmark-only`` in a subprocess, as a user starts it) is watched while it runs: every
listening TCP socket of its processes (those carrying its session marker, and their
descendants) must be bound to 127.0.0.1 or ::1. Dask and Ray cases, each on the clusters the
harness starts; the Ray run is skipped, saying how to install Ray, when it is not installed."""

from __future__ import annotations

import ipaddress
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bench.isolation import SESSION_ENV
from bench.services import ray
from tests.processes import bench_pytest, clean_env, marker, no_survivors

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN_TIMEOUT_S = 240.0  # a run takes 30 to 60 s here
POLL_S = 0.2
RAY_MISSING = f"Ray is an optional extra, not installed: {ray.RAY_EXTRA}"


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket of one of the run's processes."""

    pid: int
    role: str  # what the process is: "dask scheduler", "ray raylet", else its command
    ip: str
    port: int

    def loopback(self) -> bool:
        address = ipaddress.ip_address(self.ip)
        return bool((getattr(address, "ipv4_mapped", None) or address).is_loopback)

    def __str__(self) -> str:
        return f"{self.role} (pid {self.pid}) listens on {self.ip}:{self.port}"


@dataclass(frozen=True)
class Watched:
    """A run that was watched until it ended."""

    returncode: int
    output: str
    listeners: frozenset[Listener]

    def roles(self) -> set[str]:
        return {listener.role for listener in self.listeners}


def _of_run(process: psutil.Process, session: str) -> bool:
    """Whether ``process`` or one of its ancestors carries the run's marker (a process that
    renames itself, as Ray's agents and workers do, may overwrite its environment)."""
    for candidate in (process, *process.parents()):
        try:
            if candidate.environ().get(SESSION_ENV) == session:
                return True
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return False


MODULE_ROLES = {"distributed.cli.dask_scheduler": "dask scheduler",
                "distributed.cli.dask_worker": "dask nanny",
                "ray.util.client.server": "ray client server",
                "moto.server": "moto s3",
                "uvicorn": "prefect server"}


def _role(process: psutil.Process) -> str:
    """What a process of the run is, from its name, its command line and its parent's."""
    name, command = process.name(), process.cmdline()
    module = command[command.index("-m") + 1] if "-m" in command[:-1] else ""
    parent = process.parent()
    if name in ("gcs_server", "raylet"):
        return f"ray {name}"
    if name.startswith("ray::"):  # Ray's agents and workers name themselves so
        return "ray agent" if name.endswith("Agent") else "ray worker"
    if module in MODULE_ROLES:
        return MODULE_ROLES[module]
    if parent is not None and "distributed.cli.dask_worker" in parent.cmdline():
        return "dask worker"
    if any("spawn_main" in part for part in command):  # only a LocalCluster's listen
        return "dask localcluster worker"
    return " ".join(command)[:100]


def listeners(session: str) -> set[Listener]:
    """The listening TCP sockets of the run's processes right now."""
    found = set()
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status != psutil.CONN_LISTEN or connection.pid is None:
            continue
        try:
            process = psutil.Process(connection.pid)
            if _of_run(process, session):
                found.add(Listener(process.pid, _role(process), connection.laddr.ip,
                                   connection.laddr.port))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def watch(results: Path, *args: str) -> Watched:
    """A smoke run with the scale-out clusters (one worker each), polled until it ends; what
    its processes listened on meanwhile. Leaves no process of the run behind."""
    session = marker()
    process = bench_pytest("--bench-profile", "smoke", "--bench-scale-out",
                           "--bench-workers", "1", f"--bench-results={results}", *args,
                           env=clean_env(session))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    seen: set[Listener] = set()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            seen |= listeners(session)
            try:
                process.wait(timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            pytest.fail(f"the run did not end within {RUN_TIMEOUT_S:.0f} s")
    finally:
        if process.poll() is None:
            process.terminate()  # the harness stops what it started
            process.wait(timeout=60)
        reader.join(timeout=10)
    assert no_survivors(session) == []
    return Watched(process.returncode, "".join(lines), frozenset(seen))


def assert_loopback_only(run: Watched) -> None:
    assert run.returncode == 0, run.output[-3000:]
    beyond = sorted(str(listener) for listener in run.listeners if not listener.loopback())
    assert beyond == [], "listening beyond loopback:\n" + "\n".join(beyond)


def test_a_dask_run_listens_on_loopback_only(tmp_path: Path) -> None:
    # the LocalCluster parallel/dask starts per flow run, and a cluster of the harness
    # (--bench-dask-address local starts the same kind)
    run = watch(tmp_path, "-k", "dask-dataframe or dask-w1-dataframe or s3-dataframe")
    assert_loopback_only(run)
    assert {"prefect server", "moto s3", "dask scheduler", "dask nanny", "dask worker",
            "dask localcluster worker"} <= run.roles(), run.roles()


def test_a_ray_run_listens_on_loopback_only(tmp_path: Path) -> None:
    if not ray.ray_installed():
        pytest.skip(RAY_MISSING)
    run = watch(tmp_path, "-k", "ray-w1 and not paths")
    assert_loopback_only(run)
    assert {"ray gcs_server", "ray raylet", "ray client server", "ray agent", "ray worker"} \
        <= run.roles(), run.roles()
