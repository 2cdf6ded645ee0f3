"""The heavy workload: partition-safe, shape-independent, order-insensitive checksums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strategies import heavy


@pytest.fixture(scope="module")
def whole(tiny_source: str) -> pd.DataFrame:
    return heavy.transform(heavy.extract(tiny_source))


def test_partitions_give_the_whole_checksum(tiny_source: str, whole: pd.DataFrame) -> None:
    parts = [heavy.extract_partition(tiny_source, i) for i in range(heavy.partitions(tiny_source))]
    assert all(len(part) for part in parts)
    assert {i % heavy.PARTITIONS for i in parts[3]["PULocationID"]} == {3}
    concat = pd.concat([heavy.transform(part) for part in parts], ignore_index=True)
    assert len(concat) == len(whole)
    assert heavy.checksum(concat) == heavy.checksum(whole)


def test_records_and_dataframe_give_the_same_checksum(
    tiny_source: str, whole: pd.DataFrame
) -> None:
    records = heavy.transform_records(heavy.extract_records(tiny_source))
    assert isinstance(records, list) and len(records) == len(whole)
    assert heavy.checksum(records) == heavy.checksum(whole)
    assert heavy.transform_records([]) == []


def test_input_row_order_does_not_matter(tiny_source: str, whole: pd.DataFrame) -> None:
    shuffled = heavy.extract(tiny_source).sample(frac=1, random_state=1)
    assert heavy.checksum(heavy.transform(shuffled)) == heavy.checksum(whole)


def test_checksum_is_order_insensitive_and_value_sensitive(whole: pd.DataFrame) -> None:
    digest = heavy.checksum(whole)
    assert heavy.checksum(whole.sample(frac=1, random_state=2)) == digest
    assert heavy.checksum(whole.iloc[1:]) != digest
    for column, value in [("zone_rolling_mean_fare_amount", 1e6), ("route", "Bronx -> Bronx")]:
        changed = whole.copy()
        assert column in whole
        changed.loc[5, column] = value
        assert heavy.checksum(changed) != digest, column


def test_identical_input_rows_checksum_in_any_order(tiny_source: str) -> None:
    # duplicated trips get different rolling values, so ties on trip_key are ordered by value
    data = heavy.extract(tiny_source).head(500)
    output = heavy.transform(pd.concat([data, data, data], ignore_index=True))
    assert output["trip_key"].duplicated().sum() == 1000
    digest = heavy.checksum(output)
    for seed in range(3):
        assert heavy.checksum(output.sample(frac=1, random_state=seed)) == digest


def test_two_runs_give_the_same_checksum(tiny_source: str, whole: pd.DataFrame) -> None:
    assert heavy.checksum(heavy.transform(heavy.extract(tiny_source))) == heavy.checksum(whole)


def test_zero_totals_nulls_and_empty_frames_do_not_raise(tiny_source: str) -> None:
    data = heavy.extract(tiny_source).head(200)
    data.loc[:49, ["tip_amount", "total_amount", "trip_distance"]] = 0.0
    data.loc[50:59, "tip_amount"] = 1.0
    data.loc[50:59, "total_amount"] = 0.0
    data.loc[60:69, ["passenger_count", "fare_amount", "tip_amount"]] = np.nan
    data.loc[70:79, "store_and_fwd_flag"] = None
    data.loc[80:84, "tpep_pickup_datetime"] = pd.NaT
    data["PULocationID"] = data["PULocationID"].astype("float64")
    data.loc[85:89, "PULocationID"] = 999  # not in the zone table
    data.loc[95:99, "PULocationID"] = np.nan
    data.loc[90:94, "tpep_dropoff_datetime"] = data.loc[90:94, "tpep_pickup_datetime"]
    output = heavy.transform(data)
    assert len(output) == len(data)
    assert np.isinf(output["tip_fraction"]).sum() == 10
    assert output.loc[output["PULocationID"] == 999, "pu_borough"].isna().all()
    no_zone = output[output["PULocationID"].isna()]  # kept, grouped as a zone of their own
    assert len(no_zone) == 5
    per_hour = no_zone.groupby("pickup_hour")["pickup_hour"].transform("size")
    assert (no_zone["zone_hour_trips"] == per_hour).all()
    assert heavy.checksum(output) == heavy.checksum(heavy.transform(data.iloc[::-1]))
    empty = heavy.transform(data.iloc[:0])
    assert len(empty) == 0 and heavy.checksum(empty)
