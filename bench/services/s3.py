"""The S3 endpoint of the ``s3`` strategy: moto's S3 server in its own process on
127.0.0.1 (bucket created), or any S3-compatible endpoint the user configures
(``--bench-s3-*`` options, ``BENCH_S3_*`` and ``AWS_*`` variables); and the ``S3Bucket``
block through which Prefect writes results there. Credentials never appear in a ``repr``,
a message or a file of this project.

boto3 and prefect-aws are imported where they are used: they take a noticeable part of a
second, which every pytest session would pay (the plugin imports this module) while most
runs use no S3 endpoint."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.isolation import free_port
from bench.services import ServiceError
from bench.services.processes import http_ok, started


@dataclass(frozen=True)
class S3Settings:
    """Where results go for the ``s3`` strategy. Secrets never appear in ``repr``."""

    endpoint_url: str | None = None
    bucket: str = "prefect-bigdata-bench"
    region: str = "us-east-1"
    access_key_id: str = field(default="testing", repr=False)
    secret_access_key: str = field(default="testing", repr=False)

    @classmethod
    def from_env(cls, endpoint_url: str | None = None, bucket: str | None = None) -> S3Settings:
        """Options first, then ``BENCH_S3_ENDPOINT_URL``/``BENCH_S3_BUCKET``/``AWS_*``."""
        endpoint = endpoint_url or os.environ.get("BENCH_S3_ENDPOINT_URL") or None
        env = os.environ if endpoint else {}
        return cls(
            endpoint_url=endpoint,
            bucket=bucket or os.environ.get("BENCH_S3_BUCKET") or cls.bucket,
            region=env.get("AWS_DEFAULT_REGION", cls.region),
            access_key_id=env.get("AWS_ACCESS_KEY_ID", "testing"),
            secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "testing"),
        )

    def client(self) -> Any:
        """The harness's own client (listing, emptying): it gives up on a dead endpoint
        after 3 attempts, about 3 s, not botocore's default 5. The flows' clients (the
        ``S3Bucket`` block) keep Prefect's and botocore's defaults."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10),
        )


@dataclass(frozen=True)
class S3Prefix:
    """A prefix in a bucket, used as a strategy's storage (see ``strategies.base.Storage``)."""

    settings: S3Settings
    prefix: str

    def sizes(self) -> dict[str, int]:
        with self._reaching():
            pages = self.settings.client().get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=self.prefix + "/"
            )
            return {obj["Key"]: obj["Size"] for page in pages
                    for obj in page.get("Contents", [])}

    def clear(self) -> None:
        keys = list(self.sizes())
        with self._reaching():
            client = self.settings.client()
            for start in range(0, len(keys), 1000):
                batch = [{"Key": key} for key in keys[start : start + 1000]]
                client.delete_objects(Bucket=self.settings.bucket, Delete={"Objects": batch})

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn "cannot connect" into one line naming the endpoint."""
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            yield
        except BotoConnectionError as err:
            raise ServiceError(f"S3 endpoint {self.settings.endpoint_url}: unreachable "
                               f"({type(err).__name__})") from None


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server in its own process on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with started(args, f"moto S3 server on {url}", lambda: http_ok(url)):
        yield url


@contextmanager
def s3_endpoint(settings: S3Settings) -> Iterator[S3Settings]:
    """The configured S3 endpoint, or moto's; the bucket exists when this yields."""
    with ExitStack() as stack:
        if settings.endpoint_url is None:
            url = stack.enter_context(moto_s3())
            settings = S3Settings(endpoint_url=url, bucket=settings.bucket)
        client = settings.client()
        try:
            client.head_bucket(Bucket=settings.bucket)
        except client.exceptions.ClientError:
            try:
                client.create_bucket(Bucket=settings.bucket)
            except Exception as err:
                raise ServiceError(
                    f"S3 endpoint {settings.endpoint_url}: cannot use bucket "
                    f"{settings.bucket!r} ({type(err).__name__})"
                ) from None
        except Exception as err:
            raise ServiceError(
                f"S3 endpoint {settings.endpoint_url}: unreachable ({type(err).__name__})"
            ) from None
        yield settings


def save_s3_block(settings: S3Settings, folder: str, name: str) -> str:
    """Save an ``S3Bucket`` block (and its ``AwsCredentials``, ``<name>-credentials``) on the
    Prefect server; return its slug for ``result_storage``. :func:`delete_s3_block` removes
    both, so no credential stays on a user's server."""
    from prefect_aws import AwsCredentials, S3Bucket

    credentials = AwsCredentials(
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        region_name=settings.region,
        aws_client_parameters={"endpoint_url": settings.endpoint_url},
    )
    credentials.save(f"{name}-credentials", overwrite=True)
    block = S3Bucket(bucket_name=settings.bucket, bucket_folder=folder, credentials=credentials)
    block.save(name, overwrite=True)
    return f"s3-bucket/{name}"


def delete_s3_block(name: str) -> None:
    """Delete what :func:`save_s3_block` saved."""
    from prefect_aws import AwsCredentials, S3Bucket

    S3Bucket.delete(name)
    AwsCredentials.delete(f"{name}-credentials")
