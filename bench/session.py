"""One benchmark session: every service started once, one context for every case."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import prefect
from prefect.settings import temporary_settings

try:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY
except ImportError:  # Prefect before 3.6.13 has no flow heartbeat
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY = None

from bench.isolation import IGNORED, SESSION_ENV
from bench.services import dask, ray, s3
from bench.services.prefect_server import prefect_server
from bench.services.processes import stop_orphans
from strategies.base import Context, S3Target


@dataclass(frozen=True)
class SessionOptions:
    """What the user can choose about the session's services (all have defaults)."""

    keep_heartbeat: bool = False
    s3_endpoint: str | None = None
    s3_bucket: str | None = None
    dask_address: str | None = None
    scale_out: tuple[int, ...] = ()  # worker counts: one cluster each (--bench-scale-out)
    engines: tuple[str, ...] = ("dask", "ray")  # for scale_out (Ray only when installed)
    ray_address: str | None = None
    s3: bool = True  # start (or reach) the S3 endpoint: only cases that need it do


@dataclass(frozen=True)
class Session:
    """The running services and the context strategies get from them."""

    context: Context
    api_url: str
    s3_endpoint: str
    heartbeat: str
    orphans_stopped: int = 0

    def describe(self) -> list[str]:
        """Human-readable lines about the session (never any credential)."""
        lines = [
            f"Prefect API: {self.api_url}",
            f"S3 endpoint: {self.s3_endpoint}",
            f"Dask address: {self.context.dask_address or '(none: dask-address case skipped)'}",
            f"flow heartbeat: {self.heartbeat}",
        ]
        lines += [f"scale-out: {c.engine} cluster of {c.workers} worker(s) at {c.address}"
                  for c in self.context.clusters]
        if self.context.clusters and not ray.ray_installed():
            lines.append("scale-out: Ray cases skipped, Ray is not installed "
                         f"({ray.RAY_EXTRA})")
        if self.context.ray_address:
            lines.append(f"Ray address: {self.context.ray_address}")
        if IGNORED:
            lines.append(f"left out (a run measures Prefect's defaults): {', '.join(IGNORED)}")
        if self.orphans_stopped:
            lines.append(f"stopped {self.orphans_stopped} process(es) left behind by an "
                         "earlier run that was killed")
        return lines


@contextmanager
def heartbeat(keep_default: bool) -> Iterator[str]:
    """Turn Prefect's flow heartbeat off (default) or keep it; yields a description.

    With the heartbeat on, a sync flow's wall time is rounded up to whole seconds, which
    would swamp every difference this tool exists to show.
    """
    if PREFECT_FLOWS_HEARTBEAT_FREQUENCY is None:
        yield f"none (Prefect {prefect.__version__} has no flow heartbeat)"
        return
    if keep_default:
        yield f"Prefect default ({PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()} s)"
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield "off"


PREFECT_DEFAULTS = ("results.persist_by_default", "results.default_serializer",
                   "tasks.default_persist_result", "tasks.default_no_cache",
                   "flows.heartbeat_frequency")
"""Prefect settings whose defaults change what a case measures (read where they exist)."""


def prefect_defaults() -> dict[str, str]:
    """The installed Prefect's :data:`PREFECT_DEFAULTS` and the policies of its default
    cache policy, as text (a setting this version lacks: ``absent``)."""
    from prefect import cache_policies
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    found = {}
    for path in PREFECT_DEFAULTS:
        value: object = settings
        for part in path.split("."):
            value = getattr(value, part, "absent")
        found[path] = str(value)
    policies = getattr(cache_policies.DEFAULT, "policies", [cache_policies.DEFAULT])
    found["cache_policies.DEFAULT"] = " + ".join(type(p).__name__ for p in policies)
    return found


def _warn_on_error(action: Callable[[], None], what: str) -> None:
    """Clean-up that must not turn a finished run into an error: one line on failure."""
    try:
        action()
    except Exception as err:
        print(f"warning: {what}: {err}", file=sys.stderr)


@contextmanager
def session(options: SessionOptions = SessionOptions()) -> Iterator[Session]:
    """Start the Prefect server, the S3 endpoint and (optionally) a Dask cluster."""
    orphans = stop_orphans()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-work-"))
    # a name of its own for what it keeps on shared services (S3 block, S3 prefix): runs,
    # and sessions within one run, never touch each other's
    session_id = f"{os.environ.get(SESSION_ENV, 'local')}-{uuid.uuid4().hex[:6]}"
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
        api_url = stack.enter_context(prefect_server())
        beat = stack.enter_context(heartbeat(options.keep_heartbeat))
        target, endpoint_url = None, "not started (no case of this run needs it)"
        if options.s3:
            target, endpoint_url = _s3_target(stack, options, session_id)
        dask_address, own = options.dask_address, None
        if dask_address == "local":
            own = stack.enter_context(dask.dask_cluster())
            dask_address = own.address
        start = {"dask": dask.dask_cluster, "ray": ray.ray_cluster}
        clusters = tuple(stack.enter_context(start[engine](n))
                         for engine in ray.available_engines(options.engines)
                         for n in options.scale_out)
        context = Context(work_dir, target, dask_address, clusters, own, options.ray_address)
        yield Session(context, api_url, endpoint_url, beat, orphans)


def _s3_target(stack: ExitStack, options: SessionOptions, session_id: str) -> tuple[S3Target,
                                                                                     str]:
    """The S3 endpoint (moto's, started here, or the user's), a prefix of its own and the
    ``S3Bucket`` block that reaches it; all removed when ``stack`` closes."""
    settings = s3.S3Settings.from_env(options.s3_endpoint, options.s3_bucket)
    endpoint = stack.enter_context(s3.s3_endpoint(settings))
    folder, name = f"prefect-bigdata-bench/{session_id}", f"bench-{session_id}"
    block = s3.save_s3_block(endpoint, folder, name)
    stack.callback(_warn_on_error, lambda: s3.delete_s3_block(name),
                   "could not delete the S3 block from the Prefect server")
    storage = s3.S3Prefix(endpoint, folder)
    stack.callback(_warn_on_error, storage.clear, "could not empty the S3 prefix")
    return S3Target(block, storage), str(endpoint.endpoint_url)
