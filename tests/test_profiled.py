"""Where the time and memory go (bench.profiled): the categories of stacks, the sampler's
attribution across threads, and memray's bytes at the peak by where they were allocated."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench.categories import category
from bench.profiled import (
    Sampler,
    held_at_peak,
    memory_breakdown,
    profiled_runs,
    time_breakdown,
)
from runfile import TIME_CATEGORIES
from strategies.base import Case, Outcome, Prepared

ENGINE = ("prefect.task_engine", "call_task_fn")
HASHING = ("prefect.cache_policies", "compute_key")
WORK = ("strategies.et", "transform")


def test_a_stack_takes_its_innermost_categorised_frame() -> None:  # innermost first
    assert category([WORK, ENGINE, ("prefect.flow_engine", "run_flow")]) == "work"
    assert category([("pandas.core.frame", "__setitem__"), WORK, ENGINE]) == "work"
    assert category([("prefect.context", "get"), ("prefect.utilities.engine",
                     "get_state_for_result"), ("prefect.utilities.collections",
                     "visit_collection"), ENGINE]) == "introspection"
    assert category([("cloudpickle", "dumps"), ("prefect.serializers", "dumps"),
                     ("prefect.results", "persist_result_record"), ENGINE]) == "storage"
    assert category([("prefect.futures", "wait"), ("prefect.futures",
                     "resolve_futures_to_states"), ENGINE]) == "task_runner"


def test_cache_key_hashing_claims_the_serializing_it_does() -> None:
    stack = [("json", "dumps"), ("prefect.serializers", "dumps"),
             ("prefect.utilities.hashing", "hash_objects"), HASHING, ENGINE]
    assert category(stack) == "hashing"


def test_the_rest_of_prefect_is_orchestration_and_the_rest_other() -> None:
    assert category([("httpx", "send"), ("prefect.client.orchestration", "set_state"),
                     ENGINE]) == "orchestration"
    assert category([("threading", "wait"), ("bench.measure", "target")]) == "other"
    assert category([]) == "other"


def test_a_disk_task_writes_as_storage_and_extracts_as_work() -> None:
    task = ("strategies.disk", "extract_to_disk")
    assert category([("pandas.io.parquet", "to_parquet"), task, ENGINE]) == "storage"
    assert category([("pandas.io.parquet", "read_parquet"), ("strategies.et", "extract"),
                     task, ENGINE]) == "work"


def _in_module(module: str, source: str, **names: Any) -> dict[str, Any]:
    """Functions defined as if in ``module`` (their frames carry its name)."""
    namespace = {"__name__": module, **names}
    exec(source, namespace)
    return namespace


BUSY = "def busy(seconds):\n    end = time.perf_counter() + seconds\n" \
       "    while time.perf_counter() < end:\n        pass\n"


def test_the_sampler_gives_each_tick_to_what_the_flow_thread_was_doing() -> None:
    work = _in_module("strategies.et", BUSY, time=time)["busy"]
    hashing = _in_module("prefect.cache_policies", BUSY, time=time)["busy"]

    def run() -> str:
        work(0.3)
        hashing(0.3)
        return "done"

    started = time.perf_counter()
    result, seconds = time_breakdown(run)
    elapsed = time.perf_counter() - started
    assert result == "done"
    assert list(seconds) == list(TIME_CATEGORIES)
    assert seconds["work"] > 0 and seconds["hashing"] > 0
    assert seconds["introspection"] == seconds["task_runner"] == 0
    assert sum(seconds.values()) <= elapsed  # the run's wall time, shared out


def test_while_the_flow_thread_waits_on_a_task_runner_the_task_threads_get_the_time() -> None:
    base = ("bench.measure", "run")
    sampler = Sampler(thread_id=1)
    sampler._base = base
    waiting = _frames(("threading", "wait"), ("prefect.futures", "wait"), base)
    task = _frames(("pandas.io.parquet", "read"), WORK, ENGINE, ("threading", "run"))
    hashing = _frames(("json", "dumps"), HASHING, ENGINE, ("threading", "run"))
    idle = _frames(("threading", "wait"), ("concurrent.futures.thread", "_worker"))
    assert sampler._categories({1: waiting, 2: task, 3: hashing, 4: idle}) == \
        ("work", "hashing")
    assert sampler._categories({1: waiting, 4: idle}) == ("task_runner",)
    sampler._last = 0.0
    sampler._tick(("work", "hashing"), 0.5)
    assert sampler.seconds == {"work": 0.25, "hashing": 0.25}


@pytest.fixture
def module_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Any]:
    """Imports source as a module of the given name from a file (memray names a frame
    by its file), registered in sys.modules for the test."""

    def make(name: str, source: str) -> Any:
        path = tmp_path / f"{name.replace('.', '_')}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return make


def test_memray_bytes_at_the_peak_by_where_they_were_allocated(
        tmp_path: Path, module_file: Callable[[str, str], Any]) -> None:
    """Arrow's reader threads allocate without Python frames: their bytes go to what the
    flow's thread was doing (reading, in the workload); a cache-key copy held at the peak
    is hashing's."""
    path = tmp_path / "frame.parquet"
    pd.DataFrame({"x": np.arange(2_000_000, dtype="float64"),
                  "y": np.arange(2_000_000, dtype="int64")}).to_parquet(path)
    extract = module_file("strategies.et.testing", "import pandas as pd\n"
                          "def extract(p):\n    return pd.read_parquet(p)\n").extract
    digest = module_file("prefect.utilities.hashing.testing",
                         "def hash_objects(frame):\n    return frame.to_numpy().copy()\n")
    held_copy: list[Any] = []

    def run() -> int:
        frame = extract(path)
        held_copy.append(digest.hash_objects(frame))
        return len(frame)

    rows, held, problem = memory_breakdown(run)
    assert rows == 2_000_000 and problem is None and held is not None
    frame_bytes = 2_000_000 * 16
    assert held["work"] >= 0.9 * frame_bytes, held
    assert held["hashing"] >= 0.9 * frame_bytes, held
    assert held["other"] < 0.1 * frame_bytes, held


