"""``bin/bench-ab A B [pytest args]``: measure two sides (Prefect versions or commits of this
project) in one job, interleaved, then report them side by side and gate B against A.

Each side runs as an ordinary ``pytest --benchmark-only`` session in its own environment
(``pairing.envs``), with its own services; the two take turns through a coordinator
(``pairing.coordinator``) so that each case's rounds alternate A B B A ... Both run files,
the report and the gate's verdict go to ``results/ab-<UTC time>/`` (or under
``--bench-results=DIR``), with ``ab.json`` naming the sides and their files.

Exit codes: 0 the gate passed, 1 it failed, 2 a side left no complete run, 4 bad input
(a side, a version or a ref that does not exist or does not install).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Listener
from pathlib import Path

from pairing import client
from pairing.coordinator import SIDES, Coordinator, serve
from pairing.envs import PLUGIN_ARGS, Env, EnvError, prepare
from pairing.sides import Side, SideError, check_version, parse
from reporting import cli as report
from runfile import RunError, load, write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
USAGE = ("usage: bin/bench-ab A B [pytest args]   (A, B: prefect==X.Y.Z or a git ref of this "
         "project; e.g. bin/bench-ab prefect==3.6.29 prefect==3.9.1 -k baseline)")
DEFAULT_PROFILE = "quick"
BLOCKS = 10
"""The blocks a case shared by both sides gets when its rounds fit the budget (``--blocks``)."""
ROUNDS_PER_BLOCK = 3
"""Rounds in a row of one side in a block (``--rounds-per-block``): the block's fastest
stands for it, so a round that met passing load does not sway its block. A case with
fewer rounds than 6 blocks' worth runs blocks of one round."""
BUDGET_S = 20.0
"""Timed seconds per case and side (``--budget``): a longer case gets fewer rounds, as
many as fit (at least its profile's)."""
OWN_FLAGS = ("--bench-results", "--blocks", "--rounds-per-block", "--budget")
PATH_FLAGS = ("--bench-source", "--bench-workload", "--benchmark-json")
"""Options whose value is a path: made absolute, since each side runs in its checkout."""


