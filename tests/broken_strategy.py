"""A pytest plugin for tests only (``-p tests.broken_strategy``): registers a strategy
whose flow always fails. The strategy lives in ``tests.broken_impl``, imported in
``pytest_configure``, after the root conftest has isolated Prefect."""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    import tests.broken_impl  # noqa: F401  (registers the strategy)
