"""The run file: what one benchmark run saved, written and read by this one module.

A run file is pytest-benchmark's JSON (so ``pytest-benchmark compare`` reads it). Each
benchmark entry holds its timed rounds in ``stats.data`` and this project's figures in
``extra_info``, a :class:`CaseRecord`; the top-level ``bench`` object holds the run's
settings, versions and ``format_version``. The harness (``bench/``) writes run files, the
report and the gate (``reporting/``) read them; this module imports neither side.

Format versions:

- 1: runs written before the format had a version (no ``format_version``); their cases lack
  ``size`` (taken from the benchmark's ``param`` on read), ``evidence`` and
  ``rounds_reason`` (read as None).
- 2: ``format_version`` in ``bench``; every case has ``size``, ``evidence`` and
  ``rounds_reason``.
- 3: every case has ``time_breakdown`` (seconds per :data:`TIME_CATEGORIES` of its sampled
  run), ``memory_breakdown`` (bytes per category held at its tracked run's peak) and
  ``breakdown_note`` (why one is missing); formats 1 and 2 read them as None.
- 4: every case has ``workload`` (the name of the extract and transform it ran: ``guide``,
  ``heavy`` or a user's module) and ``workload_digest`` (a digest of that workload's
  source); ``bench.workloads`` lists them. Formats 1 to 3 read as ``guide``, digest None.
- 5: ``bench.packages`` (every installed distribution and its version) and
  ``bench.prefect_defaults`` (Prefect settings whose defaults change what a case measures);
  a side of ``bin/bench-ab`` also has ``bench.pairing`` (:class:`PairingInfo`) and, per
  case, ``paired_blocks`` (the fastest round of each of its blocks, aligned with the other
  side's); formats 1 to 4 read them as absent and None.

Files are written atomically (a temporary file in the same folder, then a rename), so a
crash or Ctrl-C never leaves a half-written file; a run never overwrites another one.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

FORMAT_VERSION = 5
TIME_CATEGORIES = ("work", "introspection", "hashing", "storage", "orchestration",
                   "task_runner", "other")
"""Where a case's time and memory go (``bench.profiled``): the ET work itself, Prefect
walking arguments and returned values (introspection), cache-key hashing, result
serialization and storage I/O, orchestration (the engine, API calls, states, events,
logging), task-runner scheduling, transfer and waiting, and the rest."""
CATEGORY_LABELS = {"work": "ET work", "introspection": "introspection",
                   "hashing": "cache-key hashing", "storage": "serialization & storage",
                   "orchestration": "orchestration", "task_runner": "task runner",
                   "other": "other"}
STATUSES = ("ok", "failed", "not_applied", "timeout", "skipped")
"""``not_applied``: ran, but the optimization did not take effect; ``skipped``: predicted
not to fit the machine's limits (or its reference not run there)."""

DEFAULT_WORKLOAD = "guide"
"""The guide's extract and transform: the workload of every case written before format 4."""

Key = tuple[str, str, str, int]
"""What identifies a case across runs: its workload, label, shape and rows."""


def case_name(strategy: str, variant: str | None, shape: str | None = None,
              size: str | None = None, workload: str = DEFAULT_WORKLOAD) -> str:
    """The one name of a case, used everywhere a case is named.

    ``strategy`` or ``strategy/variant`` (the label: a chart legend, a ``--bench-strategies``
    choice); with ``shape`` and ``size``, ``label-shape-size``: the pytest id, the progress
    lines, the tables and the gate (``cached/warm-dataframe-small``). A case of another
    workload than the guide's is prefixed with it: ``heavy:cached/warm-dataframe-medium``.
    """
    label = strategy if variant is None else f"{strategy}/{variant}"
    if shape is None:
        return label
    prefix = "" if workload == DEFAULT_WORKLOAD else f"{workload}:"
    return f"{prefix}{label}-{shape}-{size}"


class RunnerRecord(TypedDict):
    """How a ``parallel`` case ran."""

    runner: str  # threads, processes, dask, ray
    workers: int | None  # None for a user's cluster
    movement: str  # frames or paths
    cluster: str  # where the workers are


class PredictionRecord(TypedDict):
    """A guarded size's case predicted from its smaller sizes (``bench.fits``)."""

    rows: int
    peak_rss_bytes: int
    rss_delta_bytes: int
    seconds: float
    from_rows: list[int]


