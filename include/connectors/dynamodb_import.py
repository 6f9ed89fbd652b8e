"""First loads through DynamoDB ImportTable: the job's items as gzipped DynamoDB JSON objects on S3.

A table that does not exist yet is loaded without write capacity: each write task of the job puts its items
under the run's import prefix, one `{"Item": {...}}` a line, and after the job `ImportTable` creates the table
(keys, GSIs, billing mode as the spec says: `transforms.dynamodb_tables.import_table_kwargs`) from those objects
(`dbmigrate.operators.dynamodb.DynamoDBImportOperator`). Object names are the partition's number and a sequence,
so a retried task overwrites what its failed attempt left instead of adding to it; the job clears the prefix
before it writes.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

# Uncompressed bytes of items per S3 object: a task's items are put in objects of about this size, held in memory
# while they are shuffled (ImportTable reads at most 50,000 objects of an import: 3 TiB at this size).
OBJECT_BYTES = 64 * 1024 * 1024
# gzip's level 3: a sixth of level 9's time (the default) for objects 20 % larger. ImportTable is priced by the
# uncompressed size, and the objects only travel to it.
GZIP_LEVEL = 3
# One encoder for every line (`json.dumps` with options builds one a call): the item's JSON inside `{"Item": …}`.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def object_key(prefix: str, partition: int, seq: int) -> str:
    """The S3 key of a task's `seq`th object under `prefix`."""
    return f"{prefix.rstrip('/')}/part-{partition:05d}-{seq:04d}.json.gz"


def import_lines(items: Iterator[dict[str, Any]], max_bytes: int = OBJECT_BYTES, seed: int = 0) -> Iterator[bytes]:
    """The items (DynamoDB wire form) as gzipped DynamoDB JSON, one object's bytes at a time (about `max_bytes`
    uncompressed each), each object's lines in a shuffled order: a task's items often follow the source's key order,
    and an object written in key order makes the import write one partition after the other (AWS's best practice:
    randomize sorted data). The order is seeded by `seed` and the object's number, so a retried task writes the same
    bytes."""
    lines: list[bytes] = []
    size = seq = 0

    def packed() -> bytes:
        random.Random(seed * 100_003 + seq).shuffle(lines)
        return gzip.compress(b"".join(lines), compresslevel=GZIP_LEVEL, mtime=0)

    for item in items:
        line = ('{"Item":' + _encode(item) + "}\n").encode("utf-8")
        lines.append(line)
        size += len(line)
        if size >= max_bytes:
            yield packed()
            lines, size, seq = [], 0, seq + 1
    if lines:
        yield packed()


def import_writer(*, uri: str, region: str | None, max_bytes: int = OBJECT_BYTES
                  ) -> Callable[[Iterator[tuple[dict, str]]], Iterator[tuple[str, int]]]:
    """The mapPartitions function of a first load: put one partition's (item, kind) pairs under the S3 prefix `uri`
    and yield (kind, count), as `connectors.dynamodb_job.item_writer` does for a table."""

    def write(entries: Iterator[tuple[dict, str]]) -> Iterator[tuple[str, int]]:
        import boto3
        from pyspark import TaskContext

        counts: Counter[str] = Counter()

        def counted() -> Iterator[dict]:
            for item, kind in entries:
                counts[kind] += 1
                yield item

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        s3 = boto3.client("s3", region_name=region)
        ctx = TaskContext.get()
        partition = ctx.partitionId() if ctx is not None else 0
        for seq, body in enumerate(import_lines(counted(), max_bytes, seed=partition)):
            s3.put_object(Bucket=bucket, Key=object_key(prefix, partition, seq), Body=body)
        return iter(counts.items())

    return write
