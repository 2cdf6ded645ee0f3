"""Test fixtures, and the ``e2e`` mark on every test that starts the harness's services.

Prefect is isolated before anything imports it: importing the ``bench`` package does it
(this file and the project's pytest plugin, ``bench.plugin``, both import it before any
strategy or Prefect module)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import data
from bench.session import Session, SessionOptions, session

SERVICE_FIXTURES = {"running", "ray_session", "smoke_run", "faulty_run"}
"""Fixtures that start a session's services (or a whole run): their tests are ``e2e``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def tiny_source() -> str:
    """The generated 10k-row file (cached between runs)."""
    return str(data.dataset("tiny"))


@pytest.fixture(scope="session")
def running() -> Iterator[Session]:
    """One real session for all tests: Prefect server, moto S3 server, a Dask cluster for
    dask-address and scale-out clusters of 1 and 2 workers."""
    options = SessionOptions(dask_address="local", scale_out=(1, 2), engines=("dask",))
    with session(options) as running:
        yield running


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Serve a fresh directory over HTTP on 127.0.0.1; yield (base_url, directory)."""
    root = tmp_path / "www"
    root.mkdir()

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
