"""The run file: pytest-benchmark's JSON plus our ``extra_info`` keys and a ``bench`` object.

Saved atomically (a temp file in the same folder, then ``os.replace``): a crash or Ctrl-C
never leaves a half-written or corrupt file in ``results/``. A run that was interrupted
is saved whole, marked ``"complete": false`` and named ``run-<time>-interrupted.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EXTRA_INFO_KEYS = (
    "strategy", "variant", "shape", "rows", "status", "reason", "peak_rss_bytes",
    "start_rss_bytes", "rss_delta_bytes", "stored_bytes", "checksum", "memory_timeline",
)


def save_atomic(data: dict[str, Any], path: Path) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; returns ``path``."""
    return write_text_atomic(json.dumps(data, indent=2, default=str), path)


def write_text_atomic(text: str, path: Path) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def save_run(data: dict[str, Any], results_dir: Path, complete: bool) -> list[Path]:
    """Save a run as ``run-<UTC timestamp>.json`` and, when complete, ``latest.json``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"run-{stamp}.json" if complete else f"run-{stamp}-interrupted.json"
    saved = [save_atomic(data, results_dir / name)]
    if complete:
        saved.append(save_atomic(data, results_dir / "latest.json"))
    return saved


def load_run(path: Path) -> dict[str, Any]:
    """Load a run file; ``ValueError`` with one line if it is not a run of this tool."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:  # ValueError: bad JSON or not UTF-8
        raise ValueError(f"{path}: cannot read a JSON run ({type(err).__name__})") from None
    if not isinstance(data, dict) or "bench" not in data or "benchmarks" not in data:
        raise ValueError(f"{path}: not a run of prefect-bigdata-bench (no 'bench' object)")
    return data
