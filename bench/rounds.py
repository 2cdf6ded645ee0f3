"""How many timed rounds a case gets, and why: rounds are spent where they decide something.

A case gets as many rounds as fit in its profile's budget (at least ``min_rounds``, at most
``max_rounds``), except where more rounds would decide nothing:

- a case whose one run takes more than ``IN_MEMORY_RUN_ONLY`` times the budget is timed
  once, by its memory run (a fresh process: its first-run costs are in): repeating a run of
  minutes to learn its second decimal would cost most of the profile;
- a case whose rounds would not fit the budget anyway and which one run already shows to be
  ``SETTLED`` times its reference's median or more, either way, gets one round; none when
  that run, its memory run, took over ``SETTLED_BY_MEMORY_RUN`` times the budget: it is
  timed by it (first-run costs measured at 10% or less of a run that long), and still
  profiled.

A case that others are judged against (``reporting.verdicts.REFERENCE_LABELS``: floor,
baseline, nocache, compressed/none, cached/cold) always gets its full rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.cases import Profile
from reporting.units import ratio, seconds

IN_MEMORY_RUN_ONLY = 5.0
"""A case whose one run takes more than this many times the budget is timed by its memory
run only."""
SETTLED = 2.0
"""A costly case at least this many times its reference's median (or at most its inverse)
gets one round."""
SETTLED_BY_MEMORY_RUN = 2.5
"""A settled case whose memory run took more than this many times the budget is timed by
its memory run."""


@dataclass(frozen=True)
class Plan:
    """Timed rounds in the measuring process (0: the memory run's time is the case's one
    round), and why that many."""

    rounds: int
    reason: str
    profiled: bool = True  # False: too costly for the profiled runs too


def plan(profile: Profile, one_run_s: float, reference: tuple[str, float] | None = None,
         *, shortened: bool = True, by_memory_run: bool = True) -> Plan:
    """The rounds of a case whose one run took ``one_run_s`` seconds, given its reference's
    name and median seconds in this run (None when it has none yet). Without
    ``shortened`` (a reference case) it gets the budget's rounds; without
    ``by_memory_run`` (no memory run, or already past it) it gets at least one round."""
    budget = profile.budget_s
    if shortened and by_memory_run and one_run_s > IN_MEMORY_RUN_ONLY * budget:
        return Plan(0, f"timed once, by its memory run: one run ({seconds(one_run_s)}) is "
                       f"over {IN_MEMORY_RUN_ONLY:g}x the {budget:g} s budget", profiled=False)
    if shortened and reference is not None and one_run_s * profile.min_rounds > budget:
        name, median = reference
        times = one_run_s / median if median > 0 else float("inf")
        if times >= SETTLED or times <= 1 / SETTLED:
            settled = f"one run is already {ratio(times)} {name}, beyond x{SETTLED:g} either way"
            if by_memory_run and one_run_s > SETTLED_BY_MEMORY_RUN * budget:
                return Plan(0, f"timed once, by its memory run: {settled}, and it took "
                               f"{seconds(one_run_s)}, over {SETTLED_BY_MEMORY_RUN:g}x the "
                               f"{budget:g} s budget")
            return Plan(1, f"1 round: {settled}")
    rounds = profile.rounds(one_run_s)
    kept = "" if shortened else "; a reference of other cases, never fewer"
    return Plan(rounds, f"{rounds} round(s): as many as fit in the {budget:g} s budget "
                        f"({profile.min_rounds} to {profile.max_rounds}){kept}")
