"""The pytest plugin behind ``pytest --benchmark-only``: options, the session's services,
one benchmark per case, progress lines, the summary table and the saved run file."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench import data
from bench.cases import PROFILES, RECORDS_ROWS, BenchCase, Profile, bench_cases
from bench.fits import Point, Prediction, predict
from bench.limits import raise_if_interrupted, stop_on_signals
from bench.measure import Memory, measure_memory, record_attempt, time_case
from bench.options import (
    SELECT_OPTIONS,
    SESSION_OPTIONS,
    SOURCE_OPTION,
    OptionError,
    check_addresses,
    check_writable_dir,
    positive,
    selection,
    session_options,
)
from bench.report_table import format_table
from bench.runfile import save_run
from bench.runner import CaseResult, floor_checksum, one_line
from bench.services import ServiceError, available_engines
from bench.session import Session, SessionOptions, session
from strategies import STRATEGIES, labels
from strategies.base import Cluster, Context

ROOT = Path(__file__).resolve().parents[1]
MEMORY_INTERVAL_S = 0.02  # memory-profiler's sampling interval in the memory run
DEFAULT_MEMORY_CAP = 0.8  # of this machine's memory: the memory run's default cap
# A case whose memory run (a fresh process: first-run costs included) took more than
# WARM_UP_LIMIT times the profile's budget warms up on its first WARM_UP_ROWS rows.
WARM_UP_LIMIT = 2.0
WARM_UP_ROWS = 1_000


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("prefect-bigdata-bench")
    group.addoption("--bench-profile", default="standard",
                    help="sizes and rounds: quick (small + records at 10k), standard (adds "
                         "medium, 1M rows), full (adds the 2,846,722-row month), xl (standard "
                         "plus 10M rows where predicted to fit); smoke (tiny data, for "
                         "tests). Default: standard")
    for flag, kwargs in [SOURCE_OPTION, *SELECT_OPTIONS, *SESSION_OPTIONS]:
        group.addoption(flag, **kwargs)
    group.addoption("--bench-memory-cap", metavar="MB",
                    help="stop a memory run whose process tree grows past this many MB "
                         "(status failed, 'out of memory'); default: "
                         f"{DEFAULT_MEMORY_CAP:.0%} of this machine's memory")
    group.addoption("--bench-results", metavar="DIR", default=str(ROOT / "results"),
                    help="where runs are saved (default: results/)")


@dataclass
class BenchRun:
    """Everything one benchmark session shares and records."""

    config: pytest.Config
    profile: Profile
    options: SessionOptions
    only: set[str] | None  # --bench-strategies (None: all)
    timeout: float | None  # --bench-case-timeout, seconds
    memory_cap: int  # bytes
    running: Session | None = None
    sources: dict[str, str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    row_counts: dict[str, int] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    saved: list[Path] = field(default_factory=list)
    memory_runs: dict[str, Memory] = field(default_factory=dict)  # by BenchCase.id

    def source(self, size: str) -> str:
        """The parquet path for a case's size (generated lazily, cached on disk)."""
        if size not in self.sources:
            user = self.config.getoption("--bench-source")
            if size == "source":
                path = data.resolve_source(user)
            elif size == "source-head":
                path = data.head(data.resolve_source(user), RECORDS_ROWS)
            else:
                path = data.dataset(size)
            self.sources[size] = str(path)
        return self.sources[size]

    def rows(self, source: str) -> int:
        """Rows in ``source`` (its parquet footer, read once per source)."""
        if source not in self.row_counts:
            self.row_counts[source] = data.validate(Path(source))
        return self.row_counts[source]

    def has_reference(self, size: str) -> bool:
        """Whether floor's checksum on ``size``'s data was computed already."""
        return self.sources.get(size) in self.references

    def reference(self, source: str) -> str:
        """floor's output checksum on ``source``: what every strategy must reproduce."""
        if source not in self.references:
            self.references[source] = floor_checksum(source)
        return self.references[source]

    def say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)
        else:
            reporter.write_line(line)


