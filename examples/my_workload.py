"""An example workload: your own extract and transform, measured under every strategy.

Copy this file anywhere, change the two functions to your own, and run, in the checkout:

    bin/bench --bench-workload path/to/my_workload.py

Every strategy (baseline, quote, nocache, disk, s3, cached, compressed, parallel...) then
wraps *these* functions as Prefect tasks, exactly as it wraps the guide's, and ``floor``
calls them directly, without Prefect: the reference every case's output must match.
The harness gives ``extract`` the path of a parquet file of NYC taxi trips (generated, or
yours with ``--bench-source``). Your functions must give the same output on every run.
"""

import pandas as pd
import pyarrow.parquet as pq

COLUMNS = ["tpep_pickup_datetime", "tpep_dropoff_datetime", "trip_distance", "fare_amount",
           "tip_amount", "total_amount"]


def extract(source: str) -> pd.DataFrame:
    """Required: read the input (``source`` is a parquet file's path)."""
    return pd.read_parquet(source, columns=COLUMNS)


def transform(data: pd.DataFrame) -> pd.DataFrame:
    """Required: the work. Here: trip minutes, fare per mile and the tip fraction."""
    seconds = (data["tpep_dropoff_datetime"] - data["tpep_pickup_datetime"]).dt.total_seconds()
    data["minutes"] = seconds / 60
    data["fare_per_mile"] = data["fare_amount"] / data["trip_distance"]
    data["tip_fraction"] = data["tip_amount"] / data["total_amount"]
    return data


# Optional: how to split the input for the parallel strategies (task runners). Each
# partition is extracted and transformed on its own, and the outputs are concatenated:
# that must equal transform(extract(source)). Without these two, the parallel cases are
# not_applied.
def partitions(source: str) -> int:
    """How many partitions ``source`` has (here: its parquet row groups)."""
    return pq.ParquetFile(source).num_row_groups


def extract_partition(source: str, index: int) -> pd.DataFrame:
    """``extract`` for partition ``index``."""
    return pq.ParquetFile(source).read_row_group(index, columns=COLUMNS).to_pandas()


# Optional: checksum(output) -> str, how to compare two outputs (default: every column
# hashed in a canonical form, in row order; works for DataFrames and lists of dicts), and
# SHAPE = "records" when extract returns something other than a pandas DataFrame.
