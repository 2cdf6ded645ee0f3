"""The task runners of the parallel strategy, and the proof that they ran its task runs.

A variant names a runner (``runner_for``): ``threads`` (Prefect's ThreadPoolTaskRunner),
``processes`` (ProcessPoolTaskRunner), ``dask`` (DaskTaskRunner starting a LocalCluster per
flow run, as Prefect's docs show), ``dask-address`` (a running scheduler: the user's, or one
the harness started), ``dask-w<N>`` / ``ray-w<N>`` (clusters the harness started for the
scale-out axis: N worker processes talking TCP on 127.0.0.1), ``ray-address`` (the user's
Ray cluster). A ``-paths`` suffix moves paths instead of frames.

Where each task run ran is read from the runner's own records, never from the flow's
payload, by a :class:`Witness` that only listens while the flow runs; everything it asks
is asked before (``mark``) or after (``proof``) the timed run:

- threads: Prefect's log record of each task run's final state, in this process, names
  the thread it finished on (``FlowRun.finished``);
- processes: the pool's worker processes forward their task runs' state events to this
  process through the pool's queue, and the pool lets us see what passes
  (``subprocess_message_processor_factories``); only pool processes write to that queue;
- dask: distributed's task stream (``TaskStreamPlugin``) on the scheduler records which
  worker computed each task (prefect-dask keys each task run's Dask task by the task's name);
  read over RPC from a running scheduler, or kept in this process for the LocalCluster the
  runner starts (its scheduler runs here and is gone when the flow ends);
- ray: Ray's task events in its GCS (each task named after the Prefect task by prefect-ray)
  name the worker process that ran it; they arrive up to a second late, so the proof waits
  for them, untimed.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import prefect
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from strategies.base import Cluster, Context, NotApplied
from strategies.flowrun import FlowRun

WORKERS = max(2, os.cpu_count() or 2)
PATHS = "-paths"
SCALE_OUT = re.compile(r"(dask|ray)-w(\d+)$")
VARIANTS = ("threads", "processes", "dask", "dask-address", "dask-address-paths",
            "ray-address", "ray-address-paths")
"""The variants every session knows; ``available`` adds the scale-out ones."""
EVIDENCE_WAIT_S = 10.0  # the longest a proof waits for records that arrive late (Ray's)


@dataclass(frozen=True)
class Runner:
    """What a variant runs on: ``kind`` (threads, processes, dask, ray), how many workers, how
    data moves, and the cluster (one the harness started, or a description)."""

    kind: str
    workers: int | None
    movement: str
    where: str
    address: str | None = None
    cluster: Cluster | None = None

    def task_runner(self) -> TaskRunner[Any]:
        """The Prefect task runner, as a user would configure it."""
        if self.kind == "threads":
            return ThreadPoolTaskRunner(max_workers=self.workers)
        if self.kind == "processes":
            return ProcessPoolTaskRunner(max_workers=self.workers)
        if self.kind == "ray":
            from prefect_ray import RayTaskRunner

            return RayTaskRunner(address=self.address, init_kwargs={"log_to_driver": False})
        from prefect_dask import DaskTaskRunner

        if self.address:
            return DaskTaskRunner(address=self.address)
        # a LocalCluster's dashboard listens on every interface unless told otherwise
        return DaskTaskRunner(cluster_kwargs={"n_workers": self.workers, "threads_per_worker": 1,
                                              "dashboard_address": "127.0.0.1:0"})

    def witness(self) -> Witness:
        """A witness of this runner, holding the task runner to give the flow."""
        if self.kind == "dask":
            return DaskAtWitness(self) if self.address else LocalDaskWitness(self)
        return {"threads": ThreadsWitness, "processes": ProcessesWitness,
                "ray": RayWitness}[self.kind](self)


def available(ctx: Context) -> tuple[str, ...]:
    """The variants that can run in ``ctx``: the address ones only with an address, and
    ``<engine>-w<N>[-paths]`` for each scale-out cluster."""
    fixed = [v for v in VARIANTS if (not v.startswith("dask-address") or ctx.dask_address)
             and (not v.startswith("ray-address") or ctx.ray_address)]
    scale_out = [f"{c.engine}-w{c.workers}{paths}" for c in ctx.clusters
                 for paths in ("", PATHS)]
    return (*fixed, *scale_out)


def names_a_runner(variant: str) -> bool:
    """Whether ``variant`` is a variant name, in any session (``dask-w4`` included)."""
    return variant in VARIANTS or bool(SCALE_OUT.match(variant.removesuffix(PATHS)))


def runner_for(variant: str, ctx: Context) -> Runner:
    """The ``Runner`` a variant name stands for in this context."""
    base = variant.removesuffix(PATHS)
    movement = "paths" if variant.endswith(PATHS) else "frames"
    scale_out = SCALE_OUT.match(base)
    if scale_out:
        engine, workers = scale_out.group(1), int(scale_out.group(2))
        cluster = _cluster(ctx, engine, workers)
        where = (f"started by the harness: dask scheduler + {workers} dask worker process(es)"
                 if engine == "dask" else
                 f"started by the harness: ray start --head --num-cpus {workers}")
        return Runner(engine, workers, movement, f"{where} on 127.0.0.1", cluster.address,
                      cluster)
    if base == "ray-address":
        return Runner("ray", None, movement, f"the user's Ray cluster at {ctx.ray_address}",
                      ctx.ray_address)
    if base == "dask-address":
        own = ctx.address_cluster
        where = ("started by the harness: dask scheduler + worker processes on 127.0.0.1"
                 if own else f"the user's scheduler at {ctx.dask_address}")
        return Runner("dask", own.workers if own else None, movement, where, ctx.dask_address,
                      own)
    where = {"threads": "threads in the flow's process",
             "processes": "a process pool started per flow run",
             "dask": "a Dask LocalCluster started per flow run"}[base]
    return Runner(base, WORKERS, movement, where)


def _cluster(ctx: Context, engine: str, workers: int) -> Cluster:
    for cluster in ctx.clusters:
        if cluster.engine == engine and cluster.workers == workers:
            return cluster
    raise RuntimeError(f"no {workers}-worker {engine} cluster in this session "
                       "(--bench-scale-out)")


# --- the proof ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """One task run as a runner recorded it: the task's name, what identifies the run in the
    record (task run id, Dask key, Ray task id), where it ran (``None``: the record does not
    say which worker) and whether that is one of the runner's workers."""

    task: str
    run: str
    place: str | None
    on_worker: bool = True


