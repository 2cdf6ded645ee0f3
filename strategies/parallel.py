"""parallel: the ET flow mapped over partitions (for the guide's workload, parquet row groups)
on a task runner. A workload that cannot be split into partitions makes these cases
``not_applied`` (``strategies.workloads``).

The one change: ``task.map`` over the file's row groups, on the variant's task runner
(``strategies.runners``: threads, processes, Dask and Ray, local or on clusters). Two ways
to move data: ``frames`` (the default: DataFrames pass through the runner, from the extract
task to the transform task and back to the flow) and ``-paths`` variants (each task gets
only the file's path and a partition's index, reads its own partition, writes its output to
storage the workers share and returns the output's path).

The tasks return plain values. That each task run ran on the runner's workers is read
from the runner's own records, untimed, before and after the run (``runners.Witness``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task, unmapped

from strategies import runners, workloads
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


@task
def extract_part(source: str, index: int, workload: str = workloads.DEFAULT) -> pd.DataFrame:
    """The workload's ``extract``, for one partition."""
    return workloads.load(workload).extract_partition(source, index)


@task
def transform_part(data: pd.DataFrame, workload: str = workloads.DEFAULT) -> pd.DataFrame:
    """The workload's ``transform``, for one partition."""
    return workloads.load(workload).transform(data)


@task
def extract_transform_write(source: str, index: int, out_dir: str,
                            workload: str = workloads.DEFAULT) -> str:
    """The worker reads its own partition, transforms it and writes the output there."""
    path = Path(out_dir) / f"part-{index:05d}.parquet"
    found = workloads.load(workload)
    found.transform(found.extract_partition(source, index)).to_parquet(path)
    return str(path)


@flow(name="et-parallel")
def et_parallel(source: str, shape: str = "dataframe",
                workload: str = workloads.DEFAULT) -> list[pd.DataFrame]:
    indexes = range(workloads.load(workload).partitions(source))
    parts = extract_part.map(unmapped(source), indexes, unmapped(workload))
    return transform_part.map(parts, unmapped(workload)).result()


@flow(name="et-parallel-paths")
def et_parallel_paths(source: str, shape: str = "dataframe",
                      workload: str = workloads.DEFAULT, out_dir: str = "") -> list[str]:
    indexes = range(workloads.load(workload).partitions(source))
    return extract_transform_write.map(unmapped(source), indexes, unmapped(out_dir),
                                       unmapped(workload)).result()


class Parallel(Strategy):
    name = "parallel"
    summary = "row groups mapped over a task runner"
    variants = runners.VARIANTS

    def available_variants(self, ctx: Context) -> tuple[str | None, ...]:
        return runners.available(ctx)

    def accepts(self, variant: str) -> bool:
        return runners.names_a_runner(variant)

    def describe(self, case: Case, ctx: Context) -> dict[str, Any]:
        runner = runners.runner_for(str(case.variant), ctx)
        return {"runner": runner.kind, "workers": runner.workers, "movement": runner.movement,
                "cluster": runner.where}

    def cluster(self, case: Case, ctx: Context) -> Cluster | None:
        return runners.runner_for(str(case.variant), ctx).cluster

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        workload = workloads.load(case.workload)
        if workload.partitioned is not None:
            raise NotApplied(workload.partitioned)
        runner = runners.runner_for(str(case.variant), ctx)
        witness = runner.witness()
        parts = workload.partitions(case.source)
        if runner.movement == "frames":
            def check(run: FlowRun, frames: list[pd.DataFrame]) -> Outcome:
                evidence = witness.proof(run, {extract_part.name: parts,
                                               transform_part.name: parts})
                return Outcome(pd.concat(frames, ignore_index=True), 0, evidence)

            return prepare_flow(et_parallel.with_options(task_runner=witness.task_runner),
                                case, check, witness.mark)
        outputs = ctx.local(case, "partitions")

        def check_paths(run: FlowRun, paths: list[str]) -> Outcome:
            evidence = witness.proof(run, {extract_transform_write.name: parts})
            frame = pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)
            return Outcome(frame, stored_bytes(outputs), f"{evidence}; only paths moved")

        def reset() -> None:
            outputs.clear()
            witness.mark()

        return prepare_flow(et_parallel_paths.with_options(task_runner=witness.task_runner),
                            case, check_paths, reset, out_dir=str(outputs.path))


STRATEGY = Parallel()
