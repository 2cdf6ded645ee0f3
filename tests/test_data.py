"""Tests for bench.data: synthetic generation, caching and user-supplied sources."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench import data
from bench.data import SCHEMA, SourceError

NULLABLE = (
    "passenger_count",
    "RatecodeID",
    "store_and_fwd_flag",
    "congestion_surcharge",
    "Airport_fee",
)
AMOUNTS = [
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "improvement_surcharge",
    "congestion_surcharge",
    "Airport_fee",
]


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache dir and no HTTP proxy for 127.0.0.1."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BENCH_DATA_DIR", str(cache))
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.delenv("NO_PROXY", raising=False)
    return cache


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return data.generate(data.SIZES["tiny"], tmp_path_factory.mktemp("gen") / "tiny.parquet")


@pytest.fixture(scope="module")
def tiny_table(tiny_file: Path) -> pa.Table:
    return pq.read_table(tiny_file)


def _source_error(source: str) -> str:
    """Call resolve_source expecting a SourceError; check it is one line naming the input."""
    with pytest.raises(SourceError) as info:
        data.resolve_source(source)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"--bench-source {source}: ")
    return message


def _write(path: Path, columns: dict[str, list]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


# --------------------------------------------------------------------------- generation


def test_schema_matches(tiny_file: Path) -> None:
    schema = pq.read_schema(tiny_file)
    assert schema == SCHEMA
    assert len(schema) == 19
    assert SCHEMA.names[0] == "VendorID" and SCHEMA.names[-1] == "Airport_fee"


def test_row_count_and_row_groups(tiny_file: Path) -> None:
    meta = pq.ParquetFile(tiny_file).metadata
    assert meta.num_rows == data.SIZES["tiny"]
    assert meta.num_row_groups == data.ROW_GROUPS


def test_fewer_rows_than_row_groups(tmp_path: Path) -> None:
    meta = pq.ParquetFile(data.generate(5, tmp_path / "five.parquet")).metadata
    assert (meta.num_rows, meta.num_row_groups) == (5, 5)


def test_generate_rejects_non_positive_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        data.generate(0, tmp_path / "empty.parquet")


def test_deterministic_by_seed(tmp_path: Path) -> None:
    first = pd.read_parquet(data.generate(3_000, tmp_path / "a.parquet", seed=7))
    again = pd.read_parquet(data.generate(3_000, tmp_path / "b.parquet", seed=7))
    other = pd.read_parquet(data.generate(3_000, tmp_path / "c.parquet", seed=8))
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_nulls_only_in_nullable_columns(tiny_table: pa.Table) -> None:
    for name in SCHEMA.names:
        nulls = tiny_table.column(name).null_count
        assert (nulls > 0) == (name in NULLABLE), name


def test_null_rows_are_consistent(tiny_table: pa.Table) -> None:
    df = tiny_table.to_pandas()
    null_rows = df["passenger_count"].isna()
    for name in NULLABLE:
        assert df[name].isna().equals(null_rows), name
    assert (df.loc[null_rows, "payment_type"] == 0).all()
    assert (df.loc[~null_rows, "payment_type"] != 0).all()


def test_negative_and_zero_totals_present(tiny_table: pa.Table) -> None:
    total = tiny_table.column("total_amount").to_numpy()
    assert (total < 0).any()
    assert (total == 0).any()


def test_dropoff_not_before_pickup(tiny_table: pa.Table) -> None:
    df = tiny_table.to_pandas()
    assert (df["tpep_dropoff_datetime"] >= df["tpep_pickup_datetime"]).all()
    assert df["tpep_pickup_datetime"].min() >= pd.Timestamp("2023-09-01")
    assert df["tpep_pickup_datetime"].max() < pd.Timestamp("2023-10-01")


def test_total_is_sum_of_amounts(tiny_table: pa.Table) -> None:
    df = tiny_table.to_pandas()
    diff = (df[AMOUNTS].fillna(0).sum(axis=1) - df["total_amount"]).abs()
    assert diff.max() < 0.011
    money = df[[*AMOUNTS, "total_amount"]].fillna(0)
    assert (money.round(2) == money).all().all()


def test_interrupted_generate_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_chunk = data._chunk_table

    def failing_chunk(rows: int, seed: int, chunk_index: int) -> pa.Table:
        if chunk_index == 2:
            raise KeyboardInterrupt
        return real_chunk(rows, seed, chunk_index)

    monkeypatch.setattr(data, "_chunk_table", failing_chunk)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        data.generate(1_000, out / "x.parquet")
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- cache / dataset


def test_cache_dir_from_env(_cache_in_tmp: Path) -> None:
    assert data.cache_dir() == _cache_in_tmp
    assert _cache_in_tmp.is_dir()


def test_cache_dir_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".cache" / "prefect-bigdata-bench"
    assert data.cache_dir() == expected
    assert expected.is_dir()


def test_dataset_is_cached(_cache_in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = data.dataset(2_000, seed=5)
    assert path == _cache_in_tmp / "yellow_synth_2000_s5.parquet"
    assert pq.ParquetFile(path).metadata.num_rows == 2_000
    mtime = path.stat().st_mtime_ns

    def no_regenerate(*args: object, **kwargs: object) -> Path:
        raise AssertionError("dataset() regenerated a cached file")

    monkeypatch.setattr(data, "generate", no_regenerate)
    assert data.dataset(2_000, seed=5) == path
    assert path.stat().st_mtime_ns == mtime


def test_dataset_by_name(_cache_in_tmp: Path) -> None:
    path = data.dataset("tiny")
    assert path.name == f"yellow_synth_10000_s{data.DEFAULT_SEED}.parquet"
    assert data.validate(path) == 10_000


@pytest.mark.parametrize("size", ["huge", 0, -3])
def test_dataset_bad_size(size: str | int) -> None:
    with pytest.raises(SourceError) as info:
        data.dataset(size)
    assert str(info.value).startswith(f"size {size!r}: ")


def test_unknown_size_lists_choices() -> None:
    with pytest.raises(SourceError) as info:
        data.dataset("huge")
    assert str(info.value) == "size 'huge': unknown, choose one of tiny, small, medium, full, xl"


# --------------------------------------------------------------------------- resolve_source: local


def test_local_source_ok(tiny_file: Path) -> None:
    assert data.resolve_source(str(tiny_file)) == tiny_file
    assert data.validate(tiny_file) == data.SIZES["tiny"]


def test_minimal_real_like_file_ok(tmp_path: Path) -> None:
    path = _write(tmp_path / "min.parquet", {"tip_amount": [1, 2], "total_amount": [10.0, 0.0]})
    assert data.validate(path) == 2


def test_missing_file(tmp_path: Path) -> None:
    assert _source_error(str(tmp_path / "y.parquet")).endswith(": no such file")


def test_directory(tmp_path: Path) -> None:
    assert _source_error(str(tmp_path)).endswith(": is a directory, expected a parquet file")


def test_text_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not\nparquet\nat all\n" * 100)
    assert ": not a parquet file (or truncated): " in _source_error(str(notes))


def test_truncated_parquet(tmp_path: Path, tiny_file: Path) -> None:
    raw = tiny_file.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(raw[: len(raw) // 2])
    assert ": not a parquet file (or truncated): " in _source_error(str(cut))


def test_missing_required_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "y.parquet", {"fare_amount": [1.0]})
    message = _source_error(str(path))
    assert message.endswith(": missing required column(s) tip_amount, total_amount")


def test_non_numeric_required_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "y.parquet", {"tip_amount": [1.0], "total_amount": ["12.5"]})
    assert _source_error(str(path)).endswith(": column total_amount is string, expected a number")


def test_no_rows(tmp_path: Path) -> None:
    empty = pa.array([], pa.float64())
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"tip_amount": empty, "total_amount": empty}), path)
    assert _source_error(str(path)).endswith(": has no rows")


def test_validate_label_defaults_to_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    with pytest.raises(SourceError) as info:
        data.validate(missing)
    assert str(info.value) == f"{missing}: no such file"
    with pytest.raises(SourceError) as info:
        data.validate(missing, label="my input")
    assert str(info.value) == "my input: no such file"


# --------------------------------------------------------------------------- resolve_source: http


def _downloads() -> list[Path]:
    folder = data.cache_dir() / "downloads"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_http_download_and_reuse(http_root: tuple[str, Path], tiny_file: Path) -> None:
    base, root = http_root
    (root / "trips.parquet").write_bytes(tiny_file.read_bytes())
    url = f"{base}/trips.parquet"
    path = data.resolve_source(url)
    assert path.parent == data.cache_dir() / "downloads"
    assert path.name.endswith("-trips.parquet")
    assert path.read_bytes() == tiny_file.read_bytes()
    assert _downloads() == [path]

    (root / "trips.parquet").unlink()  # second call must not hit the server
    assert data.resolve_source(url) == path


def test_http_404(http_root: tuple[str, Path]) -> None:
    base, _ = http_root
    message = _source_error(f"{base}/missing.parquet")
    assert message.endswith(": HTTP 404 Not Found")
    assert _downloads() == []


def test_http_invalid_content_not_cached(http_root: tuple[str, Path]) -> None:
    base, root = http_root
    (root / "page.parquet").write_text("<html>not parquet</html>")
    assert ": not a parquet file (or truncated): " in _source_error(f"{base}/page.parquet")
    assert _downloads() == []


def test_http_cannot_connect() -> None:
    with socket.socket() as sock:  # grab a free port, then close it so nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = _source_error(f"http://127.0.0.1:{port}/x.parquet")
    assert ": cannot connect (" in message
    assert _downloads() == []
    assert not any(name.endswith(".tmp") for name in os.listdir(data.cache_dir()))
