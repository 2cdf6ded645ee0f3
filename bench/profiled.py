"""Where a case's time and memory go: two more runs of it, untimed, before its timed rounds
(they are its warm-up).

- Time: an in-process sampler (:class:`Sampler`) reads every thread's stack every few
  milliseconds (``sys._current_frames``) and gives each tick's wall time to a category
  (``bench.categories``) of what the flow's thread was doing; while that thread waits on a
  task runner, the tick is shared among the threads running tasks. Work done in other
  processes (Dask, Ray, a process pool) shows as ``task_runner``: this process waits on it.
- Memory: memray tracks the allocations of one run in this process and reads, at the run's
  high-water mark, the bytes still held and where each was allocated; the same categories
  sort them. Allocations in other processes are not seen.

Both runs are checked like any run (``Prepared.verify``), so a breakdown always describes a
run that did what the case claims. The categories are ``runfile.TIME_CATEGORIES``.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.categories import Frame, category, runs_a_task
from bench.limits import rearm
from bench.runner import RunResult, checked, failure, one_line
from runfile import TIME_CATEGORIES
from strategies.base import Case, Prepared

SAMPLE_INTERVAL_S = 0.005
TRACKED_SHAPES = ("dataframe",)
IN_PROCESS_RUNNERS = (None, "threads")  # task runners whose tasks run in this process
TRACKING_SLOWDOWN = 3.0  # memray's tracking made runs up to this much slower (measured)


def untracked(shape: str, runner: str | None, one_run_s: float | None = None,
              timeout: float | None = None) -> str | None:
    """Why a case's memory is not broken down (None: it is)."""
    if shape not in TRACKED_SHAPES:
        return ("memory not broken down: this shape's rows are small Python objects, which "
                "memray sees only when it traces Python's allocator (over ten times slower)")
    if runner not in IN_PROCESS_RUNNERS:
        return (f"memory not broken down: its tasks run in {runner} worker processes, which "
                "memray does not track from the flow's process")
    if timeout and one_run_s and one_run_s * TRACKING_SLOWDOWN > timeout:
        return (f"memory not broken down: one run took {one_run_s:.0f} s, and tracked by "
                f"memray (up to {TRACKING_SLOWDOWN:g}x slower) it could pass the "
                f"{timeout:g} s limit")
    return None


def _stack(frame: Any) -> list[Frame]:
    stack = []
    while frame is not None:
        stack.append((frame.f_globals.get("__name__", ""), frame.f_code.co_name))
        frame = frame.f_back
    return stack


class Sampler:
    """Samples every thread while it is active (a context manager) and gives each tick's
    wall time to a category of what ``thread_id``'s thread (the flow's) was doing."""

    def __init__(self, thread_id: int | None = None,
                 interval: float = SAMPLE_INTERVAL_S) -> None:
        self.thread_id = thread_id or threading.get_ident()
        self.interval = interval
        self.seconds: Counter[str] = Counter()
        self.samples = 0
        self._last_categories: tuple[str, ...] = ("other",)  # of the last tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._base = _stack(sys._getframe())[-1]  # the flow thread's outermost frame
        self._last = time.perf_counter()
        try:
            self._thread.start()
        except BaseException:
            self._stop.set()  # a thread that did start stops at its first wait
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._tick(self._last_categories, time.perf_counter())

    def _loop(self) -> None:
        """A first sample at once (a run shorter than the interval gets one), then one per
        interval until stopped."""
        while True:
            frames = sys._current_frames()
            now = time.perf_counter()
            self._tick(self._categories(frames), now)
            if self._stop.wait(self.interval):
                return

    def _tick(self, categories: tuple[str, ...], now: float) -> None:
        """Give the time since the last tick to ``categories``, shared equally."""
        elapsed, self._last = now - self._last, now
        for name in categories:
            self.seconds[name] += elapsed / len(categories)
        self._last_categories = categories
        self.samples += 1

    def _categories(self, frames: dict[int, Any]) -> tuple[str, ...]:
        main = frames.get(self.thread_id)
        if main is None:
            return ("other",)
        stack = _stack(main)
        if stack[-1] != self._base:  # cut short: a generator resumed from C code (pandas'
            return self._last_categories  # iterators) has no caller: as the last tick
        own = category(stack)
        if own != "task_runner":
            return (own,)
        workers = [_stack(frame) for ident, frame in frames.items()
                   if ident not in (self.thread_id, threading.get_ident())]
        running = [category(stack) for stack in workers if runs_a_task(stack)]
        return tuple(running) or (own,)


@dataclass(frozen=True)
class Breakdown:
    """Seconds per category of the sampled run and bytes per category held at the tracked
    run's peak; None where not measured, and ``note`` says why."""

    seconds: dict[str, float] | None = None
    held_bytes: dict[str, int] | None = None
    note: str | None = None


def profiled_runs(case: Case, prepared: Prepared, reference: str | None,
                  between: Callable[[], None], timeout: float | None = None,
                  untracked_reason: str | None = None) -> tuple[RunResult, Breakdown]:
    """The profiled runs of a prepared case, each checked like a timed round: first one
    tracked by memray (it also warms the case up; none when ``untracked_reason`` says why
    not), then, after ``between()`` (reset and settle, as between rounds), one sampled.

    Returns the sampled run's result (its seconds, or the case's first problem) and the
    breakdowns. A problem of the profilers themselves (memray failing to start or to read
    its capture) is a note on the breakdown, never the case's status."""
    held, notes = None, [untracked_reason] if untracked_reason else []
    try:
        if not untracked_reason:
            raw, held, problem = memory_breakdown(prepared.run, timeout)
            notes += [problem] if problem else []
            result = checked(case, prepared, raw, reference, None)
            if result.status != "ok":
                return result, Breakdown(note=f"the tracked run was {result.status}")
            rearm(timeout)
            between()
        result, seconds = _sampled(case, prepared, reference)
        if result.server_retries:  # ~2 s of a client's retry sleep in it: once more
            rearm(timeout)
            between()
            result, seconds = _sampled(case, prepared, reference)
    except Exception as err:  # from the case's own run or its checks
        return failure(case, err), Breakdown(note=f"a profiled run failed: {one_line(err)}")
    if result.status != "ok":
        return result, Breakdown(held_bytes=held, note=f"the sampled run was {result.status}")
    if result.server_retries:
        seconds, notes = None, [*notes, "time not broken down: both sampled runs met a "
                                        "request Prefect's client retried (a ~2 s sleep)"]
    return result, Breakdown(seconds, held, "; ".join(notes) or None)


