"""connectors.dynamodb_import: a first load's items as gzipped DynamoDB JSON on S3, and ImportTable (the moto
server's) creating the table the spec describes from them, every item as it was built, quotes, escapes and all."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from decimal import Decimal

import boto3
import pytest

from connectors.dynamodb_import import import_lines, import_writer, object_key
from transforms.dynamo_items import to_item
from transforms.dynamodb_tables import TableSpec, import_table_kwargs

# what a JSON reader must unescape (the local stack's moto reads them as DynamoDB does: devstack.moto_server)
NAMES = ["Zoë Ångström", "Bruno O'Neil", 'Product 31 "garden"', "back\\slash", "two\nlines\ttab", "emoji 🚀", "plain"]
ITEMS = [to_item({"PK": f"CUSTOMER#{i}", "SK": "PROFILE" if i % 2 else f"ORDER#{i:03d}", "entity": "customer",
                  "GSI1PK": f"EMAIL#{i}@example.com", "name": NAMES[i % len(NAMES)],
                  "total": Decimal("45.50") + i, "tags": ["a", None, 1], "address": {"city": "Köln", "zip": "50667"},
                  "active": i % 3 == 0}) for i in range(40)]
SPEC = {"partition_key": {"name": "PK", "type": "S"}, "sort_key": {"name": "SK", "type": "S"},
        "gsis": [{"name": "GSI1", "partition_key": {"name": "GSI1PK", "type": "S"},
                  "sort_key": {"name": "SK", "type": "S"}}]}


def _lines(body: bytes) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(body).decode("utf-8").splitlines()]


def test_items_are_cut_into_objects_of_about_the_size_asked_each_a_gzip_of_item_lines() -> None:
    objects = list(import_lines(iter(ITEMS), max_bytes=2_000))
    assert len(objects) > 2
    got = [x["Item"] for body in objects for x in _lines(body)]
    key = json.dumps
    assert sorted(got, key=key) == sorted(ITEMS, key=key) and got != ITEMS  # each object's lines shuffled
    assert list(import_lines(iter(ITEMS), max_bytes=2_000)) == objects  # the same bytes again (a retried task)
    assert list(import_lines(iter(ITEMS), max_bytes=2_000, seed=1)) != objects
    assert all(len(gzip.decompress(b)) < 2_000 + 400 for b in objects)  # cut at the line that passes the size
    assert list(import_lines(iter([]))) == []  # no item, no object
    assert object_key("p/import/retail/", 3, 12) == "p/import/retail/part-00003-0012.json.gz"


def test_importtable_creates_the_specified_table_from_the_objects_with_every_item() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    bucket, name = f"imp-{uuid.uuid4().hex[:8]}", f"imported_{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    uri = f"s3://{bucket}/runs/r1/job/import/retail"
    s3.put_object(Bucket=bucket, Key="runs/r1/job/import/retail0/part-00000-0000.json.gz",  # a neighbour prefix
                  Body=gzip.compress(b'{"Item": {"PK": {"S": "X"}, "SK": {"S": "Y"}}}\n'))
    counts = dict(import_writer(uri=uri, region="us-east-1", max_bytes=3_000)(
        iter([(item, item["entity"]["S"]) for item in ITEMS])))
    assert counts == {"customer": len(ITEMS)}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="runs/r1/job/import/retail/")["Contents"]]
    assert len(keys) > 1 and all(k.startswith("runs/r1/job/import/retail/part-00000-") for k in keys)

    kwargs = import_table_kwargs(TableSpec.from_dict({"name": name, **SPEC}), uri, "r1" * 30)
    assert kwargs["S3BucketSource"]["S3KeyPrefix"] == "runs/r1/job/import/retail/"
    assert len(kwargs["ClientToken"]) == 36 and kwargs["InputCompressionType"] == "GZIP"
    arn = ddb.import_table(**kwargs)["ImportTableDescription"]["ImportArn"]
    for _ in range(100):
        done = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        if done["ImportStatus"] != "IN_PROGRESS":
            break
        time.sleep(0.1)
    assert (done["ImportStatus"], done["ImportedItemCount"], done["ErrorCount"]) == ("COMPLETED", len(ITEMS), 0)
    table = ddb.describe_table(TableName=name)["Table"]
    assert [g["IndexName"] for g in table["GlobalSecondaryIndexes"]] == ["GSI1"]
    got = ddb.scan(TableName=name, ConsistentRead=True)["Items"]
    key = lambda i: (i["PK"]["S"], i["SK"]["S"])  # noqa: E731
    assert sorted(got, key=key) == sorted(ITEMS, key=key)
    ddb.delete_table(TableName=name)


@pytest.mark.parametrize("uri", ["s3://b/p", "s3://b/p/"])
def test_the_import_prefix_ends_with_one_slash(uri: str) -> None:
    kwargs = import_table_kwargs(TableSpec.from_dict({"name": "tbl", **SPEC}), uri, "t")
    assert kwargs["S3BucketSource"] == {"S3Bucket": "b", "S3KeyPrefix": "p/"}
    assert kwargs["TableCreationParameters"]["TableName"] == "tbl"
