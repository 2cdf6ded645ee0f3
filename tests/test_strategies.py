"""Every strategy and variant on tiny data, against real services, with checks that each
optimization took effect and that the output equals floor's."""

from __future__ import annotations

import pytest

from bench.cases import BenchCase, one_size_cases, services_for
from bench.runner import run_case
from bench.session import Session, SessionOptions
from runfile import case_name
from strategies import STRATEGIES
from strategies.base import Case, NotApplied
from strategies.cached import Cached
from strategies.flowrun import FlowRun, persisted_in, run_flow
from strategies.tasks import et_flow

PERSISTING = {"s3", "cached", "compressed", "disk", "offload"}


@pytest.fixture(scope="module")
def floor_checksum(running: Session, tiny_source: str) -> str:
    result = run_case(Case("floor", None, "dataframe", tiny_source), running.context)
    assert result.status == "ok", result.reason
    return str(result.checksum)


def _all_cases(source: str, running: Session) -> dict[str, Case]:
    """Every runnable case of this session on ``source``, in both shapes, by its name
    (``runfile.case_name`` with size ``tiny``: ``quote-records-tiny``)."""
    found = one_size_cases("tiny", ("dataframe", "records"), running.context)
    return {case.name: case.on(source) for case in found}


def test_every_strategy_and_variant_is_listed(running: Session, tiny_source: str) -> None:
    names = set(_all_cases(tiny_source, running))
    for strategy in STRATEGIES.values():
        for variant in strategy.variants:
            if str(variant).startswith("ray-address"):  # needs --bench-ray-address: test_ray
                continue
            assert case_name(strategy.name, variant, "dataframe", "tiny") in names
    assert {"baseline-records-tiny", "quote-records-tiny"} <= names


@pytest.mark.parametrize(
    "name",
    [f"{label}-dataframe-tiny" for label in (
        "floor", "baseline", "quote", "nocache", "disk", "s3", "cached/cold", "cached/warm",
        "compressed/none", "compressed/pickle", "compressed/zlib", "compressed/zstd",
        "compressed/parquet", "offload", "combined/nocache+quote", "combined/nocache+disk",
        "combined/parquet+offload", "parallel/threads", "parallel/processes",
        "parallel/dask", "parallel/dask-address", "parallel/dask-address-paths",
        "parallel/dask-w1", "parallel/dask-w2-paths")]
    + [f"{label}-records-tiny" for label in (
        "floor", "baseline", "quote", "opaque", "nocache", "combined/nocache+quote")],
)
def test_case_is_ok_and_matches_floor(
    name: str, running: Session, tiny_source: str, floor_checksum: str
) -> None:
    case = _all_cases(tiny_source, running)[name]
    result = run_case(case, running.context, floor_checksum)
    assert result.status == "ok", result.reason
    assert result.checksum == floor_checksum
    assert result.evidence
    if case.strategy in PERSISTING or str(case.variant).endswith("-paths"):
        assert result.stored_bytes > 0
    if name.startswith("cached/warm-"):
        assert "ended Cached" in result.evidence


def test_compressed_json_is_reported_not_applied(running: Session, tiny_source: str) -> None:
    result = run_case(Case("compressed", "json", "dataframe", tiny_source), running.context)
    assert result.status == "not_applied"
    assert "compressed/json" in str(result.reason) and "DataFrame" in str(result.reason)
    assert "\n" not in str(result.reason)


def test_a_cache_that_does_not_hit_is_not_applied(running: Session, tiny_source: str) -> None:
    case = Case("cached", "warm", "dataframe", tiny_source)
    prepared = Cached().prepare(case, running.context)
    running.context.local(case, "results").clear()  # the primed cache vanishes
    with pytest.raises(NotApplied, match=r"cache did not hit: .*transform ended Completed"):
        prepared.verify(prepared.run())


def test_nothing_persisted_is_not_applied(running: Session, tmp_path) -> None:
    from strategies.base import LocalStorage

    run = FlowRun(state=None, warnings=[])  # type: ignore[arg-type]
    with pytest.raises(NotApplied, match="did not persist"):
        persisted_in(LocalStorage(tmp_path))(run, None)


def test_a_wrong_output_fails_the_case(running: Session, tiny_source: str) -> None:
    result = run_case(Case("baseline", None, "dataframe", tiny_source), running.context, "0" * 16)
    assert result.status == "failed"
    assert "differs from floor's" in str(result.reason)


def test_an_error_fails_only_that_case(running: Session, tmp_path) -> None:
    missing = str(tmp_path / "gone.parquet")
    result = run_case(Case("baseline", None, "dataframe", missing), running.context)
    assert result.status == "failed"
    assert "\n" not in str(result.reason)


def test_quote_is_proven_by_the_missing_lineage(running: Session, tiny_source: str) -> None:
    """Without quote, the server records transform's input as extract's result; with it,
    Prefect does not look, so nothing is recorded and the quote check passes."""
    from strategies.quote import _not_introspected

    traced = run_flow(et_flow("et-lineage"), source=tiny_source, shape="records")
    assert traced.task_inputs("transform")["data"], "baseline must trace its input"
    with pytest.raises(NotApplied, match="still traced transform's input"):
        _not_introspected(traced, traced.output())
    quoted = run_case(Case("quote", None, "records", tiny_source), running.context)
    assert quoted.status == "ok" and "not traced" in quoted.evidence


def _logged_retries(caplog: pytest.LogCaptureFixture) -> int:
    """The retries Prefect's client logged (a real server may answer 503 under load)."""
    return sum(record.name == "prefect.client"
               and record.getMessage().startswith("Received response with retryable")
               for record in caplog.records)


