"""``python -m bench``: every strategy once on one data set, as a table.

A quick, honest check that each strategy works and does what it claims, before any
benchmarking: each case runs once through the same orchestration as the benchmark suite
(``bench.orchestrator``: verified, its output checked against floor's), without a memory
run or rounds; the table shows status, seconds, stored bytes, checksum and the evidence
that the optimization took effect (or why not).
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from typing import NoReturn

from bench import data
from bench.cases import BenchCase, Profile, listing, one_size_cases, services_for
from bench.limits import stop_on_signals
from bench.measure import LoopTimer
from bench.options import (
    SELECT_OPTIONS,
    SESSION_OPTIONS,
    SOURCE_OPTION,
    OptionError,
    check_addresses,
    positive,
    selection,
    session_options,
    workload_choice,
)
from bench.orchestrator import CaseSettings, Inputs, Orchestrator
from bench.services import ServiceError
from bench.session import session
from reporting.terminal import summary
from runfile import case_name
from strategies import labels, workloads

ONCE = Profile("once", (), budget_s=0.0, min_rounds=1, max_rounds=1, warmup_rounds=0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--size", default="small",
                        help="generated data: tiny, small, medium, full, xl or a row count "
                             "(default: small = 100,000 rows)")
    flag, kwargs = SOURCE_OPTION
    source.add_argument(flag, "--source", dest="bench_source", **kwargs)
    parser.add_argument("--shapes", default="dataframe,records",
                        help="payload shapes to run (default: dataframe,records)")
    parser.add_argument("-k", "--only", metavar="GLOB", action="append",
                        help="run only cases whose strategy or strategy/variant matches "
                             "(e.g. 'cached/*'); repeatable")
    for flag, kwargs in [*SELECT_OPTIONS, *SESSION_OPTIONS]:
        parser.add_argument(flag, **kwargs)
    return parser.parse_args(argv)


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def option(flag: str) -> object:
        return getattr(args, flag[2:].replace("-", "_"))

    try:
        chosen_workloads = workload_choice(args.bench_workload) or (workloads.DEFAULT,)
    except OptionError as err:
        fail(str(err), 4)
    stop_on_signals()
    try:
        check_addresses(option)
        options = session_options(option)
        chosen = selection(args.bench_strategies, labels())
        limits = CaseSettings(timeout=positive(args.bench_case_timeout, "--bench-case-timeout"),
                        keep_heartbeat=options.keep_heartbeat, memory=False,
                        profiled=False)
        inputs = Inputs(args.bench_source, limits.timeout)
        size = "source" if args.bench_source else args.size
        print(f"data: {args.bench_source or args.size} -> {inputs.source(size)}",
              file=sys.stderr)
        shapes = tuple(s.strip() for s in args.shapes.split(",") if s.strip())
        todo = [c for c in one_size_cases(size, shapes, listing(options), chosen,
                                          chosen_workloads) if _wanted(c, args.only)]
        with session(services_for(options, todo)) as running:
            for line in running.describe():
                print(line, file=sys.stderr)
            orchestrator = Orchestrator(ONCE, inputs, running.context, limits,
                                        say=lambda line: None)
            for number, case in enumerate(todo, 1):
                print(f"[{number:2d}/{len(todo)}] {case.name} ...", end=" ", file=sys.stderr,
                      flush=True)
                record = orchestrator.measure(case, LoopTimer())
                print(record.status + (f" ({record.reason})" if record.reason else ""),
                      file=sys.stderr, flush=True)
    except (OptionError, data.SourceError, ServiceError, ValueError) as err:
        fail(str(err))
    except KeyboardInterrupt:
        fail("interrupted; all started services were stopped", 130)
    print("\n".join(summary(orchestrator.records, "python -m bench", notes=True)).lstrip())
    return 1 if any(r.status in ("failed", "timeout") for r in orchestrator.records) else 0


def _wanted(case: BenchCase, patterns: list[str] | None) -> bool:
    """floor (the reference) always; else whether ``-k`` patterns (if any) match its
    strategy or strategy/variant."""
    label = case_name(case.strategy, case.variant)
    return (not patterns or case.strategy == "floor"
            or any(fnmatch.fnmatch(label, p) or fnmatch.fnmatch(case.strategy, p)
                   for p in patterns))


if __name__ == "__main__":
    sys.exit(main())
