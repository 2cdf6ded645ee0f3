"""parallel: the ET flow mapped over partitions (parquet row groups) on a task runner.

The one change: ``task.map`` over the file's row groups, on the variant's task runner:
``threads`` (Prefect's default ThreadPoolTaskRunner), ``processes`` (ProcessPoolTaskRunner),
``dask`` (DaskTaskRunner starting a local cluster of worker processes for the flow run, as
Prefect's docs show) and ``dask-address`` (DaskTaskRunner on an already running scheduler:
the user's ``--dask-address`` or one the harness started). Each partition records where it
ran, so a case proves that its tasks really ran on the runner's workers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from prefect import flow, task, unmapped
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from strategies import et
from strategies.base import Case, Context, NotApplied, Outcome, Prepared, Strategy
from strategies.flowrun import FlowRun, prepare_flow

WORKERS = max(2, os.cpu_count() or 2)


@dataclass
class Partition:
    """One partition's frame and where each task that touched it ran."""

    frame: pd.DataFrame
    ran_on: tuple[str, ...]


def _where() -> str:
    try:
        from distributed import get_worker

        return f"dask:{get_worker().address}:pid{os.getpid()}"
    except (ImportError, ValueError):
        return f"pid{os.getpid()}:{threading.current_thread().name}"


@task
def extract_part(source: str, index: int) -> Partition:
    return Partition(et.extract_partition(source, index), (_where(),))


@task
def transform_part(part: Partition) -> Partition:
    return Partition(et.transform(part.frame), (*part.ran_on, _where()))


@flow(name="et-parallel")
def et_parallel(source: str, shape: str = "dataframe") -> list[Partition]:
    parts = extract_part.map(unmapped(source), range(et.partitions(source)))
    done = transform_part.map(parts)
    return [future.result() for future in done]


def _dask(**kwargs: Any) -> TaskRunner[Any]:
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(**kwargs)


RUNNERS: dict[str, Callable[[Context], TaskRunner[Any]]] = {
    "threads": lambda ctx: ThreadPoolTaskRunner(max_workers=WORKERS),
    "processes": lambda ctx: ProcessPoolTaskRunner(max_workers=WORKERS),
    "dask": lambda ctx: _dask(cluster_kwargs={"n_workers": WORKERS, "threads_per_worker": 1}),
    "dask-address": lambda ctx: _dask(address=ctx.dask_address),
}


def _on_workers(variant: str, places: list[str]) -> str:
    """Check that every partition ran on the variant's workers; return the evidence."""
    me = f"pid{os.getpid()}:"
    if variant == "threads":
        wrong = [p for p in places if not p.startswith(me) or p.endswith(":MainThread")]
    elif variant == "processes":
        wrong = [p for p in places if p.startswith(me)]
    else:
        wrong = [p for p in places if not p.startswith("dask:")]
    if wrong:
        raise NotApplied(f"{len(wrong)} of {len(places)} task runs did not run on {variant} "
                         f"workers (ran on {sorted(set(wrong))[0]})")
    return f"{len(places)} task runs on {len(set(places))} distinct {variant} workers"


class Parallel(Strategy):
    name = "parallel"
    summary = "row groups mapped over a task runner"
    variants = tuple(RUNNERS)

    def available_variants(self, ctx: Context) -> tuple[str | None, ...]:
        return tuple(v for v in self.variants if v != "dask-address" or ctx.dask_address)

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        variant = str(case.variant)
        runner_flow = et_parallel.with_options(task_runner=RUNNERS[variant](ctx))

        def check(run: FlowRun, parts: list[Partition]) -> Outcome:
            evidence = _on_workers(variant, [place for p in parts for place in p.ran_on])
            return Outcome(pd.concat([p.frame for p in parts], ignore_index=True), 0, evidence)

        return prepare_flow(runner_flow, case, check)


STRATEGY = Parallel()