_RUN = pytest.StashKey[BenchRun]()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``--benchmark-only`` the unit tests in tests/ would all be skipped: skip
    collecting them at all."""
    tests = ROOT / "tests"
    if config.getoption("benchmark_only", False) and tests in collection_path.parents:
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    """Check every option before any work starts (one line each), then set the run up."""
    try:
        profile = config.getoption("--bench-profile")
        if profile not in PROFILES:
            raise OptionError(f"--bench-profile {profile!r}: unknown; choose from "
                              f"{', '.join(sorted(PROFILES))}")
        check_addresses(config.getoption)
        check_writable_dir(config.getoption("--bench-results"), "--bench-results")
        run = BenchRun(
            config, PROFILES[profile], session_options(config.getoption),
            selection(config.getoption("--bench-strategies"), labels()),
            positive(config.getoption("--bench-case-timeout"), "--bench-case-timeout"),
            _memory_cap(positive(config.getoption("--bench-memory-cap"), "--bench-memory-cap")))
        if config.getoption("--bench-source"):
            run.source("source")  # a bad file or URL fails here, before the services start
    except (OptionError, data.SourceError) as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[_RUN] = run
    stop_on_signals()
    if config.getoption("benchmark_only", False) and config.option.showcapture == "all":
        config.option.showcapture = "no"  # a failed case says why in its one-line reason


def _memory_cap(megabytes: float | None) -> int:
    """The memory run's cap in bytes: ``--bench-memory-cap`` MB, else a share of RAM."""
    if megabytes is None:
        return int(psutil.virtual_memory().total * DEFAULT_MEMORY_CAP)
    return int(megabytes * 1e6)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    run = config.stash[_RUN]
    found = bench_cases(run.profile, _listing(run.options),
                        user_source=bool(config.getoption("--bench-source")), only=run.only)
    metafunc.parametrize("bench_case", found, ids=[c.id for c in found])


def _listing(options: SessionOptions) -> Context:
    """A context to list cases with: the session's services as chosen, none started."""
    return Context(Path("."), dask_address=options.dask_address,
                   clusters=tuple(Cluster(engine, n)
                                  for engine in available_engines(options.engines)
                                  for n in options.scale_out),
                   ray_address=options.ray_address)


def _clusters_for(options: SessionOptions, items: list[pytest.Item]) -> SessionOptions:
    """``options`` with only the scale-out engines and worker counts the selected cases
    (after ``-k``) run on: no cluster is started for nothing."""
    if not options.scale_out:
        return options
    listing, needed = _listing(options), []
    for item in items:
        case = getattr(item, "callspec", None) and item.callspec.params.get("bench_case")
        cluster = case and STRATEGIES[case.strategy].cluster(case.with_source(""), listing)
        if cluster:
            needed.append(cluster)
    return replace(options, engines=tuple(dict.fromkeys(c.engine for c in needed)),
                   scale_out=tuple(sorted({c.workers for c in needed})))


@pytest.fixture(scope="session")
def bench_run(request: pytest.FixtureRequest) -> Any:
    """The session's services, started once for all benchmarks and stopped at the end."""
    run = request.config.stash[_RUN]
    try:
        with session(_clusters_for(run.options, request.session.items)) as running:
            run.running = running
            run.say("")
            for line in running.describe():
                run.say(f"[bench] {line}")
            yield run
    except (data.SourceError, ServiceError) as err:
        pytest.exit(f"error: {err}", returncode=2)


def measure(run: BenchRun, case: BenchCase, benchmark: Any) -> None:
    """Memory (a fresh process), then time, of one case; record its ``extra_info``.
    A case at one of the profile's guarded sizes first needs a prediction that it fits."""
    assert run.running is not None
    ctx, profile = run.running.context, run.profile
    raise_if_interrupted()
    run.say(f"[bench] {case.id}: running ({time.monotonic() - run.started:.0f} s elapsed)")
    prediction = None
    if case.size in profile.guarded:
        prediction, blocked = _guard(run, case)
        if blocked is not None:  # recorded without reading its data
            record_attempt(benchmark, 0.0)
            _record(run, case, benchmark, data.SIZES[case.size], blocked,
                    CaseResult(case.with_source(""), blocked.status, blocked.reason), prediction)
            _conclude(case, blocked.status, blocked.reason)
            return
        assert prediction is not None
        run.say(f"[bench] {case.id}: predicted to fit: {prediction.summary()}")
    memory = _memory_run(run, case)
    spec = case.with_source(_source(run, case.size))
    reference = run.reference(spec.source)
    if memory.status == "ok" and memory.seconds is not None:
        rounds_for, warm_up = profile.rounds, None
        if memory.seconds > WARM_UP_LIMIT * profile.budget_s:  # warm up on a head instead
            head = str(data.head(Path(spec.source), WARM_UP_ROWS))
            warm_up = (case.with_source(head), run.reference(head))
            rounds_for = lambda _: profile.rounds(memory.seconds)  # noqa: E731
        timed = time_case(spec, ctx, benchmark, rounds_for, reference, warm_up, run.timeout)
    else:  # never re-run in this process what failed, hung or ran out of memory there
        record_attempt(benchmark, memory.seconds or 0.0)
        timed = CaseResult(spec, memory.status, memory.reason)
    _record(run, case, benchmark, run.rows(spec.source), memory, timed, prediction)
    _conclude(case, timed.status, timed.reason)


