"""Dask clusters the harness starts: a ``dask scheduler`` and ``dask worker`` processes of
their own, talking TCP on 127.0.0.1, the same code path as a remote cluster.

Every socket they listen on is bound to 127.0.0.1 (Dask runs the code it is sent, without
authentication): the scheduler, its dashboard, each nanny, each worker and each worker's
HTTP server (health and metrics: ``--no-dashboard`` only leaves out its pages). A
``--dashboard-address`` of ``:PORT``, or a worker without ``--host`` and
``--dashboard-address``, would bind every interface.

distributed is imported where it is used: it takes a noticeable part of a second, which
every pytest session would pay (the plugin imports this module)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from bench.isolation import free_port
from bench.services.processes import http_ok, started
from strategies.base import Cluster

TASK_MODULES = ("prefect", "pandas", "pyarrow.parquet", "strategies.parallel")
"""What the flows' tasks need, imported once in every worker before any case runs."""
HOST = "127.0.0.1"


@contextmanager
def dask_cluster(workers: int = 2) -> Iterator[Cluster]:
    """A Dask scheduler and ``workers`` worker processes, each its own OS process listening
    on 127.0.0.1 only (``dask scheduler`` and ``dask worker --nworkers N``, one thread each)."""
    port = free_port()
    address = f"tcp://{HOST}:{port}"
    dashboard = f"{HOST}:{free_port()}"
    scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", HOST,
                 "--port", str(port), "--dashboard-address", dashboard]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers",
              str(workers), "--nthreads", "1", "--host", HOST, "--no-dashboard",
              "--dashboard-address", f"{HOST}:0"]
    scheduler_up = lambda: http_ok(f"http://{dashboard}/health")  # noqa: E731
    with (
        started(scheduler, f"dask scheduler on {address}", scheduler_up) as head,
        started(worker, "dask workers", lambda: _workers(address) >= workers,
                interval=0.4) as nodes,  # each check opens a client: poll gently
    ):
        _warm_workers(address)
        yield Cluster("dask", workers, address, (head.pid, nodes.pid))


def _warm_workers(address: str) -> None:
    """Import what the flows' tasks need in every worker, once, untimed: a case's memory
    run then measures its flow, not the workers' first imports of Prefect and pandas."""
    from distributed import Client

    with Client(address, timeout=10) as client:
        client.run(_import_task_modules)


def _import_task_modules() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def _workers(address: str) -> int:
    """How many workers the scheduler at ``address`` has (0 when it cannot be reached)."""
    from distributed import Client

    try:
        with Client(address, timeout=2) as client:
            return len(client.scheduler_info()["workers"])
    except OSError:
        return 0
