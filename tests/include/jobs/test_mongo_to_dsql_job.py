"""jobs.mongo_to_dsql's extract step for a live collection (MongoDB Spark Connector), without a MongoDB server.

No MongoDB server and no connector jar run here. What is checked: the options the job gives the connector
(the document as one string column, canonical Extended JSON, the spec's database and collection), that the
credentials come from Secrets Manager by ARN and only into the connection URI, and that documents shaped
as the connector returns them (Java's `BsonDocument.toJson(EXTENDED)`, stood in for by pymongo's
canonical `json_util.dumps`) classify exactly like the mongoexport lines they came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bson import json_util

from generators.movie_collection import write
from jobs import mongo_to_dsql as job
from tests.fixtures import SPEC_DIR
from transforms.adjacency import DocumentMapper
from transforms.mongo_to_dsql import classify, entity_counts
from transforms.spec import load_spec

SPEC = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")


class FakeReader:
    """`spark.read` of a session with the connector: records the calls, returns the prepared DataFrame."""

    def __init__(self, df: Any) -> None:
        self.df = df
        self.calls: dict[str, Any] = {}

    def format(self, name: str) -> FakeReader:
        self.calls["format"] = name
        return self

    def options(self, **options: str) -> FakeReader:
        self.calls["options"] = options
        return self

    def schema(self, schema: str) -> FakeReader:
        self.calls["schema"] = schema
        return self

    def load(self) -> Any:
        return self.df


class FakeSpark:
    def __init__(self, spark: Any, df: Any) -> None:
        self.read = FakeReader(df)
        self.sparkContext = spark.sparkContext


def collection_documents(export: Path) -> tuple[list[str], list[str]]:
    """(the export's lines that mongoimport loads, those documents as the connector returns them)."""
    lines, canonical = [], []
    for line in export.read_text(encoding="utf-8").splitlines():
        try:
            doc = json_util.loads(line)
        except Exception:  # noqa: BLE001 - not JSON, or Extended JSON MongoDB cannot store ({"$date": "1999-13-45"})
            continue
        if isinstance(doc, dict):
            lines.append(line)
            canonical.append(json_util.dumps(doc, json_options=json_util.CANONICAL_JSON_OPTIONS))
    return lines, canonical


def test_the_connector_options() -> None:
    options = job.mongo_read_options("mongodb://u:p@mongodb:27017", "entertainment", "movie_collection")
    assert options == {"connection.uri": "mongodb://u:p@mongodb:27017", "database": "entertainment",
                       "collection": "movie_collection", "outputExtendedJson": "true",
                       "aggregation.pipeline": '[{"$project": {"_id": 0, "document": "$$ROOT"}}]'}
    assert json.loads(options["aggregation.pipeline"]) == [{"$project": {"_id": 0, "document": "$$ROOT"}}]


def test_the_window_is_pushed_down_to_the_server() -> None:
    from datetime import UTC, datetime

    from transforms.intervals import Window

    window = Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    stages = json.loads(job.mongo_pipeline(window))
    assert stages[0] == {"$match": {"_id": {"$gte": {"$oid": "659200800000000000000000"},
                                            "$lt": {"$oid": "659352000000000000000000"}}}}
    assert stages[1:] == json.loads(job.MONGO_DOCUMENT_PIPELINE)
    assert json.loads(job.mongo_pipeline(Window(None, window.end), "updated_at"))[0] == {
        "$match": {"updated_at": {"$lt": {"$date": "2024-01-02T00:00:00+00:00"}}}}
    assert job.mongo_pipeline() == job.MONGO_DOCUMENT_PIPELINE  # a full load: no $match


def test_a_live_collection_classifies_like_its_export(spark: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    export = tmp_path / "movie_collection.json"
    write(export, movies=60, seed=11, bad_input=True)
    lines, canonical = collection_documents(export)
    assert canonical[0].startswith('{"_id": {"$oid": ')  # canonical forms, as outputExtendedJson writes them
    df = spark.createDataFrame([(d,) for d in canonical], "document string")
    fake = FakeSpark(spark, df)
    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(job, "with_credentials",
                        lambda uri, arn: seen.append((uri, arn)) or "mongodb://u:secret@mongodb:27017")

    docs = job.read_documents(fake, "mongodb://mongodb:27017", SPEC, SPEC.source_secret_arn)

    assert seen == [("mongodb://mongodb:27017", SPEC.source_secret_arn)]
    assert fake.read.calls == {"format": "mongodb", "schema": "document string",
                               "options": job.mongo_read_options("mongodb://u:secret@mongodb:27017",
                                                                 "entertainment", "movie_collection")}
    mapper = DocumentMapper(SPEC.entities)
    names = [e.name for e in SPEC.entities]
    live = classify(docs, mapper, lambda entity, keys: set())
    exported = classify(spark.sparkContext.parallelize(lines, 3), mapper, lambda entity, keys: set())
    assert entity_counts(live, names) == entity_counts(exported, names)
    assert dict(live.reasons) == dict(exported.reasons) and sum(live.reasons.values()) > 0
    for name in names:
        assert sorted(map(repr, live.rows[name].collect())) == sorted(map(repr, exported.rows[name].collect()))


def test_a_live_collection_needs_a_secret(spark: Any) -> None:
    with pytest.raises(SystemExit, match=r"needs source.secret_arn in the spec \(or --mongo-secret-arn\)"):
        job.read_documents(FakeSpark(spark, None), "mongodb://mongodb:27017", SPEC, None)