@dataclass
class Job:
    """Where one bench-ab job writes, and what its sides are."""

    folder: Path
    sides: dict[str, Side]
    envs: dict[str, Env]
    pytest_args: list[str]
    blocks: int
    rounds_per_block: int
    budget_s: float

    def side_results(self, side: str) -> Path:
        return self.folder / side


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if len(args) < 2 else sys.stdout)
        return 0 if args[:1] in (["-h"], ["--help"]) else 4
    try:
        job = _job(args[0], args[1], args[2:])
    except (SideError, EnvError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 4
    codes = _measure(job)
    return _conclude(job, codes)


def _job(a: str, b: str, rest: list[str]) -> Job:
    """Everything checked and built before any run: the sides, their environments, the
    folder."""
    rest, results, blocks, per_block, budget = _own_options(rest)
    sides = {"A": parse(a, ROOT), "B": parse(b, ROOT)}
    for side in sides.values():
        check_version(side)
        _check_protocol(side)
    _note_uncommitted(sides.values())
    folder = _folder(results)
    envs = {name: prepare(side, ROOT, _say) for name, side in sides.items()}
    return Job(folder, sides, envs, rest, blocks, per_block, budget)


def _folder(results: Path) -> Path:
    """The job's own folder under ``results`` (one line when it cannot be made)."""
    folder = results / f"ab-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    try:
        folder.mkdir(parents=True)
    except OSError as err:
        raise ValueError(f"--bench-results={results}: cannot make {folder.name} there "
                         f"({err.strerror or type(err).__name__})") from None
    return folder


def _check_protocol(side: Side) -> None:
    """A ref side's harness must speak this coordinator's protocol (``client.PROTOCOL``);
    read from the commit, before anything is built. A version side runs this checkout's."""
    if side.kind != "ref":
        return
    shown = subprocess.run(["git", "show", f"{side.value}:pairing/client.py"], cwd=ROOT,
                           capture_output=True, text=True, check=False)
    found = re.search(r"^PROTOCOL = (\d+)$", shown.stdout, re.M) if shown.returncode == 0 \
        else None
    if found is None or int(found.group(1)) != client.PROTOCOL:
        spoken = f"protocol {found.group(1)}" if found else "none (it predates bin/bench-ab)"
        raise ValueError(f"bench-ab: {side.label}: its harness cannot take turns with this "
                         f"bin/bench-ab (coordinator protocol {client.PROTOCOL}; it has "
                         f"{spoken}); pick a later commit")


def _note_uncommitted(sides: Iterable[Side]) -> None:
    """A ref side measures its commit: say so when this checkout has changes it leaves out."""
    if not any(side.kind == "ref" for side in sides):
        return
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    if status.stdout.strip():
        _say("note: this checkout has uncommitted changes; a git ref side measures its "
             "commit without them")


def _own_options(args: list[str]) -> tuple[list[str], Path, int, int, float]:
    """bench-ab's own options out of the pytest args: ``--bench-results=DIR`` (where the
    job's folder goes), ``--blocks=N``, ``--rounds-per-block=M`` and ``--budget=S``; path
    options made absolute."""
    results, blocks, per_block, budget, rest = (ROOT / "results", BLOCKS, ROUNDS_PER_BLOCK,
                                                BUDGET_S, [])
    for arg in _joined(args):
        flag, _, value = arg.partition("=")
        if flag == "--bench-results":
            results = _absolute(value)
        elif flag == "--blocks":
            blocks = _whole(flag, value, 3)
        elif flag == "--rounds-per-block":
            per_block = _whole(flag, value, 1)
        elif flag == "--budget":
            budget = float(_whole(flag, value, 1))
        elif flag == "--benchmark-json":
            raise ValueError("--benchmark-json: not with bin/bench-ab (each side saves its "
                             "run file in the job's folder)")
        elif flag in PATH_FLAGS and value:
            rest.append(f"{flag}={_absolute_parts(flag, value)}")
        else:
            rest.append(arg)
    return rest, results, blocks, per_block, budget


def _whole(flag: str, value: str, least: int) -> int:
    if not value.isdigit() or int(value) < least:
        raise ValueError(f"{flag} {value!r}: give a whole number of {least} or more")
    return int(value)


def _joined(args: list[str]) -> list[str]:
    """``--flag VALUE`` as ``--flag=VALUE`` for the options taking a value."""
    out, i = [], 0
    while i < len(args):
        if args[i] in (*PATH_FLAGS, *OWN_FLAGS):
            if i + 1 >= len(args):
                raise ValueError(f"{args[i]} needs a value")
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def _absolute(value: str) -> Path:
    return Path(value).expanduser().resolve()


def _absolute_parts(flag: str, value: str) -> str:
    if flag != "--bench-workload":
        return value if "://" in value else str(_absolute(value))
    parts = value.split(",")
    return ",".join(str(_absolute(p)) if p.endswith(".py") or "/" in p else p for p in parts)


# --- measuring ----------------------------------------------------------------------------


def _measure(job: Job) -> dict[str, int]:
    """Both sides' sessions, taking turns; their exit codes."""
    coordinator = Coordinator(rounds_per_block=job.rounds_per_block)
    authkey = secrets.token_bytes(16)
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as sockets:
        address = str(Path(sockets) / "coordinator")
        with Listener(address, family="AF_UNIX", authkey=authkey) as listener:
            serve(listener, coordinator)
            pairing_id = f"{job.folder.name}-{secrets.token_hex(4)}"
            processes = {side: _start(job, side, address, authkey, pairing_id)
                         for side in SIDES}
            return _wait(processes, coordinator)


def _start(job: Job, side: str, address: str, authkey: bytes,
           pairing_id: str) -> subprocess.Popen[str]:
    env, other = job.envs[side], job.envs[SIDES[1 - SIDES.index(side)]]
    variables = {**os.environ, client.SOCKET: address, client.AUTHKEY: authkey.hex(),
                 client.SIDE: side, client.ID: pairing_id, client.LABEL: env.label,
                 client.OTHER: other.label, client.PER_BLOCK: str(job.rounds_per_block),
                 client.BLOCKS: str(job.blocks), client.BUDGET: str(job.budget_s),
                 "PYTHONUNBUFFERED": "1"}
    variables.pop("VIRTUAL_ENV", None)
    profile = os.environ.get("BENCH_PROFILE", DEFAULT_PROFILE)
    command = [str(env.python), "-m", "pytest", "--benchmark-only", *PLUGIN_ARGS,
               "-p", "no:logging", "--bench-profile", profile,
               f"--bench-results={job.side_results(side)}", *job.pytest_args]
    _say(f"side {side}: {env.label}: {' '.join(command[1:])} (in {env.root})")
    return subprocess.Popen(command, cwd=env.root, env=variables, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)


def _wait(processes: dict[str, subprocess.Popen[str]],
          coordinator: Coordinator) -> dict[str, int]:
    """Relay each side's output, prefixed with its side, to ours and its log; when a side
    ends, the other goes on alone."""
    codes: dict[str, int] = {}

    def relay(side: str, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            print(f"[{side}] {line}", end="", flush=True)
        codes[side] = process.wait()
        coordinator.leave(side)

    threads = [threading.Thread(target=relay, args=item) for item in processes.items()]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:  # the sides got it too: let them save what they measured
        for thread in threads:
            thread.join(timeout=60)
        raise
    return codes


# --- concluding ---------------------------------------------------------------------------


def _conclude(job: Job, codes: dict[str, int]) -> int:
    """ab.json, the report and the gate: 2 when a side left no complete run."""
    runs = {side: job.side_results(side) / "latest.json" for side in SIDES}
    usable = {}
    for side, path in runs.items():
        try:
            load(path)
            usable[side] = path
        except RunError:
            _say(f"side {side} ({job.envs[side].label}) left no complete run (pytest exit "
                 f"{codes.get(side)}); its log is above")
    _write_summary(job, codes, usable)
    if len(usable) < 2:
        for side, path in usable.items():
            _say(f"side {side}'s run is kept: {path}")
        return 2
    html = job.folder / "report.html"
    report.main(["html", str(runs["A"]), str(runs["B"]), "-o", str(html)])
    verdict = report.main(["check", str(runs["A"]), str(runs["B"])])
    _say(f"runs: {runs['A']} (A) and {runs['B']} (B); report: {html}")
    return verdict


def _write_summary(job: Job, codes: dict[str, int], usable: dict[str, Path]) -> None:
    summary = {"sides": {side: {"spec": job.sides[side].value, "kind": job.sides[side].kind,
                                "label": job.envs[side].label,
                                "run": str(usable[side]) if side in usable else None,
                                "pytest_exit": codes.get(side)} for side in SIDES},
               "pytest_args": job.pytest_args, "blocks": job.blocks,
               "rounds_per_block": job.rounds_per_block, "budget_s": job.budget_s}
    write_text_atomic(json.dumps(summary, indent=2), job.folder / "ab.json")


def _say(line: str) -> None:
    print(f"[bench-ab] {line}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
