"""Who measures when: the turn-taker between the two sides of ``bin/bench-ab``.

Each side is an ordinary ``pytest --benchmark-only`` session (``pairing.client``) that asks
this coordinator, over a Unix socket, before it does any measuring work. One side works at
a time (it holds the *baton*): neither side's timed rounds run next to the other's
measuring work (each side lets its own Prefect server settle before it hands over). The
work of a case the two sides share is cut into steps, each done by both sides, one after the
other: step 0 is the case's preparation (its memory run, warm-up and profiled runs), step
``1 + i`` its block ``i`` of timed rounds (a few rounds in a row, ``bin/bench-ab``'s
``--rounds-per-block``). Which side goes first alternates from step to step, and from case
to case, so the blocks run A B B A A B ...: the machine's drift and passing load hit both
sides alike, and block ``i`` of A ran next to block ``i`` of B.

The sides agree on a case's rounds before its rounds: the larger number of the two, cut
into blocks of ``rounds_per_block`` where that makes ``MIN_BLOCKS`` blocks at least, else
into blocks of one round. A case that only one side has, or that the other side ended
early (it failed, was skipped, is timed by its memory run alone) or never started (it
went on to a later case: deselected, or run in another order), or whose side has gone
(its process ended), is run by that side alone, whenever the baton is free. A side that never
reaches the coordinator, or whose connection drops, is gone: the other goes on alone.

Messages (tuples, one request and one reply each; the first element names it):

- ``("order", side, names)`` -> the common order of the cases (A's order, then B's own);
  waits for both sides' lists.
- ``("ready", side)`` -> ``"go"`` once both sides started their services.
- ``("turn", side, case, step)`` -> ``"go"`` when the side may do that step.
- ``("agree", side, case, rounds)`` -> ``(rounds, rounds_per_block, shared)``: what both
  sides run, or the side's own rounds in blocks of one when it runs the case alone
  (``shared`` False).
- ``("end", side, case)`` -> ``"ok"``: the side does no more steps of that case.
- ``("bye", side)`` -> ``"ok"`` once the other side is done with the cases they share:
  the side is finished (it may stop its services).

Every request releases the baton the side held.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Listener
from typing import Any

SIDES = ("A", "B")
MIN_BLOCKS = 6
"""A case with fewer rounds than this many blocks' worth runs blocks of one round: the
paired gate needs 6 blocks to judge a case's time (``reporting.paired.MIN_BLOCKS``)."""


def other(side: str) -> str:
    return SIDES[1 - SIDES.index(side)]


def first_side(case_index: int, step: int) -> str:
    """Who goes first at ``step`` of the ``case_index``-th common case: A B, then B A, then
    A B... so the sides' runs go A B B A A B ..., and each case starts with the other
    side than the case before."""
    return SIDES[(case_index + step) % 2]


