"""Test fixtures. The root conftest.py has isolated Prefect before anything imported it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import data
from bench.session import Session, SessionOptions, session


@pytest.fixture(scope="session")
def tiny_source() -> str:
    """The generated 10k-row file (cached between runs)."""
    return str(data.dataset("tiny"))


@pytest.fixture(scope="session")
def running() -> Iterator[Session]:
    """One real session for all tests: Prefect server, moto S3 server, Dask cluster."""
    with session(SessionOptions(dask_address="local")) as running:
        yield running
