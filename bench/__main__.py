"""``python -m bench``: run every strategy once on one data set and print a table.

A quick, honest check that each strategy works and does what it claims, before any
benchmarking: status, seconds of one run, stored bytes and the output checksum.
"""

from __future__ import annotations

import argparse
import fnmatch
import signal
import sys
import threading
from typing import NoReturn

from bench import services
from bench.options import SESSION_OPTIONS, SOURCE_OPTION


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
    for flag, kwargs in SESSION_OPTIONS:
        parser.add_argument(flag, **kwargs)
    return parser.parse_args(argv)


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


_STOP = threading.Event()


def _interrupt(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM: remember it (Prefect may swallow the exception inside a flow)."""
    _STOP.set()
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    services.isolate_prefect()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)

    from bench import data
    from bench.options import session_options
    from bench.report_table import print_table
    from bench.runner import run_case
    from bench.session import session
    from strategies import cases

    try:
        source = (data.resolve_source(args.bench_source) if args.bench_source
                  else data.dataset(args.size))
        shapes = tuple(s.strip() for s in args.shapes.split(",") if s.strip())
        options = session_options(lambda flag: getattr(args, flag[2:].replace("-", "_")))
        print(f"data: {args.bench_source or args.size} -> {source}", file=sys.stderr)
        with session(options) as running:
            for line in running.describe():
                print(line, file=sys.stderr)
            todo = cases(str(source), running.context, shapes)
            if args.only:
                todo = [c for c in todo if c.strategy == "floor"
                        or any(fnmatch.fnmatch(c.label, pattern) for pattern in args.only)]
            results, reference = [], None
            for number, case in enumerate(todo, 1):
                print(f"[{number:2d}/{len(todo)}] {case.label} ...", end=" ", file=sys.stderr,
                      flush=True)
                result = run_case(case, running.context, reference)
                if _STOP.is_set():
                    raise KeyboardInterrupt
                if case.strategy == "floor" and result.status == "ok":
                    reference = result.checksum
                print(result.status + (f" ({result.reason})" if result.reason else ""),
                      file=sys.stderr, flush=True)
                results.append(result)
    except (data.SourceError, services.ServiceError, ValueError) as err:
        fail(str(err))
    except KeyboardInterrupt:
        fail("interrupted; all started services were stopped", 130)
    print_table(results)
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
