"""The real services a benchmark run uses, each started and stopped by the harness in
processes of its own (``processes``): the Prefect server (``prefect_server``), an S3
endpoint (``s3``), Dask clusters (``dask``) and Ray clusters (``ray``, an optional extra).
Everything started is stopped when the session ends, also on error or Ctrl-C."""


class ServiceError(RuntimeError):
    """A service could not be started or reached; ``str(err)`` is one actionable line."""
