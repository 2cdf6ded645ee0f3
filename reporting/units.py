"""How figures are written: the same in the report, the gate, the terminal tables and the
harness's progress lines and reasons."""

from __future__ import annotations

MB = 1_000_000


def seconds(value: float | None) -> str:
    """``0.0171 s``, ``4.25 s``, ``123 s``: three significant figures, ``-`` for None."""
    if value is None:
        return "-"
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


def megabytes(value: float | None, unit: bool = True) -> str:
    """Bytes as decimal megabytes with one decimal (``39.7 MB``), ``-`` for None;
    ``unit=False`` leaves out `` MB`` (a table whose header names the unit)."""
    if value is None:
        return "-"
    return f"{value / MB:.1f} MB" if unit else f"{value / MB:.1f}"


def whole_megabytes(value: float) -> str:
    """Bytes as whole decimal megabytes with thousands separators (``1,506 MB``): for
    limits and predictions in one-line reasons."""
    return f"{value / MB:,.0f} MB"


def ratio(value: float | None) -> str:
    """``x4.2``, ``x0.95``, ``x2100``: a multiplier, ``-`` for None."""
    if value is None:
        return "-"
    return f"x{value:.2g}" if value < 10 else f"x{value:.0f}"


def change(value: float | None) -> str:
    """A relative change as a signed percentage (``+12%``, ``-3%``), ``-`` for None."""
    return "-" if value is None else f"{(value - 1) * 100:+.0f}%"


def rows(count: int) -> str:
    """``10k``, ``100k``, ``1M``, ``2.85M``: a row count in three significant figures."""
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count >= scale:
            return f"{count / scale:.3g}{suffix}"
    return str(count)