@dataclass(frozen=True)
class CaseRecord:
    """One case of a run: what ``extra_info`` holds, plus the timed ``rounds`` (seconds,
    kept by pytest-benchmark in ``stats.data``: not part of ``extra_info``)."""

    strategy: str
    variant: str | None
    shape: str
    size: str
    rows: int
    status: str
    reason: str | None = None
    peak_rss_bytes: int | None = None
    start_rss_bytes: int | None = None
    stored_bytes: int | None = None
    checksum: str | None = None
    evidence: str | None = None
    """How the optimization was seen to take effect (None when not ok, or not recorded)."""
    memory_timeline: tuple[tuple[float, int], ...] = field(default=(), repr=False)
    """Up to 200 ``(seconds since the flow started, RSS bytes)`` points."""
    rounds_reason: str | None = None
    """Why the case got that many timed rounds (None when it was not timed)."""
    time_breakdown: dict[str, float] | None = None
    """Seconds per category of one sampled run of the case (``bench.profiled``)."""
    memory_breakdown: dict[str, int] | None = None
    """Bytes per category held at the peak of one tracked run of the case."""
    breakdown_note: str | None = None
    """Why a breakdown is missing (None when both were measured or the case was not ok)."""
    runner: RunnerRecord | None = field(default=None, compare=False, repr=False)
    prediction: PredictionRecord | None = field(default=None, compare=False, repr=False)
    workload: str = DEFAULT_WORKLOAD
    """The name of the workload (extract and transform) the case ran."""
    workload_digest: str | None = None
    """A digest of the workload's source (None in runs before format 4)."""
    paired_blocks: tuple[float | None, ...] | None = None
    """A side of ``bin/bench-ab``: the fastest round of each of the case's blocks, block
    ``i`` run next to the other side's block ``i`` (None for a block whose rounds were all
    left out: they waited on a retried request); None when the case was not paired."""
    rounds: tuple[float, ...] = ()
    """The timed rounds: in ``stats.data``, not in ``extra_info``."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}: not one of {', '.join(STATUSES)}")

    # --- naming -------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """``strategy`` or ``strategy/variant``."""
        return case_name(self.strategy, self.variant)

    @property
    def name(self) -> str:
        """``label-shape-size``: the case as one token."""
        return case_name(self.strategy, self.variant, self.shape, self.size, self.workload)

    @property
    def key(self) -> Key:
        return (self.workload, self.label, self.shape, self.rows)

    # --- figures ------------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def rss_delta_bytes(self) -> int | None:
        """Peak RSS growth during the flow."""
        if self.peak_rss_bytes is None or self.start_rss_bytes is None:
            return None
        return self.peak_rss_bytes - self.start_rss_bytes

    @property
    def median(self) -> float | None:
        """Median seconds of the timed rounds (None without rounds)."""
        return statistics.median(self.rounds) if self.rounds else None

    @property
    def iqr(self) -> tuple[float, float] | None:
        """First and third quartile of the rounds (both the round for a single round)."""
        if not self.rounds:
            return None
        if len(self.rounds) == 1:
            return (self.rounds[0], self.rounds[0])
        q1, _, q3 = statistics.quantiles(self.rounds, n=4, method="inclusive")
        return (q1, q3)

    # --- writing and reading ------------------------------------------------------------

    def extra_info(self) -> dict[str, Any]:
        """The record as a benchmark entry's ``extra_info``: every field but ``rounds``
        (the optional ones only when set), plus ``rss_delta_bytes`` for other readers."""
        info: dict[str, Any] = {}
        for name in _INFO_FIELDS:
            value = getattr(self, name)
            if value is not None or name not in OPTIONAL_KEYS:
                info[name] = value
        info["memory_timeline"] = [[t, rss] for t, rss in self.memory_timeline]
        info["rss_delta_bytes"] = self.rss_delta_bytes
        return info

    @classmethod
    def from_entry(cls, entry: dict[str, Any], version: int = FORMAT_VERSION) -> CaseRecord:
        """The record of a benchmark entry written in format ``version`` (upgraded);
        ``KeyError`` names a missing key."""
        info = entry.get("extra_info") or {}
        if version < 2:
            info = _upgrade_case(entry, info)
        info = {"rounds_reason": None, **_NEW_IN_3, **_NEW_IN_4, **info}  # rounds_reason: added to
        # format 2 after its first files
        missing = [key for key in REQUIRED_KEYS if key not in info]
        if missing:
            raise KeyError(", ".join(missing))
        found = {name: info.get(name) for name in _INFO_FIELDS}
        found["size"], found["rows"] = str(found["size"]), int(found["rows"])
        found["memory_timeline"] = tuple((float(t), int(r))
                                         for t, r in info["memory_timeline"] or ())
        if found["paired_blocks"] is not None:
            found["paired_blocks"] = tuple(None if x is None else float(x)
                                           for x in found["paired_blocks"])
        rounds = tuple(float(x) for x in (entry.get("stats") or {}).get("data") or ())
        return cls(**found, rounds=rounds)


_INFO_FIELDS = tuple(f.name for f in fields(CaseRecord) if f.name != "rounds")
OPTIONAL_KEYS = ("runner", "prediction", "paired_blocks")
REQUIRED_KEYS = (*(name for name in _INFO_FIELDS if name not in OPTIONAL_KEYS),
                 "rss_delta_bytes")
"""The ``extra_info`` keys every case has (``runner``, ``prediction`` and ``paired_blocks``
are optional)."""


_NEW_IN_3 = {"time_breakdown": None, "memory_breakdown": None, "breakdown_note": None}
_NEW_IN_4 = {"workload": DEFAULT_WORKLOAD, "workload_digest": None}


def _upgrade_case(entry: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """A format-1 case as format 2: ``size`` from the benchmark's ``param``
    (``label-shape-size``), ``evidence`` unknown."""
    upgraded = {"evidence": None, "rounds_reason": None, **info}
    if "size" not in info and "strategy" in info and "shape" in info:
        prefix = case_name(info["strategy"], info.get("variant"), info["shape"], "")
        param = str(entry.get("param") or "")
        if param.startswith(prefix):  # else left out: reported as a missing key
            upgraded["size"] = param[len(prefix):]
    return upgraded


# --- a whole run ------------------------------------------------------------------------


class PairingInfo(TypedDict):
    """A run measured by ``bin/bench-ab`` next to another: which side it is, and of what."""

    id: str  # the same in both sides' runs
    side: str  # "A" or "B"
    label: str  # this side, e.g. "prefect==3.6.29" or "ref main (4fa459c)"
    other: str  # the other side's label
    blocks: str  # the order of the blocks, "ABBA"
    rounds_per_block: int  # consecutive rounds of one side in a block (where 3 blocks fit)
    target_blocks: int  # the blocks a short case gets
    budget_s: float  # the timed seconds per case and side that cap a longer case's rounds


class BenchInfo(TypedDict, total=False):
    """A run's ``bench`` object: its settings, versions and state (see docs/run-file.md).
    Written by :func:`bench_info`; older runs may lack keys, so readers use ``get``."""

    format_version: int
    profile: str
    sizes: list[str]
    rounds_policy: dict[str, float | None]
    data_source: str
    versions: dict[str, str]
    cores: int | None
    heartbeat: str | None
    s3_endpoint: str  # what kind of endpoint, never its URL or credentials
    dask_address: str | None
    scale_out_workers: list[int]
    complete: bool
    server_retries: dict[str, int]  # case name -> requests Prefect's client retried
    workloads: list[dict[str, str]]  # name, module (or file) and digest of each workload
    packages: dict[str, str]  # every installed distribution -> its version
    prefect_defaults: dict[str, str]  # Prefect settings that change what a case measures
    pairing: PairingInfo  # only in a side of bin/bench-ab


def bench_info(**settings: Any) -> BenchInfo:
    """A run's ``bench`` object in this format (``format_version`` first)."""
    unknown = sorted(set(settings) - set(BenchInfo.__annotations__))
    if unknown:
        raise TypeError(f"not a key of the bench object: {', '.join(unknown)}")
    return BenchInfo(format_version=FORMAT_VERSION, **settings)  # type: ignore[typeddict-item]


