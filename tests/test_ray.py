"""The Ray scale-out cases (optional ``ray`` extra): real Ray clusters started with
``ray start``, prefect-ray's RayTaskRunner, output equal to floor's, worker memory counted.
Skipped, saying how to install Ray, when it is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.services import ray
from bench.session import Session, SessionOptions, session
from strategies import STRATEGIES
from strategies.base import Case, Cluster, Context

RAY_MISSING = f"Ray is an optional extra, not installed: {ray.RAY_EXTRA}"


def test_without_ray_the_session_says_why_ray_cases_are_skipped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray, "ray_installed", lambda: False)
    context = Context(Path("."), clusters=(Cluster("dask", 1, "tcp://127.0.0.1:1"),))
    lines = Session(context, "http://x/api", "http://y", "off").describe()
    assert any("Ray cases skipped" in line and ray.RAY_EXTRA in line for line in lines)
    assert [v for v in STRATEGIES["parallel"].available_variants(context) if "ray" in str(v)] \
        == []


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Session]:
    if not ray.ray_installed():
        pytest.skip(RAY_MISSING)
    with session(SessionOptions(scale_out=(1, 2), engines=("ray",))) as running:
        yield running


@pytest.mark.parametrize("variant", ["ray-w1", "ray-w2-paths", "ray-address"])
def test_ray_case_is_ok_on_ray_workers_and_matches_floor(ray_session: Session, tiny_source: str,
                                                         variant: str) -> None:
    from bench.runner import run_case

    context = ray_session.context
    if variant == "ray-address":  # a running cluster given by address, as a user would
        context = replace(context, ray_address=context.clusters[0].address)
    floor = run_case(Case("floor", None, "dataframe", tiny_source), context)
    case = Case("parallel", variant, "dataframe", tiny_source)
    assert variant in STRATEGIES["parallel"].available_variants(context)
    result = run_case(case, context, floor.checksum)
    assert result.status == "ok", result.reason
    assert "distinct ray workers" in result.evidence
    described = STRATEGIES["parallel"].describe(case, context)
    assert described["runner"] == "ray"
    assert described["movement"] == ("paths" if variant.endswith("-paths") else "frames")


def test_ray_cluster_memory_counts_in_the_case(ray_session: Session, tiny_source: str) -> None:
    from bench.services.processes import trees_rss

    case = Case("parallel", "ray-w2", "dataframe", tiny_source)
    outside = STRATEGIES["parallel"].outside_processes(case, ray_session.context)
    assert outside and trees_rss(outside) > 100e6  # Ray's daemons (gcs, raylet, agents)
