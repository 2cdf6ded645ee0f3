"""``python -m bench``: run every strategy once on one data set and print a table.

A quick, honest check that each strategy works and does what it claims, before any
benchmarking: status, seconds of one run, stored bytes and the output checksum.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from typing import NoReturn

from bench import services
from bench.options import SELECT_OPTIONS, SESSION_OPTIONS, SOURCE_OPTION


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    data = parser.add_mutually_exclusive_group()
    data.add_argument("--size", default="small",
                      help="generated data: tiny, small, medium, full, xl or a row count "
                           "(default: small = 100,000 rows)")
    flag, source = SOURCE_OPTION
    data.add_argument(flag, "--source", dest="bench_source", **source)
    parser.add_argument("--shapes", default="dataframe,records",
                        help="payload shapes to run (default: dataframe,records)")
    parser.add_argument("-k", "--only", metavar="GLOB", action="append",
                        help="run only cases whose label matches (e.g. 'cached/*'); repeatable")
    for flag, kwargs in [*SELECT_OPTIONS, *SESSION_OPTIONS]:
        parser.add_argument(flag, **kwargs)
    return parser.parse_args(argv)


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    services.isolate_prefect()

    from bench import data
    from bench.limits import (
        CaseTimeout,
        raise_if_interrupted,
        started_processes,
        stop_on_signals,
        time_limit,
    )
    from bench.options import (
        OptionError,
        check_addresses,
        positive,
        selection,
        selects,
        session_options,
    )
    from bench.report_table import print_table
    from bench.runner import CaseResult, run_case
    from bench.session import session
    from strategies import cases, labels

    def option(flag: str) -> object:
        return getattr(args, flag[2:].replace("-", "_"))

    stop_on_signals()
    try:
        check_addresses(option)
        options = session_options(option)
        chosen = selection(args.bench_strategies, labels())
        timeout = positive(args.bench_case_timeout, "--bench-case-timeout")
        source = (data.resolve_source(args.bench_source) if args.bench_source
                  else data.dataset(args.size))
        shapes = tuple(s.strip() for s in args.shapes.split(",") if s.strip())
        print(f"data: {args.bench_source or args.size} -> {source}", file=sys.stderr)
        with session(options) as running:
            for line in running.describe():
                print(line, file=sys.stderr)
            todo = [c for c in cases(str(source), running.context, shapes)
                    if selects(chosen, c.strategy, c.variant)]
            if args.only:
                todo = [c for c in todo if c.strategy == "floor"
                        or any(fnmatch.fnmatch(c.label, pattern) for pattern in args.only)]
            results, reference = [], None
            for number, case in enumerate(todo, 1):
                print(f"[{number:2d}/{len(todo)}] {case.label} ...", end=" ", file=sys.stderr,
                      flush=True)
                try:
                    with time_limit(timeout), started_processes():
                        result = run_case(case, running.context, reference)
                except CaseTimeout as err:
                    result = CaseResult(case, "timeout", str(err))
                raise_if_interrupted()
                if case.strategy == "floor" and result.status == "ok":
                    reference = result.checksum
                print(result.status + (f" ({result.reason})" if result.reason else ""),
                      file=sys.stderr, flush=True)
                results.append(result)
    except (OptionError, data.SourceError, services.ServiceError, ValueError) as err:
        fail(str(err))
    except KeyboardInterrupt:
        fail("interrupted; all started services were stopped", 130)
    print_table(results)
    return 1 if any(r.status in ("failed", "timeout") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
