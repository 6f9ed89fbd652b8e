"""`python -m devstack.moto_server -H HOST -p PORT`: moto's server, with DynamoDB's writes one at a time.

DynamoDB applies a conditional write atomically; moto's threaded server checks the condition and then writes,
and another request may run in between. Two runs racing for the migration lock (`ConditionExpression`
attribute_not_exists) could then both win, which real DynamoDB never lets happen. One lock around each DynamoDB
write gives moto DynamoDB's atomicity. Reads are not serialized: a Scan page of a large table takes moto seconds,
and nothing else (Airflow's triggers polling, a lock heartbeat) should wait behind it.

moto 5.2 writes every response through a generic serializer that walks the botocore shape of each attribute
value; for DynamoDB's item reads that is 90% of a Scan's time (a 2,300-item page: ~4 s). Its items are already
wire-shaped dicts, so `fast_item_reads` writes the four item-reading operations' results with `json.dumps`
(bytes base64-encoded, as the serializer does); everything else, errors included, goes through moto's
serializer. tests/deploy/test_moto_server.py checks that boto3 parses both the same.

moto's `Item` checks DynamoDB's item size limit after each attribute it adds, measuring the whole item again each
time (quadratic in attributes: 70% of a 10-attribute put). `sized_items` measures once, when the item is whole,
as moto's own `Item.__deepcopy__` does; sizes only add up, so the same items are refused with the same error.

moto 5.2 parses every request through a generic parser that walks the botocore shape of each attribute value
(ten members tried per value): a third of a BatchWriteItem's time. `fast_attribute_values` parses DynamoDB's
`AttributeValue`s by a direct function making the same dicts (members in the model's order, binary values
base64-decoded by the parser's own blob parser); tests/deploy/test_moto_server.py compares both parses.

moto's ImportTable reads its DynamoDB JSON objects with py_partiql_parser's `JsonParser`, which unescapes no JSON
escape (`\\n`, `\\"`, `\\u00eb` stay as written) and ends a string at a `'` (`O'Neil` is imported as `O`): the
validators found every such item differing. `json_imports` reads each line with `json.loads`, as DynamoDB reads
them; everything else about the import (the table created first, each item put, the counts) is moto's, except
that the import keeps no reference to its table once loaded.

moto's models append every instance they make to a class-level list (`BaseModel.instances_tracked`, read by its
dashboard only): every DynamoDB item ever written, overwritten or in a deleted table, stays in memory as long as the
server runs (8 GB after an hour of `make bench`, and Python's full garbage collections over that heap stall
requests for seconds). `untracked_items` makes DynamoDB's `Item` and `Table` without it; S3's tracked keys, which a
reset disposes of, are left as they are.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# The DynamoDB operations that write (X-Amz-Target `DynamoDB_20120810.<operation>`).
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
                    "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"})


def is_dynamodb_write(environ: dict[str, Any]) -> bool:
    service, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
    return service.startswith("DynamoDB_") and operation in WRITES


def one_at_a_time(app: Wsgi, serialize: Callable[[dict[str, Any]], bool] = lambda environ: True) -> Wsgi:
    """`app` with each request that `serialize` selects handled whole (its body read out) before the next
    selected one starts; the others run as they come."""
    lock = threading.Lock()

    def serial(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not serialize(environ):
            return app(environ, start_response)
        with lock:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                if hasattr(result, "close"):
                    result.close()

    return serial


# The DynamoDB operations whose results are items, written by `fast_item_reads`.
ITEM_READS = frozenset({"Scan", "Query", "GetItem", "BatchGetItem"})


def _wire(value: Any) -> Any:
    """What json.dumps cannot write itself: binary attribute values, base64 on the wire."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def fast_item_reads() -> None:
    """moto's DynamoDB item reads answered with `json.dumps` of their result (see the module docstring)."""
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    if getattr(DynamoHandler.serialized, "fast_item_reads", False):
        return
    model_serialized = DynamoHandler.serialized

    def serialized(self: DynamoHandler, action_result: Any) -> Any:
        if type(action_result) is not DynamoResult or self._get_action() not in ITEM_READS:
            return model_serialized(self, action_result)
        result = {k: v for k, v in action_result.result.items() if v is not None}
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        return 200, headers, json.dumps(result, default=_wire, separators=(",", ":"))

    serialized.fast_item_reads = True  # type: ignore[attr-defined]
    DynamoHandler.serialized = serialized  # type: ignore[method-assign]


# moto's item size limit (LimitedSizeDict): DynamoDB's 400 KB, as moto measured it on AWS.
ITEM_SIZE_LIMIT = 405_000


