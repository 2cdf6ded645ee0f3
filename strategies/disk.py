"""disk: save data to disk inside the flow; only file paths pass between tasks.

The one change: each task writes its DataFrame to parquet in a work folder and returns the
path, so Prefect never holds, hashes or persists the data itself.

Proof it took effect: the flow returned the path of a parquet file of nonzero size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import Flow, flow, task

from strategies import et, workloads
from strategies.base import Case, Context, NotApplied
from strategies.flowrun import FlowRun
from strategies.levers import Change, Lever, LeverStrategy


@task
def extract_to_disk(source: str, work_dir: str, workload: str = workloads.DEFAULT) -> str:
    path = Path(work_dir) / "extracted.parquet"
    workloads.load(workload).extract_as("dataframe", source).to_parquet(path)
    return str(path)


@task
def transform_on_disk(path: str, work_dir: str, workload: str = workloads.DEFAULT) -> str:
    out = Path(work_dir) / "transformed.parquet"
    workloads.load(workload).transform(pd.read_parquet(path)).to_parquet(out)
    return str(out)


def disk_flow(name: str, **task_options: Any) -> Flow[..., Any]:
    """The ET flow on disk, with ``task_options`` applied to both tasks."""
    extract_ = extract_to_disk.with_options(**task_options) if task_options else extract_to_disk
    transform_ = (transform_on_disk.with_options(**task_options) if task_options
                  else transform_on_disk)

    @flow(name=name)
    def et_disk(source: str, work_dir: str, shape: str = "dataframe",
                workload: str = workloads.DEFAULT) -> str:
        return transform_(extract_(source, work_dir, workload), work_dir, workload)

    return et_disk


class Disk(Lever):
    name = "disk"
    summary = "tasks write parquet to disk and pass only paths"
    shapes = ("dataframe",)

    def apply(self, case: Case, ctx: Context) -> Change:
        storage = ctx.local(case, "work")

        def read(output_path: Any) -> pd.DataFrame:
            path = Path(output_path)
            if not path.is_file() or path.stat().st_size == 0:
                raise NotApplied(f"the flow returned {output_path!r}, which is not a "
                                 "parquet file")
            return pd.read_parquet(path)

        def prove(run: FlowRun, output: et.Payload) -> str:
            sizes = storage.sizes()
            return f"{len(sizes)} parquet files, {sum(sizes.values()):,} bytes on disk"

        return Change(prove=prove, flow=disk_flow, parameters={"work_dir": str(storage.path)},
                      output=read, storage=storage)


DISK = Disk()
STRATEGY = LeverStrategy("disk", DISK.summary, {None: (DISK,)})