def _frames(*stack: tuple[str, str]) -> Any:
    """A fake frame chain, innermost first, as ``sys._current_frames`` gives it."""
    frame = None
    for module, function in reversed(stack):
        frame = SimpleNamespace(f_globals={"__name__": module},
                                f_code=SimpleNamespace(co_name=function), f_back=frame)
    return frame


def test_a_stack_cut_short_keeps_the_last_ticks_category() -> None:
    """A generator resumed from C code (seen in pandas' ``to_dict``) can show a frame chain
    without its callers: such a tick goes where the last one went, not to ``other``."""
    base = ("bench.measure", "run")
    sampler = Sampler(thread_id=1)
    sampler._base = base
    whole = _frames(("pandas.core.frame", "to_dict"), WORK, ENGINE, base)
    assert sampler._categories({1: whole}) == ("work",)
    sampler._last_categories = ("work",)
    cut = _frames(("pandas.core.arrays.datetimes", "_iter_convert_chunk"),
                  ("pandas.core.arrays.datetimelike", "__iter__"))
    assert sampler._categories({1: cut}) == ("work",)


def test_a_profiler_that_fails_is_a_note_never_the_cases_status(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import memray

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no tracking here")

    monkeypatch.setattr(memray, "Tracker", broken)
    case = Case("baseline", None, "dataframe", "x.parquet")
    frame = pd.DataFrame({"x": [1.0]})
    prepared = Prepared(run=lambda: frame,
                        verify=lambda raw: Outcome(output=raw, stored_bytes=0, evidence="ran"))
    result, found = profiled_runs(case, prepared, None, between=lambda: None)
    assert result.status == "ok"
    assert found.held_bytes is None and found.seconds is not None
    assert "memray did not start (RuntimeError: no tracking here)" in (found.note or "")


def test_bytes_of_threads_without_python_frames_follow_the_flows_threads() -> None:
    """Each allocation of a thread without Python frames takes the category current when
    it was made; a thread with some frame-less records still drives the attribution."""
    main, task, arrow = 1, 2, 3
    work = ("strategies.et", "extract", "/x/et.py")
    storage = ("prefect.results", "persist_result_record", "/x/results.py")
    engine = ("prefect.task_engine", "run_task_sync", "/x/task_engine.py")
    stacks = {0: [], 1: [work, engine], 2: [storage, engine]}
    record = lambda tid, stack, size: SimpleNamespace(  # noqa: E731
        tid=tid, stack_id=stack, size=size, allocator=6,
        stack_trace=lambda: [(f, path, 1) for _, f, path in stacks[stack]])
    events = [record(task, 0, 1), record(task, 1, 10), record(arrow, 0, 100),
              record(main, 2, 10), record(arrow, 0, 1000)]
    at_peak = [record(arrow, 0, 1100), record(task, 1, 10), record(task, 0, 1)]
    reader = SimpleNamespace(
        metadata=SimpleNamespace(main_thread_id=main),
        get_allocation_records=lambda: iter(events),
        get_high_watermark_allocation_records=lambda merge_threads: iter(at_peak))
    modules = {path: module for module, _, path in (work, storage, engine)}
    held = held_at_peak(reader, modules)
    assert (held["work"], held["storage"], held["other"]) == (100 + 10, 1000, 1), held
