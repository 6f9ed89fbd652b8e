"""A run's files (reports, job reports, the quarantine, s3:// sources) as the Airflow side reads and writes them.

`connectors.storage` addresses `file://` and `s3://` the same way for the jobs; here every S3 call uses the
client of `S3Hook(aws_conn_id)`, so the tasks honour the DAG's AWS connection like the provider's operators.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors import storage


def s3_client(uri: str, aws_conn_id: str | None) -> Any:
    """The S3 client of the AWS connection for an s3:// `uri`; None (no client needed) for files."""
    if storage.local_path(uri) is not None:
        return None
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def read_text(uri: str, aws_conn_id: str | None) -> str:
    return storage.read_text(uri, client=s3_client(uri, aws_conn_id))


def write_text(uri: str, text: str, aws_conn_id: str | None) -> None:
    storage.write_text(uri, text, client=s3_client(uri, aws_conn_id))


def count_quarantined(uri: str, aws_conn_id: str | None) -> int:
    """Records Spark wrote under the quarantine prefix (JSON lines part files)."""
    return sum(1 for _ in quarantined_lines(uri, aws_conn_id))


def quarantined_lines(uri: str, aws_conn_id: str | None) -> Iterator[str]:
    """The records Spark wrote under the quarantine prefix, one JSON line each."""
    path = storage.local_path(uri)
    if path is not None:
        for f in sorted(path.glob("part-*")):
            yield from (line for line in f.open(encoding="utf-8") if line.strip())
        return
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    bucket, prefix = S3Hook.parse_s3_url(uri.rstrip("/") + "/")
    for key in sorted(k for k in s3.list_keys(bucket_name=bucket, prefix=prefix)
                      if k.rsplit("/", 1)[-1].startswith("part-")):
        yield from (line for line in s3.read_key(key, bucket_name=bucket).splitlines() if line.strip())


def console_url(uri: str) -> str:
    """Where a person opens `uri`: the S3 console for s3:// objects and prefixes; for a local run's files the
    API server's `/dbmigrate` app (`dbmigrate.local_files_app`), else the file URI itself."""
    if not uri.startswith("s3://"):
        from dbmigrate.local_files_app import url_path

        served = url_path(uri)
        if served is not None:
            from airflow.providers.common.compat.sdk import conf

            return conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/") + served
        return uri if "://" in uri else f"file://{uri}"
    bucket, _, key = uri[5:].partition("/")
    if key.endswith(".json"):
        return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}"
    return f"https://s3.console.aws.amazon.com/s3/buckets/{bucket}?prefix={key.rstrip('/')}/"