def on_workers(kind: str, expected: Mapping[str, int], ran: Iterable[Ran],
               source: str = "") -> str:
    """Check that each of the flow's task runs (``expected``: how many runs of each task)
    ran on the runner's workers, from what the runner recorded (``ran``); return the
    evidence, else raise :class:`NotApplied` saying how many did not and where they ran,
    or that the records hold more runs than the flow made (other work: they prove
    nothing about this flow)."""
    runs = list({(r.task, r.run): r for r in ran if r.task in expected}.values())
    on = [r for r in runs if r.on_worker]
    total = sum(expected.values())
    counted, recorded = Counter(r.task for r in on), Counter(r.task for r in runs)
    missing = sum(max(0, n - counted[task]) for task, n in expected.items())
    if missing:
        off = sorted({r.place for r in runs if not r.on_worker and r.place is not None})
        detail = f"ran on {off[0]}" if off else f"no record of them in {source or 'the runner'}"
        raise NotApplied(f"{missing} of {total} task runs did not run on {kind} workers "
                         f"({detail})")
    surplus = sum(max(0, recorded[task] - n) for task, n in expected.items())
    if surplus:
        raise NotApplied(f"{source or 'the runner'} holds {total + surplus} runs of the "
                         f"flow's tasks where it made {total}: records of other work, so "
                         "they prove nothing about this run")
    places = {r.place for r in on if r.place is not None}
    workers = f"{len(places)} distinct {kind} workers" if places else f"{kind} workers"
    return f"{total} task runs on {workers}" + (f" (from {source})" if source else "")


