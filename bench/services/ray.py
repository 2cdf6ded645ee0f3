"""Ray clusters the harness starts (the optional ``ray`` extra): ``ray start --head``, its
daemons processes of their own; Ray starts worker processes under its raylet as flows connect.

Everything such a cluster listens on is bound to 127.0.0.1. Ray binds its node's IP address
(GCS, raylet, workers, Ray Client server, agents, metrics servers; some of them every
interface when that address is not a loopback one), and replaces a loopback
``--node-ip-address`` by the machine's network address, except in its single-machine mode
(:data:`SINGLE_MACHINE_ENV`, Ray's default on macOS and Windows). A driver reads that mode
when it imports Ray and needs it to reach a GCS on 127.0.0.1, so it is set in this process's
environment, which the processes it starts inherit, while a cluster runs. Token
authentication stays off (``RAY_AUTH_MODE=disabled``: no token is made or asked for, and a
``~/.ray/auth_token`` does not turn it on): whoever can reach 127.0.0.1 can run code on the
cluster, as on the harness's Dask clusters.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.isolation import free_port
from bench.services import ServiceError
from bench.services.processes import STARTUP_TIMEOUT_S, process_group, stop_group
from strategies.base import Cluster

RAY_EXTRA = "pip install -c constraints.txt -e '.[ray]'"
RAY_OBJECT_STORE_BYTES = 1_000_000_000
HOST = "127.0.0.1"
SINGLE_MACHINE_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Ray's single-machine mode: the node's IP address is 127.0.0.1 (``ray_constants.
ENABLE_RAY_CLUSTER`` false), in the daemons and in every driver."""
FIXED_PORT_ENV = ("AUTOSCALER_METRIC_PORT", "DASHBOARD_METRIC_PORT")
"""Metrics ports Ray fixes (44217, 44227) unless told: given free ones, as the dashboard
agent's (52365), so that clusters side by side do not contend for them."""


def ray_installed() -> bool:
    """Whether the optional ``ray`` extra (ray and prefect-ray) is installed."""
    return all(importlib.util.find_spec(name) for name in ("ray", "prefect_ray"))


def available_engines(engines: tuple[str, ...]) -> tuple[str, ...]:
    """The scale-out engines among ``engines`` that can run here (Ray only if installed)."""
    return tuple(e for e in engines if e != "ray" or ray_installed())


@contextmanager
def ray_cluster(workers: int) -> Iterator[Cluster]:
    """A local Ray cluster: ``ray start --head --num-cpus workers``, listening on 127.0.0.1
    only. Stopped by killing its process group and every descendant."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    args = [str(Path(sys.executable).with_name("ray")), "start", "--head",
            "--node-ip-address", HOST, "--port", str(port), "--num-cpus", str(workers),
            "--include-dashboard", "false", "--dashboard-host", HOST,
            "--include-log-monitor", "false",
            "--object-store-memory", str(RAY_OBJECT_STORE_BYTES), "--temp-dir", str(temp),
            "--ray-client-server-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"]
    fixed_ports = {name: str(free_port()) for name in FIXED_PORT_ENV}
    with _single_machine():
        env = {**os.environ, **fixed_ports, "RAY_USAGE_STATS_ENABLED": "0",
               "RAY_AUTH_MODE": "disabled"}
        start = subprocess.Popen(args, env=env, start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        try:
            _, err = start.communicate(timeout=STARTUP_TIMEOUT_S)
            if start.returncode != 0:
                last = (err or "").strip().splitlines()[-1:] or ["no output"]
                raise ServiceError(f"ray start exited with code {start.returncode}: {last[0]}")
            daemons = tuple(p.pid for p in process_group(start.pid))
            yield Cluster("ray", workers, f"{HOST}:{port}", daemons)
        finally:
            stop_group(start.pid)
            shutil.rmtree(temp, ignore_errors=True)


@contextmanager
def _single_machine() -> Iterator[None]:
    """:data:`SINGLE_MACHINE_ENV` in this process's environment (restored afterwards).

    Ray reads it once, when it is imported: a process that imported Ray before could not
    reach the cluster (its drivers would look for the GCS on the machine's network address
    and wait), so that is an error here."""
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and constants.ENABLE_RAY_CLUSTER:
        raise ServiceError("Ray was imported before the harness started its Ray cluster; "
                           "set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing it")
    before = {name: os.environ.get(name) for name in SINGLE_MACHINE_ENV}
    os.environ.update(SINGLE_MACHINE_ENV)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
