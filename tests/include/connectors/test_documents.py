"""Reading sources outside Spark: export files (lines and --jsonArray) and a live collection (mongomock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import boto3
import mongomock
from bson import Decimal128, ObjectId

from connectors.documents import count_by_type, iter_lines
from jobs.mongo_to_dsql import mongo_uri_with_credentials
from tests.fixtures import SPEC_DIR
from transforms.adjacency import DocumentMapper, Mapped
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
    uri = mongo_uri_with_credentials("mongodb+srv://old:creds@movies.example.net/?retryWrites=false", arn)
    assert uri == "mongodb+srv://migr%40tor:p%3Aw%2Fd@movies.example.net/?retryWrites=false"
