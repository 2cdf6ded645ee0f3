"""One benchmark session: every service started once, one context for every case.

``isolate_prefect()`` (in ``bench.services``) must have run before this module imports
Prefect, which the entry points (``python -m bench``, ``conftest.py``) make sure of.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import services
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
        if self.context.clusters and not services.ray_installed():
            lines.append("scale-out: Ray cases skipped, Ray is not installed "
                         f"({services.RAY_EXTRA})")
        if self.context.ray_address:
            lines.append(f"Ray address: {self.context.ray_address}")
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
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if keep_default:
        yield f"Prefect default ({PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()} s)"
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield "off"


def _warn_on_error(action: Callable[[], None], what: str) -> None:
    """Clean-up that must not turn a finished run into an error: one line on failure."""
    try:
        action()
    except Exception as err:
        print(f"warning: {what}: {err}", file=sys.stderr)


@contextmanager
def session(options: SessionOptions = SessionOptions()) -> Iterator[Session]:
    """Start the Prefect server, the S3 endpoint and (optionally) a Dask cluster."""
    orphans = services.stop_orphans()
    work_dir = Path(tempfile.mkdtemp(prefix="bench-work-"))
    session_id = os.environ.get(services.SESSION_ENV, "local")
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
        api_url = stack.enter_context(services.prefect_server())
        beat = stack.enter_context(heartbeat(options.keep_heartbeat))
        s3_settings = services.S3Settings.from_env(options.s3_endpoint, options.s3_bucket)
        s3 = stack.enter_context(services.s3_endpoint(s3_settings))
        folder = f"prefect-bigdata-bench/{session_id}"
        block = services.save_s3_block(s3, folder, f"bench-{session_id}")
        stack.callback(_warn_on_error, lambda: services.delete_s3_block(f"bench-{session_id}"),
                       "could not delete the S3 block from the Prefect server")
        s3_storage = services.S3Prefix(s3, folder)
        stack.callback(_warn_on_error, s3_storage.clear, "could not empty the S3 prefix")
        dask_address, own = options.dask_address, None
        if dask_address == "local":
            own = stack.enter_context(services.dask_cluster())
            dask_address = own.address
        start = {"dask": services.dask_cluster, "ray": services.ray_cluster}
        clusters = tuple(stack.enter_context(start[engine](n))
                         for engine in services.available_engines(options.engines)
                         for n in options.scale_out)
        context = Context(work_dir, S3Target(block, s3_storage), dask_address, clusters, own,
                          options.ray_address)
        yield Session(context, api_url, str(s3.endpoint_url), beat, orphans)
