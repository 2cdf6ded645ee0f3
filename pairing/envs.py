"""The Python 3.11 environment each side of ``bin/bench-ab`` runs in, built with uv.

An environment holds a side's dependencies only (``[project] dependencies`` of its
pyproject.toml, with the ``ray`` extra when this process has it); the project itself is
not installed: the side's pytest runs in the side's checkout and loads ``bench.plugin``
from there.

- A ref side: that commit's own pyproject.toml and constraints.txt, as ``bin/setup``
  installs them, in a detached worktree of the commit.
- A version side (``prefect==X.Y.Z``): the current checkout's dependencies with Prefect at
  X.Y.Z, resolved as on the day that release reached the index (uv's ``--exclude-newer``,
  a day after its upload): Prefect's own dependencies and integrations as a user got them
  with it (today's fastapi, for one, breaks Prefect 3.6's server). The measured stack (the
  project's other dependencies and :data:`RUNTIME`) stays at constraints.txt's pins,
  whatever their date. Should a held pin conflict with that Prefect, the held pins are
  dropped to preferences and the ones that moved are reported.

Resolutions and environments are cached under :func:`cache_root` (``envs/``,
``worktrees/``); an environment's folder is named by a hash of its resolved pins. Error
messages are one line starting with ``bench-ab:``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path

from pairing.sides import Side

Say = Callable[[str], None]

PREFECT_FAMILY = frozenset({"prefect", "prefect-aws", "prefect-dask", "prefect-ray"})
"""Follow a version side's Prefect: never held at constraints.txt's pins."""
RUNTIME = frozenset({"numpy", "cloudpickle", "botocore", "s3transfer", "fsspec", "msgpack",
                     "tornado", "ray", "dask", "distributed"})
"""Held at constraints.txt's pins on a version side besides the project's own dependencies:
libraries the measured code runs on (not Prefect's own, such as pydantic or httpx: those
follow the Prefect release)."""
ANY_DATE = "2100-01-01T00:00:00Z"
"""The upload-date limit of a held pin on a version side: none."""
RELEASED_AFTER = 86_400
"""Seconds after a Prefect release's upload up to which its dependencies are taken."""
NOT_IN_ENVS = frozenset({"uv"})
"""Project dependencies that only ``bin/bench-ab`` itself uses."""
PLUGIN_ARGS = ("-p", "no:prefect_bigdata_bench", "-p", "bench.plugin")
"""How a side's pytest loads the harness's plugin from its checkout: by module, with the
project's entry point blocked (a checkout holding the project's ``*.egg-info``, as
``pip install -e`` leaves it, would register the plugin a second time: pytest refuses)."""
MARKER = ".bench-env.json"
"""Written into an environment's folder once it is complete: its installed packages."""
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_KEY_FORMAT = "1"  # bump to invalidate every cached resolution and environment
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class EnvError(RuntimeError):
    """An environment that cannot be made; the message is one line naming the side."""


@dataclass(frozen=True)
class Env:
    """A side's environment: ``python`` runs the side's pytest with cwd ``root`` (the side's
    checkout); ``packages`` is every distribution installed in it; ``path`` is its folder."""

    python: Path
    root: Path
    packages: dict[str, str]
    label: str
    path: Path


@dataclass(frozen=True)
class Plan:
    """What uv resolves for a side: ``requirements``; ``held``, pins that must hold
    (``uv -c``); ``preferred``, pins kept where they fit (a version side only, which may
    then drop ``held`` to preferences when they conflict)."""

    requirements: tuple[str, ...]
    held: tuple[str, ...]
    preferred: tuple[str, ...] = ()
    exclude_newer: str | None = None  # a version side: only what was on the index then

    def key(self, python: str) -> str:
        """A stable hash of the plan and the interpreter it is resolved for."""
        parts = [_KEY_FORMAT, python, *self.requirements, "-c", *self.held, "-p",
                 *self.preferred, "-e", self.exclude_newer or ""]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def prepare(side: Side, repo: Path, say: Say, *, ray: bool | None = None) -> Env:
    """The environment for ``side`` (built, or reused from the cache), and its checkout.

    ``ray`` adds the project's ray extra; None: when this process has it installed."""
    ray = ray_installed() if ray is None else ray
    repo, python = repo.resolve(), find_python()
    cutoff = release_cutoff(side) if side.kind == "version" else None
    resolved = resolve(plan(side, repo, ray=ray, exclude_newer=cutoff), python, side.label,
                       say)
    path = cache_root() / "envs" / env_key(resolved, str(python))
    packages = _ensure(path, resolved, python, side.label, say)
    root = repo if side.kind == "version" else worktree(side, repo, say)
    return Env(python=path / "bin" / "python", root=root, packages=packages,
               label=side.label, path=path)


