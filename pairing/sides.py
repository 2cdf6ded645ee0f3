"""A side of ``bin/bench-ab``: a Prefect release (``prefect==X.Y.Z``) or a git ref of this
project (a branch, tag or commit).

Error messages are one line starting with ``bench-ab:`` that name the input, ready to print.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_VERSION = re.compile(r"prefect==(\d+\.\d+\.\d+)")
# Anything that looks like a version spec but is not exactly prefect==X.Y.Z.
_VERSION_LIKE = re.compile(r"==|^prefect\s*[=<>~!]")
_HEX = re.compile(r"[0-9a-f]{4,40}")
SHOWN_VERSIONS = 6  # how many of the newest releases a "not in the index" message lists


class SideError(ValueError):
    """A side that cannot be used; the message is one line naming the input."""


@dataclass(frozen=True)
class Side:
    """One side: ``kind`` "version" (``value`` is the Prefect version, e.g. "3.6.29") or
    "ref" (``value`` is the full commit hash); ``label`` is for humans."""

    kind: Literal["version", "ref"]
    value: str
    label: str


def parse(spec: str, repo: Path) -> Side:
    """The side that ``spec`` names: ``prefect==X.Y.Z`` or a git ref of ``repo``."""
    spec = spec.strip()
    if not spec:
        raise SideError("bench-ab: empty side: give prefect==X.Y.Z or a git ref")
    version = _VERSION.fullmatch(spec)
    if version:
        return Side("version", version[1], f"prefect=={version[1]}")
    if _VERSION_LIKE.search(spec):
        raise SideError(f"bench-ab: {spec}: a Prefect version is written prefect==X.Y.Z "
                        "(e.g. prefect==3.6.29)")
    commit = _commit(spec, repo)
    short = commit[:7]
    named = f"commit {short}" if _HEX.fullmatch(spec) and commit.startswith(spec) else (
        f"ref {spec} ({short})")
    return Side("ref", commit, named)


def _commit(ref: str, repo: Path) -> str:
    """The full hash of the commit ``ref`` names in ``repo``."""
    unknown = SideError(f"bench-ab: {ref}: not a commit, branch or tag of {repo}")
    if ref.startswith("-"):
        raise unknown
    try:
        done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                              cwd=repo, capture_output=True, text=True, check=False)
    except (FileNotFoundError, NotADirectoryError) as err:
        raise SideError(f"bench-ab: {ref}: cannot run git in {repo} ({err})") from None
    if done.returncode == 0:
        return done.stdout.strip()
    if done.returncode == 1:
        raise unknown
    reason = (done.stderr.strip().splitlines() or ["git failed"])[0]
    raise SideError(f"bench-ab: {ref}: cannot read {repo} as a git repository ({reason})")


def check_version(side: Side) -> None:
    """Make sure a version side's Prefect release is on the package index (asks the index
    through pip, installs nothing). Does nothing for a ref side."""
    if side.kind != "version":
        return
    available = index_versions("prefect", side.label)
    if side.value not in available:
        major = side.value.split(".")[0]
        same_major = [v for v in available if v.split(".")[0] == major]
        shown = ", ".join((same_major or available)[:SHOWN_VERSIONS])
        family = f"{major}.x" if same_major else "releases"
        raise SideError(f"bench-ab: {side.label}: not in the package index "
                        f"(available {family}: {shown}, ...)")


def index_versions(package: str, label: str) -> list[str]:
    """The releases of ``package`` on pip's configured index, newest first."""
    command = [sys.executable, "-m", "pip", "index", "versions", package,
               "--timeout", "15", "--retries", "1", "--disable-pip-version-check"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        done = None
    listed = _listed_versions(done.stdout) if done and done.returncode == 0 else []
    if not listed:
        why = _last_line(done.stderr) if done else "no answer within 60 s"
        raise SideError(f"bench-ab: {label}: could not list {package}'s releases on the "
                        f"package index ({why})")
    return listed


def _listed_versions(output: str) -> list[str]:
    """The versions of ``pip index versions``'s "Available versions:" line."""
    for line in output.splitlines():
        if line.startswith("Available versions:"):
            return [v.strip() for v in line.partition(":")[2].split(",") if v.strip()]
    return []


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["pip failed"])[-1]
