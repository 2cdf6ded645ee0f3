"""compressed: persisted task results through a (compressing) serializer.

The one change: ``persist_result=True, result_serializer=<variant>`` on both tasks.
Variants: ``none`` is the control, Prefect's default ``"pickle"`` serializer without
compression (the reference for every compression ratio); ``pickle`` is Prefect's
``"compressed/pickle"`` (lzma), ``json`` is the guide's own example ``"compressed/json"``
(which cannot serialize a DataFrame: Prefect logs a warning and persists nothing, so the
case must report ``not_applied``), ``zlib`` and ``zstd`` are pickle compressed with those
libraries, and ``parquet`` stores the DataFrame as parquet bytes.

Proof it took effect: result records of nonzero size in the result storage, and while the
flow runs a witness notes the serializer of each result Prefect persists
(``ResultStore.persist_result_record``): every one must be the variant's.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import pandas as pd
from prefect.results import ResultStore, resolve_serializer
from prefect.serializers import CompressedSerializer, Serializer

from strategies import et
from strategies.base import Case, Context, NotApplied
from strategies.flowrun import FlowRun, persisted
from strategies.levers import Change, Lever, LeverStrategy, Spy, persisted_record


class ParquetSerializer(Serializer):
    """Serialize a DataFrame as parquet (snappy), base64-wrapped like Prefect's own."""

    type: str = "parquet"

    def dumps(self, obj: pd.DataFrame) -> bytes:
        buffer = io.BytesIO()
        obj.to_parquet(buffer)
        return base64.encodebytes(buffer.getvalue())

    def loads(self, blob: bytes) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(base64.decodebytes(blob)))


class Serialized(Lever):
    """Results persisted to local disk through ``serializer``."""

    shapes = ("dataframe",)

    def __init__(self, name: str, serializer: Any) -> None:
        self.name = name  # type: ignore[misc]
        self.summary = f"results persisted with result_serializer={serializer!r}"  # type: ignore[misc]
        self.serializer = serializer

    def apply(self, case: Case, ctx: Context) -> Change:
        storage = ctx.local(case, "results")
        expected = resolve_serializer(self.serializer).model_dump(mode="json")
        used = Spy(ResultStore, "persist_result_record", note=_serializer)

        def prove(run: FlowRun, output: et.Payload) -> str:
            if not used.facts:
                raise NotApplied(run.why_not_persisted())
            wrong = [found for found in used.facts if found != expected]
            if wrong:
                raise NotApplied(f"Prefect persisted {len(wrong)} of {len(used.facts)} "
                                 f"results with the serializer {wrong[0]}, not {expected}")
            return f"{persisted(storage, run)} with the {_label(expected)} serializer"

        return Change(prove=prove, storage=storage, spies=(used,),
                      options={"persist_result": True, "result_storage": storage.path,
                               "result_serializer": self.serializer})


def _serializer(_: object, store: ResultStore, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The serializer of the result record ``store`` just persisted, as data."""
    return persisted_record(args, kwargs).metadata.serializer.model_dump(mode="json")


def _label(serializer: dict[str, Any]) -> str:
    """``pickle``, ``compressed/pickle (pickle + lzma)``, ``compressed (pickle + zlib)``."""
    if "compressionlib" not in serializer:
        return str(serializer["type"])
    inner = serializer["serializer"]["type"]
    return f"{serializer['type']} ({inner} + {serializer['compressionlib']})"


SERIALIZERS: dict[str, Serialized] = {
    name: Serialized(name, serializer) for name, serializer in {
        "none": "pickle",
        "pickle": "compressed/pickle",
        "json": "compressed/json",
        "zlib": CompressedSerializer(serializer="pickle", compressionlib="zlib"),
        "zstd": CompressedSerializer(serializer="pickle", compressionlib="zstandard"),
        "parquet": ParquetSerializer(),
    }.items()
}
PARQUET = SERIALIZERS["parquet"]
STRATEGY = LeverStrategy("compressed", "persisted results through a compressing serializer",
                         {name: (lever,) for name, lever in SERIALIZERS.items()})