def _conclude(case: BenchCase, status: str, reason: str | None) -> None:
    """The pytest outcome of a recorded case: failed and timeout fail the test, skipped
    skips it, ok and not_applied pass."""
    if status in ("failed", "timeout"):
        pytest.fail(f"{case.id}: {status}: {reason}", pytrace=False)
    if status == "skipped":
        pytest.skip(f"{case.id}: {reason}")


def _source(run: BenchRun, size: str) -> str:
    try:
        return run.source(size)
    except data.SourceError as err:
        pytest.exit(f"error: {err}", returncode=2)


def _memory_run(run: BenchRun, case: BenchCase) -> Memory:
    """The case once in a fresh process (``measure_memory``), kept for predictions."""
    assert run.running is not None
    ctx = run.running.context
    spec = case.with_source(_source(run, case.size))
    reference = run.reference(spec.source)
    try:
        memory = measure_memory(spec, ctx, run.config.getoption("--bench-keep-heartbeat"),
                                reference, MEMORY_INTERVAL_S, run.timeout, run.memory_cap,
                                STRATEGIES[case.strategy].outside_processes(spec, ctx))
    except Exception as err:
        memory = Memory("failed", f"harness error: {one_line(err)}", seconds=0.0)
    run.memory_runs[case.id] = memory
    return memory


def _guard(run: BenchRun, case: BenchCase) -> tuple[Prediction | None, Memory | None]:
    """At a guarded size: the case's prediction (None when none could be made) and, when
    the case must not run, the outcome it is recorded with instead (None: it may run):

    - ``skipped``: predicted not to fit, or floor (whose output at this size is every
      case's reference checksum, computed in this process) is not run at this size;
    - the status of its memory run at a smaller size that was not ``ok`` (nothing to
      predict from; that size showed what this one would).
    """
    rows = data.SIZES[case.size]
    if case.strategy != "floor" and not run.has_reference(case.size):
        _, floor_blocked = _guard(run, replace(case, strategy="floor", variant=None))
        if floor_blocked is not None:
            return None, Memory("skipped", f"not run at {rows:,} rows: floor, whose output is "
                                "the reference checksum, is not run there "
                                f"({floor_blocked.status})")
        run.reference(_source(run, case.size))  # before reading the memory available
    found = _prediction(run, case)
    if isinstance(found, Memory):
        return None, found
    return found, None if found.reason is None else Memory("skipped", found.reason)


def _prediction(run: BenchRun, case: BenchCase) -> Prediction | Memory:
    """``case`` predicted at its (guarded) size from its memory runs at the profile's other
    sizes, made first when this session has none (e.g. ``-k`` left them out); or, when one
    of those runs was not ``ok``, its status and reason."""
    points = []
    for size in (s for s in run.profile.sizes if s not in run.profile.guarded):
        smaller = replace(case, size=size)
        memory = run.memory_runs.get(smaller.id)
        if memory is None:
            run.say(f"[bench] {case.id}: first a memory run at {size}, to predict whether "
                    "it fits")
            memory = _memory_run(run, smaller)
        if memory.status != "ok" or memory.delta is None or memory.seconds is None:
            status = "failed" if memory.status == "ok" else memory.status
            return Memory(status, f"not run at {data.SIZES[case.size]:,} rows: its memory run "
                          f"at {size} was {memory.status} "
                          f"({memory.reason or 'no memory figures recorded'})")
        points.append(Point(run.rows(_source(run, size)), memory.start_rss_bytes or 0,
                            memory.delta, memory.seconds))
    return predict(points, data.SIZES[case.size], run.memory_cap,
                   psutil.virtual_memory().available, run.timeout)


