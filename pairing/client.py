"""One side of ``bin/bench-ab``, as its pytest session sees it: asks the coordinator
(``pairing.coordinator``) before each step of measuring work.

``bin/bench-ab`` starts each side's session with the environment variables below; a session
without them is an ordinary, unpaired run (:func:`from_environment` gives None).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from typing import Any

from pairing import coordinator

SOCKET, AUTHKEY, SIDE, ID, LABEL, OTHER, PER_BLOCK, BLOCKS, BUDGET = (
    "BENCH_AB_SOCKET", "BENCH_AB_AUTHKEY", "BENCH_AB_SIDE", "BENCH_AB_ID", "BENCH_AB_LABEL",
    "BENCH_AB_OTHER", "BENCH_AB_ROUNDS_PER_BLOCK", "BENCH_AB_BLOCKS", "BENCH_AB_BUDGET")
"""The environment variables bin/bench-ab sets for each side's session."""
PROTOCOL = 1
"""The version of the messages this client and ``pairing.coordinator`` exchange: a side whose
checkout has another one cannot take turns with this ``bin/bench-ab`` (it is refused)."""
PREPARE = 0
"""Step 0 of a case: its memory run, warm-up and profiled runs; step 1 + i: block i."""


@dataclass
class Pairing:
    """A connected side: its requests block until the coordinator says go."""

    conn: Connection | None
    side: str
    id: str
    label: str
    other: str
    rounds_per_block: int = 3
    blocks: int = 10
    budget_s: float = 20.0

    def _ask(self, kind: str, *args: Any) -> Any:
        """Send a request and wait for its reply; None once the connection broke (an
        interrupted wait: this side then goes on alone, never reading a stale reply)."""
        if self.conn is None:
            return None
        try:
            self.conn.send((kind, self.side, *args))
            return self.conn.recv()
        except BaseException:
            self.conn.close()
            self.conn = None
            raise

    def order(self, names: list[str]) -> list[str]:
        """The order both sides run their cases in (waits for the other side's list)."""
        return list(self._ask("order", names) or names)

    def ready(self) -> None:
        """This side's services run: wait for the other side's."""
        self._ask("ready")

    def begin(self, case: str) -> None:
        """Before any measuring work on ``case``: wait for this side's turn."""
        self._ask("turn", case, PREPARE)

    def agree(self, case: str, rounds: int) -> tuple[int, int, bool]:
        """The rounds to time (this side wants ``rounds``; both sides get the same), in
        blocks of how many, and whether the other side times them too (False: this side
        runs the case alone)."""
        agreed, per_block, shared = self._ask("agree", case, rounds) or (rounds, 1, False)
        return int(agreed), int(per_block), bool(shared)

    def round(self, case: str, index: int) -> None:
        """Before timed block ``index`` (untimed: in its first round's setup)."""
        self._ask("turn", case, PREPARE + 1 + index)

    def end(self, case: str) -> None:
        """No more work on ``case`` on this side."""
        self._ask("end", case)

    def close(self) -> None:
        """This side is done: waits until the other side is done with their shared cases,
        so that stopping this side's services does not overlap its rounds."""
        with contextlib.suppress(OSError, EOFError):
            self._ask("bye")
        if self.conn is not None:
            self.conn.close()

    @property
    def other_side(self) -> str:
        """The other side's name and label, e.g. ``B (prefect==3.9.1)``."""
        return f"{coordinator.other(self.side)} ({self.other})"

    def info(self) -> dict[str, Any]:
        """The run file's ``bench.pairing`` object (``runfile.PairingInfo``)."""
        return {"id": self.id, "side": self.side, "label": self.label, "other": self.other,
                "blocks": "ABBA", "rounds_per_block": self.rounds_per_block,
                "target_blocks": self.blocks, "budget_s": self.budget_s}


def from_environment() -> Pairing | None:
    """The pairing bin/bench-ab asked for (None: an ordinary run); ``OSError`` when the
    coordinator cannot be reached."""
    address = os.environ.get(SOCKET)
    if not address:
        return None
    key = os.environ.pop(AUTHKEY, "")  # not inherited by the services this side starts
    conn = Client(address, family="AF_UNIX", authkey=bytes.fromhex(key))
    get = os.environ.get
    return Pairing(conn, os.environ[SIDE], get(ID, ""), get(LABEL, ""), get(OTHER, ""),
                   int(get(PER_BLOCK) or 3), int(get(BLOCKS) or 10), float(get(BUDGET) or 20))
