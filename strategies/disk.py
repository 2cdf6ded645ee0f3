"""disk: save data to disk inside the flow; only file paths pass between tasks.

The one change: each task writes its DataFrame to parquet in a work folder and returns the
path, so Prefect never holds, hashes or persists the data itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task

from strategies import et
from strategies.base import Case, Context, NotApplied, Outcome, Prepared, Strategy
from strategies.flowrun import FlowRun, prepare_flow


@task
def extract_to_disk(source: str, work_dir: str) -> str:
    path = Path(work_dir) / "extracted.parquet"
    et.extract(source).to_parquet(path)
    return str(path)


@task
def transform_on_disk(path: str, work_dir: str) -> str:
    out = Path(work_dir) / "transformed.parquet"
    et.transform(pd.read_parquet(path)).to_parquet(out)
    return str(out)


@flow(name="et-disk")
def et_disk(source: str, work_dir: str, shape: str = "dataframe") -> str:
    path = extract_to_disk(source, work_dir)
    return transform_on_disk(path, work_dir)


class Disk(Strategy):
    name = "disk"
    summary = "tasks write parquet to disk and pass only paths"

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        storage = ctx.local(case, "work")

        def check(run: FlowRun, output_path: Any) -> Outcome:
            path = Path(output_path)
            if not path.is_file() or path.stat().st_size == 0:
                raise NotApplied(f"the flow returned {output_path!r}, which is not a parquet file")
            sizes = storage.sizes()
            total = sum(sizes.values())
            evidence = f"{len(sizes)} parquet files, {total:,} bytes on disk"
            return Outcome(pd.read_parquet(path), total, evidence)

        return prepare_flow(et_disk, case, check, storage.clear, work_dir=str(storage.path))


STRATEGY = Disk()