def _record(run: BenchRun, case: BenchCase, benchmark: Any, rows: int, memory: Memory,
            timed: CaseResult, prediction: Prediction | None) -> None:
    """Put the case's figures in its benchmark's ``extra_info`` and say how it went."""
    status, reason = timed.status, timed.reason
    info = {
        "strategy": case.strategy,
        "variant": case.variant,
        "shape": case.shape,
        "rows": rows,
        "status": status,
        "reason": reason,
        "peak_rss_bytes": memory.peak_rss_bytes,
        "start_rss_bytes": memory.start_rss_bytes,
        "rss_delta_bytes": memory.delta,
        "stored_bytes": timed.stored_bytes if status not in ("failed", "skipped") else None,
        "checksum": timed.checksum,
        "memory_timeline": memory.timeline,
    }
    runner = STRATEGIES[case.strategy].describe(case.with_source(""), run.running.context)
    if runner:
        info["runner"] = runner
    if prediction is not None:
        info["prediction"] = prediction.as_json()
    benchmark.extra_info.update(info)
    stats = benchmark.stats.stats
    run.results.append({**info, "size": case.size, "median": stats.median,
                        "rounds": stats.rounds, "id": case.id,
                        "server_retries": timed.server_retries})
    peak = f", peak +{memory.delta / 1e6:.0f} MB" if memory.delta is not None else ""
    retried = (f"; WARNING: Prefect's client retried {timed.server_retries} request(s) in the "
               "timed rounds (about 2 s each)" if timed.server_retries else "")
    if status == "ok":
        run.say(f"[bench] {case.id}: ok, median {stats.median:.3f} s over {stats.rounds} "
                f"rounds{peak}{retried}")
    elif status == "skipped":
        run.say(f"[bench] {case.id}: skipped, {reason}")
    else:
        run.say(f"[bench] {case.id}: {status} after {stats.max:.1f} s{peak} ({reason})")


@pytest.fixture
def bench_measure(bench_run: BenchRun, benchmark: Any) -> Any:
    """Call with a ``BenchCase`` to measure it (see ``bench/bench_strategies.py``)."""
    return lambda case: measure(bench_run, case, benchmark)


def _versions() -> dict[str, str]:
    names = ("prefect", "prefect-aws", "prefect-dask", "pandas", "pyarrow", "dask",
             "pytest-benchmark", "memory-profiler")
    found = {name: version(name) for name in names}
    found["python"] = platform.python_version()
    return found


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any,
                                 output_json: dict[str, Any]) -> None:
    run = config.stash[_RUN]
    p = run.profile
    output_json["bench"] = {
        "profile": p.name,
        "sizes": sorted({r["size"] for r in run.results}),
        "rounds_policy": {"budget_s": p.budget_s, "min_rounds": p.min_rounds,
                          "max_rounds": p.max_rounds, "warmup_rounds": p.warmup_rounds},
        "data_source": config.getoption("--bench-source")
        or f"generated (seed {data.DEFAULT_SEED})",
        "versions": _versions(),
        "cores": os.cpu_count(),
        "heartbeat": run.running.heartbeat if run.running else None,
        "s3_endpoint": "user-configured" if config.getoption("--bench-s3-endpoint")
        or os.environ.get("BENCH_S3_ENDPOINT_URL") else "moto (loopback)",
        "dask_address": config.getoption("--bench-dask-address"),
        "scale_out_workers": list(run.options.scale_out),
        "complete": not getattr(config, "_bench_interrupted", False),
        "server_retries": {r["id"]: r["server_retries"] for r in run.results
                           if r["server_retries"]},
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    bs = getattr(config, "_benchmarksession", None)
    run = config.stash[_RUN]
    if bs is None or not bs.benchmarks or not run.results:
        return
    complete = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    config._bench_interrupted = not complete  # type: ignore[attr-defined]
    output = config.hook.pytest_benchmark_generate_json(
        config=config, benchmarks=bs.benchmarks, include_data=True,
        machine_info=bs.get_machine_info(),
        commit_info=config.hook.pytest_benchmark_generate_commit_info(config=config),
    )
    config.hook.pytest_benchmark_update_json(config=config, benchmarks=bs.benchmarks,
                                             output_json=output)
    run.saved = save_run(output, Path(config.getoption("--bench-results")), complete)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    run = terminalreporter.config.stash[_RUN]
    if not run.results:
        return
    write = terminalreporter.write_line
    for size in dict.fromkeys(r["size"] for r in run.results):
        rows_here = [r for r in run.results if r["size"] == size]
        floors = {r["shape"]: r["median"] for r in rows_here if r["strategy"] == "floor"}
        table = [[r["strategy"], r["variant"] or "-", r["shape"],
                  f"{r['median']:.3f}" if r["status"] != "skipped" else "-",
                  f"{r['median'] / floors[r['shape']]:.1f}"
                  if floors.get(r["shape"]) and r["status"] == "ok" else "-",
                  _mb(r["peak_rss_bytes"]), _mb(r["stored_bytes"]), r["status"]]
                 for r in rows_here]
        write("")
        write(f"prefect-bigdata-bench: {size} ({rows_here[0]['rows']:,} rows), "
              f"profile {run.profile.name}")
        write(format_table(["strategy", "variant", "shape", "median s", "x floor",
                            "peak MB", "MB stored", "status"], table))
    for path in run.saved:
        write(f"saved {path}")


def _mb(value: int | None) -> str:
    return "-" if not value else f"{value / 1e6:.1f}"
