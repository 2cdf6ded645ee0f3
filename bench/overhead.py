"""``python -m bench.overhead``: how much the harness adds to a case's measured time.

For each case, in one process against one session, blocks of rounds are timed two ways,
in ABBA order so that drift of the machine hits both alike:

- harness: ``bench.measure.time_case`` through pytest-benchmark's own ``BenchmarkFixture``
  (warm-up, then ``benchmark.pedantic`` rounds with verify and reset between them): the
  very code ``pytest --benchmark-only`` runs;
- bare: a ``time.perf_counter()`` loop around the same prepared flow run, with the same
  (untimed) warm-up, work between rounds (``bench.measure.between_rounds``) and verify.

It prints, per case, both medians over every round and the overhead (harness / bare - 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from types import SimpleNamespace
from typing import Any

from pytest_benchmark.fixture import BenchmarkFixture
from pytest_benchmark.utils import NameWrapper

from bench import data
from bench.cases import BenchCase
from bench.measure import BenchmarkTimer, between_rounds, time_case
from bench.runner import checked, floor_checksum, run_case
from bench.session import session
from reporting.terminal import format_table
from runfile import case_name
from strategies import STRATEGIES
from strategies.base import Case, Context

DEFAULT_CASES = "floor,baseline,disk,cached/cold"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="small", help="generated data (default: small)")
    parser.add_argument("--cases", default=DEFAULT_CASES,
                        help=f"comma-separated case labels (default: {DEFAULT_CASES})")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per block (default 10)")
    parser.add_argument("--blocks", type=int, default=4,
                        help="blocks per way, run ABBA (default 4)")
    return parser.parse_args(argv)


def harness_block(case: Case, ctx: Context, reference: str, rounds: int) -> list[float]:
    """``rounds`` rounds timed exactly as the benchmark suite times them."""
    name = case_name(case.strategy, case.variant)
    stats: list[Any] = []
    fixture = BenchmarkFixture(
        SimpleNamespace(name=name, nodeid=name), disable_gc=False,
        timer=NameWrapper(time.perf_counter), min_rounds=1, min_time=0.000005, max_time=1.0,
        precision=None, confidence=None, warmup=False, warmup_iterations=0,
        calibration_precision=10, add_stats=stats.append, logger=None, warner=print,
        disabled=False, cprofile=False, cprofile_loops=None, cprofile_dump=None)
    result = time_case(case, ctx, BenchmarkTimer(fixture), lambda _: rounds, reference)
    if result.status != "ok":
        raise RuntimeError(f"{name}: {result.status}: {result.reason}")
    return list(fixture.stats.stats.data)


def bare_block(case: Case, ctx: Context, reference: str, rounds: int) -> list[float]:
    """``rounds`` rounds of the same prepared flow, timed by a bare perf_counter loop."""
    name = case_name(case.strategy, case.variant)
    prepared = STRATEGIES[case.strategy].prepare(case, ctx)
    warm_up = run_case(case, ctx, reference, prepared=prepared)
    if warm_up.status != "ok":
        raise RuntimeError(f"{name}: {warm_up.status}: {warm_up.reason}")
    seconds = []
    for _ in range(rounds):
        between_rounds(prepared)
        start = time.perf_counter()
        raw = prepared.run()
        seconds.append(time.perf_counter() - start)
        result = checked(case, prepared, raw, reference, seconds[-1])
        if result.status != "ok":
            raise RuntimeError(f"{name}: {result.status}: {result.reason}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    source = str(data.dataset(args.size))
    wanted = [label.strip() for label in args.cases.split(",") if label.strip()]
    rows = []
    with session() as running:
        ctx = running.context
        found = {case_name(s.name, v): BenchCase(s.name, v, "dataframe", args.size).on(source)
                 for s in STRATEGIES.values() for v in s.available_variants(ctx)}
        unknown = [label for label in wanted if label not in found]
        if unknown:
            print(f"error: --cases: unknown {', '.join(unknown)}; choose from "
                  f"{', '.join(found)}", file=sys.stderr)
            return 2
        reference = floor_checksum(source)
        for label in wanted:
            case = found[label]
            timed: dict[str, list[float]] = {"harness": [], "bare": []}
            order = ["harness", "bare", "bare", "harness"] * ((args.blocks + 1) // 2)
            for way in order[: 2 * args.blocks]:
                block = harness_block if way == "harness" else bare_block
                timed[way] += block(case, ctx, reference, args.rounds)
                print(f"{label}: {way} block done", file=sys.stderr, flush=True)
            harness, bare = (statistics.median(timed[w]) for w in ("harness", "bare"))
            rows.append([label, str(len(timed["bare"])), f"{bare:.4f}", f"{harness:.4f}",
                         f"{(harness / bare - 1) * 100:+.2f}%"])
    print(format_table(["case", "rounds each", "bare median s", "harness median s",
                        "overhead"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
