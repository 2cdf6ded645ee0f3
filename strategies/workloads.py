"""The workload: the ``extract`` and ``transform`` every strategy runs, the guide's or another.

A workload is a module. It defines ``extract(source)`` (the parquet file's path in, a
payload out) and ``transform(data)``; optionally ``partitions(source)`` and
``extract_partition(source, index)`` (without both, the ``parallel`` cases are
``not_applied``), ``checksum(output)`` (default: :func:`strategies.et.checksum`, for
DataFrames and lists of dicts) and ``SHAPE``, the payload ``extract`` returns:
``"dataframe"`` (a pandas DataFrame, the default) or ``"records"`` (anything else, e.g. a
list of dicts). The built-in workloads also define ``extract_records`` and
``transform_records``: they run in both shapes.

Built-in workloads are named (``guide``: :mod:`strategies.et`; ``heavy``:
:mod:`strategies.heavy`); a user's is given as ``package.module`` or ``path/to/file.py``.
Strategies never hold a workload, only its *spec* (``Case.workload``, a string that
pickles into worker processes): :func:`load` turns a spec into a :class:`Workload`, once
per process.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from strategies import et
from strategies.base import DEFAULT, one_line

BUILT_IN = {"guide": "strategies.et", "heavy": "strategies.heavy"}
SHAPES = ("dataframe", "records")
REQUIRED = ("extract", "transform")
PARTITIONED = ("partitions", "extract_partition")
_OPTIONAL = (*PARTITIONED, "checksum")


class WorkloadError(ValueError):
    """A workload that cannot be used; ``str(err)`` is one line naming it, ``problem`` the
    same line without its name."""

    def __init__(self, spec: str, problem: str) -> None:
        super().__init__(f"workload {spec}: {problem}")
        self.spec, self.problem = spec, problem

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # raised in a worker process too
        return (type(self), (self.spec, self.problem))


@dataclass(frozen=True)
class Workload:
    """A loaded workload: its ``name`` (recorded with every case), the ``spec`` it was
    loaded from, its module and a ``digest`` of that module's source."""

    name: str
    spec: str
    module: ModuleType
    digest: str

    @property
    def module_name(self) -> str:
        """The module whose frames are the workload's own work (``bench.categories``)."""
        return self.module.__name__

    @property
    def shapes(self) -> tuple[str, ...]:
        """The payload shapes it runs in: both for the built-ins, else its ``SHAPE``."""
        if hasattr(self.module, "extract_records") and hasattr(self.module, "transform_records"):
            return SHAPES
        return (getattr(self.module, "SHAPE", "dataframe"),)

    @property
    def partitioned(self) -> str | None:
        """None when it can be split for the ``parallel`` cases, else why not."""
        missing = [name for name in PARTITIONED if not callable(getattr(self.module, name,
                                                                        None))]
        if not missing:
            return None
        return (f"workload {self.name} defines no {' and no '.join(missing)}: it cannot be "
                "split into partitions for a task runner")

    def extract(self, source: str) -> Any:
        return self.module.extract(source)

    def transform(self, data: Any) -> Any:
        return self.module.transform(data)

    def extract_as(self, shape: str, source: str) -> Any:
        """Extract ``source`` in the given payload shape (checked against ``SHAPE``)."""
        if shape not in self.shapes:
            raise ValueError(f"shape {shape!r}: workload {self.name} runs in "
                             f"{', '.join(self.shapes)}")
        if shape == "records" and self.shapes == SHAPES:
            return self.module.extract_records(source)
        data = self.module.extract(source)
        if self.shapes != SHAPES and (shape == "dataframe") != isinstance(data, pd.DataFrame):
            told = "" if shape == "records" else " (set SHAPE = \"records\" in its module)"
            raise TypeError(f"workload {self.name}: extract returned a "
                            f"{type(data).__name__}, not the {shape} its SHAPE says{told}")
        return data

    def transform_any(self, data: Any) -> Any:
        """Transform a payload of either shape."""
        if isinstance(data, list) and self.shapes == SHAPES:
            return self.module.transform_records(data)
        return self.module.transform(data)

    def partitions(self, source: str) -> int:
        return int(self.module.partitions(source))

    def extract_partition(self, source: str, index: int) -> Any:
        return self.module.extract_partition(source, index)

    def checksum(self, output: Any) -> str:
        """The output's digest: the workload's own ``checksum``, else the guide's."""
        own: Callable[[Any], str] | None = getattr(self.module, "checksum", None)
        return str(own(output)) if own is not None else et.checksum(output)


def load(spec: str = DEFAULT) -> Workload:
    """The workload ``spec`` names; :class:`WorkloadError` (one line) when it cannot be
    used. Loaded once per process."""
    return _load(resolve(spec))


def resolve(spec: str) -> str:
    """``spec`` as it loads from any folder: a file's absolute path, else unchanged."""
    return str(Path(spec).expanduser().absolute()) if _is_file(spec) else spec


def describe(workload: Workload) -> dict[str, str]:
    """What a run records of a workload (``bench.workloads``)."""
    return {"name": workload.name, "module": workload.spec, "digest": workload.digest}


@functools.cache
def _load(spec: str) -> Workload:
    if spec in BUILT_IN:
        module, name = importlib.import_module(BUILT_IN[spec]), spec
    elif _is_file(spec):
        module, name = _from_file(Path(spec)), Path(spec).stem
    else:
        module, name = _from_package(spec), spec
    if name in BUILT_IN and spec not in BUILT_IN:
        raise WorkloadError(spec, f"its name {name!r} is a built-in workload's; rename it")
    for function in (*REQUIRED, *_OPTIONAL):
        found = getattr(module, function, None)
        if found is None and function in REQUIRED:
            raise WorkloadError(spec, f"defines no {function}(); a workload defines "
                                "extract(source) and transform(data)")
        if found is not None and not callable(found):
            raise WorkloadError(spec, f"{function} is not a function (it is "
                                f"{type(found).__name__} {found!r:.40})")
    shape = getattr(module, "SHAPE", "dataframe")
    if shape not in SHAPES:
        raise WorkloadError(spec, f"SHAPE {shape!r} is not one of {', '.join(SHAPES)}")
    return Workload(name, spec, module, _digest(module))


def _is_file(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _from_file(path: Path) -> ModuleType:
    """The module in the file ``path``, imported under a name of its own."""
    if not path.is_file():
        raise WorkloadError(str(path), "not found (no such file)")
    name = f"bench_workload_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}_{path.stem}"
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise WorkloadError(str(path), "not found (not a Python module)")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # its functions' frames name it (bench.categories)
    try:
        loader_spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:
        del sys.modules[name]
        raise WorkloadError(str(path), f"does not import ({one_line(err)})") from None
    return module


def _from_package(spec: str) -> ModuleType:
    """The module ``package.module``, imported as usual (from the current folder too)."""
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as err:
        if err.name and (spec == err.name or spec.startswith(err.name + ".")):
            raise WorkloadError(spec, f"not found (no module named {err.name!r}; give "
                                "package.module on the Python path, or path/to/file.py)") \
                from None
        raise WorkloadError(spec, f"does not import ({one_line(err)})") from None
    except (Exception, SystemExit) as err:
        raise WorkloadError(spec, f"does not import ({one_line(err)})") from None


def _digest(module: ModuleType) -> str:
    """A digest of the module's source (its file's bytes)."""
    try:
        source = Path(inspect.getfile(module)).read_bytes()
    except (OSError, TypeError):
        source = module.__name__.encode()
    return hashlib.sha256(source).hexdigest()[:12]
