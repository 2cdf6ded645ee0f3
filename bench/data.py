"""Benchmark input data: synthetic NYC-taxi-like parquet files and user-supplied sources.

Synthetic files follow the real 2023 NYC TLC yellow-trip schema and are shaped like the
September 2023 data (including its null rows, refunds and all-zero rows). They are
generated chunk by chunk, deterministically from ``(rows, seed)``, and cached outside the
repository. Real files can be supplied instead as a local path or an http(s) URL.
"""

from __future__ import annotations

import hashlib
import http
import http.client
import os
import posixpath
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SIZES: dict[str, int] = {
    "tiny": 10_000,
    "small": 100_000,
    "medium": 1_000_000,
    "full": 2_846_722,
    "xl": 10_000_000,
}

SCHEMA: pa.Schema = pa.schema(
    [
        ("VendorID", pa.int32()),
        ("tpep_pickup_datetime", pa.timestamp("us")),
        ("tpep_dropoff_datetime", pa.timestamp("us")),
        ("passenger_count", pa.int64()),
        ("trip_distance", pa.float64()),
        ("RatecodeID", pa.int64()),
        ("store_and_fwd_flag", pa.string()),
        ("PULocationID", pa.int32()),
        ("DOLocationID", pa.int32()),
        ("payment_type", pa.int64()),
        ("fare_amount", pa.float64()),
        ("extra", pa.float64()),
        ("mta_tax", pa.float64()),
        ("tip_amount", pa.float64()),
        ("tolls_amount", pa.float64()),
        ("improvement_surcharge", pa.float64()),
        ("total_amount", pa.float64()),
        ("congestion_surcharge", pa.float64()),
        ("Airport_fee", pa.float64()),
    ]
)

REQUIRED_COLUMNS: tuple[str, ...] = ("tip_amount", "total_amount")
ROW_GROUPS = 8
DEFAULT_SEED = 2023

DOWNLOAD_TIMEOUT_S = 60
_SOURCE_FLAG = "--bench-source"

_NULLABLE_IN_NULL_ROWS = (
    "passenger_count",
    "RatecodeID",
    "store_and_fwd_flag",
    "congestion_surcharge",
    "Airport_fee",
)

# Row kinds: ordinary trip, "null row" (no passenger/ratecode/flag/surcharges, payment 0),
# refund/dispute (every amount negated) and an all-zero row (total 0, tip 0).
_NORMAL, _NULL_ROW, _REFUND, _ZERO = 0, 1, 2, 3
_KIND_P = (0.9595, 0.03, 0.01, 0.0005)

_MONTH_START = np.datetime64("2023-09-01T00:00:00", "us")
_DAYS = 30
_US_PER_S = 1_000_000
# fmt: off
# Relative pickups per hour of day (quiet 2-6 am, evening peak), September 2023-like.
_HOURLY = np.array(
    [3.0, 2.0, 1.3, 0.8, 0.6, 0.7, 1.6, 2.8, 3.6, 3.9, 4.1, 4.4,
     4.7, 4.9, 5.1, 5.3, 5.4, 5.7, 6.1, 5.8, 5.0, 4.9, 4.6, 3.8]
)
_HOURLY_P = _HOURLY / _HOURLY.sum()

_EXTRAS, _EXTRAS_P = [0.0, 1.0, 2.5, 3.5, 5.0, 6.0], [0.3, 0.3, 0.2, 0.1, 0.07, 0.03]
_JFK, _LGA = 132, 138
# Busiest Manhattan taxi zones; the rest of the 265 zones get a small base weight.
_MANHATTAN_HOT = (
    4, 12, 13, 24, 41, 42, 43, 45, 48, 50, 68, 74, 75, 79, 87, 88, 90, 100, 107, 113,
    114, 116, 125, 127, 137, 140, 141, 142, 143, 144, 148, 151, 152, 158, 161, 162, 163,
    164, 166, 170, 186, 209, 211, 224, 229, 230, 231, 232, 233, 234, 236, 237, 238, 239,
    243, 244, 246, 249, 261, 262, 263,
)
# fmt: on


def _zone_weights() -> np.ndarray:
    weights = np.ones(265)
    weights[np.array(_MANHATTAN_HOT) - 1] = 40.0
    weights[[_JFK - 1, _LGA - 1]] = 30.0
    return weights / weights.sum()


