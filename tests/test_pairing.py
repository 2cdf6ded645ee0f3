"""The coordinator of bin/bench-ab: one side works at a time, rounds alternate A B B A, a
one-sided or ended case runs alone, a side that leaves never blocks the other; the paired
timer keeps its rounds in block order."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from bench.measure import LoopTimer, PairedTimer, drop_retried_rounds
from pairing.coordinator import Coordinator, first_side


class Side:
    """A side's session in a thread: runs its cases through the coordinator's turns and
    logs every step it does, with whether the other side was working at the same time."""

    def __init__(self, name: str, coordinator: Coordinator, log: list[tuple[str, str, str]],
                 busy: list[str]) -> None:
        self.name, self.c, self.log, self.busy = name, coordinator, log, busy

    def ask(self, kind: str, *args: object) -> object:
        return self.c.handle((kind, self.name, *args))

    def work(self, what: str) -> None:
        self.busy.append(self.name)
        assert len(set(self.busy)) == 1, f"{self.busy} at once"
        self.log.append((self.name, *what.split(":", 1)))
        self.busy.remove(self.name)

    def run(self, cases: list[str], rounds: dict[str, int],
            fails: frozenset[str] = frozenset(), listed: list[str] | None = None) -> None:
        """Run ``cases`` (after sending ``listed``: a case listed, then deselected)."""
        order = self.ask("order", listed or cases)
        assert isinstance(order, list)
        self.ask("ready")
        for case in [c for c in order if c in cases]:
            self.ask("turn", case, 0)
            self.work(f"{case}:prepare")
            if case not in fails:
                agreed, per_block, _ = self.ask("agree", case, rounds[case])  # type: ignore[misc]
                for i in range(agreed // per_block):
                    self.ask("turn", case, 1 + i)
                    self.work(f"{case}:round {i}")
            self.ask("end", case)
        self.ask("bye")


def run_both(a: Callable[[Side], None],
             b: Callable[[Side], None]) -> list[tuple[str, str, str]]:
    coordinator, log, busy = Coordinator(rounds_per_block=1), [], []
    threads = [threading.Thread(target=fn, args=(Side(name, coordinator, log, busy),),
                                daemon=True) for name, fn in (("A", a), ("B", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
        assert not thread.is_alive(), f"deadlock; so far: {log}"
    return log


def test_first_side_alternates_by_step_and_by_case() -> None:
    assert [first_side(0, s) for s in range(4)] == ["A", "B", "A", "B"]
    assert [first_side(1, s) for s in range(4)] == ["B", "A", "B", "A"]


def test_a_shared_case_runs_abba_one_side_at_a_time_with_the_same_rounds() -> None:
    log = run_both(lambda s: s.run(["x"], {"x": 2}), lambda s: s.run(["x"], {"x": 4}))
    assert [side for side, _, _ in log] == ["A", "B", "B", "A", "A", "B", "B", "A", "A", "B"]
    assert [what for _, _, what in log] == ["prepare"] * 2 + [
        f"round {i}" for i in range(4) for _ in range(2)]


def test_both_sides_get_the_more_rounds_of_the_two() -> None:
    log = run_both(lambda s: s.run(["x"], {"x": 1}), lambda s: s.run(["x"], {"x": 3}))
    assert sum(what.startswith("round") for _, _, what in log) == 6


def test_the_next_case_starts_with_the_other_side() -> None:
    log = run_both(lambda s: s.run(["x", "y"], {"x": 1, "y": 1}),
                   lambda s: s.run(["x", "y"], {"x": 1, "y": 1}))
    y = [side for side, case, _ in log if case == "y"]
    assert y[:2] == ["B", "A"]


def test_one_sided_and_failed_cases_run_alone_without_blocking() -> None:
    log = run_both(lambda s: s.run(["x", "only-a", "y"], {"x": 3, "only-a": 3, "y": 3},
                                   fails=frozenset({"x"})),
                   lambda s: s.run(["x", "y", "only-b"], {"x": 3, "y": 3, "only-b": 2}))
    assert sum(1 for side, case, what in log if (side, case) == ("A", "x")) == 1  # failed
    assert sum(1 for side, case, what in log if (side, case) == ("B", "x")) == 4  # alone
    assert sum(1 for _, case, _ in log if case == "only-a") == 4
    assert sum(1 for _, case, _ in log if case == "only-b") == 3
    y = [side for side, case, _ in log if case == "y"]
    assert y[:4] == ["B", "A", "A", "B"]  # the second shared case: B first


def test_the_common_order_is_a_then_b_own_cases() -> None:
    got: dict[str, object] = {}
    run_both(lambda s: got.setdefault("A", s.ask("order", ["x", "y"])),
             lambda s: got.setdefault("B", s.ask("order", ["z", "y", "x"])))
    assert got == {"A": ["x", "y", "z"], "B": ["x", "y", "z"]}


def test_a_side_that_leaves_never_blocks_the_other() -> None:
    def gone(side: Side) -> None:
        side.ask("order", ["x"])
        side.c.leave("B")  # its process died before it was ready

    log = run_both(lambda s: s.run(["x"], {"x": 2}), gone)
    assert [side for side, _, _ in log] == ["A"] * 3


def test_an_unknown_side_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown side"):
        Coordinator().handle(("turn", "C", "x", 0))


class Turns:
    other_side = "B (commit x)"

    def __init__(self, rounds_per_block: int = 3, blocks: int = 4, budget_s: float = 10.0,
                 shared: bool = True) -> None:
        self.rounds_per_block, self.blocks, self.budget_s = rounds_per_block, blocks, budget_s
        self.shared, self.asked, self.wanted = shared, [], []

    def agree(self, case: str, rounds: int) -> tuple[int, int, bool]:
        """As the coordinator: blocks of ``rounds_per_block`` where 6 fit, else of one."""
        self.wanted.append(rounds)
        per_block = self.rounds_per_block if rounds >= 6 * self.rounds_per_block else 1
        return rounds, per_block, self.shared

    def round(self, case: str, index: int) -> None:
        self.asked.append(index)


def test_a_short_case_gets_its_blocks_each_after_its_turn() -> None:
    turns, ran = Turns(rounds_per_block=3, blocks=6, budget_s=10.0), []
    timer = PairedTimer(LoopTimer(), turns, "x", settle=lambda: None)
    timer.rounds(lambda: ran.append("target"), lambda: ran.append("setup"), rounds=2,
                 one_run_s=0.1)
    assert turns.wanted == [18] and turns.asked == list(range(6))
    assert ran == ["setup", "target"] * 18
    blocks = timer.paired_blocks()
    assert blocks is not None and len(blocks) == 6
    assert blocks[0] == min(timer.data[:3])


def test_a_long_case_gets_what_the_budget_allows_in_blocks_of_one_round() -> None:
    turns = Turns(rounds_per_block=3, blocks=10, budget_s=10.0)
    timer = PairedTimer(LoopTimer(), turns, "x", settle=lambda: None)
    timer.rounds(lambda: None, lambda: None, rounds=1, one_run_s=2.5)
    assert turns.wanted == [4] and turns.asked == [0, 1, 2, 3]  # 4 blocks of 1 round
    assert timer.paired_blocks() == tuple(timer.data)


def test_the_profiles_rounds_are_never_cut() -> None:
    turns = Turns(rounds_per_block=1, blocks=3, budget_s=1.0)
    timer = PairedTimer(LoopTimer(), turns, "x", settle=lambda: None)
    timer.rounds(lambda: None, lambda: None, rounds=5, one_run_s=2.0)
    assert turns.wanted == [5]


def test_a_block_keeps_its_fastest_round_left_and_none_without_one() -> None:
    timer = PairedTimer(LoopTimer(), Turns(rounds_per_block=2, blocks=6), "x",
                        settle=lambda: None)
    timer.rounds(lambda: None, lambda: None, rounds=12, one_run_s=0.01)
    timer.inner.data[:] = timer.timed = [0.3, 0.2, 2.1, 2.2, 0.5, 2.4] + [1.0] * 6
    drop_retried_rounds(timer.data, [0, 0, 1, 1, 0, 1] + [0] * 6)
    assert timer.paired_blocks() == (0.2, None, 0.5, 1.0, 1.0, 1.0)


def test_a_case_run_alone_is_not_shared() -> None:
    coordinator = Coordinator()
    coordinator.leave("B")
    coordinator.handle(("order", "A", ["x"]))
    assert coordinator.handle(("agree", "A", "x", 2)) == (2, 1, False)


def test_an_unshared_timer_has_no_paired_blocks() -> None:
    timer = PairedTimer(LoopTimer(), Turns(blocks=1, rounds_per_block=2, shared=False), "x",
                        settle=lambda: None)
    timer.rounds(lambda: None, lambda: None, rounds=2)
    assert len(timer.data) == 2 and timer.paired_blocks() is None
    assert timer.rounds_reason("2 round(s): the profile's") == "2 round(s): the profile's"


def test_a_paired_timer_says_its_blocks_and_the_other_side() -> None:
    timer = PairedTimer(LoopTimer(), Turns(rounds_per_block=3, blocks=6), "x",
                        settle=lambda: None)
    timer.rounds(lambda: None, lambda: None, rounds=2, one_run_s=0.01)
    assert timer.rounds_reason("2 round(s): the profile's") == (
        "18 round(s) in blocks of 3, taking turns with side B (commit x) (bin/bench-ab); "
        "alone: 2 round(s): the profile's")


def test_without_a_one_run_time_a_case_keeps_its_profiles_rounds() -> None:
    turns = Turns(rounds_per_block=3, blocks=10, budget_s=20.0)
    timer = PairedTimer(LoopTimer(), turns, "x", settle=lambda: None)
    timer.rounds(lambda: None, lambda: None, rounds=2, one_run_s=None)  # a head warm-up
    assert turns.wanted == [2]


def test_a_side_that_skips_a_shared_case_never_blocks_the_other() -> None:
    log = run_both(lambda s: s.run(["p", "c"], {"p": 2, "c": 2}),
                   lambda s: s.run(["c"], {"c": 2}, listed=["p", "c"]))
    assert sum(1 for side, case, _ in log if (side, case) == ("A", "p")) == 3  # alone
    assert sum(1 for _, case, _ in log if case == "c") == 6


def test_the_side_done_first_waits_until_the_other_ended_their_cases() -> None:
    coordinator = Coordinator(rounds_per_block=1)
    listed = threading.Thread(target=coordinator.handle, args=(("order", "B", ["x"]),))
    listed.start()
    coordinator.handle(("order", "A", ["x"]))
    listed.join()
    bye = threading.Thread(target=coordinator.handle, args=(("bye", "A"),), daemon=True)
    bye.start()
    bye.join(timeout=0.3)
    assert bye.is_alive()  # B has not ended x yet
    coordinator.handle(("end", "B", "x"))
    bye.join(timeout=10)
    assert not bye.is_alive()
