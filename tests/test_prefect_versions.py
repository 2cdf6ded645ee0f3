"""The harness on older Prefect 3 releases: what a release lacks makes the case that needs
it ``not_applied``, naming the version, never an import error that stops the run. Each
test removes what an older release lacks from the installed one (no package install)."""

from __future__ import annotations

import prefect
import pytest
from prefect.task_runners import ProcessPoolTaskRunner

from bench import session
from bench.services import prefect_server
from strategies import opaque, runners
from strategies.base import Case, Context, NotApplied


def test_a_process_pool_that_forwards_no_events_is_not_applied_before_the_run(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Before Prefect 3.6.20 nothing would show where the task runs ran."""
    monkeypatch.delattr(ProcessPoolTaskRunner, "subprocess_message_processor_factories",
                        raising=False)
    runner = runners.runner_for("processes", Context(tmp_path))
    with pytest.raises(NotApplied, match=rf"^Prefect {prefect.__version__}'s process pool "
                                         "forwards no task-run events"):
        runner.witness()


def test_without_an_opaque_annotation_opaque_is_not_applied(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Before Prefect 3.6.18."""
    monkeypatch.setattr(opaque, "opaque", None)
    case = Case("opaque", None, "records", "unused.parquet")
    with pytest.raises(NotApplied, match=rf"^Prefect {prefect.__version__} has no opaque"):
        opaque.OPAQUE.apply(case, Context(tmp_path))


def test_without_a_flow_heartbeat_the_session_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before Prefect 3.6.13 there is no heartbeat setting to turn off."""
    monkeypatch.setattr(session, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY", None)
    for keep in (False, True):
        with session.heartbeat(keep) as described:
            assert described == f"none (Prefect {prefect.__version__} has no flow heartbeat)"


def test_the_queue_services_lock_has_its_older_name_too() -> None:
    """Named ``_instance_lock`` before Prefect 3.8.8."""

    class Older:
        _instance_lock = object()

    class Newer(Older):
        _instance_cache_lock = object()

    assert prefect_server._instances_lock(Older) is Older._instance_lock
    assert prefect_server._instances_lock(Newer) is Newer._instance_cache_lock
