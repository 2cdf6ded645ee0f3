"""The guide's extract-transform (ET) logic, written once and shared by every strategy.

Two payload shapes flow through the same logic: ``dataframe`` (the guide's example) and
``records`` (a list of dicts of the same rows: the "large collection" the guide warns about).
Strategies wrap these plain functions as Prefect tasks (through ``strategies.workloads``, as
the workload ``guide``); they never re-implement them.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

SHAPES = ("dataframe", "records")

Records = list[dict[str, Any]]
Payload = pd.DataFrame | Records


def extract(source: str) -> pd.DataFrame:
    """Read the trips parquet file (the guide's ``extract``)."""
    return pd.read_parquet(source)


def transform(data: pd.DataFrame) -> pd.DataFrame:
    """Add ``tip_fraction = tip_amount / total_amount`` (the guide's ``transform``)."""
    data["tip_fraction"] = data["tip_amount"] / data["total_amount"]
    return data


def extract_records(source: str) -> Records:
    """``extract`` for the records shape: the same rows as a list of dicts."""
    return extract(source).to_dict("records")


def transform_records(records: Records) -> Records:
    """``transform`` for the records shape, with the DataFrame's float semantics."""
    for row in records:
        row["tip_fraction"] = _divide(row["tip_amount"], row["total_amount"])
    return records


def _divide(tip: float, total: float) -> float:
    """IEEE division as numpy does it: x/0 is +-inf, 0/0 and NaN operands give NaN."""
    try:
        return tip / total
    except ZeroDivisionError:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(tip) / np.float64(total))


def checksum(output: Payload) -> str:
    """A digest of the ET output that is the same for both payload shapes.

    Each column is hashed in a canonical form (timestamps as int64 ns, numbers as float64
    with one NaN, text as UTF-8 with a null marker), so dtype drift between shapes or
    strategies does not change it, while any changed value, row or column does.
    """
    frame = pd.DataFrame.from_records(output) if isinstance(output, list) else output
    digest = hashlib.sha256(f"rows={len(frame)}".encode())
    for name in sorted(frame.columns):
        digest.update(f"|{name}|".encode())
        digest.update(_canonical_bytes(frame[name]))
    return digest.hexdigest()[:16]


_NUMERIC_KINDS = {"floating", "integer", "mixed-integer-float", "decimal", "boolean", "empty"}


def _canonical_bytes(column: pd.Series) -> bytes:
    if column.dtype == object:
        kind = pd.api.types.infer_dtype(column, skipna=True)
        if kind in _NUMERIC_KINDS:
            column = pd.to_numeric(column)
        elif kind in ("datetime", "datetime64"):
            column = pd.to_datetime(column)
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.astype("datetime64[ns]").to_numpy().view("int64").tobytes()
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        return np.where(np.isnan(values), np.nan, values).tobytes()
    text = ["\0" if pd.isna(v) else str(v) for v in column.astype(object)]
    return "\x1f".join(text).encode()


def partitions(source: str) -> int:
    """How many partitions (parquet row groups) ``source`` has."""
    return pq.ParquetFile(source).num_row_groups


def extract_partition(source: str, index: int) -> pd.DataFrame:
    """``extract`` for one partition: row group ``index`` of ``source``."""
    return pq.ParquetFile(source).read_row_group(index).to_pandas()
