"""Turn saved runs into an HTML report or a recommendation, or gate a run against a baseline.

    python report.py html RUN.json [RUN.json ...] [--baseline BASELINE.json] [-o PATH]
    python report.py recommend RUN.json [RUN.json ...]
    python report.py check BASELINE.json RUN.json [--max-slowdown R] [--max-memory-growth R]

``html`` writes one self-contained file (default ``results/report.html``) and prints its path.
``recommend`` prints the picks per workload and size (``reporting.recommend``).
``check`` exits 0 (no regression), 1 (regression) or 2 (unusable input, with one line why);
the others exit 0, or 2 on unusable input. Several runs are merged, later ones winning.
When the two runs of ``check`` (or the two of ``html``) are the sides of one ``bin/bench-ab``
job, in either order, side B is gated against side A block by block (``reporting.paired``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reporting import gate, paired, recommend
from reporting.cases import merge
from runfile import Run, RunError, load

DEFAULT_REPORT = Path("results/report.html")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="report.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    html = commands.add_parser("html", help="write the HTML report of one or more runs")
    html.add_argument("runs", nargs="+", type=Path, metavar="RUN.json")
    html.add_argument("--baseline", type=Path, metavar="BASELINE.json",
                      help="a run to compare against (adds the 'against the baseline' section)")
    html.add_argument("-o", "--output", type=Path, default=DEFAULT_REPORT,
                      help=f"where to write the report (default {DEFAULT_REPORT})")

    picks = commands.add_parser("recommend", help="print the fastest, lightest and smallest "
                                "case per workload and size of one or more runs")
    picks.add_argument("runs", nargs="+", type=Path, metavar="RUN.json")

    check = commands.add_parser("check", help="fail (exit 1) when RUN regressed against "
                                "BASELINE, or side B of a bin/bench-ab pair against side A")
    check.add_argument("baseline", type=Path, metavar="BASELINE.json",
                       help="the baseline run, or either side of a pair")
    check.add_argument("run", type=Path, metavar="RUN.json",
                       help="the run to gate, or the other side of the pair")
    check.add_argument("--max-slowdown", type=float, default=None,
                       metavar="R", help="allowed growth of a case's time, both relative to "
                       "its reference in the same run and in seconds (default "
                       f"{gate.DEFAULT_MAX_SLOWDOWN}, i.e. up to "
                       f"{gate.DEFAULT_MAX_SLOWDOWN * 100:.0f}%% slower); for a pair, of the "
                       "lower bound of B/A's 95%% interval (default "
                       f"{paired.DEFAULT_PAIRED_MAX_SLOWDOWN})")
    check.add_argument("--max-memory-growth", type=float,
                       default=gate.DEFAULT_MAX_MEMORY_GROWTH, metavar="R",
                       help="allowed growth of a case's rss_delta_bytes, beyond "
                       f"{gate.MIN_MEMORY_GROWTH_BYTES // 2**20} MiB "
                       f"(default {gate.DEFAULT_MAX_MEMORY_GROWTH})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "html":
            from reporting.html import write_report

            runs = [load(path) for path in args.runs]
            baseline = load(args.baseline) if args.baseline else None
            print(write_report(runs, baseline, args.output))
            return 0
        if args.command == "recommend":
            run = merge([load(path) for path in args.runs])
            print(recommend.render(recommend.recommend(run.cases)))
            return 0
        verdict = _check(load(args.baseline), load(args.run), args.max_slowdown,
                         args.max_memory_growth)
        print(verdict.render())
        return verdict.exit_code
    except RunError as err:
        print(f"report.py {args.command}: {err}", file=sys.stderr)
        return 2


def _check(first: Run, second: Run, max_slowdown: float | None,
           max_memory_growth: float) -> gate.GateResult:
    """The paired gate for the two sides of a pair (either order), else the gate."""
    if paired.is_pair(first, second):
        limit = paired.DEFAULT_PAIRED_MAX_SLOWDOWN if max_slowdown is None else max_slowdown
        return paired.check(first, second, limit, max_memory_growth)
    limit = gate.DEFAULT_MAX_SLOWDOWN if max_slowdown is None else max_slowdown
    return gate.check(first, second, limit, max_memory_growth)
