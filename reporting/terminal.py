"""Plain-text tables for the terminal: the run's summary (``pytest --benchmark-only`` and
``python -m bench``) and the gate's table."""

from __future__ import annotations

from collections.abc import Sequence

from reporting import units
from reporting.cases import labelled
from runfile import CaseRecord


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, one header line and a rule."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
             for line in (headers, ["-" * w for w in widths], *rows)]
    return "\n".join(lines)


def summary(records: Sequence[CaseRecord], title: str, notes: bool = False) -> list[str]:
    """One table per data size, in the order the sizes first appear: case (its label, after
    its workload unless the guide's), shape, median seconds, x floor (same workload and
    shape), peak MB (when measured), MB stored, status; with ``notes``, also the checksum
    and the reason (or, when ok, the evidence)."""
    lines: list[str] = []
    peaks = any(r.peak_rss_bytes is not None for r in records)
    for size in dict.fromkeys(r.size for r in records):
        here = [r for r in records if r.size == size]
        floors = {(r.workload, r.shape): r.median for r in here
                  if r.strategy == "floor" and r.ok}
        headers = ["case", "shape", "median s", "x floor", *(["peak MB"] if peaks else []),
                   "MB stored", "status"]
        rows = [[labelled(r), r.shape,
                 f"{r.median:.3f}" if r.median is not None and r.status != "skipped" else "-",
                 _times(r.median, floors.get((r.workload, r.shape))) if r.ok else "-",
                 *([units.megabytes(r.peak_rss_bytes, unit=False)] if peaks else []),
                 units.megabytes(r.stored_bytes or None, unit=False), r.status]
                for r in here]
        if notes:
            headers += ["checksum", "reason / evidence"]
            for row, r in zip(rows, here, strict=True):
                row += [r.checksum or "-", r.reason or r.evidence or ""]
        lines += ["", f"{title}: {size} ({here[0].rows:,} rows)", format_table(headers, rows)]
    return lines


def _times(value: float | None, reference: float | None) -> str:
    return f"{value / reference:.1f}" if value and reference else "-"
