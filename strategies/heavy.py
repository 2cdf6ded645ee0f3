"""The "heavy" workload: a compute-heavy extract-transform over the same taxi files.

``transform`` adds time features (pickup hour, weekday, minutes, speed), the guide's
``tip_fraction``, a 265-zone lookup join for both trip ends and a route label, aggregates
per pickup zone and hour / day / dropoff zone broadcast back to the rows, and rolling
windows per pickup zone. ``trip_key`` is a 53-bit hash of each row's input values.

Partition-safe: every aggregate and window is keyed by pickup zone and a partition holds
whole zones (``PULocationID % PARTITIONS``); frames are sorted by (zone, pickup, trip_key)
before grouping, so a zone's floats are summed in the same order whole or partitioned.
``checksum`` orders rows by ``trip_key`` (ties by value), so row order does not matter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from strategies import et

PARTITIONS = 8
ROLLING_TRIPS = 50
_ZONE = "PULocationID"


def _zone_table() -> pd.DataFrame:
    """LocationID (1..265) -> borough, zone and service zone: deterministic, TLC-like."""
    ids = pd.RangeIndex(1, 266, name="LocationID")
    borough = np.array(["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"])[ids % 5]
    service = np.where(borough == "Manhattan", "Yellow Zone", "Boro Zone")
    zone = [f"{name} {i}" for name, i in zip(borough, ids, strict=True)]
    table = pd.DataFrame({"borough": borough, "zone": zone, "service_zone": service}, ids)
    table.loc[[1, 132, 138, 264, 265]] = [
        ("EWR", "Newark Airport", "EWR"),
        ("Queens", "JFK Airport", "Airports"),
        ("Queens", "LaGuardia Airport", "Airports"),
        ("Unknown", "NV", "N/A"),
        ("N/A", "Outside of NYC", "N/A"),
    ]
    return table.astype("category")


ZONES = _zone_table()


def extract(source: str) -> pd.DataFrame:
    """Read the trips parquet file."""
    return pd.read_parquet(source)


def extract_records(source: str) -> et.Records:
    """``extract`` for the records shape."""
    return extract(source).to_dict("records")


def partitions(source: str) -> int:
    """The number of pickup-zone partitions (fixed: ``PARTITIONS``)."""
    return PARTITIONS


def extract_partition(source: str, index: int) -> pd.DataFrame:
    """The trips whose ``PULocationID % PARTITIONS == index`` (null zones go to partition 0)."""
    zone = pc.coalesce(pc.field(_ZONE), 0)
    return pq.read_table(source, filters=pc.modulo(zone, PARTITIONS) == index).to_pandas()


def transform(data: pd.DataFrame) -> pd.DataFrame:
    """Add row features and zones, then per pickup zone aggregates and rolling windows.

    Rows come out sorted by ``trip_key`` (the order of equal keys is not defined).
    """
    frame = _row_features(data)
    frame = frame.sort_values([_ZONE, "tpep_pickup_datetime", "trip_key"], ignore_index=True)
    zone, keys = frame[_ZONE], [frame[_ZONE], frame["pickup_hour"]]
    zone_hour = frame.groupby(keys, dropna=False)
    finite_tip = frame["tip_fraction"].where(np.isfinite(frame["tip_fraction"]))
    frame["zone_hour_trips"] = zone_hour[_ZONE].transform("size")
    frame["zone_hour_tip_fraction"] = finite_tip.groupby(keys, dropna=False).transform("mean")
    frame["zone_hour_median_fare"] = zone_hour["fare_amount"].transform("median")
    frame["zone_hour_p90_minutes"] = zone_hour["duration_min"].transform("quantile", 0.9)
    speed = zone_hour["speed_mph"]
    frame["speed_zscore"] = (frame["speed_mph"] - speed.transform("mean")) / speed.transform("std")
    day = frame.groupby([zone, frame["tpep_pickup_datetime"].dt.floor("D")], dropna=False)
    ranks = day[["fare_amount", "speed_mph"]].rank(pct=True)
    frame[["fare_pct_zone_day", "speed_pct_zone_day"]] = ranks.to_numpy()
    pair = frame.groupby([zone, frame["DOLocationID"]], dropna=False)
    frame["route_median_minutes"] = pair["duration_min"].transform("median")

    columns = ["fare_amount", "tip_amount", "duration_min", "speed_mph"]
    window = frame.groupby(zone, dropna=False)[columns]
    rolling = window.rolling(ROLLING_TRIPS, min_periods=1)  # the zone's last trips
    stats = {"mean": rolling.mean(), "median": rolling.median(), "p90": rolling.quantile(0.9)}
    for name, values in stats.items():
        frame = frame.join(values.droplevel(0).add_prefix(f"zone_rolling_{name}_"))
    return frame.sort_values("trip_key", kind="stable", ignore_index=True)


def _row_features(data: pd.DataFrame) -> pd.DataFrame:
    """Row-wise features: trip_key, time features, tip_fraction, zones of both ends, route."""
    pickup, dropoff = data["tpep_pickup_datetime"], data["tpep_dropoff_datetime"]
    minutes = (dropoff - pickup) / pd.Timedelta(minutes=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = data["trip_distance"] / (minutes / 60)
    frame = data.assign(
        trip_key=_trip_key(data),
        pickup_hour=pickup.dt.hour,
        pickup_weekday=pickup.dt.weekday,
        duration_min=minutes,
        speed_mph=speed.replace([np.inf, -np.inf], np.nan),
        tip_fraction=data["tip_amount"] / data["total_amount"],
    )
    frame = frame.join(ZONES.add_prefix("pu_"), on=_ZONE)
    frame = frame.join(ZONES.add_prefix("do_"), on="DOLocationID")
    pu, do = (frame[f"{end}_borough"].astype("str").fillna("?") for end in ("pu", "do"))
    return frame.assign(route=(pu + " -> " + do).astype("category"))


def transform_records(records: et.Records) -> et.Records:
    """``transform`` for the records shape (through a DataFrame)."""
    if not records:
        return []
    return transform(pd.DataFrame.from_records(records)).to_dict("records")


def _text_hash(column: pd.Series) -> np.ndarray:
    """A text column as float64: 53-bit hashes of its values (exact in a float), NaN for nulls."""
    codes, uniques = pd.factorize(column)
    hashes = pd.util.hash_array(np.asarray(uniques, dtype=object)) >> np.uint64(11)
    return np.where(codes < 0, np.nan, hashes[codes].astype("float64"))


def _is_text(column: pd.Series) -> bool:
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.cat.categories.to_series()
    if column.dtype == object:
        return pd.api.types.infer_dtype(column, skipna=True) == "string"
    return pd.api.types.is_string_dtype(column)


def _trip_key(data: pd.DataFrame) -> np.ndarray:
    """A 53-bit hash of each row's input values, the same whatever dtypes hold them."""
    canonical = pd.DataFrame({name: _canonical(data[name]) for name in sorted(data.columns)})
    hashed = pd.util.hash_pandas_object(canonical, index=False).to_numpy()
    return (hashed >> np.uint64(11)).astype("int64")