def _sampled(case: Case, prepared: Prepared, reference: str | None
             ) -> tuple[RunResult, dict[str, float]]:
    started = time.perf_counter()
    raw, seconds = time_breakdown(prepared.run)
    result = checked(case, prepared, raw, reference, time.perf_counter() - started)
    result.server_retries = getattr(raw, "server_retries", 0)
    return result, seconds


def time_breakdown(run: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """``run()`` under a :class:`Sampler`: its result and seconds per category."""
    with Sampler() as sampler:
        result = run()
    return result, _ordered(sampler.seconds, float)


def memory_breakdown(run: Callable[[], Any], timeout: float | None = None
                     ) -> tuple[Any, dict[str, int] | None, str | None]:
    """``run()`` under memray: its result, the bytes held at the run's high-water mark per
    category of where they were allocated, and what went wrong with memray (then the
    bytes are None; ``run()``'s own exceptions propagate). The time limit restarts after
    the run, before the capture is read.

    During the run Arrow allocates from the system allocator (memray sees malloc; Arrow's
    own mimalloc pool reuses memory it mapped earlier, unseen)."""
    import memray
    import pyarrow as pa

    with tempfile.TemporaryDirectory(prefix="bench-memray-") as folder:
        capture = Path(folder) / "run.bin"
        pool, tracking = pa.default_memory_pool(), None
        try:
            tracker = memray.Tracker(capture, native_traces=False,
                                     file_format=memray.FileFormat.ALL_ALLOCATIONS)
            pa.set_memory_pool(pa.system_memory_pool())
            with contextlib.redirect_stdout(io.StringIO()):  # its notice about greenlet
                tracking = tracker.__enter__()
        except Exception as err:
            pa.set_memory_pool(pool)
            return run(), None, f"memory not broken down: memray did not start ({one_line(err)})"
        try:
            result = run()
        finally:
            if tracking is not None:
                tracker.__exit__(None, None, None)
            pa.set_memory_pool(pool)
        rearm(timeout)
        try:
            with memray.FileReader(capture) as reader:
                return result, held_at_peak(reader), None
        except Exception as err:
            return result, None, f"memory not broken down: its capture: {one_line(err)}"


_FREES = frozenset({1, 5, 15})  # memray.AllocatorType: PYMALLOC_FREE, FREE, MUNMAP


def held_at_peak(reader: Any, modules: dict[str, str] | None = None) -> dict[str, int]:
    """Bytes per category of a memray capture's allocations held at its high-water mark
    (``modules``: module names by file, default those imported here)."""
    modules = _modules_by_file() if modules is None else modules
    by_stack: dict[int, tuple[str | None, bool]] = {}

    def seen(record: Any) -> tuple[str | None, bool]:
        """The category of a record's stack (None: no Python frames) and whether that
        stack runs a task (a thread of the flow's work)."""
        if record.stack_id not in by_stack:
            stack = [(modules.get(filename, ""), function)
                     for function, filename, _ in record.stack_trace()]
            by_stack[record.stack_id] = ((category(stack), runs_a_task(stack)) if stack
                                         else (None, False))
        return by_stack[record.stack_id]

    at_peak = list(reader.get_high_watermark_allocation_records(merge_threads=False))
    native = {record.tid: Counter() for record in at_peak if seen(record)[0] is None}
    if native:  # what the flow's threads were doing when each of those threads allocated
        _attribute_native(reader, seen, native)
    held: Counter[str] = Counter()
    for record in at_peak:
        found = seen(record)[0]
        shares = Counter({found: 1}) if found else native[record.tid] or Counter(other=1)
        total = sum(shares.values())
        for name, share in shares.items():
            held[name] += record.size * share / total
    return _ordered(held, int)


def _attribute_native(reader: Any, seen: Callable[[Any], tuple[str | None, bool]],
                      native: dict[int, Counter[str]]) -> None:
    """For each thread in ``native``, the bytes its allocations without Python frames made
    over the run, by the category current at each: that of the last allocation with
    Python frames made by a thread running a task, or by the flow's thread while it was
    not waiting on a task runner (one pass over every allocation; Prefect's background
    threads do not count)."""
    main, current = reader.metadata.main_thread_id, "other"
    for record in reader.get_allocation_records():
        if record.allocator in _FREES:
            continue
        found, runs_a_task = seen(record)
        if found is None:
            if record.tid in native:
                native[record.tid][current] += record.size
        elif runs_a_task or (record.tid == main and found != "task_runner"):
            current = found


def _modules_by_file() -> dict[str, str]:
    return {str(getattr(module, "__file__", None)): name
            for name, module in list(sys.modules.items())
            if getattr(module, "__file__", None)}


def _ordered(values: Counter[str], kind: type) -> dict[str, Any]:
    return {name: kind(round(values[name], 4)) if kind is float else kind(values[name])
            for name in TIME_CATEGORIES}
