"""The real services a benchmark session runs against, started and stopped by the project.

- A Prefect server: the ephemeral one (Prefect's own ``SubprocessASGIServer`` on a free
  loopback port, with a throw-away SQLite database), or the user's ``PREFECT_API_URL``.
- An S3 endpoint: moto's S3 server in its own process on 127.0.0.1, bucket created, or any
  S3-compatible endpoint the user configures (``BENCH_S3_*`` and ``AWS_*`` variables).
- Optionally a Dask cluster (``dask scheduler`` + ``dask worker`` processes) for the
  ``parallel/dask-address`` case when the user asks for ``--dask-address local``.

Everything runs in its own process, outside whatever is measured, and everything started
is stopped when the session ends, also on error or Ctrl-C. Every process started carries
``SESSION_ENV`` in its environment, so a test can prove that none outlives the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from bench.limits import kill_tree

if TYPE_CHECKING:  # strategies imports Prefect, which must wait for isolate_prefect()
    from strategies.base import Cluster

SESSION_ENV = "PREFECT_BIGDATA_BENCH_SESSION"
OWNER_ENV = "PREFECT_BIGDATA_BENCH_OWNER"  # "<pid>:<start time>" of the session's main process
STARTUP_TIMEOUT_S = 90.0
_EPHEMERAL_PORT_ENV = "PREFECT_BIGDATA_BENCH_SERVER_PORT"


class ServiceError(RuntimeError):
    """A service could not be started or reached; ``str(err)`` is one actionable line."""


def isolate_prefect() -> Path:
    """Point Prefect at a throw-away home and database, telemetry off.

    Must run before ``prefect`` is imported: Prefect reads its settings at import time,
    and threads it starts (log and event workers, process-pool forwarders) see only those.
    So the ephemeral server's port is chosen here and ``PREFECT_API_URL`` set to it, unless
    the user set ``PREFECT_API_URL``, which is then used as it is.
    Returns the temporary folder.
    """
    if "prefect" in sys.modules:
        raise RuntimeError("isolate_prefect() must run before prefect is imported")
    home = Path(tempfile.mkdtemp(prefix="prefect-bench-"))
    os.environ.setdefault(SESSION_ENV, uuid.uuid4().hex[:12])
    me = psutil.Process()
    os.environ[OWNER_ENV] = f"{me.pid}:{me.create_time()}"
    os.environ.update(
        PREFECT_HOME=str(home / "home"),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{home}/prefect.db",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL=os.environ.get(
            "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "ERROR"
        ),
    )
    if not os.environ.get("PREFECT_API_URL"):
        os.environ[_EPHEMERAL_PORT_ENV] = str(free_port())
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{os.environ[_EPHEMERAL_PORT_ENV]}/api"
    return home


def stop_orphans() -> int:
    """Kill the processes an earlier session left behind when it was killed (SIGKILL gives
    it no chance to stop them): they carry ``OWNER_ENV`` naming a main process that no
    longer runs. Returns how many were stopped."""
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
    pid, _, started = owner.partition(":")
    try:
        return abs(psutil.Process(int(pid)).create_time() - float(started)) < 1.0
    except (psutil.NoSuchProcess, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceError(f"{what} exited with code {process.returncode} during start-up")
        if ready():
            return
        time.sleep(0.1)
    raise ServiceError(f"{what} did not become ready within {STARTUP_TIMEOUT_S:.0f} s")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except OSError:
        return False


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _process(args: list[str], what: str,
             ready: Callable[[], bool]) -> Iterator[subprocess.Popen[Any]]:
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_until(ready, what, process)
        yield process
    finally:
        _stop(process)


# --- Prefect server -------------------------------------------------------------------


@contextmanager
def prefect_server() -> Iterator[str]:
    """The session's Prefect API URL: an ephemeral server on the port ``isolate_prefect``
    chose, or the user's ``PREFECT_API_URL``. Prefect's log and event queues are drained
    before the server stops, so nothing is left trying to reach it."""
    url = os.environ.get("PREFECT_API_URL", "")
    port = os.environ.get(_EPHEMERAL_PORT_ENV)
    if not port:
        if not _http_ok(f"{url.rstrip('/')}/health"):
            raise ServiceError(f"PREFECT_API_URL={url}: no Prefect server answers there")
        with _drained():
            yield url
        return
    from prefect.server.api.server import SubprocessASGIServer

    database, template = _database_paths()
    if template.exists():
        shutil.copyfile(template, database)
    server = SubprocessASGIServer(port=int(port))
    try:
        server.start(timeout=int(STARTUP_TIMEOUT_S))
        if server.api_url != url:
            raise ServiceError(f"port {port} was taken; Prefect moved to {server.api_url}")
        if not template.exists():
            _snapshot(database, template)
        with _drained():
            yield url
    finally:
        server.stop()


def _database_paths() -> tuple[Path, Path]:
    """The session's SQLite file, and the cached copy of a freshly migrated one.

    Migrating a new database takes about half of the ephemeral server's start-up, so the
    first session snapshots the migrated, still empty database into the data cache (one
    per Prefect version) and later sessions start from a copy of it.
    """
    from importlib.metadata import version

    from bench.data import cache_dir

    url = os.environ["PREFECT_SERVER_DATABASE_CONNECTION_URL"]
    database = Path(url.split(":///", 1)[1])
    return database, cache_dir() / f"prefect-{version('prefect')}-empty.db"


def _snapshot(database: Path, template: Path) -> None:
    """Copy a live SQLite database consistently (its WAL included) to ``template``."""
    from bench.data import atomic_path

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
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

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
    from prefect.client.orchestration import get_client
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    start = time.monotonic()
    for worker in (EventsWorker, APILogWorker):  # flush, but keep them (and their connection)
        with worker._instance_cache_lock:
            running = [w for w in worker._instances.values() if not w._stopped]
        for instance in running:
            while instance._queue.qsize() and time.monotonic() - start < timeout:
                time.sleep(0.01)
    with get_client(sync_client=True) as client:
        _until_stable(client, start + timeout, 0.03,
                      lambda: not _unfinished(client) - _ABANDONED)
    return time.monotonic() - start


def abandon_unfinished(timeout: float = SETTLE_TIMEOUT_S) -> None:
    """After a process was killed in the middle of a flow: its task runs will never reach a
    final state. Wait until the server's count of task runs stops changing (what the
    process sent has arrived), then leave the still unfinished ones out of
    :func:`settle_server`'s wait. (They are not changed on the server, which may be the
    user's own.)"""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
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


