"""The options both command lines share (pytest and ``python -m bench``), and their checks.

Each option is ``(flag, argparse keyword arguments)``; pytest's ``addoption`` and argparse's
``add_argument`` take the same ones. Values stay strings on the command line and are
checked here, before any work starts: a bad value is one :class:`OptionError` line naming
the option (argparse's own ``choices``/``type`` errors print a usage block instead).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from bench.services.ray import RAY_EXTRA, ray_installed
from bench.session import SessionOptions
from strategies import workloads

DEFAULT_CASE_TIMEOUT_S = 600.0
DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")

SOURCE_OPTION = ("--bench-source", {
    "metavar": "PATH_OR_URL",
    "help": "measure a real NYC TLC parquet file (local path or http(s) URL) instead of "
            "generated data",
})

SELECT_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--bench-strategies", {
        "metavar": "NAMES",
        "help": "comma-separated strategies or strategy/variant to run, e.g. "
                "'baseline,cached/warm' (floor always runs); default: all",
    }),
    ("--bench-workload", {
        "metavar": "NAMES",
        "help": "the extract and transform to measure, comma-separated: guide (the guide's "
                "example), heavy (a compute-heavy ET over the same files), or your own "
                "module as package.module or path/to/file.py (see examples/); default: the "
                "profile's (guide, and heavy in standard and up)",
    }),
    ("--bench-case-timeout", {
        "metavar": "SECONDS", "default": str(DEFAULT_CASE_TIMEOUT_S),
        "help": "stop any single run of a case (memory run, warm-up or timed round) after "
                f"this long: status timeout (default: {DEFAULT_CASE_TIMEOUT_S:.0f})",
    }),
]

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
    ("--bench-scale-out", {
        "action": "store_true",
        "help": "add the scale-out cases: parallel on Dask clusters the harness starts "
                "(scheduler + worker processes on 127.0.0.1), one per worker count in "
                "--bench-workers, passing DataFrames or only paths",
    }),
    ("--bench-workers", {
        "metavar": "COUNTS",
        "help": "worker counts for --bench-scale-out, comma-separated (default: 1, 2 and "
                "the core count)",
    }),
    ("--bench-ray-address", {
        "metavar": "ADDRESS",
        "help": "a running Ray cluster (host:port) for parallel/ray-address (needs the "
                "optional ray extra); without it that case is not run",
    }),
    ("--bench-dask-address", {
        "metavar": "ADDRESS",
        "help": "Dask scheduler for parallel/dask-address, or 'local' to start one; "
                "without it that case is not run",
    }),
]


class OptionError(ValueError):
    """A bad option value; ``str(err)`` is one line naming the option."""


def session_options(get: Callable[[str], Any]) -> SessionOptions:
    """Build ``SessionOptions`` from parsed options; ``get`` maps a flag to its value."""
    counts = worker_counts(get("--bench-workers"))  # checked even without --bench-scale-out
    return SessionOptions(
        keep_heartbeat=bool(get("--bench-keep-heartbeat")),
        s3_endpoint=get("--bench-s3-endpoint"),
        s3_bucket=get("--bench-s3-bucket"),
        dask_address=get("--bench-dask-address"),
        scale_out=counts if get("--bench-scale-out") else (),
        ray_address=get("--bench-ray-address"),
    )


def worker_counts(value: str | None) -> tuple[int, ...]:
    """``--bench-workers``: sorted distinct positive counts (default 1, 2, cores)."""
    if value is None:
        return tuple(sorted({1, 2, os.cpu_count() or 2}))
    try:
        counts = {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        counts = set()
    if not counts or min(counts) < 1:
        raise OptionError(f"--bench-workers {value!r}: expected positive whole numbers "
                          "separated by commas, e.g. 1,2,4")
    return tuple(sorted(counts))


def check_addresses(get: Callable[[str], Any]) -> None:
    """Check the addresses both command lines take (Dask, Ray, S3); the other options are
    checked as they are parsed (``session_options``, ``selection``, ``positive``)."""
    check_dask_address(get("--bench-dask-address"))
    check_ray_address(get("--bench-ray-address"), bool(get("--bench-scale-out")))
    endpoint = get("--bench-s3-endpoint")
    if endpoint:
        check_s3_endpoint(endpoint, "--bench-s3-endpoint")
    elif os.environ.get("BENCH_S3_ENDPOINT_URL"):
        check_s3_endpoint(os.environ["BENCH_S3_ENDPOINT_URL"], "BENCH_S3_ENDPOINT_URL")


def selection(value: str | None, choices: Iterable[str]) -> set[str] | None:
    """The strategies (``name`` or ``name/variant``) chosen by ``--bench-strategies``;
    ``None`` means all of them. ``choices`` knows them (``in``) and lists them (``iter``)."""
    if value is None:
        return None
    chosen = {name.strip() for name in value.split(",") if name.strip()}
    unknown = sorted(name for name in chosen if name not in choices)
    if unknown or not chosen:
        names = ", ".join(sorted(n for n in choices if "/" not in n))
        what = f"unknown strategy {unknown[0]!r}" if unknown else "no strategy named"
        raise OptionError(f"--bench-strategies {value!r}: {what}; choose from {names} "
                          "(or strategy/variant, e.g. cached/warm)")
    return chosen


def workload_choice(value: str | None) -> tuple[str, ...] | None:
    """The workloads ``--bench-workload`` names, each loaded and checked (None: the
    profile's); a file's path made absolute, so that it loads from any folder."""
    if value is None:
        return None
    chosen = tuple(dict.fromkeys(workloads.resolve(part.strip())
                                 for part in value.split(",") if part.strip()))
    if not chosen:
        raise OptionError(f"--bench-workload {value!r}: no workload named; give guide, heavy, "
                          "package.module or path/to/file.py")
    names: dict[str, str] = {}
    for spec in chosen:
        try:
            name = workloads.load(spec).name
        except workloads.WorkloadError as err:
            raise OptionError(f"--bench-workload {spec}: {err.problem}") from None
        if name in names:
            raise OptionError(f"--bench-workload {value!r}: {names[name]} and {spec} have "
                              f"the same name {name!r}")
        names[name] = spec
    return chosen


def selects(chosen: set[str] | None, strategy: str, variant: str | None) -> bool:
    """Whether a case is in the selection (``floor``, the reference, always is)."""
    return (chosen is None or strategy == "floor" or strategy in chosen
            or f"{strategy}/{variant}" in chosen)


def positive(value: str | float | None, flag: str) -> float | None:
    """``value`` as a positive number (``None`` stays ``None``)."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise OptionError(f"{flag} {value!r}: expected a positive number")
    return number


def check_dask_address(address: str | None) -> None:
    """``local`` or a scheduler address such as ``tcp://10.0.0.5:8786`` (scheme optional)."""
    if address is None or address == "local":
        return
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in DASK_SCHEMES or not parts.hostname or not _port(parts) or parts.path:
        raise OptionError(f"--bench-dask-address {address!r}: expected 'local' or a scheduler "
                          "address like tcp://127.0.0.1:8786")


def check_ray_address(address: str | None, scale_out: bool = False) -> None:
    """``host:port`` (or ``ray://host:port``) of a running Ray cluster; Ray installed. With
    ``--bench-scale-out``, only on this machine: the harness's Ray clusters run Ray in its
    single-machine mode, in which this process cannot reach another machine's cluster."""
    if address is None:
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    if parts.scheme != "ray" or not parts.hostname or not _port(parts):
        raise OptionError(f"--bench-ray-address {address!r}: expected host:port, e.g. "
                          "127.0.0.1:6379")
    if not ray_installed():
        raise OptionError(f"--bench-ray-address {address!r}: Ray is not installed "
                          f"({RAY_EXTRA})")
    if scale_out and not _loopback(parts.hostname):
        raise OptionError(f"--bench-ray-address {address!r}: a Ray cluster on another machine "
                          "cannot be measured in a run with --bench-scale-out (its Ray "
                          "clusters run Ray in single-machine mode); measure it in a run "
                          "of its own")


def _loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback interface."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _port(parts: SplitResult) -> int | None:
    """The address's port; None when it has none or an invalid one."""
    try:
        return parts.port
    except ValueError:
        return None


def check_s3_endpoint(url: str, name: str) -> None:
    """An ``http(s)://host[:port]`` URL; ``name`` is the option or variable it came from."""
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise OptionError(f"{name} {url!r}: expected an http(s) URL such as "
                          "http://127.0.0.1:9000")


def check_writable_dir(path: str, flag: str) -> None:
    """``path`` is a folder this process can write into, or can be created as one."""
    folder = Path(path).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise OptionError(f"{flag} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(f"{flag} {path}: cannot write into {existing} (permission denied)")
