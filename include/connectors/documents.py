"""The one reader of MongoDB sources: mongoexport files for the Spark job and the validators, a live collection.

The Spark job and the validators must judge the same bytes the same way, so both read files here, never
through Spark's text decoding (which replaces invalid UTF-8 with U+FFFD). A file is cut into byte-range
`Split`s; a line belongs to the split its first byte is in (as Hadoop's line reader does), so the splits of
a file together yield each line exactly once, and the job reads them in parallel on its executors while a
validator reads them one after another. Lines are split on `\\n` only; `\\r\\n`, a byte order mark and
invalid UTF-8 are handled by `transforms.source_text`.

A file is a `mongoexport --jsonArray` export when its first non-blank character is `[` and the whole file
parses as one JSON array; anything else (a line-per-document export whose first line happens to be an array)
is read line by line, each line judged on its own.

A migration of several collections reads one location: a directory (or S3 prefix) holding one export per
collection, `<collection>.json` or a `<collection>/` folder of its parts, or a mongodb:// database. Each document's
text then carries its collection (`transforms.source_text.CollectionText`). Whatever a directory holds that is
not read is refused, never skipped: a nested folder of a single collection's parts, an export named for no
collection of the spec (hidden and bookkeeping names, `.x` and `_SUCCESS`, excepted).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from connectors.storage import local_path
from transforms.source_text import (
    BOM,
    JSON_WHITESPACE,
    CollectionText,
    collection_of,
    decode_line,
    invalid_utf8_at,
    is_blank,
    nesting_exceeds,
)
from transforms.spec import DEFAULT_SHAPE, MAX_NESTING_DEPTH, DocumentShape, EntitySpec

MIN_SPLIT_BYTES = 1 << 20  # 1 MiB: smaller splits cost more in tasks than they save
MAX_SPLIT_BYTES = 128 << 20
_HEAD_BYTES = 64 << 10


def is_mongo(uri: str) -> bool:
    return uri.startswith(("mongodb://", "mongodb+srv://"))


@dataclass(frozen=True)
class Split:
    """Bytes [start, end) of one file: the lines that start there (or the whole file, for a JSON array)."""

    uri: str
    start: int
    end: int
    array: bool = False
    collection: str | None = None  # a migration of several collections: whose documents these are

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


class _BodyIO(io.RawIOBase):
    """An S3 `StreamingBody` as a raw stream, so `io.BufferedReader.readline` splits it on `\\n` only."""

    def __init__(self, body: Any) -> None:
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.body.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.body.close()
        super().close()


def _s3_client(s3_client: Any) -> Any:
    if s3_client is not None:
        return s3_client
    import boto3

    return boto3.client("s3")


class SourceLayoutError(ValueError):
    """A source directory whose contents cannot be read unambiguously; the message names what is wrong."""


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def list_files(uri: str, s3_client: Any = None) -> list[tuple[str, int]]:
    """(file URI, size) of a file, or of every file in a directory / under an S3 prefix ending in `/`, by name.
    Hidden and bookkeeping files (`.x`, `_SUCCESS`) are skipped, as Spark skips them; a nested folder is refused
    (`SourceLayoutError`): its documents would otherwise be left out of the load without a word."""
    path = local_path(uri)
    if path is not None:
        if not path.exists():
            raise FileNotFoundError(f"source {uri} does not exist")
        if not path.is_dir():
            return [(str(path), path.stat().st_size)]
        entries = sorted(p for p in path.iterdir() if not _hidden(p.name))
        nested = [p.name for p in entries if p.is_dir()]
        if nested:
            raise SourceLayoutError(f"source {uri} holds the folder(s) {nested}: a directory source is the parts of "
                                    "one collection, files only (or, for a spec of several collections, one "
                                    "`<collection>.json` or `<collection>/` each); move them out or name them")
        return [(str(p), p.stat().st_size) for p in entries]
    client = _s3_client(s3_client)
    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if key and not key.endswith("/"):
        return [(uri, int(client.head_object(Bucket=bucket, Key=key)["ContentLength"]))]
    out, nested = [], set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        for obj in page.get("Contents", []):
            rest = obj["Key"][len(key):]
            if "/" in rest.strip("/") and not _hidden(rest.split("/", 1)[0]):
                nested.add(rest.split("/", 1)[0])
                continue
            name = obj["Key"].rsplit("/", 1)[-1]
            if name and not _hidden(name):
                out.append((f"s3://{bucket}/{obj['Key']}", int(obj["Size"])))
    if nested:
        raise SourceLayoutError(f"source {uri} holds the folder(s) {sorted(nested)}: a directory source is the parts "
                                "of one collection, files only")
    return sorted(out)


EXPORT_SUFFIX = ".json"


def collection_sources(uri: str, collections: Iterable[str], s3_client: Any = None) -> list[tuple[str, str]]:
    """(collection, its source URI) for a migration of several collections: in the directory (or S3 prefix)
    `uri`, `<collection>.json` or a `<collection>/` folder of its parts; of a mongodb:// URI, the URI itself (the
    collection is read by name). Refused (`SourceLayoutError`): a collection with no export, one with both, and
    anything else the directory holds."""
    collections = list(collections)
    if is_mongo(uri):
        return [(c, uri) for c in collections]
    base = uri.rstrip("/") + "/"
    path = local_path(uri)
    if path is not None:
        if not path.is_dir():
            raise SourceLayoutError(f"source {uri} must be a directory holding one export per collection "
                                    f"({', '.join(c + EXPORT_SUFFIX for c in collections)})")
        entries = {p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if not _hidden(p.name)}
        base = path.as_uri().rstrip("/") + "/"
    else:
        parsed = urlparse(base)
        client = _s3_client(s3_client)
        entries = set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=parsed.netloc,
                                                                      Prefix=parsed.path.lstrip("/")):
            for obj in page.get("Contents", []):
                rest = obj["Key"][len(parsed.path.lstrip("/")):]
                head = rest.split("/", 1)[0]
                if head and not _hidden(head):
                    entries.add(head + "/" if "/" in rest else head)
    out = []
    for c in collections:
        found = [e for e in (c + EXPORT_SUFFIX, c + "/") if e in entries]
        if len(found) != 1:
            why = "no export" if not found else "both a file and a folder"
            raise SourceLayoutError(f"source {uri}: collection {c!r} has {why} (expected {c}{EXPORT_SUFFIX} or {c}/)")
        out.append((c, base + found[0]))
    unknown = sorted(entries - {e for _, u in out for e in [u[len(base):]]})
    if unknown:
        raise SourceLayoutError(f"source {uri} holds {unknown}, which is no collection of the spec "
                                f"({', '.join(collections)}): add it to `source.collections` or move it out")
    return out


def _open(uri: str, start: int, s3_client: Any = None) -> io.BufferedReader:
    """A binary stream of `uri` from byte `start` to its end."""
    path = local_path(uri)
    if path is not None:
        handle = path.open("rb")
        handle.seek(start)
        return handle  # type: ignore[return-value]
    parsed = urlparse(uri)
    body = _s3_client(s3_client).get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"),
                                            Range=f"bytes={start}-")["Body"]
    return io.BufferedReader(_BodyIO(body), buffer_size=1 << 20)


def array_elements(data: bytes) -> list[str] | None:
    """The element texts of a `--jsonArray` export, or None when `data` is not one JSON array."""
    text = decode_line(data, first=True)
    start = len(text) - len(text.lstrip(JSON_WHITESPACE))
    if text[start:start + 1] != "[":
        return None
    decoder, pos, out = json.JSONDecoder(), start + 1, []
    try:
        while True:
            pos = _skip_ws(text, pos)
            if text[pos:pos + 1] == "]" and not out:
                pos += 1
                break
            _, end = decoder.raw_decode(text, pos)
            out.append(text[pos:end])
            pos = _skip_ws(text, end)
            if text[pos:pos + 1] == ",":
                pos += 1
                continue
            if text[pos:pos + 1] != "]":
                return None
            pos += 1
            break
    except (ValueError, RecursionError):
        return None
    return out if is_blank(text[pos:]) else None


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in JSON_WHITESPACE:
        pos += 1
    return pos


def _looks_like_array(uri: str, s3_client: Any) -> bool:
    with _open(uri, 0, s3_client) as handle:
        head = handle.read(_HEAD_BYTES).decode("utf-8", "surrogateescape").lstrip(BOM).lstrip(JSON_WHITESPACE)
    return head.startswith("[")


def plan_splits(uri: str, *, parts: int = 1, s3_client: Any = None, collections: Iterable[str] = ()
                ) -> list[Split]:
    """The splits of a source file or directory, about `parts` of them overall (at least 1 MiB each).
    A `--jsonArray` file is one split: it is read whole. With `collections`, `uri` holds one export per
    collection (`collection_sources`) and each split says whose documents it holds."""
    collections = list(collections)
    if collections:
        sources = collection_sources(uri, collections, s3_client)
        files = [(c, f, size) for c, u in sources for f, size in list_files(u, s3_client)]
    else:
        files = [(None, f, size) for f, size in list_files(uri, s3_client)]
    total = sum(size for _, _, size in files)
    size = min(MAX_SPLIT_BYTES, max(MIN_SPLIT_BYTES, -(-total // max(parts, 1))))
    splits: list[Split] = []
    for collection, file_uri, file_size in files:
        if file_size and _looks_like_array(file_uri, s3_client):
            with _open(file_uri, 0, s3_client) as handle:
                if array_elements(handle.read()) is not None:
                    splits.append(Split(file_uri, 0, file_size, array=True, collection=collection))
                    continue
        splits += [Split(file_uri, s, min(s + size, file_size), collection=collection)
                   for s in range(0, file_size, size)]
    return splits


def read_split(split: Split, s3_client: Any = None) -> Iterator[tuple[str, str]]:
    """(document text, where it is) for every non-blank line starting in `split`, or every array element; the
    text a `CollectionText` when the split says its collection."""
    if split.collection is not None:
        for text, where in _read_split(split, s3_client):
            yield CollectionText(text, split.collection), f"{split.collection}: {where}"
        return
    yield from _read_split(split, s3_client)


def _read_split(split: Split, s3_client: Any = None) -> Iterator[tuple[str, str]]:
    if split.array:
        with _open(split.uri, 0, s3_client) as handle:
            elements = array_elements(handle.read())
        if elements is None:
            raise ValueError(f"{split.uri} is no longer one JSON array: was it changed during the run?")
        for i, element in enumerate(elements):
            yield element, f"{split.name} element {i}"
        return
    begin = max(split.start - 1, 0)
    with _open(split.uri, begin, s3_client) as handle:
        pos = begin
        if split.start > 0:  # the line in progress at `start` belongs to the split before
            pos += len(handle.readline())
        while pos < split.end:
            raw = handle.readline()
            if not raw:
                break
            offset, pos = pos, pos + len(raw)
            text = decode_line(raw[:-1] if raw.endswith(b"\n") else raw, first=offset == 0)
            if not is_blank(text):
                yield text, f"{split.name} byte {offset}"


def iter_lines(uri: str, *, collection: Any = None, s3_client: Any = None, collections: Iterable[str] = (),
               database: Any = None) -> Iterator[str]:
    """Every document of a source as text: the non-blank lines or array elements of a mongoexport file or
    directory (`file://`, path or `s3://`, through the splits the job reads), or the documents of
    `collection` (a pymongo Collection) as canonical Extended JSON, as the Spark connector gives them to the
    job, when `uri` is mongodb://. `s3_client` reads s3:// (Airflow passes its hook's; boto3's otherwise).
    With `collections` (a migration of several), each text a `CollectionText`; of mongodb://, read from
    `database` (a pymongo Database)."""
    collections = list(collections)
    if is_mongo(uri):
        from bson import json_util

        if collections:
            if database is None:
                raise ValueError("a mongodb:// source of several collections needs the pymongo database to read")
            for name in collections:
                for text in iter_lines(uri, collection=database[name]):
                    yield CollectionText(text, name)
            return
        if collection is None:
            raise ValueError("a mongodb:// source needs the pymongo collection to read")
        for doc in collection.find({}, sort=[("_id", 1)]):
            yield json_util.dumps(doc, json_options=json_util.CANONICAL_JSON_OPTIONS)
        return
    for split in plan_splits(uri, s3_client=s3_client, collections=collections):
        for text, _where in read_split(split, s3_client):
            yield text


def document_type(text: str, max_nesting_depth: int = MAX_NESTING_DEPTH, shape: DocumentShape = DEFAULT_SHAPE,
                  entities: tuple[EntitySpec, ...] = ()) -> str:
    """The type a document declares (the source's own answer: its discriminator field, or with none its keys'
    shapes among `entities`), or `<bad_encoding>`, `<malformed>`, `<none>`.

    Independent of the mapping: only the reading rules (decoding, nesting depth) are shared with the job, so
    both agree on what a document is while the job's mapping is checked against what documents say they are.
    """
    if invalid_utf8_at(text) is not None:
        return "<bad_encoding>"
    if nesting_exceeds(text, max_nesting_depth):
        return "<malformed>"
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return "<malformed>"
    if not isinstance(doc, dict):
        return "<malformed>"
    t = shape.type_of(doc, entities, collection_of(text))
    return t if t is not None else "<none>"


def count_by_type(lines: Iterable[str], max_nesting_depth: int = MAX_NESTING_DEPTH,
                  shape: DocumentShape = DEFAULT_SHAPE, entities: tuple[EntitySpec, ...] = ()
                  ) -> tuple[dict[str, int], int]:
    """Documents per type (`document_type`), and the total."""
    counts: dict[str, int] = {}
    total = 0
    for line in lines:
        total += 1
        key = document_type(line, max_nesting_depth, shape, entities)
        counts[key] = counts.get(key, 0) + 1
    return counts, total