def sized_items() -> None:
    """moto's `Item` filled without a size check per attribute, then checked once (see the module docstring)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    if getattr(Item.__init__, "sized_items", False):
        return

    def __init__(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        for key, value in attrs.items():
            dict.__setitem__(self.attrs, key, DynamoType(value))
        if self.size() > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge

    __init__.sized_items = True  # type: ignore[attr-defined]
    Item.__init__ = __init__  # type: ignore[method-assign]


def fast_attribute_values() -> None:
    """moto's JSON-protocol request parser with DynamoDB's `AttributeValue`s parsed directly (see the module
    docstring); any other shape, and a value of an unexpected form, go through moto's own walk."""
    from moto.core import parse

    if getattr(parse.PROTOCOL_PARSERS["json"], "fast_attribute_values", False):
        return
    model_parser = parse.PROTOCOL_PARSERS["json"]

    class Parser(model_parser):  # type: ignore[misc,valid-type]
        fast_attribute_values = True
        _members: tuple[str, ...] = ()

        def _parse_structure(self, shape: Any, value: Any) -> Any:
            if shape.name != "AttributeValue" or not isinstance(value, dict):
                return super()._parse_structure(shape, value)
            if not Parser._members:
                Parser._members = tuple(shape.members)
            try:
                return self._attribute_value(value)
            except (TypeError, AttributeError):  # not the form DynamoDB sends: moto's walk says what it makes of it
                return super()._parse_structure(shape, value)

        def _attribute_value(self, value: dict[str, Any]) -> Any:
            out = self.MAP_TYPE()
            for name in value if len(value) == 1 else Parser._members:
                v = value.get(name)
                if v is None or name not in Parser._members:
                    continue
                if name == "M":
                    v = {k: None if x is None else self._attribute_value(x) for k, x in v.items()}
                elif name == "L":
                    v = [None if x is None else self._attribute_value(x) for x in v]
                elif name == "B":
                    v = self._blob_parser(v)
                elif name == "BS":
                    v = [self._blob_parser(x) for x in v]
                elif name in ("SS", "NS"):
                    v = list(v)
                out[name] = v
            return out

    parse.PROTOCOL_PARSERS["json"] = Parser


def json_imports() -> None:
    """moto's ImportTable reading its objects a JSON line at a time (see the module docstring): moto's own
    `TableImport._process_s3_files` (5.2) with `json.loads` in place of `JsonParser.parse`."""
    from moto.core.utils import gzip_decompress
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.table_import import TableImport

    if getattr(TableImport._process_s3_files, "json_imports", False):
        return

    def process(self: TableImport, s3_backend: Any, bucket: Any) -> None:
        dynamo = dynamodb_backends[self.account_id][self.region_name]
        # the table is the backend's, not the import's: moto's import kept it (`self.table`) for as long as the
        # server lives, every item of it, after the table was deleted; a DescribeImport needs none of it
        table = dynamo.create_table(
            name=self.table_name, billing_mode=self.billing_mode, throughput=self.throughput, schema=self.key_schema,
            global_indexes=self.global_indexes, indexes=None, attr=self.attrs, sse_specification=None, streams=None,
            tags=[], deletion_protection_enabled=False, warm_throughput=None)
        keys, _, _, _ = s3_backend.list_objects(bucket, prefix=self.s3_source.get("S3KeyPrefix"), delimiter=None,
                                                marker=None, max_keys=None)
        for key in keys:
            raw = gzip_decompress(key.value) if self.compression_type == "GZIP" else key.value
            for line in raw.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                try:
                    self.processed_count += 1
                    self.processed_bytes += len(line)
                    table.put_item(item_attrs=json.loads(line)["Item"])
                    self.imported_count += 1
                except Exception as e:  # noqa: BLE001 - as moto: counted, the import FAILED at the end
                    self.failure_message = str(e)
                    self.error_count += 1
        self.status = "COMPLETED" if self.error_count == 0 else "FAILED"

    process.json_imports = True  # type: ignore[attr-defined]
    TableImport._process_s3_files = process  # type: ignore[method-assign]


def untracked_items() -> None:
    """DynamoDB items and tables made without moto's instance tracking (see the module docstring)."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    def new(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    for model in (Item, Table):
        if "__new__" not in vars(model):
            model.__new__ = new  # type: ignore[method-assign,assignment]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="devstack.moto_server", description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto_server does: the URLs moto hands out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fast_item_reads()
    sized_items()
    fast_attribute_values()
    json_imports()
    untracked_items()
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto_server does
    run_simple(args.host, args.port, one_at_a_time(app, is_dynamodb_write), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
