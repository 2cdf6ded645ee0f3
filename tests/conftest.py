"""Test fixtures. Prefect is isolated before anything imports it (see bench.services)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import services

services.isolate_prefect()

from bench import data  # noqa: E402
from bench.session import Session, SessionOptions, session  # noqa: E402


@pytest.fixture(scope="session")
def tiny_source() -> str:
    """The generated 10k-row file (cached between runs)."""
    return str(data.dataset("tiny"))


@pytest.fixture(scope="session")
def running() -> Iterator[Session]:
    """One real session for all tests: Prefect server, moto S3 server, Dask cluster."""
    with session(SessionOptions(dask_address="local")) as running:
        yield running
