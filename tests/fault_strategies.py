"""A pytest plugin for tests only (``-p tests.fault_strategies``): registers strategies
that fail, hang or run out of memory. They live in ``tests.fault_impl``, imported in
``pytest_configure``, after the root conftest has isolated Prefect."""

from __future__ import annotations

from typing import Any

import pytest

HOG_BYTES = 3_000_000_000  # what the hog strategy allocates, in steps, unless stopped


@pytest.hookimpl(tryfirst=True)  # before bench.plugin checks --bench-strategies
def pytest_configure(config: Any) -> None:
    import tests.fault_impl  # noqa: F401  (registers the strategies)
