"""s3: task results persisted to S3 through a ``prefect_aws.S3Bucket`` block.

The one change: ``persist_result=True, result_storage="s3-bucket/<block>"`` on both tasks.
The block is saved on the session's Prefect server by the harness and points at the
session's S3 endpoint (moto's server on loopback by default).
"""

from __future__ import annotations

from strategies.base import Case, Context, Prepared, Strategy
from strategies.flowrun import persisted_in, prepare_flow
from strategies.tasks import et_flow


class S3(Strategy):
    name = "s3"
    summary = "results persisted to S3 via a saved S3Bucket block"
    needs_s3 = True

    def prepare(self, case: Case, ctx: Context) -> Prepared:
        if ctx.s3 is None:
            raise RuntimeError("the s3 strategy needs an S3 target from the harness")
        flow = et_flow("et-s3", persist_result=True, result_storage=ctx.s3.block_slug)
        return prepare_flow(flow, case, persisted_in(ctx.s3.storage), ctx.s3.storage.clear)


STRATEGY = S3()