def test_client_retries_during_a_flow_are_counted(running: Session,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The witness counts Prefect's client retry messages (how a 2 s sleep is detected),
    and nothing else: a failing run's error logs are no retries."""
    import logging

    from prefect import flow

    @flow(name="retry-witness")
    def noisy() -> int:
        logging.getLogger("prefect.client").debug(
            "Received response with retryable status code 503. Another attempt will be made "
            "in 2.1s. This is attempt 1/6.")
        return 1

    caplog.set_level(logging.DEBUG, logger="prefect.client")
    counted = run_flow(noisy).server_retries
    assert counted == _logged_retries(caplog) and counted >= 1
    caplog.clear()
    failed = run_flow(et_flow("et-quiet"), source="missing.parquet")
    assert failed.state.is_failed() and failed.server_retries == _logged_retries(caplog)


@pytest.fixture(scope="module")
def odd_source(tmp_path_factory: pytest.TempPathFactory, tiny_source: str) -> str:
    """2,000 rows whose total_amount is, in turn, zero, negative and null, with zero and
    nonzero tips: valid input that divides by zero and by null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(tiny_source).slice(0, 2000)
    odd = [0.0, -12.5, None, 0.0, None]
    totals = [odd[i % 5] if i % 2 else value
              for i, value in enumerate(table.column("total_amount").to_pylist())]
    tips = [0.0 if i % 4 == 3 else tip for i, tip in enumerate(table["tip_amount"].to_pylist())]
    table = table.set_column(table.schema.get_field_index("total_amount"), "total_amount",
                             pa.array(totals, pa.float64()))
    table = table.set_column(table.schema.get_field_index("tip_amount"), "tip_amount",
                             pa.array(tips, pa.float64()))
    path = tmp_path_factory.mktemp("odd") / "odd.parquet"
    pq.write_table(table, path, row_group_size=250)
    return str(path)


@pytest.mark.slow
def test_odd_totals_are_computed_alike_by_every_strategy(running: Session,
                                                         odd_source: str) -> None:
    """Zero, negative and null totals give inf, negative and NaN fractions (pandas'
    division), and every strategy and shape reproduces floor's output exactly."""
    import numpy as np

    from strategies import et

    floor = et.transform(et.extract(odd_source))["tip_fraction"]
    assert np.isinf(floor).any() and floor.isna().any() and (floor < 0).any()
    reference = run_case(Case("floor", None, "dataframe", odd_source), running.context)
    assert reference.status == "ok"
    for name, case in _all_cases(odd_source, running).items():
        if "-w" in str(case.variant):  # the scale-out clusters run dask-address's code
            continue
        result = run_case(case, running.context, reference.checksum)
        if name.startswith("compressed/json") or "opaque-dataframe" in name:
            assert result.status == "not_applied"  # nothing persisted; nothing to skip
            continue
        assert result.status == "ok", f"{name}: {result.reason}"
        assert result.checksum == reference.checksum


def test_parallel_cases_record_runner_workers_and_movement(running: Session,
                                                          tiny_source: str) -> None:
    parallel = STRATEGIES["parallel"]
    found = {c.variant: parallel.describe(c, running.context)
             for c in _all_cases(tiny_source, running).values() if c.strategy == "parallel"}
    assert found["dask-w1"] == {"runner": "dask", "workers": 1, "movement": "frames",
                                "cluster": found["dask-w1"]["cluster"]}
    assert "dask scheduler + 1 dask worker" in found["dask-w1"]["cluster"]
    assert found["dask-w2-paths"]["workers"] == 2
    assert found["dask-w2-paths"]["movement"] == "paths"
    assert found["threads"]["runner"] == "threads"
    assert found["dask-address"]["workers"] == 2  # the harness's own 'local' cluster


def test_a_session_starts_only_the_services_of_its_selected_cases() -> None:
    options = SessionOptions(scale_out=(1, 2, 4), engines=("dask",))

    def selected(*names: str) -> list[BenchCase]:
        return [BenchCase(*name.split("/"), "dataframe", "tiny") if "/" in name
                else BenchCase(name, None, "dataframe", "tiny") for name in names]

    chosen = services_for(options, selected("parallel/dask-w2", "parallel/dask-w2-paths",
                                            "parallel/threads"))
    assert (chosen.engines, chosen.scale_out, chosen.s3) == (("dask",), (2,), False)
    assert services_for(options, selected("parallel/threads", "parallel/dask")).scale_out == ()
    assert services_for(SessionOptions(), selected("baseline", "s3")) == SessionOptions()
    assert not services_for(SessionOptions(), selected("baseline", "cached/warm")).s3


def test_cluster_workers_memory_counts_in_the_case(running: Session, tiny_source: str) -> None:
    """The scale-out cluster's processes are outside the measured process's tree; their
    RSS is added, so the start RSS includes the whole cluster."""
    from bench.measure import measure_memory
    from bench.services.processes import trees_rss

    case = Case("parallel", "dask-w2", "dataframe", tiny_source)
    outside = STRATEGIES["parallel"].outside_processes(case, running.context)
    cluster = trees_rss(outside)
    assert len(outside) == 2 and cluster > 100e6  # a scheduler and two workers
    reference = run_case(Case("floor", None, "dataframe", tiny_source), running.context)
    alone = measure_memory(case, running.context, False, str(reference.checksum), 0.02, 120)
    counted = measure_memory(case, running.context, False, str(reference.checksum), 0.02,
                             120, outside=outside)
    assert alone.status == counted.status == "ok", (alone.reason, counted.reason)
    assert counted.start_rss_bytes - alone.start_rss_bytes > 0.8 * cluster