def cache_root() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/prefect-bigdata-bench``."""
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "prefect-bigdata-bench"


def ray_installed() -> bool:
    """Whether this process has the project's ray extra (prefect-ray and ray)."""
    try:
        metadata.version("prefect-ray")
        metadata.version("ray")
    except metadata.PackageNotFoundError:
        return False
    return True


def find_python() -> Path:
    """The Python 3.11 the environments are made from: this process's base interpreter when
    it is 3.11, else ``python3.11`` on PATH."""
    if sys.version_info[:2] == (3, 11):
        return Path(getattr(sys, "_base_executable", sys.executable))
    found = shutil.which("python3.11")
    if not found:
        raise EnvError("bench-ab: no Python 3.11 to make environments from "
                       "(put python3.11 on PATH)")
    return Path(found)


# -- what to resolve ---------------------------------------------------------------------

def release_cutoff(side: Side) -> str:
    """A day after the upload of ``side``'s Prefect release (RFC 3339), from the package
    index's JSON API (PEP 691, 700): the date a version side resolves its dependencies at."""
    import httpx  # installed with Prefect; only a version side needs it

    index = (os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL")
             or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple").rstrip("/")
    try:
        reply = httpx.get(f"{index}/prefect/", timeout=30, follow_redirects=True,
                          headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        reply.raise_for_status()
        files = reply.json()["files"]
    except (httpx.HTTPError, ValueError, KeyError) as err:
        raise EnvError(f"bench-ab: {side.label}: cannot read its release date from "
                       f"{index} ({type(err).__name__})") from None
    times = [f.get("upload-time") for f in files
             if f["filename"].startswith(f"prefect-{side.value}-")]
    if not any(times):
        raise EnvError(f"bench-ab: {side.label}: {index} gives no upload time for it")
    uploaded = datetime.fromisoformat(min(t for t in times if t).replace("Z", "+00:00"))
    return (uploaded + timedelta(seconds=RELEASED_AFTER)).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan(side: Side, repo: Path, *, ray: bool = False,
         exclude_newer: str | None = None) -> Plan:
    """What to resolve for ``side`` (reads the side's pyproject.toml and constraints.txt:
    the working tree of ``repo`` for a version side, the commit for a ref side). A version
    side resolved at ``exclude_newer`` prefers no pin but the held ones."""
    pyproject, constraints = _project_files(side, repo)
    requirements = _dependencies(pyproject, ray)
    pins = _pins(constraints)
    if side.kind == "ref":
        return Plan(tuple(requirements), tuple(pins.values()))
    requirements = [r for r in requirements if name_of(r) != "prefect"]
    requirements.insert(0, f"prefect=={side.value}")
    held_names = ({name_of(r) for r in requirements} | RUNTIME) - PREFECT_FAMILY
    held = tuple(pin for name, pin in pins.items() if name in held_names)
    if exclude_newer:
        return Plan(tuple(requirements), held, held, exclude_newer)
    preferred = tuple(pin for name, pin in pins.items() if name != "prefect")
    return Plan(tuple(requirements), held, preferred)


def name_of(requirement: str) -> str:
    """A requirement's normalized distribution name ("Jinja2>=3" -> "jinja2")."""
    found = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", found[1]).lower() if found else ""


def _project_files(side: Side, repo: Path) -> tuple[str, str]:
    """The side's pyproject.toml and constraints.txt ("" when it has none)."""
    if side.kind == "version":
        pyproject, constraints = repo / "pyproject.toml", repo / "constraints.txt"
        if not pyproject.is_file():
            raise EnvError(f"bench-ab: {side.label}: {repo} has no pyproject.toml")
        return pyproject.read_text(), constraints.read_text() if constraints.is_file() else ""
    pyproject = _git_show(repo, side, "pyproject.toml")
    if pyproject is None:
        raise EnvError(f"bench-ab: {side.label}: has no pyproject.toml")
    return pyproject, _git_show(repo, side, "constraints.txt") or ""


def _git_show(repo: Path, side: Side, name: str) -> str | None:
    done = subprocess.run(["git", "show", f"{side.value}:{name}"], cwd=repo,
                          capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else None


def _dependencies(pyproject: str, ray: bool) -> list[str]:
    project = tomllib.loads(pyproject).get("project", {})
    wanted = list(project.get("dependencies", []))
    if ray:
        wanted += project.get("optional-dependencies", {}).get("ray", [])
    return [r for r in wanted if name_of(r) not in NOT_IN_ENVS]


def _pins(constraints: str) -> dict[str, str]:
    """constraints.txt's ``name==version`` lines by normalized name."""
    lines = (line.split("#")[0].strip() for line in constraints.splitlines())
    return {name_of(line): line for line in lines if "==" in line and not line.startswith("-")}


# -- resolving ---------------------------------------------------------------------------

def resolve(plan: Plan, python: Path, label: str, say: Say) -> str:
    """The plan's resolved pins (``name==version`` lines), cached per plan."""
    cached = cache_root() / "envs" / "resolved" / f"{plan.key(str(python))}.txt"
    if cached.is_file():
        return cached.read_text()
    say(f"{label}: resolving with uv")
    try:
        resolved = _compile(plan, python, held=True)
    except _UvFailed as err:
        if not (plan.held and plan.preferred):
            raise EnvError(f"bench-ab: {label}: does not install ({err})") from None
        try:
            resolved = _compile(plan, python, held=False)
        except _UvFailed as err:
            raise EnvError(f"bench-ab: {label}: does not install ({err})") from None
        say(f"{label}: held pins relaxed, they conflict with it: "
            f"{', '.join(moved(plan.held, resolved)) or 'none moved'}")
    off = moved(plan.preferred, resolved)
    count = len(resolved.splitlines())
    say(f"{label}: {count} packages" + (f"; off constraints.txt: {', '.join(off)}" if off
                                        else ""))
    _write_atomic(cached, resolved)
    return resolved


def moved(pins: Iterable[str], resolved: str) -> list[str]:
    """``"name old -> new"`` for each pin that ``resolved`` has at another version."""
    got = {name_of(line): line.partition("==")[2] for line in resolved.splitlines()}
    changes = []
    for pin in pins:
        name, version = name_of(pin), pin.partition("==")[2].strip()
        if got.get(name, version) != version:
            changes.append(f"{name} {version} -> {got[name]}")
    return changes


def canonical(resolved: str) -> str:
    """Resolved pins one a line, sorted by name, without comments or blank lines."""
    lines = {line.split("#")[0].strip() for line in resolved.splitlines()}
    return "".join(f"{line}\n" for line in sorted(filter(None, lines), key=name_of))


def env_key(resolved: str, python: str) -> str:
    """The name of the environment folder for these resolved pins and interpreter."""
    text = f"{_KEY_FORMAT}\n{python}\n{canonical(resolved)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _UvFailed(Exception):
    """uv exited non-zero; the message is the first line of its reason."""


def _compile(plan: Plan, python: Path, *, held: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as folder:
        tmp = Path(folder)
        (tmp / "requirements.in").write_text("\n".join(plan.requirements) + "\n")
        (tmp / "held.txt").write_text("\n".join(plan.held) + "\n")
        # uv keeps an existing output file's pins where they fit: the preferences.
        (tmp / "out.txt").write_text("\n".join(plan.preferred) + "\n")
        args = ["pip", "compile", "requirements.in", "-o", "out.txt", "--no-header",
                "--no-annotate", "--quiet", "--python", str(python)]
        if plan.exclude_newer:  # as on that day, but for the held pins
            args += ["--exclude-newer", plan.exclude_newer]
            for pin in plan.held:
                args += ["--exclude-newer-package", f"{name_of(pin)}={ANY_DATE}"]
        _uv([*args, "-c", "held.txt"] if held else args, cwd=tmp, timeout=300)
        return canonical((tmp / "out.txt").read_text())


def uv_reason(stderr: str) -> str:
    """The first line of the reason in uv's error output."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        for mark in ("\u2570\u2500\u25b6", "cause:"):  # the fancy arrow, or plain
            if mark in line:
                return line.partition(mark)[2].strip()
    return re.sub(r"^(error:|\u00d7)\s*", "", lines[0]) if lines else "uv failed"


def _uv(args: list[str], *, cwd: Path | None = None, timeout: float = 1200) -> None:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    env.pop("VIRTUAL_ENV", None)  # the target is always named with --python
    if "SSL_CERT_FILE" not in env and Path(CA_BUNDLE).is_file():
        env["SSL_CERT_FILE"] = CA_BUNDLE
    try:
        done = subprocess.run([str(_uv_bin()), *args], cwd=cwd, env=env, capture_output=True,
                              text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise _UvFailed(f"uv {args[0]} {args[1]} took over {timeout:.0f} s") from None
    if done.returncode != 0:
        raise _UvFailed(uv_reason(done.stderr))


def _uv_bin() -> Path:
    try:
        from uv import find_uv_bin
        return Path(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
    if not found:
        raise EnvError("bench-ab: uv is not installed (bin/setup installs it into .venv)")
    return Path(found)


# -- building ----------------------------------------------------------------------------

def _ensure(path: Path, resolved: str, python: Path, label: str, say: Say) -> dict[str, str]:
    """The packages of the complete environment at ``path``, built first if needed."""
    packages = finished(path)
    if packages is None:
        with _locked(path.with_name(f"{path.name}.lock"), label, say):
            packages = finished(path)  # another process may have built it meanwhile
            if packages is None:
                if discard_unfinished(path):
                    say(f"{label}: removed a half-built environment {path}")
                try:
                    return _build(path, resolved, python, label, say)
                except BaseException:
                    discard_unfinished(path)
                    raise
    say(f"{label}: reusing environment {path}")
    return packages


def finished(path: Path) -> dict[str, str] | None:
    """The packages recorded in a complete environment's marker; None if it is not one."""
    try:
        packages = json.loads((path / MARKER).read_text())["packages"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return packages if (path / "bin" / "python").exists() else None


def discard_unfinished(path: Path) -> bool:
    """Remove ``path`` if it is an environment that never finished installing."""
    if not (path.exists() or path.is_symlink()) or (path / MARKER).is_file():
        return False
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return True


def _build(path: Path, resolved: str, python: Path, label: str, say: Say) -> dict[str, str]:
    say(f"{label}: installing {len(resolved.splitlines())} packages into {path}")
    started = time.monotonic()
    try:
        _uv(["venv", str(path), "--python", str(python), "--no-project", "--quiet"])
        (path / "requirements.txt").write_text(resolved)
        _uv(["pip", "sync", str(path / "requirements.txt"), "--python",
             str(path / "bin" / "python"), "--compile-bytecode", "--quiet"])
    except _UvFailed as err:
        raise EnvError(f"bench-ab: {label}: installing failed ({err})") from None
    packages = installed(path / "bin" / "python")
    seconds = time.monotonic() - started
    _write_atomic(path / MARKER, json.dumps({"label": label, "seconds": round(seconds, 1),
                                             "packages": packages}, indent=1))
    say(f"{label}: installed in {seconds:.0f} s")
    return packages


def installed(python: Path) -> dict[str, str]:
    """Every distribution installed for ``python`` and its version (as ``bench.packages``)."""
    code = ("import json\nfrom importlib.metadata import distributions as d\n"
            "print(json.dumps(dict(sorted((x.metadata['Name'], x.version) for x in d()))))")
    # -I: nothing from the current folder (a checkout's *.egg-info would count as installed)
    done = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise EnvError(f"bench-ab: {python}: cannot list its packages "
                       f"({uv_reason(done.stderr)})")
    return json.loads(done.stdout)


@contextmanager
def _locked(lock: Path, label: str, say: Say) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (created if needed); says when it waits."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"{label}: waiting for another process building {lock.stem}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                     prefix=f".{path.name}.") as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


# -- a ref side's checkout ---------------------------------------------------------------

def worktree(side: Side, repo: Path, say: Say) -> Path:
    """A detached worktree of a ref side's commit under :func:`cache_root`, reused while it
    is at that commit with no tracked file changed."""
    path = cache_root() / "worktrees" / side.value[:12]
    with _locked(path.with_name(f"{path.name}.lock"), side.label, say):
        if _at_commit(path, side.value):
            say(f"{side.label}: reusing checkout {path}")
            return path
        _remove_worktree(path, repo, side.label)
        say(f"{side.label}: checking out {side.value[:7]} into {path}")
        _git(repo, side.label, "worktree", "add", "--detach", "--quiet", str(path), side.value)
    return path


def _at_commit(path: Path, commit: str) -> bool:
    if not (path / ".git").exists():
        return False
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                          text=True, check=False)
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                             cwd=path, capture_output=True, text=True, check=False)
    return (head.returncode == 0 and head.stdout.strip() == commit
            and changed.returncode == 0 and not changed.stdout.strip())


def _remove_worktree(path: Path, repo: Path, label: str) -> None:
    if path.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=repo,
                       capture_output=True, check=False)
        if path.exists():
            shutil.rmtree(path)
    _git(repo, label, "worktree", "prune")


def _git(repo: Path, label: str, *args: str) -> None:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["git failed"])[0]
        raise EnvError(f"bench-ab: {label}: git {args[0]} {args[1]} failed ({reason})")
