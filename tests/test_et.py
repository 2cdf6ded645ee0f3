"""The shared ET logic: transform semantics and the output checksum."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from strategies import et, workloads


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tip_amount": [1.0, 0.0, 2.5, -1.0, 0.0, np.nan],
            "total_amount": [10.0, 0.0, 0.0, 0.0, -5.0, 3.0],
            "flag": ["N", None, "Y", "N", "N", None],
            "when": pd.to_datetime(["2023-09-01"] * 6).astype("datetime64[us]"),
        }
    )


def test_transform_divides_with_ieee_semantics() -> None:
    out = et.transform(_frame())["tip_fraction"].tolist()
    assert out[0] == 0.1
    assert math.isnan(out[1])  # 0 / 0
    assert out[2] == math.inf and out[3] == -math.inf  # x / 0
    assert out[4] == 0.0 and math.copysign(1, out[4]) == -1  # 0 / -5 is -0.0
    assert math.isnan(out[5])  # NaN tip


def test_records_shape_gives_the_same_values_and_checksum() -> None:
    frame = et.transform(_frame())
    records = et.transform_records(_frame().to_dict("records"))
    for row, expected in zip(records, frame["tip_fraction"], strict=True):
        got = row["tip_fraction"]
        assert got == expected or (math.isnan(got) and math.isnan(expected))
    assert et.checksum(records) == et.checksum(frame)


def test_checksum_ignores_dtype_drift_but_not_values() -> None:
    frame = et.transform(_frame())
    drifted = frame.assign(total_amount=frame["total_amount"].astype("object"))
    assert et.checksum(drifted) == et.checksum(frame)
    changed = frame.copy()
    changed.loc[0, "tip_amount"] = 1.01
    assert et.checksum(changed) != et.checksum(frame)
    assert et.checksum(frame.iloc[:-1]) != et.checksum(frame)
    assert et.checksum(frame.drop(columns="flag")) != et.checksum(frame)


def test_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="shape 'rows'"):
        workloads.load().extract_as("rows", "unused.parquet")


def test_partitions_cover_the_file(tiny_source: str) -> None:
    parts = [et.extract_partition(tiny_source, i) for i in range(et.partitions(tiny_source))]
    assert len(parts) > 1
    assert et.checksum(pd.concat(parts, ignore_index=True)) == et.checksum(et.extract(tiny_source))
