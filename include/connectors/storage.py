"""Read and write small text objects (specs, run reports) at a `file://`, plain path or `s3://` URI.

The Spark job runs on EMR (S3) and locally (files) with the same arguments, so it addresses both the
same way. Large outputs (quarantined documents) are written by Spark itself, not through here.
"""

from __future__ import annotations

import os
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
    """Write `text` at `uri`; a local file owner-only (0600, its new folders 0700): reports and job reports
    name sources, targets and rejected values."""
    path = local_path(uri)
    if path is not None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file that existed keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return
    client, bucket, key = _s3(uri, client)
    client.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))


def restrict(uri: str) -> None:
    """Make a local folder written by Spark (the quarantine: rejected documents as they were) owner-only: the
    folder 0700, every file in it 0600. S3 objects are private by the bucket's policy."""
    path = local_path(uri)
    if path is None or not path.exists():
        return
    for p in [path, *path.rglob("*")]:
        p.chmod(0o700 if p.is_dir() else 0o600)


def clear_prefix(uri: str, *, client: Any = None) -> int:
    """Remove what an earlier attempt left under the folder or prefix `uri` (a retried run's quarantine, when this
    attempt has nothing to write there): how many files or objects went."""
    path = local_path(uri)
    if path is not None:
        if not path.exists():
            return 0
        import shutil

        n = sum(1 for p in path.rglob("*") if p.is_file())
        shutil.rmtree(path)
        return n
    client, bucket, key = _s3(uri.rstrip("/") + "/", client)
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
            n += len(objects)
    return n


def read_secret(path: str) -> str:
    """A password from the file a local job was given (`--*-password-file`): never an argument, never an
    environment variable, so it shows in no process listing and no child's environment. One trailing
    newline is not part of it."""
    text = Path(path).read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text


def safe_segment(value: str) -> str:
    """An Airflow run id (`manual__2026-01-01T00:00:00+00:00`) made safe as one path segment for Hadoop and S3."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in value)
