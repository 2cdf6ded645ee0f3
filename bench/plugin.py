"""The pytest plugin behind ``pytest --benchmark-only``: options and hooks over one
:class:`BenchPlugin` object holding the run's state, registered when pytest configures.

Loaded through the ``pytest11`` entry point (pyproject.toml). The cases come from
``--bench-profile`` (``bench.cases``), their measuring from ``bench.orchestrator``, the
saved run file from ``runfile``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import platform
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import distributions, version
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench import data
from bench.cases import (
    PROFILES,
    BenchCase,
    Profile,
    bench_cases,
    listing,
    plans,
    services_for,
)
from bench.limits import stop_on_signals
from bench.measure import BenchmarkTimer, PairedTimer, Timer
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
    workload_choice,
)
from bench.orchestrator import CaseSettings, Inputs, Orchestrator
from bench.rounds import IN_MEMORY_RUN_ONLY, SETTLED, SETTLED_BY_MEMORY_RUN
from bench.services import ServiceError
from bench.services.prefect_server import settle_server
from bench.session import SessionOptions, prefect_defaults, session
from pairing import client
from reporting.terminal import summary
from runfile import BenchInfo, bench_info, save_run
from strategies import labels, workloads

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_NAME = "prefect-bigdata-bench"
DEFAULT_MEMORY_CAP = 0.8  # of this machine's memory: the memory run's default cap
PATH_OPTIONS = ("--bench-source", "--bench-results", "--benchmark-json", "--bench-workload")
"""Options taking a path: pytest takes a separate path that exists as a test path."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(PLUGIN_NAME)
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
    group.addoption("--bench-no-breakdown", action="store_true",
                    help="leave out each case's two profiled runs (where the time and the "
                         "memory go): a shorter run, without the report's breakdown")
    group.addoption("--bench-results", metavar="DIR", default=str(ROOT / "results"),
                    help="where runs are saved (default: results/); give it as "
                         "--bench-results=DIR")


def pytest_configure(config: pytest.Config) -> None:
    """Check every option before any work starts (one line each), then register the run."""
    try:
        _check_project_settings(config)
        name = config.getoption("--bench-profile")
        if name not in PROFILES:
            raise OptionError(f"--bench-profile {name!r}: unknown; choose from "
                              f"{', '.join(sorted(PROFILES))}")
        check_addresses(config.getoption)
        check_writable_dir(config.getoption("--bench-results"), "--bench-results")
        source = config.getoption("--bench-source")
        limits = CaseSettings(
            keep_heartbeat=bool(config.getoption("--bench-keep-heartbeat")),
            timeout=positive(config.getoption("--bench-case-timeout"), "--bench-case-timeout"),
            memory_cap=_memory_cap(positive(config.getoption("--bench-memory-cap"),
                                            "--bench-memory-cap")),
            profiled=not config.getoption("--bench-no-breakdown"))
        plugin = BenchPlugin(
            config, PROFILES[name], session_options(config.getoption),
            selection(config.getoption("--bench-strategies"), labels()), limits,
            Inputs(source, limits.timeout), workload_choice(config.getoption("--bench-workload")))
        if source:
            plugin.inputs.source("source")  # a bad file or URL fails here, before services
        plugin.pairing = _paired()
    except (OptionError, data.SourceError) as err:
        raise pytest.UsageError(str(err)) from None
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    stop_on_signals()
    if config.getoption("benchmark_only", False) and config.option.showcapture == "all":
        config.option.showcapture = "no"  # a failed case says why in its one-line reason


def _check_project_settings(config: pytest.Config) -> None:
    """A benchmark run needs this project's pytest settings (pyproject.toml). pytest finds
    them from the paths on its command line before it knows this plugin's options, so a
    path given as ``--bench-source PATH`` (that exists, outside the project) makes it look
    for them in PATH's folder: say how to write it instead of failing later."""
    ours = ROOT / "pyproject.toml"
    found = config.inipath
    if not config.getoption("benchmark_only", False) or (found and found.resolve() == ours):
        return
    args = [str(arg) for arg in config.invocation_params.args]
    for flag, value in itertools.pairwise(args):
        if flag in PATH_OPTIONS:
            raise OptionError(f"{flag} {value}: write {shlex.quote(f'{flag}={value}')} (with "
                              "'='); pytest takes a separate path that exists as a test path "
                              "and then misses this project's settings")
    raise OptionError(f"pytest --benchmark-only: run it in {ROOT} (pytest read its settings "
                      f"from {config.inipath or 'no file'})")


