"""Make the committed pairs of runs of ``bin/bench-ab`` from tests/data/quick-run.json.

    python tests/data/ab/make_pairs.py

Writes, next to this file, the two sides of one job, A (``prefect==3.6.29``) and B
(``prefect==3.9.1``), and a second B:

- ``a.json`` and ``b.json``: nothing changed between the sides;
- ``a.json`` and ``b-slow.json``: B's blocks of ``baseline``, ``disk`` and ``cached/*`` are
  1.25 times ``b.json``'s (their rounds too).

Every ok case gets ``paired_blocks``: its rounds repeated to at least ``MIN_BLOCKS`` blocks,
each side's block times ``exp(N(0, NOISE))``, from one seeded generator (the same files
every time). Memory timelines keep ``TIMELINE_POINTS`` points, to keep the files small.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "quick-run.json"
SEED, NOISE, MIN_BLOCKS, TIMELINE_POINTS = 16, 0.05, 6, 5
SLOWED, FACTOR = ("baseline", "disk", "cached/"), 1.25
PAIRING_ID = "ab-20261201T180000Z-fixture"
LABELS = {"A": "prefect==3.6.29", "B": "prefect==3.9.1"}
SCALED_STATS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "ld15iqr",
                "hd15iqr", "total")
SAME = {"numpy": "2.4.6", "pandas": "3.1.1", "pyarrow": "26.0.1", "pydantic": "2.12.5",
        "httpx": "0.28.1", "cloudpickle": "3.1.2", "dask": "2026.8.0"}
PACKAGES = {"A": {**SAME, "prefect": "3.6.29", "prefect-aws": "0.7.7", "apprise": "1.9.3",
                  "typer": "0.16.0"},
            "B": {**SAME, "prefect": "3.9.1", "prefect-aws": "0.7.12", "apprise": "1.9.5",
                  "cyclopts": "4.2.1"}}
DEFAULTS = {"results.persist_by_default": "False", "results.default_serializer": "pickle",
            "tasks.default_persist_result": "None", "tasks.default_no_cache": "False",
            "flows.heartbeat_frequency": "180",
            "cache_policies.DEFAULT": "Inputs + TaskSource + RunId"}


def label(entry: dict[str, Any]) -> str:
    info = entry["extra_info"]
    return info["strategy"] + (f"/{info['variant']}" if info["variant"] else "")


def slowed(entry: dict[str, Any]) -> bool:
    found = label(entry)
    return any(found == name or (name.endswith("/") and found.startswith(name))
               for name in SLOWED)


def side(source: dict[str, Any], name: str, blocks: list[list[float] | None]) -> dict[str, Any]:
    """One side's run: format 5, paired, its ok cases with ``blocks``."""
    data = copy.deepcopy(source)
    other = "B" if name == "A" else "A"
    data["bench"].update(
        format_version=5, packages=PACKAGES[name], prefect_defaults=DEFAULTS,
        versions={**data["bench"]["versions"], "prefect": PACKAGES[name]["prefect"],
                  "prefect-aws": PACKAGES[name]["prefect-aws"]},
        workloads=[{"name": "guide", "module": "strategies.workloads", "digest": "0f1e2d3c4b5a"}],
        pairing={"id": PAIRING_ID, "side": name, "label": LABELS[name],
                 "other": LABELS[other], "blocks": "ABBA"})
    for entry, found in zip(data["benchmarks"], blocks, strict=True):
        info = entry["extra_info"]
        info.update(workload="guide", workload_digest="0f1e2d3c4b5a", paired_blocks=found,
                    memory_timeline=info["memory_timeline"][:TIMELINE_POINTS])
    return data


def slow(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the blocks and rounds of the ``SLOWED`` cases ``FACTOR`` times."""
    data = copy.deepcopy(data)
    for entry in data["benchmarks"]:
        if slowed(entry) and entry["extra_info"]["status"] == "ok":
            info, stats = entry["extra_info"], entry["stats"]
            info["paired_blocks"] = [x * FACTOR for x in info["paired_blocks"]]
            stats["data"] = [x * FACTOR for x in stats["data"]]
            stats.update({key: stats[key] * FACTOR for key in SCALED_STATS})
            stats["ops"] /= FACTOR
    return data


def blocks_of(source: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """Each case's blocks on side A and side B (None for a case not ok)."""
    rng = np.random.default_rng(SEED)
    a_blocks: list[list[float] | None] = []
    b_blocks: list[list[float] | None] = []
    for entry in source["benchmarks"]:
        rounds = entry["stats"]["data"]
        if entry["extra_info"]["status"] != "ok" or not rounds:
            a_blocks.append(None)
            b_blocks.append(None)
            continue
        base = np.resize(np.array(rounds), max(MIN_BLOCKS, len(rounds)))
        noise = np.exp(rng.normal(0.0, NOISE, size=(2, len(base))))
        a_blocks.append([round(float(x), 6) for x in base * noise[0]])
        b_blocks.append([round(float(x), 6) for x in base * noise[1]])
    return a_blocks, b_blocks


def main(out: Path = HERE) -> list[Path]:
    """Write ``a.json``, ``b.json`` and ``b-slow.json`` to ``out``; returns their paths."""
    source = json.loads(SOURCE.read_text())
    a_blocks, b_blocks = blocks_of(source)
    b = side(source, "B", b_blocks)
    written = []
    for name, data in (("a", side(source, "A", a_blocks)), ("b", b), ("b-slow", slow(b))):
        written.append(out / f"{name}.json")
        written[-1].write_text(json.dumps(data, indent=1) + "\n")
    return written


if __name__ == "__main__":
    main()
