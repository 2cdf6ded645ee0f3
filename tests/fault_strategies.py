"""A pytest plugin for tests only (``-p tests.fault_strategies``): registers strategies
that fail, hang or run out of memory, and a cheap profile with a guarded size. The
strategies live in ``tests.fault_impl``, imported in ``pytest_configure``, after the root
conftest has isolated Prefect."""

from __future__ import annotations

from typing import Any

import pytest

HOG_BYTES = 3_000_000_000  # what the hog strategy allocates, in steps, unless stopped


@pytest.hookimpl(tryfirst=True)  # before bench.plugin checks --bench-strategies
def pytest_configure(config: Any) -> None:
    import tests.fault_impl  # noqa: F401  (registers the strategies)
    from bench.cases import PROFILES, Profile

    PROFILES["guarded"] = Profile("guarded", ("tiny", "small", "medium"), budget_s=0.5,
                                  min_rounds=1, max_rounds=2, guarded=("medium",))