_ZONE_P = _zone_weights()


class SourceError(ValueError):
    """Bad user-supplied data source; str(err) is ONE line naming the input and the problem."""


def _source_error(label: str, problem: object) -> SourceError:
    """Build a one-line SourceError ``"<label>: <problem>"`` (problem cut to its first line)."""
    lines = str(problem).strip().splitlines()
    return SourceError(f"{label}: {lines[0] if lines else 'unknown error'}")


# --------------------------------------------------------------------------- cache / files


def cache_dir() -> Path:
    """Return the data cache dir ($BENCH_DATA_DIR or ~/.cache/prefect-bigdata-bench), created."""
    env = os.environ.get("BENCH_DATA_DIR")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "prefect-bigdata-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; move it into place on success, delete it on error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # unique; normal permissions
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- generation


def _chunk_sizes(rows: int) -> list[int]:
    """Split ``rows`` into at most ROW_GROUPS near-equal positive chunks."""
    groups = min(ROW_GROUPS, rows)
    base, extra = divmod(rows, groups)
    return [base + (1 if i < extra else 0) for i in range(groups)]


def _row_kinds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pick a kind per row, forcing at least one refund and one all-zero row when n >= 2."""
    kinds = rng.choice(4, size=n, p=_KIND_P)
    if n >= 2:
        if not (kinds == _REFUND).any():
            kinds[0] = _REFUND
        if not (kinds == _ZERO).any():
            kinds[1] = _ZERO
    return kinds


def _times(rng: np.random.Generator, distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pickups over September with a daily rhythm; dropoff after a distance-driven duration."""
    n = distance.size
    day = rng.integers(0, _DAYS, n)
    hour = rng.choice(24, size=n, p=_HOURLY_P)
    second = (day * 24 + hour) * 3600 + rng.integers(0, 3600, n)
    pickup = _MONTH_START + second * _US_PER_S
    speed_mph = np.clip(rng.lognormal(np.log(10.0), 0.35, n), 2.0, 45.0)
    duration_s = np.rint(60 + distance / speed_mph * 3600 * rng.lognormal(0, 0.2, n))
    return pickup, pickup + duration_s.astype(np.int64) * _US_PER_S


