"""Stream source documents outside Spark (validation, source checks): mongoexport files or a live collection.

Every document comes out as one Extended JSON line, whatever the source, so validation re-maps it with
exactly the code path the Spark job uses for files (`DocumentMapper.map_line`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

from connectors.storage import local_path


def is_mongo(uri: str) -> bool:
    return uri.startswith(("mongodb://", "mongodb+srv://"))


def iter_lines(uri: str, *, collection: Any = None, s3_client: Any = None) -> Iterator[str]:
    """Non-blank lines of a mongoexport file (`file://`, path or `s3://`, a JSON array included), or the
    documents of `collection` (a pymongo Collection) as relaxed Extended JSON when `uri` is mongodb://.
    `s3_client` reads s3:// sources (Airflow passes its hook's client; boto3's default otherwise)."""
    if is_mongo(uri):
        from bson import json_util

        if collection is None:
            raise ValueError("a mongodb:// source needs the pymongo collection to read")
        opts = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED)
        for doc in collection.find({}, sort=[("_id", 1)]):
            yield json_util.dumps(doc, json_options=opts)
        return
    for line in _raw_lines(uri, s3_client):
        if line.strip():
            yield line


def _raw_lines(uri: str, s3_client: Any = None) -> Iterator[str]:
    path = local_path(uri)
    if path is not None:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
        else:
            files = [path]
        for f in files:
            yield from _lines_of(lambda f=f: f.open(encoding="utf-8"))
        return
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    parsed = urlparse(uri)
    body = s3_client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
    yield from _lines_of(lambda: (chunk.decode("utf-8") for chunk in body.iter_lines(keepends=True)))


def _lines_of(open_: Callable[[], Any]) -> Iterator[str]:
    handle = open_()
    try:
        first = None
        for line in handle:
            if first is None and line.strip():
                first = line
                if line.lstrip().startswith("["):  # mongoexport --jsonArray
                    rest = "".join([line, *handle])
                    yield from (json.dumps(d, ensure_ascii=False) for d in json.loads(rest))
                    return
            yield line.rstrip("\n")
    finally:
        if hasattr(handle, "close"):
            handle.close()


def count_by_type(lines: Iterator[str]) -> tuple[dict[str, int], int]:
    """Documents per `type` value (None for no or non-string type, `<malformed>` for broken JSON), and the total."""
    counts: dict[str, int] = {}
    total = 0
    for line in lines:
        total += 1
        try:
            doc = json.loads(line)
            t = doc.get("type") if isinstance(doc, dict) else "<malformed>"
        except ValueError:
            t = "<malformed>"
        key = t if isinstance(t, str) else "<none>"
        counts[key] = counts.get(key, 0) + 1
    return counts, total
