"""Rounds are spent where they decide something (``bench.rounds``)."""

from __future__ import annotations

from bench.cases import Profile
from bench.rounds import plan

STANDARD = Profile("test", ("small", "medium"), budget_s=4.0, min_rounds=2)  # 2 to 10 rounds


def test_a_fast_case_gets_the_rounds_that_fit_its_budget() -> None:
    found = plan(STANDARD, 0.5, ("baseline", 0.1))
    assert found.rounds == 8 and "as many as fit in the 4 s budget" in found.reason


def test_a_costly_case_far_from_its_reference_gets_one_round() -> None:
    found = plan(STANDARD, 6.0, ("baseline", 0.6))  # by its memory run, under 2.5x budget
    assert (found.rounds, found.reason) == (1, "1 round: one run is already x10 baseline, "
                                               "beyond x2 either way")
    faster = plan(STANDARD, 2.5, ("baseline", 8.0))
    assert faster.rounds == 1 and "x0.31 baseline" in faster.reason
    assert "x120 floor" in plan(STANDARD, 6.0, ("floor", 0.05)).reason


def test_a_costly_case_close_to_its_reference_gets_its_minimum() -> None:
    assert plan(STANDARD, 6.0, ("baseline", 4.0)).rounds == STANDARD.min_rounds
    assert plan(STANDARD, 6.0, None).rounds == STANDARD.min_rounds  # no reference yet


def test_a_settled_case_of_several_budgets_is_timed_by_its_memory_run_and_profiled() -> None:
    found = plan(STANDARD, 12.0, ("baseline", 0.6))
    assert (found.rounds, found.profiled) == (0, True)
    assert found.reason == ("timed once, by its memory run: one run is already x20 baseline, "
                            "beyond x2 either way, and it took 12 s, over 2.5x the 4 s budget")
    assert plan(STANDARD, 9.0, ("baseline", 0.6)).rounds == 1  # under 2.5x the budget
    assert plan(STANDARD, 12.0, ("baseline", 0.6), by_memory_run=False).rounds == 1
    assert plan(STANDARD, 12.0, ("baseline", 8.0)).rounds == STANDARD.min_rounds  # not settled


def test_a_case_too_slow_to_repeat_is_timed_by_its_memory_run() -> None:
    found = plan(STANDARD, 150.0, ("baseline", 0.5))
    assert (found.rounds, found.profiled) == (0, False)
    assert found.reason == "timed once, by its memory run: one run (150 s) is over 5x the " \
                           "4 s budget"
    assert plan(STANDARD, 150.0, ("baseline", 0.5), by_memory_run=False).rounds == 1


def test_a_reference_case_always_gets_its_full_rounds() -> None:
    found = plan(STANDARD, 150.0, ("floor", 0.05), shortened=False)
    assert found.rounds == STANDARD.min_rounds and "never fewer" in found.reason


def test_a_case_predicted_over_the_profile_run_limit_is_skipped_saying_why(tmp_path) -> None:
    """From its memory run at the next smaller size, times the rows; never a reference."""
    from dataclasses import replace

    from bench.cases import BenchCase
    from bench.measure import Memory
    from bench.orchestrator import CaseSettings, Inputs, Orchestrator
    from runfile import CaseRecord
    from strategies.base import Context

    limited = Profile("limited", ("small", "medium"), budget_s=2.0, run_limit_s=60.0)
    found = Orchestrator(limited, Inputs(), Context(tmp_path), CaseSettings())
    slow, quick = (BenchCase(s, None, "dataframe", "small") for s in ("compressed", "disk"))
    found.memory_runs[slow.name] = Memory("ok", seconds=7.3)
    found.memory_runs[quick.name] = Memory("ok", seconds=1.1)
    found.memory_runs["baseline-dataframe-small"] = Memory("ok", seconds=9.0)
    skipped = found._too_slow(BenchCase("compressed", None, "dataframe", "medium"))
    assert skipped is not None and skipped.status == "skipped"
    assert skipped.reason == ("not run at 1,000,000 rows: one run would take about 73 s "
                              "(7.3 s at 100,000 rows, times 10: the ratio of rows), over the "
                              "limited profile's 60 s; the full profile runs it")
    assert found._too_slow(BenchCase("disk", None, "dataframe", "medium")) is None  # 11 s
    assert found._too_slow(BenchCase("baseline", None, "dataframe", "medium")) is None
    assert found._too_slow(BenchCase("quote", None, "dataframe", "medium")) is None  # no run
    # with its reference measured at both sizes, it scales as its reference grew
    for size, rows, seconds in (("small", 100_000, 0.3), ("medium", 1_000_000, 3.3)):
        found.records.append(CaseRecord("compressed", "none", "dataframe", size, rows, "ok",
                                        rounds=(seconds,)))
    zstd = BenchCase("compressed", "zstd", "dataframe", "small")
    found.memory_runs[zstd.name] = Memory("ok", seconds=6.0)
    grown = found._too_slow(replace(zstd, size="medium"))
    assert grown is not None and "about 66 s (6.0 s at 100,000 rows, times 11: as " \
        "compressed/none grew)" in str(grown.reason)