class Witness:
    """Where a runner's task runs ran, from the runner's own records. ``task_runner`` is the
    runner to give the flow (with the witness listening, if it must); ``mark`` (untimed,
    before a run) starts a new record; ``proof`` (untimed, after the run) checks it."""

    source: ClassVar[str]
    wait_s: ClassVar[float] = 0.0  # how long records may take to arrive after the flow

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.task_runner: TaskRunner[Any] = runner.task_runner()

    def mark(self) -> None:
        """Forget what ran before (untimed, before a run)."""

    def ran(self, run: FlowRun) -> list[Ran]:
        """What the runner recorded since ``mark``."""
        raise NotImplementedError

    def proof(self, run: FlowRun, expected: Mapping[str, int]) -> str:
        """The evidence that every one of the ``expected`` task runs ran on the runner's
        workers (waiting up to ``wait_s`` for late records), else :class:`NotApplied`."""
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                return on_workers(self.runner.kind, expected, self.ran(run), self.source)
            except NotApplied:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.2)


class ThreadsWitness(Witness):
    source = "Prefect's task-run log records in this process"

    def ran(self, run: FlowRun) -> list[Ran]:
        return threads_ran(run)


def threads_ran(run: FlowRun) -> list[Ran]:
    """Task runs that finished on a worker thread (not the main one) of this process."""
    return [Ran(f.task, f.task_run_id, f"pid{f.process}:{f.thread}",
                f.process == os.getpid() and f.thread != "MainThread") for f in run.finished]


class ProcessesWitness(Witness):
    source = "the state events the pool's processes forwarded"

    def __init__(self, runner: Runner) -> None:
        super().__init__(runner)
        if not hasattr(ProcessPoolTaskRunner, "subprocess_message_processor_factories"):
            raise NotApplied(f"Prefect {prefect.__version__}'s process pool forwards no task-run "
                             "events to the flow's process (from Prefect 3.6.20): nothing "
                             "would show that the task runs ran in its processes")
        self.events = _PoolEvents()
        self.task_runner.subprocess_message_processor_factories = [self.events]

    def mark(self) -> None:
        self.events.task_runs.clear()

    def ran(self, run: FlowRun) -> list[Ran]:
        return processes_ran(self.events.task_runs)


def processes_ran(task_runs: Mapping[str, str]) -> list[Ran]:
    """Task runs (id -> run name) whose state events came through the pool's queue, which
    only its worker processes write to (the events do not say which of them)."""
    return [Ran(name.rsplit("-", 1)[0], run_id, None) for run_id, name in task_runs.items()]


class _PoolEvents:
    """A subprocess message processor factory for ProcessPoolTaskRunner: notes the task run
    of every state event passing through the pool's queue, then passes it on unchanged.
    It travels with the flow to every task (in its task runner), so it pickles empty."""

    def __init__(self) -> None:
        self.task_runs: dict[str, str] = {}

    def __call__(self) -> Callable[[str, Any], tuple[str, Any]]:
        return self._saw

    def __reduce__(self) -> tuple[type[_PoolEvents], tuple[()]]:
        return (_PoolEvents, ())

    def _saw(self, kind: str, payload: Any) -> tuple[str, Any]:
        resource = getattr(payload, "resource", None)
        if kind == "event" and resource is not None and resource.id.startswith(
                "prefect.task-run."):
            self.task_runs[resource.id.removeprefix("prefect.task-run.")] = resource.name
        return kind, payload


def dask_ran(records: Iterable[Mapping[str, Any]]) -> list[Ran]:
    """Dask tasks that a worker computed, from task-stream records ('key', 'worker')."""
    from dask.utils import key_split

    return [Ran(key_split(r["key"]), str(r["key"]), str(r["worker"])) for r in records
            if r.get("status", "OK") == "OK"]


