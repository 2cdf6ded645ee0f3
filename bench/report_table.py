"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from bench.runner import CaseResult


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, one header line and a rule."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
             for line in (headers, ["-" * w for w in widths], *rows)]
    return "\n".join(lines)


def print_table(results: Sequence[CaseResult]) -> None:
    """One row per case: strategy, variant, shape, status, seconds, MB stored, checksum."""
    rows = [
        [
            r.case.strategy,
            r.case.variant or "-",
            r.case.shape,
            r.status,
            "-" if r.seconds is None else f"{r.seconds:.3f}",
            f"{r.stored_bytes / 1e6:.1f}" if r.stored_bytes else "-",
            r.checksum or "-",
            r.reason or r.evidence,
        ]
        for r in results
    ]
    headers = ["strategy", "variant", "shape", "status", "seconds", "MB stored", "checksum",
               "reason / evidence"]
    print(format_table(headers, rows))