# --- S3 ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Settings:
    """Where results go for the ``s3`` strategy. Secrets never appear in ``repr``."""

    endpoint_url: str | None = None
    bucket: str = "prefect-bigdata-bench"
    region: str = "us-east-1"
    access_key_id: str = field(default="testing", repr=False)
    secret_access_key: str = field(default="testing", repr=False)

    @classmethod
    def from_env(cls, endpoint_url: str | None = None, bucket: str | None = None) -> S3Settings:
        """Options first, then ``BENCH_S3_ENDPOINT_URL``/``BENCH_S3_BUCKET``/``AWS_*``."""
        endpoint = endpoint_url or os.environ.get("BENCH_S3_ENDPOINT_URL") or None
        env = os.environ if endpoint else {}
        return cls(
            endpoint_url=endpoint,
            bucket=bucket or os.environ.get("BENCH_S3_BUCKET") or cls.bucket,
            region=env.get("AWS_DEFAULT_REGION", cls.region),
            access_key_id=env.get("AWS_ACCESS_KEY_ID", "testing"),
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "testing"),
        )

    def client(self) -> Any:
        """The harness's own client (listing, emptying): it gives up on a dead endpoint
        after 3 attempts, about 3 s, not botocore's default 5. The flows' clients (the
        ``S3Bucket`` block) keep Prefect's and botocore's defaults."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10),
        )


@dataclass(frozen=True)
class S3Prefix:
    """A prefix in a bucket, used as a strategy's storage (see ``strategies.base.Storage``)."""

    settings: S3Settings
    prefix: str

    def sizes(self) -> dict[str, int]:
        with self._reaching():
            pages = self.settings.client().get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=self.prefix + "/"
            )
            return {obj["Key"]: obj["Size"] for page in pages
                    for obj in page.get("Contents", [])}

    def clear(self) -> None:
        keys = list(self.sizes())
        with self._reaching():
            client = self.settings.client()
            for start in range(0, len(keys), 1000):
                batch = [{"Key": key} for key in keys[start : start + 1000]]
                client.delete_objects(Bucket=self.settings.bucket, Delete={"Objects": batch})

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn "cannot connect" into one line naming the endpoint."""
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            yield
        except BotoConnectionError as err:
            raise ServiceError(f"S3 endpoint {self.settings.endpoint_url}: unreachable "
                               f"({type(err).__name__})") from None


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server in its own process on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _process(args, f"moto S3 server on {url}", lambda: _http_ok(url)):
        yield url


@contextmanager
def s3_endpoint(settings: S3Settings) -> Iterator[S3Settings]:
    """The configured S3 endpoint, or moto's; the bucket exists when this yields."""
    with ExitStack() as stack:
        if settings.endpoint_url is None:
            url = stack.enter_context(moto_s3())
            settings = S3Settings(endpoint_url=url, bucket=settings.bucket)
        client = settings.client()
        try:
            client.head_bucket(Bucket=settings.bucket)
        except client.exceptions.ClientError:
            try:
                client.create_bucket(Bucket=settings.bucket)
            except Exception as err:
                raise ServiceError(
                    f"S3 endpoint {settings.endpoint_url}: cannot use bucket "
                    f"{settings.bucket!r} ({type(err).__name__})"
                ) from None
        except Exception as err:
            raise ServiceError(
                f"S3 endpoint {settings.endpoint_url}: unreachable ({type(err).__name__})"
            ) from None
        yield settings