class RunError(ValueError):
    """A run file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Run:
    """A loaded run: where it came from, its ``bench`` object, its cases in file order."""

    path: Path
    bench: BenchInfo
    cases: tuple[CaseRecord, ...]
    machine: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    commit: dict[str, Any] = field(default_factory=dict)

    @property
    def format_version(self) -> int:
        """The format the file was written in (1 for files without one)."""
        return int(self.bench.get("format_version", 1))

    def by_key(self) -> dict[Key, CaseRecord]:
        return {case.key: case for case in self.cases}

    @property
    def pairing(self) -> PairingInfo | None:
        """How this run was paired with another (``bin/bench-ab``), or None."""
        return self.bench.get("pairing")

    def reference(self, case: CaseRecord, strategy: str = "floor") -> CaseRecord | None:
        """The ``ok`` case of ``strategy`` on the same workload, shape and rows, if the run
        has it."""
        for other in self.cases:
            if (other.strategy, other.workload, other.shape, other.rows) == (
                    strategy, case.workload, case.shape, case.rows):
                return other if other.ok else None
        return None


def read_json(path: Path | str) -> dict[str, Any]:
    """A run file's JSON as it is on disk; :class:`RunError` if it is not a run of this
    tool or was written by a newer version of it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: bad JSON or not UTF-8
        raise RunError(f"{path}: cannot read a JSON run ({type(err).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("bench"), dict) \
            or "benchmarks" not in data:
        raise RunError(f"{path}: not a run of prefect-bigdata-bench (no 'bench' object)")
    version = data["bench"].get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunError(f"{path}: run file format {version!r} is newer than this tool reads "
                       f"(up to {FORMAT_VERSION}); update prefect-bigdata-bench")
    return data


def load(path: Path | str, allow_incomplete: bool = False) -> Run:
    """Load a run file of any format version; :class:`RunError` (one line) when it cannot
    be used: unreadable, not a run of this tool, incomplete (unless allowed), no cases."""
    path = Path(path)
    data = read_json(path)
    bench = data["bench"]
    if not allow_incomplete and not bench.get("complete", False):
        raise RunError(f"{path}: an incomplete run (interrupted or killed); "
                       "not usable as a result")
    version = int(bench.get("format_version", 1))
    cases = []
    for entry in data.get("benchmarks") or []:
        try:
            cases.append(CaseRecord.from_entry(entry, version))
        except (KeyError, TypeError, ValueError) as err:
            raise RunError(f"{path}: benchmark {entry.get('name')!r} is not a valid case "
                           f"({type(err).__name__}: {err})") from None
    if not cases:
        raise RunError(f"{path}: a run with no benchmark cases")
    return Run(path=path, bench=bench, cases=tuple(cases),
               machine=data.get("machine_info") or {}, created=data.get("datetime"),
               commit=data.get("commit_info") or {})


# --- saving -----------------------------------------------------------------------------

LATEST = "latest.json"


def save_run(data: dict[str, Any], results_dir: Path, complete: bool) -> list[Path]:
    """Save a run (pytest-benchmark's JSON with a ``bench`` object from
    :func:`bench_info`) as ``run-<UTC time>.json``, a name no other run has, and, when
    complete, as ``latest.json`` (the last run completed). An incomplete run (Ctrl-C) is
    ``run-<UTC time>-interrupted.json``. Returns the paths written."""
    if (data.get("bench") or {}).get("format_version") != FORMAT_VERSION:
        raise ValueError("a run is saved with its bench object from runfile.bench_info()")
    text = json.dumps(data, indent=2, default=str)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    suffix = "" if complete else "-interrupted"
    saved = [write_text_atomic(text, results_dir / f"run-{stamp}{suffix}.json",
                               overwrite=False)]
    if complete:
        saved.append(write_text_atomic(text, results_dir / LATEST))
    return saved


def write_text_atomic(text: str, path: Path, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder; returns the
    path written. Without ``overwrite`` an existing file is kept and the text goes to
    ``<stem>-2<suffix>`` (then -3...), so two writers never lose each other's file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        if overwrite:
            os.replace(temp, path)
            return path
        return _publish_new(Path(temp), path)
    finally:
        Path(temp).unlink(missing_ok=True)


def _publish_new(temp: Path, path: Path) -> Path:
    """Give ``temp`` the name ``path``, or the first free ``<stem>-N<suffix>``: a hard link
    where the file system has them (a name appears whole or not at all), else the name is
    reserved by creating it exclusively, then replaced."""
    candidate, number = path, 1
    while True:
        try:
            try:
                os.link(temp, candidate)
            except FileExistsError:
                raise
            except OSError:  # no hard links here
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                os.replace(temp, candidate)
            return candidate
        except FileExistsError:
            number += 1
            candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
