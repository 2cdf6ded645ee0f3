"""The session options, defined once for both command lines (pytest and ``python -m bench``).

Each entry is ``(flag, argparse keyword arguments)``; pytest's ``addoption`` and argparse's
``add_argument`` take the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # bench.session imports Prefect, which must wait for isolate_prefect()
    from bench.session import SessionOptions

SOURCE_OPTION = ("--bench-source", {
    "metavar": "PATH_OR_URL",
    "help": "measure a real NYC TLC parquet file (local path or http(s) URL) instead of "
            "generated data",
})

SESSION_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--bench-keep-heartbeat", {
        "action": "store_true",
        "help": "keep Prefect's default flow heartbeat (off by default: it rounds a sync "
                "flow's time up to whole seconds)",
    }),
    ("--bench-s3-endpoint", {
        "metavar": "URL",
        "help": "S3-compatible endpoint for the s3 strategy (default: BENCH_S3_ENDPOINT_URL, "
                "else moto's server on loopback); credentials from AWS_* variables",
    }),
    ("--bench-s3-bucket", {
        "metavar": "NAME",
        "help": "bucket for the s3 strategy (default: BENCH_S3_BUCKET or prefect-bigdata-bench)",
    }),
    ("--bench-dask-address", {
        "metavar": "ADDRESS",
        "help": "Dask scheduler for parallel/dask-address, or 'local' to start one; "
                "without it that case is not run",
    }),
]


def session_options(get: Callable[[str], Any]) -> SessionOptions:
    """Build ``SessionOptions`` from parsed options; ``get`` maps a flag to its value."""
    from bench.session import SessionOptions

    return SessionOptions(
        keep_heartbeat=bool(get("--bench-keep-heartbeat")),
        s3_endpoint=get("--bench-s3-endpoint"),
        s3_bucket=get("--bench-s3-bucket"),
        dask_address=get("--bench-dask-address"),
    )