@dataclass
class Coordinator:
    """The state both sides' requests are decided on (one lock, one condition)."""

    rounds_per_block: int = 3
    lock: threading.Condition = field(default_factory=threading.Condition)
    lists: dict[str, list[str]] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)
    holder: str | None = None
    held: dict[str, tuple[str, int] | None] = field(default_factory=lambda: dict.fromkeys(SIDES))
    done: dict[str, set[tuple[str, int]]] = field(
        default_factory=lambda: {side: set() for side in SIDES})
    ended: dict[str, set[str]] = field(default_factory=lambda: {side: set() for side in SIDES})
    started: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SIDES})
    asked: dict[tuple[str, str], int] = field(default_factory=dict)  # (side, case) -> rounds
    index: dict[str, int] = field(default_factory=dict)  # common case -> its place

    # --- requests -----------------------------------------------------------------------

    def handle(self, message: tuple[Any, ...]) -> Any:
        kind, side, *rest = message
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r}")
        with self.lock:
            self._release(side)
            answer = getattr(self, f"_{kind}")(side, *rest)
            self.lock.notify_all()
            return answer

    def leave(self, side: str) -> None:
        """``side`` is gone (its connection ended): the other goes on alone."""
        with self.lock:
            self._release(side)
            self.gone.add(side)
            self.lock.notify_all()

    def _order(self, side: str, names: list[str]) -> list[str]:
        self.lists[side] = list(names)
        self._wait(lambda: all(s in self.lists or s in self.gone for s in SIDES))
        a, b = self.lists.get("A", []), self.lists.get("B", [])
        both = set(a) & set(b)
        self.index = {name: i for i, name in enumerate(n for n in a if n in both)}
        return [*a, *(name for name in b if name not in set(a))]

    def _ready(self, side: str) -> str:
        self.ready.add(side)
        self._wait(lambda: all(s in self.ready or s in self.gone for s in SIDES))
        return "go"

    def _turn(self, side: str, case: str, step: int) -> str:
        if step == 0 and case in self.index:
            self._start(side, case)
        self._wait(lambda: self.holder is None and self._may(side, case, step))
        self.holder, self.held[side] = side, (case, step)
        return "go"

    def _agree(self, side: str, case: str, rounds: int) -> tuple[int, int, bool]:
        self.asked[(side, case)] = rounds
        self._wait(lambda: not self._shared(side, case) or (other(side), case) in self.asked)
        theirs = self.asked.get((other(side), case))
        if not self._shared(side, case) or not theirs or not rounds:
            return rounds, 1, False
        agreed = max(rounds, theirs)
        enough = agreed >= MIN_BLOCKS * self.rounds_per_block
        return agreed, self.rounds_per_block if enough else 1, True

    def _end(self, side: str, case: str) -> str:
        self.ended[side].add(case)
        return "ok"

    def _bye(self, side: str) -> str:
        self.ended[side] |= self.index.keys()  # also those it never started
        self.lock.notify_all()
        theirs = other(side)
        self._wait(lambda: theirs in self.gone or self.index.keys() <= self.ended[theirs])
        self.gone.add(side)
        return "ok"

    # --- rules --------------------------------------------------------------------------

    def _release(self, side: str) -> None:
        """The side is done with the step it held."""
        if self.held[side] is not None:
            self.done[side].add(self.held[side])  # type: ignore[arg-type]
            self.held[side] = None
        if self.holder == side:
            self.holder = None

    def _start(self, side: str, case: str) -> None:
        """``side`` starts ``case``: the shared cases before it that it never started, it
        skipped (deselected, or it runs them later: then alone)."""
        self.started[side].add(case)
        for name, place in self.index.items():
            if place < self.index[case] and name not in self.started[side]:
                self.ended[side].add(name)

    def _shared(self, side: str, case: str) -> bool:
        """Whether both sides still take part in ``case``."""
        theirs = other(side)
        return (case in self.index and theirs not in self.gone
                and case not in self.ended[theirs] and case not in self.ended[side])

    def _may(self, side: str, case: str, step: int) -> bool:
        if not self._shared(side, case):
            return True
        return (first_side(self.index[case], step) == side
                or (case, step) in self.done[other(side)])

    def _wait(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self.lock.wait(timeout=5)


def serve(listener: Listener, coordinator: Coordinator, sides: int = 2) -> None:
    """Accept ``sides`` connections in a thread, each served in a thread of its own. A
    connection that fails the handshake (a wrong key) is dropped, not counted."""

    def accept_all() -> None:
        accepted = 0
        while accepted < sides:
            try:
                conn = listener.accept()
            except OSError:  # closed: no more sides are coming
                return
            except (EOFError, multiprocessing.AuthenticationError):
                continue
            threading.Thread(target=_serve_one, args=(conn, coordinator), daemon=True).start()
            accepted += 1

    threading.Thread(target=accept_all, daemon=True).start()


def _serve_one(conn: Connection, coordinator: Coordinator) -> None:
    side = None
    try:
        while True:
            message = conn.recv()
            side = message[1]
            conn.send(coordinator.handle(message))
    except (EOFError, OSError):
        pass
    finally:
        if side is not None:
            coordinator.leave(side)
        conn.close()
