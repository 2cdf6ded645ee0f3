"""Each lever proves itself: with the lever the case is ok, and the same flow without it
is not_applied, with a reason saying what Prefect did instead. Combinations carry every
part's proof, and levers that change the same thing cannot be combined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.runner import run_case
from bench.session import Session
from strategies import STRATEGIES, et
from strategies.base import Case, CaseFailed, NotApplied
from strategies.compressed import SERIALIZERS
from strategies.flowrun import run_flow
from strategies.levers import Lever, compose, watching
from strategies.nocache import NOCACHE
from strategies.offload import OFFLOAD
from strategies.opaque import OPAQUE
from strategies.quote import QUOTE
from strategies.tasks import et_flow


def _without(lever: Lever, case: Case, running: Session, **options: Any) -> str:
    """The reason ``lever``'s proof gives on the guide's flow run without the lever
    (with ``options`` on both tasks), its witnesses watching."""
    change = lever.apply(case, running.context)
    with watching(change.spies):
        run = run_flow(et_flow("et-without-the-lever", **options), source=case.source,
                       shape=case.shape)
    with pytest.raises(NotApplied) as refused:
        change.prove(run, run.output())
    return str(refused.value)


def test_nocache_without_the_lever_computes_cache_keys(running: Session,
                                                       tiny_source: str) -> None:
    case = Case("nocache", None, "dataframe", tiny_source)
    assert "Prefect computed a cache key for 2 of 2 task runs" in _without(NOCACHE, case,
                                                                           running)


def test_opaque_without_the_lever_walks_into_the_records(running: Session,
                                                         tiny_source: str) -> None:
    case = Case("opaque", None, "records", tiny_source)
    assert "it walked into transform's 10,000 records" in _without(OPAQUE, case, running)


def test_opaque_on_a_dataframe_has_nothing_to_skip(running: Session, tiny_source: str) -> None:
    result = run_case(Case("opaque", None, "dataframe", tiny_source), running.context)
    assert result.status == "not_applied" and "nothing to skip" in str(result.reason)


def test_offload_without_the_lever_keeps_results_in_memory(running: Session,
                                                           tiny_source: str,
                                                           tmp_path: Path) -> None:
    case = Case("offload", None, "dataframe", tiny_source)
    reason = _without(OFFLOAD, case, running, persist_result=True, result_storage=tmp_path)
    assert "Prefect kept 2 of 2 persisted results in its in-memory cache" in reason


def test_a_serializer_without_the_lever_is_prefects_default(running: Session,
                                                            tiny_source: str,
                                                            tmp_path: Path) -> None:
    case = Case("compressed", "zlib", "dataframe", tiny_source)
    reason = _without(SERIALIZERS["zlib"], case, running, persist_result=True,
                      result_storage=tmp_path)
    assert "with the serializer {'type': 'pickle'" in reason and "'zlib'" in reason


def test_a_combination_proves_every_part(running: Session, tiny_source: str) -> None:
    for shape in ("dataframe", "records"):
        result = run_case(Case("combined", "nocache+quote", shape, tiny_source),
                          running.context)
        assert result.status == "ok", result.reason
        assert "Prefect computed no cache key" in result.evidence
        assert "transform's input not traced upstream" in result.evidence


def test_a_combination_fails_where_one_part_does_not_take_effect(running: Session,
                                                                tiny_source: str) -> None:
    prepared = compose((NOCACHE, OPAQUE), Case("combined", "nocache+opaque", "dataframe",
                                               tiny_source), running.context, "et-both")
    with pytest.raises(NotApplied, match="nothing to skip"):
        prepared.verify(prepared.run())


def test_levers_that_change_the_same_thing_are_not_combined(tiny_source: str) -> None:
    case = Case("combined", "quote+opaque", "records", tiny_source)
    with pytest.raises(CaseFailed, match="more than one of them changes transform's"):
        compose((QUOTE, OPAQUE), case, _context(), "et-clash")


def test_each_combined_variant_runs_where_all_its_levers_do() -> None:
    combined = STRATEGIES["combined"]
    assert combined.supports("nocache+quote", "records")
    assert not combined.supports("nocache+disk", "records")
    assert not combined.supports("parquet+offload", "records")
    assert set(combined.variants) >= {"nocache+quote", "nocache+disk", "parquet+offload"}
    assert combined.shapes == et.SHAPES


def _context() -> Any:
    from strategies.base import Context

    return Context(Path("/nonexistent"))


def test_baseline_proves_prefects_defaults_are_in_force(running: Session,
                                                        tiny_source: str) -> None:
    from prefect.cache_policies import NO_CACHE

    from strategies.baseline import Defaults

    case = Case("baseline", None, "dataframe", tiny_source)
    reason = _without(Defaults(), case, running, cache_policy=NO_CACHE)
    assert "its default cache policy is not in force" in reason
