"""The benchmarks: one per strategy x variant x payload shape x data size.

Collected by ``pytest --benchmark-only`` from the repository root; the cases come from
``--bench-profile`` (``bench/cases.py``), their measuring from ``bench/orchestrator.py``
through the plugin's ``bench_measure`` fixture (``bench/plugin.py``).
"""

from __future__ import annotations

from typing import Any

from bench.cases import BenchCase


def test_strategy(bench_case: BenchCase, bench_measure: Any) -> None:
    bench_measure(bench_case)