class _DaskWitness(Witness):
    """distributed's task stream on the runner's scheduler: the records since ``start``."""

    source = "the Dask scheduler's task stream"
    start = 0

    def records(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def ran(self, run: FlowRun) -> list[Ran]:
        return dask_ran(self.records())


class LocalDaskWitness(_DaskWitness):
    """The LocalCluster the runner starts per flow run has its scheduler in this process:
    distributed's task stream is given to that scheduler, so its records outlive it."""

    def __init__(self, runner: Runner) -> None:
        super().__init__(runner)
        self.stream = task_stream()
        self.task_runner.cluster_kwargs["scheduler_kwargs"] = {"plugins": [self.stream]}

    def mark(self) -> None:
        self.start = self.stream.index

    def records(self) -> list[dict[str, Any]]:
        return self.stream.collect(start_index=self.start)


def task_stream() -> Any:
    """distributed's ``TaskStreamPlugin``, recording in this process (it never uses its
    scheduler). It travels with the flow to every task (in the runner's cluster arguments),
    so it pickles empty."""
    from distributed.diagnostics.task_stream import TaskStreamPlugin

    class TaskStream(TaskStreamPlugin):
        def __reduce__(self) -> tuple[Callable[[], Any], tuple[()]]:
            return (task_stream, ())

    return TaskStream(scheduler=None)


class DaskAtWitness(_DaskWitness):
    """A running scheduler (another process, maybe the user's): its task stream, started
    before the run if need be and read after it, over the scheduler's RPC."""

    def mark(self) -> None:
        self.start = self._ask("get_task_stream_index")  # installs the task stream

    def records(self) -> list[dict[str, Any]]:
        return self._ask("get_task_stream", start_index=self.start)

    def _ask(self, handler: str, **kwargs: Any) -> Any:
        """One call to the scheduler, over a plain connection: a ``Client`` would start
        threads and an event loop in the measured process before its flow starts."""
        from distributed.core import rpc

        async def ask() -> Any:
            async with rpc(self.runner.address, timeout=10) as scheduler:
                return await getattr(scheduler, handler)(**kwargs)

        return asyncio.run(ask())


class RayWitness(Witness):
    """Ray's task events in the cluster's GCS, for the jobs that started since ``mark`` (each
    flow run's task runner connects as a job of its own)."""

    source = "Ray's task events"
    wait_s = EVIDENCE_WAIT_S

    def __init__(self, runner: Runner) -> None:
        super().__init__(runner)
        self.last_job = 0
        self.accessor: Any = None

    def mark(self) -> None:
        """The newest job the GCS knows (cheap: no task events are read)."""
        from ray.core.generated import gcs_pb2

        jobs = [gcs_pb2.JobTableData.FromString(raw) for raw in self._gcs().get_job_table()]
        self.last_job = max((_job_number(job.job_id) for job in jobs), default=0)

    def ran(self, run: FlowRun) -> list[Ran]:
        """Task runs of the jobs started after ``mark`` (late events of earlier jobs are
        left out by their job's number)."""
        from ray.core.generated import gcs_pb2

        events = [gcs_pb2.TaskEvents.FromString(raw) for raw in self._gcs().get_task_events()]
        return ray_ran([e for e in events if _job_number(e.job_id) > self.last_job])

    def _gcs(self) -> Any:
        """A reader of the cluster's GCS. Ray's public reader of task events (its state API)
        needs the dashboard, which the harness's clusters run without; this is what
        ``ray.timeline()`` reads, without connecting a driver (which would start a job)."""
        from ray._raylet import GcsClientOptions, GlobalStateAccessor

        if self.accessor is None:
            self.accessor = GlobalStateAccessor(GcsClientOptions.create(
                self.runner.address, None, allow_cluster_id_nil=True,
                fetch_cluster_id_if_nil=True))
            if not self.accessor.connect():
                self.accessor = None
                raise RuntimeError(f"cannot reach Ray's GCS at {self.runner.address}")
        return self.accessor


def _job_number(job_id: bytes) -> int:
    """A Ray job id as the number Ray counts jobs by (its bytes are little-endian)."""
    return int.from_bytes(job_id, "little")


def ray_ran(events: Iterable[Any]) -> list[Ran]:
    """Ray tasks and the worker process that ran each, from GCS task events (a task's name
    and its worker arrive in separate events, merged by task id)."""
    names: dict[bytes, str] = {}
    workers: dict[bytes, str] = {}
    pids: dict[bytes, int] = {}
    for event in events:
        if event.task_info.name:
            names[event.task_id] = event.task_info.name
        update = event.state_updates
        if update.worker_id:
            workers[event.task_id] = update.worker_id.hex()
        if update.worker_pid:
            pids[event.task_id] = update.worker_pid
    return [Ran(name, task_id.hex(), workers.get(task_id),
                task_id in workers and pids.get(task_id) != os.getpid())
            for task_id, name in names.items()]