def _paired() -> client.Pairing | None:
    """The coordinator of bin/bench-ab, when this session is one of its sides."""
    try:
        return client.from_environment()
    except (OSError, ValueError) as err:
        raise OptionError(f"bin/bench-ab: cannot reach its coordinator ({err})") from None


def _memory_cap(megabytes: float | None) -> int:
    """The memory run's cap in bytes: ``--bench-memory-cap`` MB, else a share of RAM."""
    if megabytes is None:
        return int(psutil.virtual_memory().total * DEFAULT_MEMORY_CAP)
    return int(megabytes * 1e6)


@dataclass(eq=False)  # hashable: pytest's plugin manager keeps it in sets
class BenchPlugin:
    """One ``pytest --benchmark-only`` run: its settings, the orchestration of its cases
    (once its services run), and the run file it saved. Its methods are pytest hooks."""

    config: pytest.Config
    profile: Profile
    options: SessionOptions
    only: set[str] | None  # --bench-strategies (None: all)
    limits: CaseSettings
    inputs: Inputs
    workloads: tuple[str, ...] | None = None  # --bench-workload (None: the profile's)
    orchestrator: Orchestrator | None = None
    heartbeat: str | None = None  # the flow heartbeat setting, once the services run
    saved: list[Path] = field(default_factory=list)
    complete: bool = True
    pairing: client.Pairing | None = None  # a side of bin/bench-ab

    # --- collection ---------------------------------------------------------------------

    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """With ``--benchmark-only`` the unit tests in tests/ would all be skipped: skip
        collecting them at all."""
        if self.config.getoption("benchmark_only", False) and \
                ROOT / "tests" in collection_path.parents:
            return True
        return None

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "bench_case" not in metafunc.fixturenames:
            return
        found = bench_cases(self.profile, listing(self.options), user_source=bool(
            self.inputs.user_source), only=self.only, chosen=self.workloads)
        metafunc.parametrize("bench_case", found, ids=[c.name for c in found])

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """A side of bin/bench-ab runs the cases both sides have in the same order (once
        every deselection and reordering is done)."""
        if self.pairing is None:
            return
        items = session.items
        names = [_case_of(item).name for item in items if _case_of(item) is not None]
        place = {name: i for i, name in enumerate(self.pairing.order(names))}
        items.sort(key=lambda item: place.get(getattr(_case_of(item), "name", ""), len(place)))

    # --- running ------------------------------------------------------------------------

    @contextmanager
    def running(self, items: list[pytest.Item]) -> Iterator[Orchestrator]:
        """The run's services, started once for the selected cases, and its orchestrator."""
        cases = [case for case in map(_case_of, items) if case is not None]
        with session(services_for(self.options, cases)) as running:
            self.orchestrator = Orchestrator(self.profile, self.inputs, running.context,
                                             self.limits, self.say)
            self.say("")
            for line in running.describe():
                self.say(f"[bench] {line}")
            self.heartbeat = running.heartbeat
            if self.pairing is not None:
                self.say(f"[bench] side {self.pairing.side} ({self.pairing.label}) of "
                         f"bin/bench-ab: waiting for side {self.pairing.other}")
                self.pairing.ready()
            yield self.orchestrator

    def measure(self, case: BenchCase, benchmark: Any) -> None:
        """Measure ``case``, put its record in its benchmark's ``extra_info``, and end the
        test as the case ended: failed and timeout fail it, skipped skips it."""
        assert self.orchestrator is not None
        timer: Timer = BenchmarkTimer(benchmark)
        if self.pairing is not None:
            timer = PairedTimer(timer, self.pairing, case.name)
            self.pairing.begin(case.name)
        try:
            record = self.orchestrator.measure(case, timer)
        except data.SourceError as err:
            pytest.exit(f"error: {err}", returncode=2)
        finally:
            if self.pairing is not None:
                with contextlib.suppress(Exception):  # (a failure is the case's to report)
                    settle_server()  # its writes must not overlap the other side's rounds
                self.pairing.end(case.name)
        benchmark.extra_info.update(record.extra_info())
        if record.status in ("failed", "timeout"):
            pytest.fail(f"{case.name}: {record.status}: {record.reason}", pytrace=False)
        if record.status == "skipped":
            pytest.skip(f"{case.name}: {record.reason}")

    def say(self, line: str) -> None:
        """One progress line, shown even while pytest captures output."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            return
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)
        else:
            reporter.write_line(line)

    # --- saving -------------------------------------------------------------------------

    def pytest_benchmark_update_json(self, config: pytest.Config, benchmarks: Any,
                                     output_json: dict[str, Any]) -> None:
        output_json["bench"] = self.bench_object()

    def bench_object(self) -> BenchInfo:
        """The run file's ``bench`` object: settings, versions, completeness, retries."""
        p, records = self.profile, self.orchestrator.records if self.orchestrator else []
        get = self.config.getoption
        return bench_info(
            profile=p.name,
            sizes=sorted({r.size for r in records}),
            rounds_policy={"budget_s": p.budget_s, "min_rounds": p.min_rounds,
                           "max_rounds": p.max_rounds, "warmup_rounds": p.warmup_rounds,
                           "in_memory_run_only_x": IN_MEMORY_RUN_ONLY, "settled_x": SETTLED,
                           "settled_by_memory_run_x": SETTLED_BY_MEMORY_RUN,
                           "run_limit_s": p.run_limit_s},
            data_source=get("--bench-source") or f"generated (seed {data.DEFAULT_SEED})",
            versions=_versions(),
            cores=os.cpu_count(),
            heartbeat=self.heartbeat,
            s3_endpoint=self._s3_endpoint(),
            dask_address=get("--bench-dask-address"),
            scale_out_workers=list(self.options.scale_out),
            complete=self.complete,
            server_retries=dict(self.orchestrator.server_retries if self.orchestrator else {}),
            workloads=[workloads.describe(workloads.load(plan.workload))
                       for plan in plans(p, self.workloads)],
            packages=_packages(),
            prefect_defaults=prefect_defaults(),
            **({"pairing": self.pairing.info()} if self.pairing is not None else {}),
        )

    def _s3_endpoint(self) -> str:
        """What the run used as S3 endpoint (never its URL or credentials)."""
        if self.orchestrator is not None and self.orchestrator.context.s3 is None:
            return "not started (no s3 case)"
        get = self.config.getoption
        return ("user-configured" if get("--bench-s3-endpoint")
                or os.environ.get("BENCH_S3_ENDPOINT_URL") else "moto (loopback)")

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Iterator[None]:
        """Save the run, before pytest-benchmark writes ``--benchmark-json``: both say
        whether the run completed."""
        self.complete = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
        if self.pairing is not None:
            self.pairing.close()  # the other side goes on alone
        self.save()
        return (yield)

    def save(self) -> None:
        """Save the run file (and ``latest.json`` when complete), if any case ran."""
        bs = getattr(self.config, "_benchmarksession", None)
        if bs is None or not bs.benchmarks or not self.orchestrator \
                or not self.orchestrator.records:
            return
        output = self.config.hook.pytest_benchmark_generate_json(
            config=self.config, benchmarks=bs.benchmarks, include_data=True,
            machine_info=bs.get_machine_info(),
            commit_info=self.config.hook.pytest_benchmark_generate_commit_info(
                config=self.config),
        )
        self.config.hook.pytest_benchmark_update_json(config=self.config,
                                                      benchmarks=bs.benchmarks,
                                                      output_json=output)
        self.saved = save_run(output, Path(self.config.getoption("--bench-results")),
                              self.complete)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.orchestrator or not self.orchestrator.records:
            return
        title = f"prefect-bigdata-bench, profile {self.profile.name}"
        for line in summary(self.orchestrator.records, title):
            terminalreporter.write_line(line)
        for path in self.saved:
            terminalreporter.write_line(f"saved {path}")


@pytest.fixture(scope="session")
def bench_run(request: pytest.FixtureRequest) -> Iterator[BenchPlugin]:
    """The run's services, started once for all benchmarks and stopped at the end."""
    plugin = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    try:
        with plugin.running(request.session.items):
            yield plugin
    except (data.SourceError, ServiceError) as err:
        pytest.exit(f"error: {err}", returncode=2)


@pytest.fixture
def bench_measure(bench_run: BenchPlugin, benchmark: Any) -> Any:
    """Call with a ``BenchCase`` to measure it (see ``bench/bench_strategies.py``)."""
    return lambda case: bench_run.measure(case, benchmark)


def _case_of(item: pytest.Item) -> BenchCase | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("bench_case") if callspec is not None else None


def _packages() -> dict[str, str]:
    """Every installed distribution and its version (the run's pinned set)."""
    return dict(sorted((dist.metadata["Name"], dist.version) for dist in distributions()))


def _versions() -> dict[str, str]:
    names = ("prefect", "prefect-aws", "prefect-dask", "pandas", "pyarrow", "dask",
             "pytest-benchmark", "memory-profiler", "memray")
    found = {name: version(name) for name in names}
    found["python"] = platform.python_version()
    return found