def _canonical(column: pd.Series) -> np.ndarray:
    if _is_text(column):
        return _text_hash(column)
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.astype("datetime64[ns]").to_numpy().view("int64")
    return column.to_numpy(dtype="float64", na_value=np.nan) + 0.0  # -0.0 as 0.0


def checksum(output: pd.DataFrame | et.Records) -> str:
    """``et.checksum`` of the output in a canonical row order: independent of row order.

    Rows are sorted by ``trip_key``, rows with equal keys by their values. Text columns are
    hashed first (as 53-bit numbers, nulls as NaN), which keeps the digest cheap.
    """
    frame = pd.DataFrame.from_records(output) if isinstance(output, list) else output
    frame = frame.reset_index(drop=True)
    for name in [name for name, column in frame.items() if _is_text(column)]:
        frame[name] = _text_hash(frame[name])
    key = frame["trip_key"].to_numpy(dtype="int64")
    order = np.argsort(key, kind="stable")  # fast on transform's output: sorted by key
    dup = key[order][1:] == key[order][:-1]
    if dup.any():  # identical inputs: order the rows with equal keys by their values
        ties = np.r_[dup, False] | np.r_[False, dup]
        others = sorted(name for name in frame.columns if name != "trip_key")
        order[ties] = frame.take(order[ties]).sort_values(["trip_key", *others]).index
    if not np.array_equal(order, np.arange(len(order))):
        frame = frame.take(order)
    return et.checksum(frame)
