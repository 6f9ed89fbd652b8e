"""Reading sources outside Spark: export files (lines and --jsonArray) and a live collection (mongomock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import mongomock
import pytest
from bson import Decimal128, ObjectId

from connectors.documents import SourceLayoutError, collection_sources, count_by_type, iter_lines, list_files
from connectors.mongo_source import with_credentials
from tests.fixtures import SPEC_DIR
from transforms.adjacency import DocumentMapper, Mapped
from transforms.source_text import collection_of
from transforms.spec import load_spec

MAPPER = DocumentMapper(load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml").entities)
DOC = {"PK": "MOVIE#tt1", "SK": "METADATA", "type": "movie", "title": "Amélie", "year": 2001,
       "rating": Decimal128("8.3"), "release_date": datetime(2001, 4, 25, tzinfo=UTC), "genres": ["Comedy"]}


def test_live_collection_lines_map_like_the_export(tmp_path: Path) -> None:
    collection = mongomock.MongoClient()["entertainment"]["movie_collection"]
    oid = ObjectId("65f000000000000000000001")
    collection.insert_many([{"_id": oid, **DOC}, {"_id": ObjectId(), "PK": "ACTOR#nm1", "SK": "METADATA",
                                                  "type": "actor", "name": "Audrey Tautou"}])
    lines = list(iter_lines("mongodb://db.example:27017", collection=collection))
    assert len(lines) == 2
    live = MAPPER.map_line(lines[0])
    export = MAPPER.map_line(json.dumps({
        "_id": {"$oid": str(oid)}, **{k: v for k, v in DOC.items() if k not in ("rating", "release_date")},
        "rating": {"$numberDecimal": "8.3"}, "release_date": {"$date": "2001-04-25T00:00:00Z"}}))
    assert isinstance(live, Mapped) and isinstance(export, Mapped)
    assert live.row == export.row
    assert live.row["rating"] == Decimal("8.3")
    assert count_by_type(iter(lines)) == ({"movie": 1, "actor": 1}, 2)


def test_export_files_lines_and_json_array(tmp_path: Path) -> None:
    lines_file = tmp_path / "lines.json"
    lines_file.write_text('{"type": "movie"}\n\n{"type": "actor"}\nnot json\n')
    assert count_by_type(iter_lines(str(lines_file))) == ({"movie": 1, "actor": 1, "<malformed>": 1}, 3)
    array_file = tmp_path / "array.json"
    array_file.write_text('[\n{"type": "movie"},\n{"type": "movie", "PK": "MOVIE#1"}\n]\n')
    assert count_by_type(iter_lines(f"file://{array_file}")) == ({"movie": 2}, 2)


def test_mongo_credentials_come_from_secrets_manager() -> None:
    secret = json.dumps({"username": "migr@tor", "password": "p:w/d"})
    arn = boto3.client("secretsmanager").create_secret(Name=f"dbmigrate/test-{ObjectId()}", SecretString=secret)["ARN"]
    uri = with_credentials("mongodb+srv://old:creds@movies.example.net/?retryWrites=false", arn)
    assert uri == "mongodb+srv://migr%40tor:p%3Aw%2Fd@movies.example.net/?retryWrites=false"


def test_a_nested_folder_is_refused_never_skipped(tmp_path: Path) -> None:
    (tmp_path / "part-0.json").write_text('{"_id": 1}\n')
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden").mkdir()
    assert [Path(f).name for f, _ in list_files(tmp_path.as_uri())] == ["part-0.json"]
    (tmp_path / "2024").mkdir()
    (tmp_path / "2024" / "part-1.json").write_text('{"_id": 2}\n')
    with pytest.raises(SourceLayoutError, match=r"holds the folder\(s\) \['2024'\]"):
        list(iter_lines(tmp_path.as_uri()))


def test_one_export_per_collection_each_text_knowing_its_collection(tmp_path: Path) -> None:
    (tmp_path / "customers.json").write_text('{"_id": 1}\n{"_id": 2}\n')
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "part-0.json").write_text('{"_id": 3}\n')
    (tmp_path / "_SUCCESS").write_text("")
    texts = list(iter_lines(tmp_path.as_uri(), collections=["customers", "orders"]))
    assert [(collection_of(t), json.loads(t)["_id"]) for t in texts] == [
        ("customers", 1), ("customers", 2), ("orders", 3)]
    (tmp_path / "stray.json").write_text("{}\n")
    with pytest.raises(SourceLayoutError, match=r"holds \['stray.json'\], which is no collection"):
        collection_sources(tmp_path.as_uri(), ["customers", "orders"])
    (tmp_path / "stray.json").unlink()
    with pytest.raises(SourceLayoutError, match="collection 'accounts' has no export"):
        collection_sources(tmp_path.as_uri(), ["customers", "orders", "accounts"])
    (tmp_path / "orders.json").write_text("{}\n")
    with pytest.raises(SourceLayoutError, match="collection 'orders' has both a file and a folder"):
        collection_sources(tmp_path.as_uri(), ["customers", "orders"])


def test_an_s3_prefix_holds_one_export_per_collection(tmp_path: Path) -> None:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="shop-exports")
    for key, body in {"db/customers.json": '{"_id": 1}\n', "db/orders/part-0.json": '{"_id": 2}\n',
                      "db/orders/_SUCCESS": ""}.items():
        s3.put_object(Bucket="shop-exports", Key=key, Body=body.encode())
    sources = collection_sources("s3://shop-exports/db/", ["customers", "orders"], s3)
    assert sources == [("customers", "s3://shop-exports/db/customers.json"), ("orders", "s3://shop-exports/db/orders/")]
    texts = list(iter_lines("s3://shop-exports/db", s3_client=s3, collections=["customers", "orders"]))
    assert [collection_of(t) for t in texts] == ["customers", "orders"]


def test_a_live_database_is_read_collection_by_collection() -> None:
    db = mongomock.MongoClient()["shop"]
    db["customers"].insert_many([{"_id": ObjectId(), "email": "a@x"}, {"_id": ObjectId(), "email": "b@x"}])
    db["orders"].insert_one({"_id": ObjectId(), "total": Decimal128("9.50")})
    texts = list(iter_lines("mongodb://db.example/shop", collections=["customers", "orders"], database=db))
    assert [collection_of(t) for t in texts] == ["customers", "customers", "orders"]
    assert json.loads(texts[2])["total"] == {"$numberDecimal": "9.50"}
