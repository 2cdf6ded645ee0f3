"""The one orchestration of a case, shared by ``pytest --benchmark-only`` (``bench.plugin``)
and ``python -m bench``: guard, memory run, timed rounds, record.

1. Guard (a profile's guarded sizes, e.g. xl's 10M rows): the case runs only where its
   memory runs at the smaller sizes predict that it fits (``bench.fits``); else it is
   recorded ``skipped`` (or with the status its smaller size had) without reading its data.
2. Memory run: the case once in a fresh process (``bench.measure.measure_memory``). A case
   that is not ``ok`` there is never run in this process.
3. Timed rounds (``bench.measure.time_case``) through the caller's :class:`Timer`.
   Their warm-up is the profiled runs (``bench.profiled``), untimed: where the time and
   the memory go. A case timed by its memory run alone is profiled too, unless one run of
   it is over 5x the budget (``bench.rounds``).
4. Record: a :class:`runfile.CaseRecord`, and one progress line saying how it went.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from bench import data
from bench.cases import RECORDS_ROWS, BenchCase, Profile
from bench.categories import count_as_work
from bench.fits import Observation, Prediction, predict
from bench.limits import CaseTimeout, raise_if_interrupted, time_limit
from bench.measure import Memory, Timer, between_rounds, measure_memory, time_case
from bench.profiled import Breakdown, profiled_runs, untracked
from bench.rounds import plan
from bench.runner import RunResult, floor_checksum, one_line
from reporting import breakdown
from reporting.units import whole_megabytes
from reporting.verdicts import REFERENCE_LABELS, reference_of
from runfile import CaseRecord, case_name
from strategies import STRATEGIES, workloads
from strategies.base import Case, Context, Prepared

MEMORY_INTERVAL_S = 0.02  # memory-profiler's sampling interval in the memory run
# A case whose memory run (a fresh process: first-run costs included) took more than
# WARM_UP_LIMIT times the profile's budget warms up on its first WARM_UP_ROWS rows.
WARM_UP_LIMIT = 2.0
WARM_UP_ROWS = 1_000


class ReferenceFailed(Exception):
    """floor's run of a workload, whose output is every case's reference, failed: the
    workload's own error; ``str(err)`` says it in one line. Its cases fail, the run goes on."""


class Inputs:
    """The data cases read: a generated file per size (made on first use, cached on disk)
    or the user's ``--bench-source`` (size ``source``, and ``source-head`` for the records
    shape), its row count and floor's output checksum on it per workload (the reference,
    computed within ``timeout`` seconds)."""

    def __init__(self, user_source: str | None = None, timeout: float | None = None) -> None:
        self.user_source = user_source
        self.timeout = timeout
        self._paths: dict[str, str] = {}
        self._rows: dict[str, int] = {}
        self._references: dict[tuple[str, str], str | ReferenceFailed] = {}

    def source(self, size: str) -> str:
        """The parquet path of ``size``; ``data.SourceError`` when it cannot be had."""
        if size not in self._paths:
            if size == "source":
                path = data.resolve_source(str(self.user_source))
            elif size == "source-head":
                path = data.head(data.resolve_source(str(self.user_source)), RECORDS_ROWS)
            else:
                path = data.dataset(size)
            self._paths[size] = str(path)
        return self._paths[size]

    def rows(self, source: str) -> int:
        """Rows in ``source`` (its parquet footer, read once)."""
        if source not in self._rows:
            self._rows[source] = data.validate(Path(source))
        return self._rows[source]

    def has_reference(self, size: str, workload: str = workloads.DEFAULT) -> bool:
        """Whether floor's checksum on ``size``'s data was computed already."""
        return (self._paths.get(size, ""), workload) in self._references

    def reference(self, source: str, workload: str = workloads.DEFAULT) -> str:
        """floor's output checksum on ``source`` with ``workload``: what every strategy
        must reproduce. :class:`ReferenceFailed` (kept: raised again, never re-run) when
        the workload's functions raise, exit or pass the time limit."""
        key = (source, workload)
        if key not in self._references:
            try:
                with time_limit(self.timeout):
                    self._references[key] = floor_checksum(source, workload)
            except (Exception, SystemExit, CaseTimeout) as err:
                self._references[key] = ReferenceFailed(
                    f"floor's run of the workload, the reference, failed: {one_line(err)}")
        found = self._references[key]
        if isinstance(found, ReferenceFailed):
            raise found
        return found


@dataclass(frozen=True)
class CaseSettings:
    """How a case's runs are measured and limited (the same for every case of a run)."""

    keep_heartbeat: bool = False
    timeout: float | None = None  # seconds, for any single run of a case
    memory_cap: int | None = None  # bytes, for the memory run's process tree
    memory: bool = True  # False: no memory run (``python -m bench``'s quick check)
    profiled: bool = True  # False: no profiled runs (``--bench-no-breakdown``)


