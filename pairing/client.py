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

SOCKET, AUTHKEY, SIDE, ID, LABEL, OTHER, PER_BLOCK = (
    "BENCH_AB_SOCKET", "BENCH_AB_AUTHKEY", "BENCH_AB_SIDE", "BENCH_AB_ID", "BENCH_AB_LABEL",
    "BENCH_AB_OTHER", "BENCH_AB_ROUNDS_PER_BLOCK")
"""The environment variables bin/bench-ab sets for each side's session."""
PREPARE = 0
"""Step 0 of a case: its memory run, warm-up and profiled runs; step 1 + i: block i."""


@dataclass
class Pairing:
    """A connected side: its requests block until the coordinator says go."""

    conn: Connection
    side: str
    id: str
    label: str
    other: str
    rounds_per_block: int = 1

    def _ask(self, kind: str, *args: Any) -> Any:
        self.conn.send((kind, self.side, *args))
        return self.conn.recv()

    def order(self, names: list[str]) -> list[str]:
        """The order both sides run their cases in (waits for the other side's list)."""
        return list(self._ask("order", names))

    def ready(self) -> None:
        """This side's services run: wait for the other side's."""
        self._ask("ready")

    def begin(self, case: str) -> None:
        """Before any measuring work on ``case``: wait for this side's turn."""
        self._ask("turn", case, PREPARE)

    def agree(self, case: str, blocks: int) -> int:
        """The blocks to time: this side wants ``blocks``; both sides get the same."""
        return int(self._ask("agree", case, blocks))

    def round(self, case: str, index: int) -> None:
        """Before timed block ``index`` (untimed: in its first round's setup)."""
        self._ask("turn", case, PREPARE + 1 + index)

    def end(self, case: str) -> None:
        """No more work on ``case`` on this side."""
        self._ask("end", case)

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self._ask("bye")
        self.conn.close()

    def info(self) -> dict[str, str]:
        """The run file's ``bench.pairing`` object (``runfile.PairingInfo``)."""
        return {"id": self.id, "side": self.side, "label": self.label, "other": self.other,
                "blocks": "ABBA", "rounds_per_block": self.rounds_per_block}


def from_environment() -> Pairing | None:
    """The pairing bin/bench-ab asked for (None: an ordinary run); ``OSError`` when the
    coordinator cannot be reached."""
    address = os.environ.get(SOCKET)
    if not address:
        return None
    conn = Client(address, family="AF_UNIX",
                  authkey=bytes.fromhex(os.environ.get(AUTHKEY, "")))
    return Pairing(conn, os.environ[SIDE], os.environ.get(ID, ""), os.environ.get(LABEL, ""),
                   os.environ.get(OTHER, ""), int(os.environ.get(PER_BLOCK) or 1))
