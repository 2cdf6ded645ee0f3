"""Helpers for tests that run the tool as a user does: in a subprocess, then look at what
it printed, saved and left running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil

from bench.isolation import SESSION_ENV

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
SECRET_ENV = {  # credentials a user might have set; they must never be printed or saved
    "AWS_ACCESS_KEY_ID": "AKIATESTNEVERPRINT42",
    "AWS_SECRET_ACCESS_KEY": "s3cr3t/NeverWrittenAnywhere+0123456789xyz",
}


def marker() -> str:
    """A fresh session marker: every process a run starts carries it."""
    return "t" + uuid.uuid4().hex[:11]


def clean_env(session: str, **extra: str) -> dict[str, str]:
    """This environment without Prefect settings (the run isolates its own), plus
    ``session`` as the run's marker, no proxy for loopback, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({SESSION_ENV: session, "no_proxy": "*", **extra})
    env.pop("NO_PROXY", None)
    return env


def bench_pytest(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """``pytest --benchmark-only ARGS`` (output merged into stdout, line by line)."""
    command = [sys.executable, "-m", "pytest", "--benchmark-only", "-p", "no:randomly", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, bufsize=1)


def wait_for(condition: Callable[[], T], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Poll ``condition()`` until it is truthy or ``timeout`` s pass; its last value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(interval)
    return value


def no_survivors(session: str, timeout: float = 15.0) -> list[str]:
    """The processes of this run still alive once they had ``timeout`` s to end ([])."""
    wait_for(lambda: not survivors(session), timeout)
    return survivors(session)


def spawned(session: str) -> int:
    """How many of this run's processes were started by multiprocessing's spawn: the workers
    of a process pool or of a Dask cluster."""
    return sum("spawn_main" in line for line in survivors(session))


def survivors(session: str) -> list[str]:
    """Processes still carrying this run's session marker in their environment."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if process.environ().get(SESSION_ENV) == session and process.status() != "zombie":
                found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def assert_no_secret(texts: dict[str, str]) -> None:
    """No text (named by where it came from) contains a credential from ``SECRET_ENV``."""
    for where, text in texts.items():
        for name, secret in SECRET_ENV.items():
            assert secret not in text, f"{name} appears in {where}"


def report(*args: str) -> subprocess.CompletedProcess[str]:
    """``python report.py ARGS``."""
    return subprocess.run([sys.executable, "report.py", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300)


def assert_no_secret_in_run(results: Path, output: str) -> None:
    """Neither the run's output, nor any file it saved, nor the report and the gate made
    from it contain a credential from ``SECRET_ENV``."""
    latest = str(results / "latest.json")
    html = report("html", latest, "-o", str(results / "report.html"))
    check = report("check", latest, latest)
    assert html.returncode == 0, html.stderr
    texts = {"the run's output": output,
             "report.py output": html.stdout + html.stderr + check.stdout + check.stderr}
    texts |= {path.name: path.read_text() for path in results.iterdir()}
    assert "report.html" in texts
    assert_no_secret(texts)
