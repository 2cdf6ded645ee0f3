"""parallel: the ET flow mapped over partitions (parquet row groups) on a task runner.

The one change: ``task.map`` over the file's row groups, on the variant's task runner:

- ``threads`` (Prefect's default ThreadPoolTaskRunner), ``processes``
  (ProcessPoolTaskRunner), ``dask`` (DaskTaskRunner starting a local cluster of worker
  processes for the flow run, as Prefect's docs show);
- ``dask-address``: DaskTaskRunner on an already running scheduler (the user's
  ``--bench-dask-address``, or one the harness started for ``local``);
- ``dask-w<N>``: DaskTaskRunner on a cluster the harness started for the scale-out axis
  (``--bench-scale-out``): a ``dask scheduler`` and N ``dask worker`` processes talking TCP
  on 127.0.0.1, the same code path as a remote cluster;
- ``ray-w<N>`` (with the optional ``ray`` extra): prefect-ray's RayTaskRunner on a Ray
  cluster the harness started with ``ray start --head --num-cpus N``; ``ray-address`` on
  the user's ``--bench-ray-address``.

Two ways to move data: ``frames`` (the default: DataFrames pass through the runner, from
the extract task to the transform task and back to the flow) and ``-paths`` variants
(each task gets only a partition's path and index, reads its own partition, writes its
output to storage the workers share and returns the output's path). Each partition records
where it ran, so a case proves that its tasks really ran on the runner's workers.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task, unmapped
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from strategies import et
from strategies.base import (
    Case,
    Cluster,
    Context,
    NotApplied,
    Outcome,
    Prepared,
    Strategy,
    stored_bytes,
)
from strategies.flowrun import FlowRun, prepare_flow

WORKERS = max(2, os.cpu_count() or 2)
PATHS = "-paths"
_SCALE_OUT = re.compile(r"(dask|ray)-w(\d+)$")


@dataclass
class Partition:
    """One partition's frame and where each task that touched it ran."""

    frame: pd.DataFrame
    ran_on: tuple[str, ...]


@dataclass
class Written:
    """Where a partition's output was written, and where the task that wrote it ran."""

    path: str
    ran_on: tuple[str, ...]


def _where() -> str:
    try:
        from distributed import get_worker

        return f"dask:{get_worker().address}:pid{os.getpid()}"
    except (ImportError, ValueError):
        pass
    ray = sys.modules.get("ray")  # imported by a Ray worker (maybe half-way, by a thread)
    initialized = getattr(ray, "is_initialized", None)
    if initialized and initialized() and ray.get_runtime_context().worker.mode == 1:
        return f"ray:pid{os.getpid()}"  # mode 1: a Ray worker process (0 is the driver)
    return f"pid{os.getpid()}:{threading.current_thread().name}"


@task
def extract_part(source: str, index: int) -> Partition:
    return Partition(et.extract_partition(source, index), (_where(),))


@task
def transform_part(part: Partition) -> Partition:
    return Partition(et.transform(part.frame), (*part.ran_on, _where()))


@task
def extract_transform_write(source: str, index: int, out_dir: str) -> Written:
    """The worker reads its own partition, transforms it and writes the output there."""
    path = Path(out_dir) / f"part-{index:05d}.parquet"
    et.transform(et.extract_partition(source, index)).to_parquet(path)
    return Written(str(path), (_where(),))


@flow(name="et-parallel")
def et_parallel(source: str, shape: str = "dataframe") -> list[Partition]:
    parts = extract_part.map(unmapped(source), range(et.partitions(source)))
    done = transform_part.map(parts)
    return [future.result() for future in done]


@flow(name="et-parallel-paths")
def et_parallel_paths(source: str, shape: str = "dataframe", out_dir: str = "") -> list[Written]:
    written = extract_transform_write.map(unmapped(source), range(et.partitions(source)),
                                          unmapped(out_dir))
    return [future.result() for future in written]


@dataclass(frozen=True)
class Runner:
    """What a variant runs on: ``kind`` (threads, processes, dask), how many workers, how
    data moves, and the cluster (one the harness started, or a description)."""

    kind: str
    workers: int | None
    movement: str
    where: str
    address: str | None = None
    cluster: Cluster | None = None

    def task_runner(self) -> TaskRunner[Any]:
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
        return DaskTaskRunner(cluster_kwargs={"n_workers": self.workers, "threads_per_worker": 1})


def runner_for(variant: str, ctx: Context) -> Runner:
    """The ``Runner`` a variant name stands for in this context."""
    base = variant.removesuffix(PATHS)
    movement = "paths" if variant.endswith(PATHS) else "frames"
    scale_out = _SCALE_OUT.match(base)
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


def _on_workers(kind: str, places: list[str]) -> str:
    """Check that every partition ran on the runner's workers; return the evidence."""
    me = f"pid{os.getpid()}:"
    if kind == "threads":
        wrong = [p for p in places if not p.startswith(me) or p.endswith(":MainThread")]
    elif kind == "processes":
        wrong = [p for p in places if p.startswith(me)]
    else:
        wrong = [p for p in places if not p.startswith(f"{kind}:")]
    if wrong:
        raise NotApplied(f"{len(wrong)} of {len(places)} task runs did not run on {kind} "
                         f"workers (ran on {sorted(set(wrong))[0]})")
    return f"{len(places)} task runs on {len(set(places))} distinct {kind} workers"


class Parallel(Strategy):
    name = "parallel"
    summary = "row groups mapped over a task runner"
    variants = ("threads", "processes", "dask", "dask-address", "dask-address-paths",
                "ray-address", "ray-address-paths")

    def available_variants(self, ctx: Context) -> tuple[str | None, ...]:
        fixed = [v for v in self.variants
                 if (not v.startswith("dask-address") or ctx.dask_address)
                 and (not v.startswith("ray-address") or ctx.ray_address)]
        scale_out = [f"{c.engine}-w{c.workers}{paths}" for c in ctx.clusters
                     for paths in ("", PATHS)]
        return (*fixed, *scale_out)

    def accepts(self, variant: str) -> bool:
        return (super().accepts(variant)
                or bool(_SCALE_OUT.match(variant.removesuffix(PATHS))))

    def describe(self, case: Case, ctx: Context) -> dict[str, Any]:
        runner = runner_for(str(case.variant), ctx)
        return {"runner": runner.kind, "workers": runner.workers, "movement": runner.movement,
                "cluster": runner.where}

    def cluster(self, case: Case, ctx: Context) -> Cluster | None:
        return runner_for(str(case.variant), ctx).cluster

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        runner = runner_for(str(case.variant), ctx)
        task_runner = runner.task_runner()
        if runner.movement == "frames":
            def check(run: FlowRun, parts: list[Partition]) -> Outcome:
                evidence = _on_workers(runner.kind, [p for part in parts for p in part.ran_on])
                return Outcome(pd.concat([p.frame for p in parts], ignore_index=True), 0,
                               evidence)

            return prepare_flow(et_parallel.with_options(task_runner=task_runner), case, check)
        outputs = ctx.local(case, "partitions")

        def check_paths(run: FlowRun, written: list[Written]) -> Outcome:
            evidence = _on_workers(runner.kind, [p for w in written for p in w.ran_on])
            frame = pd.concat([pd.read_parquet(w.path) for w in written], ignore_index=True)
            return Outcome(frame, stored_bytes(outputs), f"{evidence}; only paths moved")

        return prepare_flow(et_parallel_paths.with_options(task_runner=task_runner), case,
                            check_paths, outputs.clear, out_dir=str(outputs.path))


STRATEGY = Parallel()