def _categoricals(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Vendor, passengers, rate code, store-and-forward flag, zones and payment type."""
    ratecode = rng.choice([1, 2, 3, 4, 5, 99], size=n, p=[0.94, 0.035, 0.003, 0.002, 0.012, 0.008])
    pu = rng.choice(265, size=n, p=_ZONE_P) + 1
    do = rng.choice(265, size=n, p=_ZONE_P) + 1
    jfk = ratecode == 2  # JFK flat fare: one end of the trip is at JFK
    to_jfk = jfk & (rng.random(n) < 0.5)
    pu = np.where(jfk & ~to_jfk, _JFK, pu)
    do = np.where(to_jfk, _JFK, do)
    return {
        "VendorID": rng.choice([1, 2], size=n, p=[0.27, 0.73]).astype(np.int32),
        "passenger_count": rng.choice(7, size=n, p=[0.015, 0.755, 0.14, 0.035, 0.02, 0.02, 0.015]),
        "RatecodeID": ratecode,
        "flag_y": rng.random(n) < 0.005,
        "PULocationID": pu.astype(np.int32),
        "DOLocationID": do.astype(np.int32),
        "payment_type": rng.choice([1, 2, 3, 4], size=n, p=[0.795, 0.185, 0.012, 0.008]),
    }


def _fees(
    rng: np.random.Generator, cats: dict[str, np.ndarray], distance: np.ndarray, minutes: np.ndarray
) -> dict[str, np.ndarray]:
    """Positive fee amounts of an ordinary trip (before refunds / zero rows are applied)."""
    n = distance.size
    ratecode = cats["RatecodeID"]
    fare = 3.0 + 2.5 * distance + 0.5 * minutes
    fare = np.where(ratecode == 2, 70.0, fare)
    fare = np.where(ratecode == 5, rng.uniform(10.0, 120.0, n), fare)
    card = cats["payment_type"] == 1
    tip_rate = np.where(rng.random(n) < 0.1, 0.0, rng.uniform(0.15, 0.25, n))
    tolls = np.where(rng.random(n) < 0.06, 6.94, 0.0)
    return {
        "fare_amount": fare,
        "extra": rng.choice(_EXTRAS, size=n, p=_EXTRAS_P),
        "mta_tax": np.full(n, 0.5),
        "tip_amount": np.where(card, fare * tip_rate, 0.0),
        "tolls_amount": np.where(np.isin(cats["PULocationID"], [_JFK, _LGA]), 6.94, tolls),
        "improvement_surcharge": np.full(n, 1.0),
        "congestion_surcharge": np.where(rng.random(n) < 0.92, 2.5, 0.0),
        "Airport_fee": np.where(np.isin(cats["PULocationID"], [_JFK, _LGA]), 1.75, 0.0),
    }


def _apply_kinds(
    rng: np.random.Generator,
    kinds: np.ndarray,
    cats: dict[str, np.ndarray],
    fees: dict[str, np.ndarray],
) -> None:
    """Negate refunds, zero out all-zero rows, round to cents; set special payment types."""
    refund, zero = kinds == _REFUND, kinds == _ZERO
    sign = np.where(refund, -1.0, 1.0)
    for name, values in fees.items():
        # "+ 0.0" turns the -0.0 produced by negating/rounding zeros into plain 0.0
        fees[name] = np.round(np.where(zero, 0.0, values * sign), 2) + 0.0
    for name in ("congestion_surcharge", "Airport_fee"):  # null in null rows: not in total
        fees[name] = np.where(kinds == _NULL_ROW, 0.0, fees[name])
    fees["total_amount"] = np.round(sum(fees.values()), 2) + 0.0
    payment = cats["payment_type"]
    payment = np.where(refund, rng.choice([3, 4], size=kinds.size, p=[0.4, 0.6]), payment)
    payment = np.where(zero, rng.choice([1, 2, 3], size=kinds.size), payment)
    cats["payment_type"] = np.where(kinds == _NULL_ROW, 0, payment)


def _chunk_table(rows: int, seed: int, chunk_index: int) -> pa.Table:
    """Generate one chunk (one row group) of synthetic trips, deterministic by its arguments."""
    rng = np.random.default_rng([seed, chunk_index])
    kinds = _row_kinds(rng, rows)
    distance = np.round(np.clip(rng.lognormal(np.log(1.8), 0.9, rows), 0.0, 80.0), 2)
    distance = np.where(rng.random(rows) < 0.015, 0.0, distance)
    pickup, dropoff = _times(rng, distance)
    minutes = (dropoff - pickup).astype(np.int64) / (60 * _US_PER_S)
    cats = _categoricals(rng, rows)
    fees = _fees(rng, cats, distance, minutes)
    _apply_kinds(rng, kinds, cats, fees)
    nulls = kinds == _NULL_ROW
    flag = pa.array(["N", "Y"]).take(pa.array(cats["flag_y"].astype(np.int8), mask=nulls))
    columns = {
        **cats,
        **fees,
        "tpep_pickup_datetime": pickup,
        "tpep_dropoff_datetime": dropoff,
        "trip_distance": distance,
        "store_and_fwd_flag": flag,
    }
    arrays = [
        _column(columns[f.name], f.type, nulls if f.name in _NULLABLE_IN_NULL_ROWS else None)
        for f in SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _column(values: np.ndarray | pa.Array, type_: pa.DataType, mask: np.ndarray | None) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    return pa.array(values, type=type_, mask=mask)


def generate(rows: int, path: Path, seed: int = DEFAULT_SEED) -> Path:
    """Write ``rows`` synthetic trips to ``path`` (atomically) as ROW_GROUPS row groups.

    Deterministic by ``(rows, seed)``; each chunk is generated and written on its own, so
    memory stays bounded by one row group.
    """
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    path = Path(path)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, SCHEMA) as writer:
        for index, size in enumerate(_chunk_sizes(rows)):
            writer.write_table(_chunk_table(size, seed, index), row_group_size=size)
    return path


def _rows_for(size: str | int) -> int:
    if isinstance(size, str) and not size.isdigit():
        if size not in SIZES:
            raise SourceError(f"size {size!r}: unknown, choose one of {', '.join(SIZES)}")
        return SIZES[size]
    rows = int(size)
    if isinstance(size, bool) or rows < 1:
        raise SourceError(f"size {size!r}: expected a size name or a positive row count")
    return rows


def dataset(size: str | int, seed: int = DEFAULT_SEED) -> Path:
    """Return the cached synthetic file for a SIZES name or row count, generating it if missing."""
    rows = _rows_for(size)
    path = cache_dir() / f"yellow_synth_{rows}_s{seed}.parquet"
    if not path.exists():
        generate(rows, path, seed)
    return path


def head(source: Path, rows: int) -> Path:
    """The first ``rows`` rows of ``source`` as a cached parquet file (for the records shape)."""
    digest = hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:16]
    path = cache_dir() / "heads" / f"{digest}-{rows}.parquet"
    if not path.exists():
        first = next(pq.ParquetFile(source).iter_batches(batch_size=rows))
        with atomic_path(path) as tmp:
            pq.write_table(pa.Table.from_batches([first]), tmp)
    return path


# --------------------------------------------------------------------------- real sources


def validate(path: Path, label: str | None = None) -> int:
    """Check ``path`` is a non-empty parquet file with numeric REQUIRED_COLUMNS; return its rows.

    Raises SourceError naming ``label`` (default: the path) on any problem.
    """
    path = Path(path)
    label = str(path) if label is None else label
    if not path.exists():
        raise _source_error(label, "no such file")
    if path.is_dir():
        raise _source_error(label, "is a directory, expected a parquet file")
    try:
        with pq.ParquetFile(path) as pf:
            schema, num_rows = pf.schema_arrow, pf.metadata.num_rows
    except PermissionError as err:
        raise _source_error(label, f"cannot read ({err.strerror or err})") from err
    except (pa.ArrowException, OSError) as err:
        raise _source_error(label, f"not a parquet file (or truncated): {err}") from err
    _check_columns(schema, label)
    if num_rows == 0:
        raise _source_error(label, "has no rows")
    return num_rows


def _check_columns(schema: pa.Schema, label: str) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in schema.names]
    if missing:
        raise _source_error(label, f"missing required column(s) {', '.join(missing)}")
    for name in REQUIRED_COLUMNS:
        type_ = schema.field(name).type
        if not (pa.types.is_integer(type_) or pa.types.is_floating(type_)):
            raise _source_error(label, f"column {name} is {type_}, expected a number")


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _download_path(url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "download.parquet"
    return cache_dir() / "downloads" / f"{digest}-{name}"


def _fetch(url: str, dest: Path, label: str) -> None:
    """Download ``url`` into ``dest`` (a temp file); raise a one-line SourceError on failure."""
    try:
        with (
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp,
            dest.open("wb") as out,
        ):
            shutil.copyfileobj(resp, out, 1 << 20)
    except urllib.error.HTTPError as err:
        try:
            reason = http.HTTPStatus(err.code).phrase
        except ValueError:
            reason = err.reason
        raise _source_error(label, f"HTTP {err.code} {reason}") from err
    except urllib.error.URLError as err:
        raise _source_error(label, f"cannot connect ({err.reason})") from err
    except TimeoutError as err:
        raise _source_error(label, f"timed out after {DOWNLOAD_TIMEOUT_S} s") from err
    except (OSError, http.client.HTTPException) as err:
        raise _source_error(label, f"download failed ({type(err).__name__}: {err})") from err
    except ValueError as err:
        raise _source_error(label, f"invalid URL ({err})") from err


def _download(url: str, label: str) -> Path:
    """Return the cached download of ``url``, fetching and validating it first if missing.

    Only a complete download that passes validate() is moved into the cache.
    """
    path = _download_path(url)
    if not path.exists():
        with atomic_path(path) as tmp:
            _fetch(url, tmp, label)
            validate(tmp, label)
    return path


def resolve_source(source: str) -> Path:
    """Resolve a user parquet source (local path or http(s) URL) to a validated local file."""
    label = f"{_SOURCE_FLAG} {source}"
    path = _download(source, label) if _is_url(source) else Path(source).expanduser()
    validate(path, label)
    return path
