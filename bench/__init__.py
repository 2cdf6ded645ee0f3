"""The harness. Importing it isolates Prefect first (``bench.isolation``): every module of
the harness may import Prefect, and none can do so before Prefect's settings are made."""

from bench.isolation import isolate

isolate()