def save_s3_block(settings: S3Settings, folder: str, name: str) -> str:
    """Save an ``S3Bucket`` block (and its ``AwsCredentials``, ``<name>-credentials``) on the
    Prefect server; return its slug for ``result_storage``. :func:`delete_s3_block` removes
    both, so no credential stays on a user's server."""
    from prefect_aws import AwsCredentials, S3Bucket

    credentials = AwsCredentials(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region,
        aws_client_parameters={"endpoint_url": settings.endpoint_url},
    )
    credentials.save(f"{name}-credentials", overwrite=True)
    block = S3Bucket(bucket_name=settings.bucket, bucket_folder=folder, credentials=credentials)
    block.save(name, overwrite=True)
    return f"s3-bucket/{name}"


def delete_s3_block(name: str) -> None:
    """Delete what :func:`save_s3_block` saved."""
    from prefect_aws import AwsCredentials, S3Bucket

    S3Bucket.delete(name)
    AwsCredentials.delete(f"{name}-credentials")


# --- Dask ---------------------------------------------------------------------------------


@contextmanager
def dask_cluster(workers: int = 2) -> Iterator[Cluster]:
    """A Dask scheduler and ``workers`` worker processes, each its own OS process on
    127.0.0.1 (``dask scheduler`` and ``dask worker --nworkers N``, one thread each)."""
    from strategies.base import Cluster

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dashboard = free_port()
    scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                 "127.0.0.1", "--port", str(port), "--dashboard-address", f":{dashboard}"]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers",
              str(workers), "--nthreads", "1", "--no-dashboard"]
    scheduler_up = lambda: _http_ok(f"http://127.0.0.1:{dashboard}/health")  # noqa: E731
    with (
        _process(scheduler, f"dask scheduler on {address}", scheduler_up) as head,
        _process(worker, "dask workers", lambda: _dask_workers(address) >= workers) as nodes,
    ):
        _warm_dask_workers(address)
        yield Cluster("dask", workers, address, (head.pid, nodes.pid))


def _warm_dask_workers(address: str) -> None:
    """Import what the flows' tasks need in every worker, once, untimed: a case's memory
    run then measures its flow, not the workers' first imports of Prefect and pandas."""
    from distributed import Client

    with Client(address, timeout=10) as client:
        client.run(_import_task_modules)


def _import_task_modules() -> None:
    import importlib

    for module in ("prefect", "pandas", "pyarrow.parquet", "strategies.parallel"):
        importlib.import_module(module)


def _dask_workers(address: str) -> int:
    from distributed import Client

    time.sleep(0.4)  # each check opens a client: poll gently
    try:
        with Client(address, timeout=2) as client:
            return len(client.scheduler_info()["workers"])
    except OSError:
        return 0


# --- Ray (optional extra) -----------------------------------------------------------------

RAY_EXTRA = "pip install -c constraints.txt -e '.[ray]'"
RAY_OBJECT_STORE_BYTES = 1_000_000_000


def available_engines(engines: tuple[str, ...]) -> tuple[str, ...]:
    """The scale-out engines among ``engines`` that can run here (Ray only if installed)."""
    return tuple(e for e in engines if e != "ray" or ray_installed())


def ray_installed() -> bool:
    """Whether the optional ``ray`` extra (ray and prefect-ray) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) for name in ("ray", "prefect_ray"))


@contextmanager
def ray_cluster(workers: int) -> Iterator[Cluster]:
    """A local Ray cluster: ``ray start --head --num-cpus workers`` on 127.0.0.1 (its
    daemons are separate processes; Ray starts worker processes under its raylet as flows
    connect). Stopped by killing its process group and every descendant."""
    from strategies.base import Cluster

    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    args = [str(Path(sys.executable).with_name("ray")), "start", "--head",
            "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(workers),
            "--include-dashboard", "false", "--include-log-monitor", "false",
            "--object-store-memory", str(RAY_OBJECT_STORE_BYTES), "--temp-dir", str(temp),
            "--ray-client-server-port", str(free_port()), "--disable-usage-stats"]
    start = subprocess.Popen(args, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = start.communicate(timeout=STARTUP_TIMEOUT_S)
        if start.returncode != 0:
            last = (err or "").strip().splitlines()[-1:] or ["no output"]
            raise ServiceError(f"ray start exited with code {start.returncode}: {last[0]}")
        daemons = tuple(p.pid for p in psutil.process_iter() if _in_group(p, start.pid))
        yield Cluster("ray", workers, f"127.0.0.1:{port}", daemons)
    finally:
        _stop_group(start.pid)
        shutil.rmtree(temp, ignore_errors=True)


def _in_group(process: psutil.Process, group: int) -> bool:
    try:
        return os.getpgid(process.pid) == group
    except OSError:
        return False


def _stop_group(group: int) -> None:
    """Kill a process group and every descendant (Ray's workers have groups of their own)."""
    members = [p for p in psutil.process_iter() if _in_group(p, group)]
    psutil.wait_procs([p for m in members for p in kill_tree(m.pid)], timeout=10)
