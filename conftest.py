"""Root conftest: isolate Prefect before anything imports it, then load the bench plugin."""

from bench import services

services.isolate_prefect()

pytest_plugins = ["bench.plugin"]
