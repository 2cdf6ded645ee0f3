"""compressed: persisted task results with a compressing serializer.

The one change: ``persist_result=True, result_serializer=<variant>`` on both tasks.
Variants: ``none`` is the control, Prefect's default ``"pickle"`` serializer without
compression (the reference for every compression ratio); ``pickle`` is Prefect's
``"compressed/pickle"`` (lzma), ``json`` is the guide's own example ``"compressed/json"``
(which cannot serialize a DataFrame: Prefect logs a warning and persists nothing, so the
case must report ``not_applied``), ``zstd`` is pickle compressed with zstandard, and
``parquet`` stores the DataFrame as parquet bytes.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import pandas as pd
from prefect.serializers import CompressedSerializer, Serializer

from strategies.base import Case, Context, Prepared, Strategy
from strategies.flowrun import persisted_in, prepare_flow
from strategies.tasks import et_flow


class ParquetSerializer(Serializer):
    """Serialize a DataFrame as parquet (snappy), base64-wrapped like Prefect's own."""

    type: str = "parquet"

    def dumps(self, obj: pd.DataFrame) -> bytes:
        buffer = io.BytesIO()
        obj.to_parquet(buffer)
        return base64.encodebytes(buffer.getvalue())

    def loads(self, blob: bytes) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(base64.decodebytes(blob)))


SERIALIZERS: dict[str, Any] = {
    "none": "pickle",
    "pickle": "compressed/pickle",
    "json": "compressed/json",
    "zstd": CompressedSerializer(serializer="pickle", compressionlib="zstandard"),
    "parquet": ParquetSerializer(),
}


class Compressed(Strategy):
    name = "compressed"
    summary = "persisted results through a compressing serializer"
    variants = tuple(SERIALIZERS)

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        storage = ctx.local(case, "results")
        flow = et_flow(
            f"et-compressed-{case.variant}",
            persist_result=True,
            result_storage=storage.path,
            result_serializer=SERIALIZERS[str(case.variant)],
        )
        return prepare_flow(flow, case, persisted_in(storage), storage.clear)


STRATEGY = Compressed()
