"""What every strategy shares: the case it runs, the context the harness gives it, the
outcome it reports, and the checks that its optimization really took effect.

A strategy runs in three steps, so that a harness can time only the middle one:
``prepare`` (untimed: reset state, build the flow) returns a ``run`` thunk (timed), and
``verify`` (untimed) turns what ``run`` returned into an :class:`Outcome` or raises
:class:`NotApplied` / :class:`CaseFailed`.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from runfile import DEFAULT_WORKLOAD as DEFAULT
from strategies.et import Payload


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


class NotApplied(Exception):
    """The case ran, but its optimization did not take effect; ``str(err)`` says why."""


class CaseFailed(Exception):
    """The case did not produce its output; ``str(err)`` says why."""


@dataclass(frozen=True)
class Case:
    """One runnable combination: strategy x variant x payload shape on one source file,
    running a workload (``strategies.workloads``: its spec, the guide's by default)."""

    strategy: str
    variant: str | None
    shape: str
    source: str
    workload: str = DEFAULT

    def parameters(self) -> dict[str, str]:
        """The parameters every ET flow takes: the source, the shape and the workload."""
        return {"source": self.source, "shape": self.shape, "workload": self.workload}


class Storage(Protocol):
    """Somewhere a strategy persists data: a local folder or an S3 prefix."""

    def clear(self) -> None: ...
    def sizes(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class LocalStorage:
    """A local folder used as result storage or scratch space."""

    path: Path

    def clear(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)

    def sizes(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        return {str(p): p.stat().st_size for p in self.path.rglob("*") if p.is_file()}


@dataclass(frozen=True)
class S3Target:
    """An S3 prefix reachable through a Prefect ``S3Bucket`` block saved on the server."""

    block_slug: str
    storage: Storage


@dataclass(frozen=True)
class Cluster:
    """A cluster the harness started: scheduler and ``workers`` worker processes, each its
    own OS process on 127.0.0.1 (``pids``: the processes whose trees hold them)."""

    engine: str
    workers: int
    address: str = ""
    pids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Context:
    """What the harness provides: scratch space per case and the session's services.

    ``dask_address``: a scheduler for ``parallel/dask-address`` (the user's, or ``local``'s
    cluster, then ``address_cluster``); ``clusters``: the scale-out clusters, one per engine
    and worker count; ``ray_address``: the user's Ray cluster."""

    work_dir: Path
    s3: S3Target | None = None
    dask_address: str | None = None
    clusters: tuple[Cluster, ...] = ()
    address_cluster: Cluster | None = None
    ray_address: str | None = None

    def local(self, case: Case, purpose: str) -> LocalStorage:
        """A folder of its own for ``case`` (one per workload/strategy/variant/shape)."""
        variant = case.variant or "-"
        return LocalStorage(self.work_dir / _folder(case.workload) / case.strategy / variant
                            / case.shape / purpose)


@dataclass
class Outcome:
    """What a verified run produced."""

    output: Payload
    stored_bytes: int = 0
    evidence: str = ""


@dataclass
class Prepared:
    """A case ready to run: ``run`` is the part to time, ``verify`` checks what it returned,
    ``reset`` (if any) restores the starting state between two runs (untimed)."""

    run: Callable[[], Any]
    verify: Callable[[Any], Outcome]
    reset: Callable[[], None] | None = None


class Strategy:
    """One way to run the guide's ET flow. Subclasses set the attributes and ``prepare``."""

    name: ClassVar[str]
    summary: ClassVar[str]
    variants: ClassVar[tuple[str | None, ...]] = (None,)
    shapes: ClassVar[tuple[str, ...]] = ("dataframe",)
    needs_s3: ClassVar[bool] = False  # whether it needs ``Context.s3`` (an S3 endpoint)

    def available_variants(self, ctx: Context) -> tuple[str | None, ...]:
        """The variants that can run with this context (all of them by default)."""
        return self.variants

    def supports(self, variant: str | None, shape: str) -> bool:
        """Whether ``variant`` runs on the payload ``shape``."""
        return shape in self.shapes

    def accepts(self, variant: str) -> bool:
        """Whether ``variant`` names one of this strategy's variants."""
        return variant in self.variants

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        raise NotImplementedError

    def describe(self, case: Case, ctx: Context) -> dict[str, Any] | None:
        """Facts about how the case runs, recorded with its result (e.g. a task runner)."""
        return None

    def cluster(self, case: Case, ctx: Context) -> Cluster | None:
        """The cluster the harness started that the case runs on, if any (a session starts
        only the scale-out clusters its selected cases run on)."""
        return None

    def outside_processes(self, case: Case, ctx: Context) -> tuple[int, ...]:
        """Processes outside the case's own process tree that do its work (its cluster's
        scheduler and workers): their memory counts in the case's."""
        cluster = self.cluster(case, ctx)
        return cluster.pids if cluster else ()


def _folder(workload: str) -> str:
    """A folder name of its own for a workload spec (a file's path, a module, a name)."""
    if workload == DEFAULT:
        return workload
    return f"{Path(workload).stem[:40]}-{hashlib.sha256(workload.encode()).hexdigest()[:8]}"


def stored_bytes(storage: Storage) -> int:
    """Total bytes currently under ``storage``."""
    return sum(storage.sizes().values())
