"""devstack.moto_server: the stack's moto handles DynamoDB writes one at a time, so a conditional write is atomic
as on AWS (moto's threaded server lets two `attribute_not_exists` updates of one key both succeed)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from devstack.moto_server import is_dynamodb_write, one_at_a_time


def test_requests_never_overlap() -> None:
    inside: list[int] = []
    overlaps: list[int] = []
    guard = threading.Lock()

    def slow_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with guard:
            inside.append(1)
            if len(inside) > 1:
                overlaps.append(len(inside))
        time.sleep(0.02)
        with guard:
            inside.pop()
        start_response("200 OK", [])
        yield environ["n"].encode()
        yield b"!"

    app = one_at_a_time(slow_app)
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda n: app({"n": str(n)}, lambda *a: None), range(16)))
    assert overlaps == []
    assert bodies == [[f"{n}!".encode()] for n in range(16)]  # each body read out whole inside the lock


def test_only_dynamodb_writes_are_serialized() -> None:
    def target(t: str) -> dict[str, str]:
        return {"HTTP_X_AMZ_TARGET": t}

    assert is_dynamodb_write(target("DynamoDB_20120810.UpdateItem"))
    assert is_dynamodb_write(target("DynamoDB_20120810.BatchWriteItem"))
    assert not is_dynamodb_write(target("DynamoDB_20120810.Scan"))
    assert not is_dynamodb_write(target("AWSGlue.StartJobRun")) and not is_dynamodb_write({})
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ["HTTP_X_AMZ_TARGET"])
        return [b"ok"]

    wrapped = one_at_a_time(app, is_dynamodb_write)
    assert wrapped(target("DynamoDB_20120810.Scan"), None) == [b"ok"]
    assert wrapped(target("DynamoDB_20120810.PutItem"), None) == [b"ok"]
    assert seen == ["DynamoDB_20120810.Scan", "DynamoDB_20120810.PutItem"]


def test_only_one_of_eight_conditional_updates_wins(moto_endpoint: str) -> None:
    """The embedded stack's moto (started by `bin/local-stack up` through devstack.moto_server): 200 rounds of
    eight clients racing for one key, as the migration lock's `update_item` does. moto's own threaded server
    let two of them win in about 5 rounds of 200 here."""
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    table = f"race_{time.monotonic_ns()}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    clients = [boto3.client("dynamodb", endpoint_url=moto_endpoint) for _ in range(8)]
    payload = {"S": "x" * 20_000}  # a longer write widens the window between moto's check and its update

    def round_of(key: str) -> list[int]:
        start = threading.Barrier(len(clients))

        def update(who: int) -> bool:
            client = clients[who]
            start.wait()
            try:
                client.update_item(TableName=table, Key={"k": {"S": key}}, UpdateExpression="SET who = :w, body = :b",
                                   ConditionExpression="attribute_not_exists(who)",
                                   ExpressionAttributeValues={":w": {"N": str(who)}, ":b": payload})
                return True
            except client.exceptions.ConditionalCheckFailedException:
                return False

        with ThreadPoolExecutor(len(clients)) as pool:
            return [who for who, ok in enumerate(pool.map(update, range(len(clients)))) if ok]

    try:
        rounds = {f"lock{n}": round_of(f"lock{n}") for n in range(200)}
        assert {key: won for key, won in rounds.items() if len(won) != 1} == {}
        item = ddb.get_item(TableName=table, Key={"k": {"S": "lock0"}}, ConsistentRead=True)["Item"]
        assert item["who"]["N"] == str(rounds["lock0"][0])
    finally:
        ddb.delete_table(TableName=table)


def _item_reads(client: Any) -> list[Any]:
    """Every shape of result the four item reads give, errors included, as boto3 parses them."""
    out: list[Any] = []
    calls: list[tuple[str, dict[str, Any]]] = [
        ("scan", {"TableName": "t", "Limit": 3}),
        ("scan", {"TableName": "t", "Select": "COUNT", "ReturnConsumedCapacity": "TOTAL"}),
        ("scan", {"TableName": "t", "TotalSegments": 2, "Segment": 1, "ConsistentRead": True}),
        ("scan", {"TableName": "t", "ProjectionExpression": "#m.#k, bins", "ReturnConsumedCapacity": "INDEXES",
                  "ExpressionAttributeNames": {"#m": "nested", "#k": "k"}}),
        ("scan", {"TableName": "t", "IndexName": "by_g"}),
        ("query", {"TableName": "t", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues":
                   {":p": {"S": "p1"}}, "ScanIndexForward": False, "Limit": 2}),
        ("query", {"TableName": "t", "IndexName": "by_g", "KeyConditionExpression": "g = :g",
                   "ExpressionAttributeValues": {":g": {"S": "g0"}}}),
        ("get_item", {"TableName": "t", "Key": {"pk": {"S": "p1"}, "sk": {"N": "2"}}}),
        ("get_item", {"TableName": "t", "Key": {"pk": {"S": "nope"}, "sk": {"N": "2"}}}),
        ("batch_get_item", {"RequestItems": {"t": {"Keys": [{"pk": {"S": "p0"}, "sk": {"N": "1"}},
                                                             {"pk": {"S": "nope"}, "sk": {"N": "1"}}]}}}),
        ("get_item", {"TableName": "missing", "Key": {"pk": {"S": "p1"}, "sk": {"N": "2"}}}),
    ]
    for operation, kwargs in calls:
        try:
            response = getattr(client, operation)(**kwargs)
        except client.exceptions.ClientError as err:
            response = err.response
        response.pop("ResponseMetadata", None)
        if operation == "batch_get_item":
            for items in response["Responses"].values():
                items.sort(key=repr)
        out.append(response)
    return out


def test_fast_item_reads_parse_as_moto_serializer_writes_them(monkeypatch: Any) -> None:
    """The four item reads written by json.dumps are what boto3 parses from moto's own serializer, for every
    attribute type (binary and nested included), pages, counts, projections, indexes, misses and errors."""
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoHandler

    from devstack.moto_server import fast_item_reads

    monkeypatch.setattr(DynamoHandler, "serialized", DynamoHandler.serialized)  # restored after the test
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(var, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="x")
        client.create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in
                                  (("pk", "S"), ("sk", "N"), ("g", "S"))],
            GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])
        for n in range(8):
            item: dict[str, Any] = {
                "pk": {"S": f"p{n % 3}"}, "sk": {"N": str(n)}, "text": {"S": "é ✓ \"quoted\"\n"},
                "bin": {"B": bytes([n, 255, 0])}, "bins": {"BS": [b"\x00a", bytes([n + 1])]},
                "strs": {"SS": ["a", "b"]}, "nums": {"NS": ["1.5", "-2"]}, "flag": {"BOOL": n % 2 == 0},
                "nothing": {"NULL": True},
                "nested": {"M": {"k": {"L": [{"B": b"\x01"}, {"N": "3"}, {"M": {"x": {"S": "y"}}}]}}},
            }
            if n % 2:
                item["g"] = {"S": f"g{n % 4 // 2}"}
            client.put_item(TableName="t", Item=item)
        by_moto = _item_reads(client)
        fast_item_reads()
        assert getattr(DynamoHandler.serialized, "fast_item_reads", False)
        by_json = _item_reads(client)
    assert by_json == by_moto
    assert by_moto[0]["LastEvaluatedKey"] and by_moto[-1]["Error"]["Code"] == "ResourceNotFoundException"
    assert by_moto[3]["Items"][0]["bins"]["BS"] and by_moto[0]["Items"][0]["nested"]["M"]["k"]["L"][0]["B"]


def test_items_measured_once_are_refused_as_moto_refuses_them(monkeypatch: Any) -> None:
    """`sized_items`: items at, just under and just over the size limit, written by put_item and batch_write_item
    and changed by update_item, meet the same answers as with moto's per-attribute check."""
    from moto import mock_aws
    from moto.dynamodb.models.dynamo_type import Item

    from devstack.moto_server import ITEM_SIZE_LIMIT, sized_items

    monkeypatch.setattr(Item, "__init__", Item.__init__)  # restored after the test
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(var, raising=False)

    def answers(client: Any) -> list[Any]:
        client.create_table(TableName="s", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
        out: list[Any] = []
        for n, pad in enumerate((10, ITEM_SIZE_LIMIT - 30, ITEM_SIZE_LIMIT - 9, ITEM_SIZE_LIMIT)):
            half = pad // 2
            item = {"k": {"S": f"k{n}"}, "a": {"S": "x" * half}, "b": {"M": {"c": {"S": "y" * (pad - half)}}},
                    "n": {"N": "1"}}
            calls = [("put_item", {"TableName": "s", "Item": item}),
                     ("batch_write_item", {"RequestItems": {"s": [{"PutRequest": {"Item": item}}]}}),
                     ("update_item", {"TableName": "s", "Key": {"k": {"S": f"k{n}"}}, "UpdateExpression": "SET z = :z",
                                      "ExpressionAttributeValues": {":z": {"S": "z" * 20}}})]
            for operation, kwargs in calls:
                try:
                    response = getattr(client, operation)(**kwargs)
                    out.append(("ok", response.get("UnprocessedItems")))
                except client.exceptions.ClientError as err:
                    out.append((err.response["Error"]["Code"], err.response["Error"]["Message"]))
        out.append(sorted(str(i) for i in client.scan(TableName="s")["Items"]))
        client.delete_table(TableName="s")
        return out

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                              aws_secret_access_key="x")
        by_moto = answers(client)
        sized_items()
        assert getattr(Item.__init__, "sized_items", False)
        measured_once = answers(client)
    assert measured_once == by_moto
    assert ("ok", {}) in by_moto and any(a[0] == "ValidationException" for a in by_moto[:-1])