@dataclass
class Orchestrator:
    """One run's cases, measured one at a time against one session's services."""

    profile: Profile
    inputs: Inputs
    context: Context
    limits: CaseSettings
    say: Callable[[str], None] = print
    records: list[CaseRecord] = field(default_factory=list)
    server_retries: dict[str, int] = field(default_factory=dict)  # by case name
    memory_runs: dict[str, Memory] = field(default_factory=dict)  # by case name
    started: float = field(default_factory=time.monotonic)

    def measure(self, case: BenchCase, timer: Timer) -> CaseRecord:
        """Guard, memory run, timed rounds and record of ``case``; ``data.SourceError``
        when its data cannot be had. A workload whose reference run failed fails it."""
        raise_if_interrupted()
        self.say(f"[bench] {case.name}: running ({time.monotonic() - self.started:.0f} s "
                 "elapsed)")
        try:
            return self._measure(case, timer)
        except ReferenceFailed as err:
            timer.attempt(0.0)
            failed = Memory("failed", str(err))
            return self._record(case, timer, self.inputs.rows(self.inputs.source(case.size)),
                                failed, RunResult(case.on(""), failed.status, failed.reason),
                                None)

    def _measure(self, case: BenchCase, timer: Timer) -> CaseRecord:
        prediction = None
        if case.size in self.profile.guarded:
            prediction, blocked = self._guard(case)
            if blocked is not None:  # recorded without reading its data
                timer.attempt(0.0)
                return self._record(case, timer, data.SIZES[case.size], blocked,
                                    RunResult(case.on(""), blocked.status, blocked.reason),
                                    prediction)
            assert prediction is not None
            self.say(f"[bench] {case.name}: predicted to fit: {prediction.summary()}")
        slow = self._too_slow(case)
        if slow is not None:
            timer.attempt(0.0)
            return self._record(case, timer, data.SIZES[case.size], slow,
                                RunResult(case.on(""), slow.status, slow.reason), None)
        spec = case.on(self.inputs.source(case.size))
        reference = self.inputs.reference(spec.source, case.workload)
        memory = self._memory_run(case) if self.limits.memory else Memory("ok", seconds=0.0)
        reason, profiled = None, Breakdown()
        if memory.status != "ok" or memory.seconds is None:  # never re-run in this process
            timer.attempt(memory.seconds or 0.0)  # what failed, hung or ran out of memory
            timed = RunResult(spec, memory.status, memory.reason)
        else:
            timed, reason, profiled = self._time(case, spec, reference, memory, timer)
        return self._record(case, timer, self.inputs.rows(spec.source), memory, timed,
                            prediction, reason, profiled)

    def _time(self, case: BenchCase, spec: Case, reference: str, memory: Memory,
              timer: Timer) -> tuple[RunResult, str | None, Breakdown]:
        """The case's timed rounds (``bench.rounds``: as many as decide something), why
        that many, and its profiled runs (before the rounds: their warm-up). A case timed
        by its memory run alone is profiled unless it is too costly to run again."""
        profile, label = self.profile, case_name(case.strategy, case.variant)
        shortened = label not in REFERENCE_LABELS
        compared = self._reference_time(case) if shortened else None
        profiled: list[Breakdown] = []
        warm_up_by = self._profiling(case, spec, reference, memory.seconds, profiled)
        if self.limits.memory and memory.run is not None and memory.run.seconds is not None:
            once = plan(profile, memory.run.seconds, compared, shortened=shortened)
            if once.rounds == 0:
                timed, found = memory.run, Breakdown(note="not profiled: " + once.reason)
                if once.profiled and warm_up_by is not None:
                    again = time_case(spec, self.context, timer, lambda _: 0, reference,
                                      timeout=self.limits.timeout, profile=warm_up_by)
                    timed = timed if again.status == "ok" else again
                    found = profiled[0] if profiled else Breakdown()
                timer.once(memory.run.seconds)  # the memory run's own timing of its run
                return timed, once.reason, found
        assert memory.seconds is not None
        warm_up, chosen = None, []
        if memory.seconds > WARM_UP_LIMIT * profile.budget_s:  # warm up on a head instead
            head = str(data.head(Path(spec.source), WARM_UP_ROWS))
            warm_up = (case.on(head), self.inputs.reference(head, case.workload))

        def rounds_for(probe_s: float) -> int:
            chosen.append(plan(profile, memory.seconds if warm_up else probe_s, compared,
                               shortened=shortened, by_memory_run=False))
            return chosen[-1].rounds

        timed = time_case(spec, self.context, timer, rounds_for, reference, warm_up,
                          self.limits.timeout, warm=profile.warmup_rounds > 0,
                          profile=warm_up_by, one_run_s=memory.seconds)
        return (timed, chosen[-1].reason if chosen else None,
                profiled[0] if profiled else Breakdown())

    def _profiling(self, case: BenchCase, spec: Case, reference: str,
                   one_run_s: float | None,
                   found: list[Breakdown]) -> Callable[[Prepared], RunResult] | None:
        """The warm-up that is the case's profiled runs, keeping their breakdown in
        ``found`` (None with ``--bench-no-breakdown``)."""
        if not self.limits.profiled:
            return None
        count_as_work(workloads.load(case.workload).module_name)
        runner = (STRATEGIES[case.strategy].describe(spec, self.context) or {}).get("runner")
        reason = untracked(spec.shape, runner, one_run_s, self.limits.timeout)

        def warm_up(prepared: Prepared) -> RunResult:
            self.say(f"[bench] {case.name}: profiled runs (where the time and memory go)")
            result, seen = profiled_runs(spec, prepared, reference,
                                         lambda: between_rounds(prepared),
                                         self.limits.timeout, reason)
            found.append(seen)
            return result

        return warm_up

    def _too_slow(self, case: BenchCase) -> Memory | None:
        """``skipped``, when the profile limits one run's time and the case's memory run at
        the profile's next smaller size, times its reference's growth between the two sizes
        in this run (else the ratio of rows), is over it (None: it runs). A reference case
        always runs: others are judged against it."""
        limit, rows = self.profile.run_limit_s, data.SIZES.get(case.size)
        label = case_name(case.strategy, case.variant)
        if limit is None or rows is None or label in REFERENCE_LABELS:
            return None
        smaller = [s for s in self.profile.sizes if data.SIZES[s] < rows]
        if not smaller:
            return None
        before = self.memory_runs.get(replace(case, size=smaller[-1]).name)
        if before is None or before.status != "ok" or before.seconds is None:
            return None
        growth = [self._reference_time(replace(case, size=size)) for size in (smaller[-1],
                                                                                case.size)]
        if growth[0] and growth[1]:
            scale, how = growth[1][1] / growth[0][1], f"as {growth[0][0]} grew"
        else:
            scale, how = rows / data.SIZES[smaller[-1]], "the ratio of rows"
        if before.seconds * max(scale, 1.0) <= limit:
            return None
        return Memory("skipped", f"not run at {rows:,} rows: one run would take about "
                      f"{before.seconds * scale:,.0f} s ({before.seconds:.1f} s at "
                      f"{data.SIZES[smaller[-1]]:,} rows, times {scale:.3g}: {how}), over the "
                      f"{self.profile.name} profile's {limit:g} s; the full profile runs it")

    def _reference_time(self, case: BenchCase) -> tuple[str, float] | None:
        """The name and median seconds of the case's reference in this run
        (``reporting.verdicts.reference_of``) on the same shape and size, when it is ok."""
        name = reference_of(case_name(case.strategy, case.variant))
        for record in self.records:
            if (record.label, record.shape, record.size, record.workload) == (
                    name, case.shape, case.size, workloads.load(case.workload).name):
                return (name, record.median) if record.ok and record.median else None
        return None

    def _memory_run(self, case: BenchCase) -> Memory:
        """The case once in a fresh process (``measure_memory``), kept for predictions."""
        spec = case.on(self.inputs.source(case.size))
        reference = self.inputs.reference(spec.source, case.workload)
        strategy = STRATEGIES[case.strategy]
        try:
            memory = measure_memory(spec, self.context, self.limits.keep_heartbeat, reference,
                                    MEMORY_INTERVAL_S, self.limits.timeout,
                                    self.limits.memory_cap,
                                    strategy.outside_processes(spec, self.context))
        except Exception as err:
            memory = Memory("failed", f"harness error: {one_line(err)}", seconds=0.0)
        self.memory_runs[case.name] = memory
        return memory

    def _guard(self, case: BenchCase) -> tuple[Prediction | None, Memory | None]:
        """At a guarded size: the case's prediction (None when none could be made) and,
        when the case must not run, the outcome it is recorded with instead (None: it may):

        - ``skipped``: predicted not to fit, or floor (whose output at this size is every
          case's reference checksum, computed in this process) is not run at this size;
        - the status of its memory run at a smaller size that was not ``ok`` (nothing to
          predict from; that size showed what this one would).
        """
        rows = data.SIZES[case.size]
        if case.strategy != "floor" and not self.inputs.has_reference(case.size,
                                                                      case.workload):
            _, floor_blocked = self._guard(replace(case, strategy="floor", variant=None))
            if floor_blocked is not None:
                return None, Memory("skipped", f"not run at {rows:,} rows: floor, whose "
                                    "output is the reference checksum, is not run there "
                                    f"({floor_blocked.status})")
            # before reading the memory available:
            self.inputs.reference(self.inputs.source(case.size), case.workload)
        found = self._prediction(case)
        if isinstance(found, Memory):
            return None, found
        return found, None if found.reason is None else Memory("skipped", found.reason)

    def _prediction(self, case: BenchCase) -> Prediction | Memory:
        """``case`` predicted at its (guarded) size from its memory runs at the profile's
        other sizes, made first when this run has none (e.g. ``-k`` left them out); or,
        when one of those runs was not ``ok``, its status and reason."""
        points = []
        for size in (s for s in self.profile.sizes if s not in self.profile.guarded):
            smaller = replace(case, size=size)
            memory = self.memory_runs.get(smaller.name)
            if memory is None:
                self.say(f"[bench] {case.name}: first a memory run at {size}, to predict "
                         "whether it fits")
                memory = self._memory_run(smaller)
            if memory.status != "ok" or memory.delta is None or memory.seconds is None:
                status = "failed" if memory.status == "ok" else memory.status
                return Memory(status, f"not run at {data.SIZES[case.size]:,} rows: its "
                              f"memory run at {size} was {memory.status} "
                              f"({memory.reason or 'no memory figures recorded'})")
            points.append(Observation(self.inputs.rows(self.inputs.source(size)),
                                      memory.start_rss_bytes or 0, memory.delta,
                                      memory.seconds))
        return predict(points, data.SIZES[case.size], self.limits.memory_cap or 0,
                       psutil.virtual_memory().available, self.limits.timeout)

    def _record(self, case: BenchCase, timer: Timer, rows: int, memory: Memory,
                timed: RunResult, prediction: Prediction | None,
                rounds_reason: str | None = None,
                profiled: Breakdown | None = None) -> CaseRecord:
        """The case's :class:`CaseRecord`, kept and said in one progress line."""
        status, reason = timed.status, timed.reason
        workload = workloads.load(case.workload)
        record = CaseRecord(
            strategy=case.strategy, variant=case.variant, shape=case.shape, size=case.size,
            rows=rows, status=status, reason=reason, peak_rss_bytes=memory.peak_rss_bytes,
            start_rss_bytes=memory.start_rss_bytes,
            stored_bytes=timed.stored_bytes if status not in ("failed", "skipped") else None,
            checksum=timed.checksum,
            evidence=(timed.evidence or None) if status == "ok" else None,
            memory_timeline=tuple((t, int(rss)) for t, rss in memory.timeline),
            runner=STRATEGIES[case.strategy].describe(case.on(""), self.context),
            prediction=prediction.record() if prediction is not None else None,
            rounds=tuple(timer.data),
            rounds_reason=timer.rounds_reason(rounds_reason) if status == "ok" else rounds_reason,
            paired_blocks=timer.paired_blocks() if status == "ok" else None,
            workload=workload.name, workload_digest=workload.digest,
            **_breakdown_fields(profiled if status == "ok" else None))
        self.records.append(record)
        if timed.server_retries:
            self.server_retries[case.name] = timed.server_retries
        self.say(f"[bench] {case.name}: {_outcome(record, memory, timed)}")
        return record


def _breakdown_fields(profiled: Breakdown | None) -> dict[str, Any]:
    """A :class:`CaseRecord`'s breakdown fields (all None when the case was not ok)."""
    if profiled is None:
        return {}
    return {"time_breakdown": profiled.seconds, "memory_breakdown": profiled.held_bytes,
            "breakdown_note": profiled.note}


def _outcome(record: CaseRecord, memory: Memory, timed: RunResult) -> str:
    """How a recorded case went, for its progress line."""
    peak = f", peak +{whole_megabytes(memory.delta)}" if memory.delta is not None else ""
    if record.status == "ok":
        retried = (f"; WARNING: Prefect's client retried {timed.server_retries} request(s) "
                   "in the timed rounds (about 2 s each)" if timed.server_retries else "")
        rounds = record.rounds_reason or f"{len(record.rounds)} round(s)"
        where = (f"; time: {breakdown.shares(record.time_breakdown)}"
                 if record.time_breakdown else "")
        return f"ok, median {record.median or 0:.3f} s{peak}; {rounds}{where}{retried}"
    if record.status == "skipped":
        return f"skipped, {record.reason}"
    return f"{record.status} after {max(record.rounds, default=0):.1f} s{peak} ({record.reason})"
