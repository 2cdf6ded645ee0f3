"""The parallel strategy's proof that its task runs ran on the runner's workers: each
runner's records are read correctly, a task run missing from them or found elsewhere is
caught, records from before a run are not evidence, and what travels with the flow to every
task stays small. (That every parallel case is ok on real runners: test_strategies.py and
test_ray.py.)"""

from __future__ import annotations

import os
import pickle
from types import SimpleNamespace

import pytest
from prefect.task_runners import ThreadPoolTaskRunner

from bench.session import Session
from strategies import et
from strategies.base import NotApplied
from strategies.flowrun import Finished, FlowRun, run_flow
from strategies.parallel import et_parallel
from strategies.runners import (
    Ran,
    dask_ran,
    on_workers,
    processes_ran,
    ray_ran,
    runner_for,
    task_stream,
    threads_ran,
)

FRAMES = {"extract_part": 2, "transform_part": 2}


def _finished_on(thread: str, process: int | None = None) -> FlowRun:
    """A flow run whose task runs all finished on ``thread`` of ``process`` (default: this)."""
    pid = os.getpid() if process is None else process
    return FlowRun(None, finished=[Finished(f"{task}-{i}", task, "Completed", pid, thread)  # type: ignore[arg-type]
                                   for task in FRAMES for i in range(2)])


def _ray_event(task_id: bytes, name: str = "", worker: bytes = b"", pid: int = 0) -> object:
    return SimpleNamespace(task_id=task_id, task_info=SimpleNamespace(name=name),
                           state_updates=SimpleNamespace(worker_id=worker, worker_pid=pid))


def test_each_runners_records_prove_where_task_runs_ran() -> None:
    threads = threads_ran(_finished_on("ThreadPoolExecutor-0_1"))
    assert on_workers("threads", FRAMES, threads) == "4 task runs on 1 distinct threads workers"
    pool = processes_ran({"id1": "extract_part-a1b", "id2": "extract_part-c2d",
                          "id3": "transform_part-e3f", "id4": "transform_part-0a1"})
    assert on_workers("processes", FRAMES, pool) == "4 task runs on processes workers"
    stream = dask_ran([{"key": f"{task}-{i:032x}", "worker": f"tcp://127.0.0.1:{i}",
                        "status": "OK"} for task in FRAMES for i in range(2)])
    assert on_workers("dask", FRAMES, stream) == "4 task runs on 2 distinct dask workers"
    events = []  # a task's name and its worker arrive in separate events
    for i, task in enumerate(["extract_part", "extract_part", "transform_part", "transform_part"]):
        events += [_ray_event(bytes([i]), name=task),
                   _ray_event(bytes([i]), worker=b"w%d" % (i % 2), pid=1000 + i % 2)]
    assert on_workers("ray", FRAMES, ray_ran(events), "Ray's task events") \
        == "4 task runs on 2 distinct ray workers (from Ray's task events)"


def test_tasks_not_on_the_runners_workers_are_not_applied() -> None:
    """For each kind of runner, records that miss task runs or place them elsewhere."""
    on_main = threads_ran(_finished_on("MainThread"))
    with pytest.raises(NotApplied, match=r"^4 of 4 task runs did not run on threads workers "
                                         r"\(ran on pid\d+:MainThread\)$"):
        on_workers("threads", FRAMES, on_main)
    elsewhere = threads_ran(_finished_on("Thread-1", 1))
    with pytest.raises(NotApplied, match="4 of 4 task runs did not run on threads workers"):
        on_workers("threads", FRAMES, elsewhere)
    with pytest.raises(NotApplied, match=r"^3 of 4 task runs did not run on processes workers "
                                         r"\(no record of them in the pool's events\)$"):
        on_workers("processes", FRAMES, processes_ran({"id1": "extract_part-a1b"}),
                   "the pool's events")
    one_task_twice = dask_ran([{"key": "extract_part-" + "0" * 32, "worker": "tcp://w:1"}] * 2)
    with pytest.raises(NotApplied, match="3 of 4 task runs did not run on dask workers"):
        on_workers("dask", FRAMES, one_task_twice)
    failed = dask_ran([{"key": f"{t}-{i:032x}", "worker": "tcp://w:1", "status": "error"}
                       for t in FRAMES for i in range(2)])
    with pytest.raises(NotApplied, match="4 of 4 task runs did not run on dask workers"):
        on_workers("dask", FRAMES, failed)
    no_worker = ray_ran([_ray_event(bytes([i]), name=t) for i, t in enumerate(FRAMES)])
    with pytest.raises(NotApplied, match="4 of 4 task runs did not run on ray workers"):
        on_workers("ray", FRAMES, no_worker)
    in_driver = ray_ran([_ray_event(b"1", "extract_part", b"w", os.getpid())])
    with pytest.raises(NotApplied, match="did not run on ray workers"):
        on_workers("ray", {"extract_part": 1}, in_driver)
    assert on_workers("dask", {"extract_part": 1}, [Ran("extract_part", "k", "tcp://w:1")])
    other_work = dask_ran([{"key": f"extract_part-{i:032x}", "worker": "tcp://w:1"}
                           for i in range(3)])  # another flow's runs on a shared scheduler
    with pytest.raises(NotApplied, match="holds 3 runs of the flow's tasks where it made 2"):
        on_workers("dask", {"extract_part": 2}, other_work)


@pytest.mark.parametrize("variant", ["processes", "dask", "dask-address"])
def test_a_flow_that_did_not_use_the_runner_is_not_applied(
        variant: str, running: Session, tiny_source: str) -> None:
    """The guide's flow run on threads instead: the runner's workers never saw its tasks."""
    witness = runner_for(variant, running.context).witness()
    witness.mark()
    run = run_flow(et_parallel.with_options(task_runner=ThreadPoolTaskRunner(2)),
                   source=tiny_source)
    parts = et.partitions(tiny_source)
    kind = "dask" if variant.startswith("dask") else variant
    with pytest.raises(NotApplied, match=f"^{2 * parts} of {2 * parts} task runs did not run "
                                         f"on {kind} workers"):
        witness.proof(run, {"extract_part": parts, "transform_part": parts})


def test_records_from_before_a_run_are_not_evidence(running: Session) -> None:
    witness = runner_for("dask", running.context).witness()
    stream = witness.stream  # type: ignore[attr-defined]
    stream.transition("extract_part-" + "0" * 32, "processing", "memory",
                      startstops=({"action": "compute", "start": 0, "stop": 1},),
                      worker="tcp://127.0.0.1:1", status="OK")
    run = FlowRun(None)  # type: ignore[arg-type]
    assert [r.task for r in witness.ran(run)] == ["extract_part"]
    witness.mark()
    assert witness.ran(run) == []


def test_what_travels_with_the_flow_to_each_task_pickles_empty(running: Session) -> None:
    """The runner (with the witness's listeners) is pickled into every task's context."""
    processes = runner_for("processes", running.context).witness()
    events = processes.events  # type: ignore[attr-defined]
    events.task_runs.update({f"id{i}": f"extract_part-{i}" for i in range(1000)})
    assert pickle.loads(pickle.dumps(events)).task_runs == {}
    stream = task_stream()
    stream.buffer.extend({"key": i} for i in range(1000))
    assert len(pickle.loads(pickle.dumps(stream)).buffer) == 0