def test_attribute_values_parse_as_moto_parses_them(monkeypatch: Any) -> None:
    """`fast_attribute_values`: the requests of every item operation, with every attribute type (binary, sets,
    nesting, NULL) and values of forms DynamoDB never sends, parse to what moto's own parser makes of them."""
    import base64
    import json

    from moto.core import parse
    from moto.core.responses import get_service_model

    from devstack.moto_server import fast_attribute_values

    monkeypatch.setitem(parse.PROTOCOL_PARSERS, "json", parse.PROTOCOL_PARSERS["json"])  # restored after the test
    model = parse.PROTOCOL_PARSERS["json"]
    fast_attribute_values()
    fast = parse.PROTOCOL_PARSERS["json"]
    assert fast is not model and fast.fast_attribute_values
    fast_attribute_values()  # twice: still one layer
    assert parse.PROTOCOL_PARSERS["json"] is fast

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    item = {"pk": {"S": "p"}, "sk": {"N": "1"}, "text": {"S": "é ✓ \"q\"\n"}, "bin": {"B": b64(b"\x00\xff")},
            "bins": {"BS": [b64(b"a"), b64(b"\x01")]}, "strs": {"SS": ["a", "b"]}, "nums": {"NS": ["1.5", "-2"]},
            "flag": {"BOOL": False}, "nothing": {"NULL": True},
            "nested": {"M": {"k": {"L": [{"B": b64(b"\x01")}, {"N": "3"}, {"M": {"x": {"S": "y"}}}, None]}}},
            "two": {"S": "a", "N": "1"}, "unknown": {"X": "1"}, "empty": {}, "none": {"S": None}}
    odd = [{"M": "not a map"}, {"L": {"S": "x"}}, {"L": ["s"]}, {"L": [{"S": "x"}, 3]}, "text", None, 7,
           {"B": "not base64!"}, {"BS": "ab"}, {"SS": "ab"}]
    key = {"pk": {"S": "p"}, "sk": {"N": "1"}}
    requests = {
        "PutItem": {"TableName": "t", "Item": item, "ConditionExpression": "attribute_not_exists(pk)"},
        "BatchWriteItem": {"RequestItems": {"t": [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": key}}]}},
        "UpdateItem": {"TableName": "t", "Key": key, "UpdateExpression": "SET a = :a",
                       "ExpressionAttributeValues": {":a": item["nested"], ":b": item["bin"]}},
        "Query": {"TableName": "t", "KeyConditionExpression": "pk = :p", "Limit": 5,
                  "ExpressionAttributeValues": {":p": {"S": "p"}}, "ExclusiveStartKey": key},
        "GetItem": {"TableName": "t", "Key": key, "ConsistentRead": True},
    }
    service = get_service_model("dynamodb")

    def parsed(parser: Any, operation: str, body: dict[str, Any]) -> Any:
        """What the parser makes of the request, or the error it raises (moto answers that as a 500)."""
        request = {"method": "POST", "values": {}, "headers": {}, "body": json.dumps(body).encode(),
                   "url_path": "/", "url_params": {}}
        try:
            return parser(service.operation_model(operation), map_type=dict).parse(request)
        except Exception as e:  # noqa: BLE001 - compared
            return type(e).__name__, str(e)

    cases = [*requests.items(), *(("PutItem", {"TableName": "t", "Item": {**key, "odd": v}}) for v in odd)]
    for operation, body in cases:
        by_moto, by_fast = parsed(model, operation, body), parsed(fast, operation, body)
        assert by_fast == by_moto, (operation, body)
        if isinstance(by_moto, dict) and "Item" in by_moto:  # members in the model's order, as moto puts them
            assert [list(v or ()) for v in by_fast["Item"].values()] == [
                list(v or ()) for v in by_moto["Item"].values()]
    by_moto = parsed(model, "PutItem", requests["PutItem"])
    assert by_moto["Item"]["bin"] == {"B": b"\x00\xff"} and by_moto["Item"]["two"] == {"S": "a", "N": "1"}


@contextlib.contextmanager
def _tracked_again(*models: type) -> Iterator[None]:
    """The models as moto makes them again afterwards (`untracked_items` gives them a `__new__` of their own)."""
    try:
        yield
    finally:
        for model in models:
            if "__new__" in vars(model):
                delattr(model, "__new__")


def test_an_import_reads_json_lines_and_a_deleted_table_is_freed(monkeypatch: Any) -> None:
    """`json_imports`: an imported line's escapes are read as JSON (moto's parser left them written), the counts are
    moto's; with `untracked_items`, once the table is deleted nothing holds it or its items (moto kept every item
    it ever made, and its import kept the table)."""
    import gc
    import gzip
    import json
    import weakref

    from moto import mock_aws
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.models.table_import import TableImport

    from devstack.moto_server import json_imports, untracked_items

    monkeypatch.setattr(TableImport, "_process_s3_files", TableImport._process_s3_files)  # restored after the test
    assert "__new__" not in vars(Item) and "__new__" not in vars(Table)  # moto's own: tracked
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    items = [{"k": {"S": f"k{n}"}, "v": {"S": 'O\'Neil said "hi"\n\u00eb'}} for n in range(50)]
    body = gzip.compress("".join(json.dumps({"Item": i}) + "\n" for i in items).encode())
    with mock_aws(), _tracked_again(Item, Table):
        json_imports()
        untracked_items()
        kw = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
        s3, client = boto3.client("s3", **kw), boto3.client("dynamodb", **kw)
        s3.create_bucket(Bucket="imports-bucket")
        s3.put_object(Bucket="imports-bucket", Key="i/part-0.json.gz", Body=body)
        arn = client.import_table(
            S3BucketSource={"S3Bucket": "imports-bucket", "S3KeyPrefix": "i"}, InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP", TableCreationParameters={
                "TableName": "imported", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}]})["ImportTableDescription"][
            "ImportArn"]
        while (done := client.describe_import(ImportArn=arn)["ImportTableDescription"])["ImportStatus"] == \
                "IN_PROGRESS":
            time.sleep(0.01)
        assert (done["ImportStatus"], done["ImportedItemCount"], done["ErrorCount"]) == ("COMPLETED", 50, 0)
        assert client.get_item(TableName="imported", Key={"k": {"S": "k7"}})["Item"] == items[7]
        table = weakref.ref(dynamodb_backends["123456789012"]["us-east-1"].tables["imported"])
        client.delete_table(TableName="imported")
        gc.collect()
        assert table() is None  # no import holds the deleted table, nor its items
        assert client.describe_import(ImportArn=arn)["ImportTableDescription"]["ImportedItemCount"] == 50
