"""Read and write small text objects (specs, run reports) at a `file://`, plain path or `s3://` URI.

The Spark job runs on EMR (S3) and locally (files) with the same arguments, so it addresses both the
same way. Large outputs (quarantined documents) are written by Spark itself, not through here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse


def _s3(uri: str, client: Any = None) -> tuple[Any, str, str]:
    """(S3 client, bucket, key): `client` when given (Airflow passes its hook's), else boto3's default."""
    if client is None:
        import boto3

        client = boto3.client("s3")
    parsed = urlparse(uri)
    return client, parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path | None:
    """The filesystem path of a `file://` URI or a bare path; None for remote URIs."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else uri)
    return None


def read_text(uri: str, *, client: Any = None) -> str:
    path = local_path(uri)
    if path is not None:
        return path.read_text(encoding="utf-8")
    client, bucket, key = _s3(uri, client)
    return client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


def write_text(uri: str, text: str, *, client: Any = None) -> None:
    path = local_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    client, bucket, key = _s3(uri, client)
    client.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))


def read_secret(path: str) -> str:
    """A password from the file a local job was given (`--*-password-file`): never an argument, never an
    environment variable, so it shows in no process listing and no child's environment. One trailing
    newline is not part of it."""
    text = Path(path).read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


def safe_segment(value: str) -> str:
    """An Airflow run id (`manual__2026-01-01T00:00:00+00:00`) made safe as one path segment for Hadoop and S3."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in value)
