"""The live MongoDB source as the job reaches it, from Airflow (`MongoSourceHook` over `connectors.mongo_source`):
the run's URI with the credentials of the spec's secret, its database, never another connection's cluster.

No MongoDB server installs here: mongomock stands in for the server (as the Mongo provider's own tests use), and the
URI each client is made with is recorded; the secret is in the moto server, read through the AWS connection.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import mongomock
import pytest

from connectors import mongo_source
from dbmigrate.hooks.mongo_source import MongoSourceHook
from dbmigrate.operators.source import CheckMongoSourceOperator
from tests.fixtures import SPEC_DIR

MOVIE = "movie_collection_to_dsql"


@pytest.fixture
def secret(moto_endpoint: str) -> Iterator[str]:
    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_endpoint)
    arn = client.create_secret(Name=f"mongo-{uuid.uuid4().hex[:8]}",
                               SecretString=json.dumps({"username": "mig user", "password": "p@ss"}))["ARN"]
    yield arn
    client.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One mongomock server; `uris`: what each client was made with."""
    made: dict[str, Any] = {"server": mongomock.MongoClient(), "uris": []}
    monkeypatch.setattr(mongo_source, "client", lambda uri: made["uris"].append(uri) or made["server"])
    return made


def test_the_uri_the_secret_and_the_uris_database(secret: str, server: dict[str, Any]) -> None:
    hook = MongoSourceHook(aws_conn_id="aws_default")
    db = hook.get_database("mongodb://old:creds@db1:27017,db2:27017/shop?authSource=admin", "entertainment", secret)
    assert db.name == "shop"  # the URI's database
    assert server["uris"] == ["mongodb://mig%20user:p%40ss@db1:27017,db2:27017/shop?authSource=admin"]
    assert hook.get_database("mongodb://db1:27017", "entertainment", secret).name == "entertainment"  # the spec's
    with pytest.raises(ValueError, match="needs source.secret_arn"):
        hook.get_database("mongodb://db1:27017", "entertainment", None)


def test_the_source_check_reads_what_the_job_reads(secret: str, server: dict[str, Any], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's copy of its spec names the secret; the check logs in with it to the run's URI (no `mongo_default`),
    and finds the collection empty, then holding documents."""
    from airflow.sdk.exceptions import AirflowFailException

    text = (SPEC_DIR / f"{MOVIE}.yaml").read_text()
    spec = tmp_path / f"{MOVIE}.yaml"
    spec.write_text(text.replace("arn:aws:secretsmanager:us-east-1:111122223333:secret:dbmigrate/movies-mongo", secret))
    monkeypatch.setenv("DBMIGRATE_SOURCE_ROOTS", "mongodb://movies-prod.example.net")
    check = CheckMongoSourceOperator(task_id="check_source", spec_dag_id=MOVIE, spec_uri=str(spec), profile="aws",
                                     source_uri="mongodb://movies-prod.example.net/entertainment")
    with pytest.raises(AirflowFailException, match="entertainment.movie_collection holds no documents"):
        check.execute({})
    server["server"]["entertainment"]["movie_collection"].insert_one({"PK": "MOVIE#1", "type": "movie"})
    assert check.execute({}) == "mongodb://movies-prod.example.net/entertainment"
    assert set(server["uris"]) == {"mongodb://mig%20user:p%40ss@movies-prod.example.net/entertainment"}


def test_the_validators_read_what_the_job_reads(secret: str, server: dict[str, Any], tmp_path: Path) -> None:
    from dbmigrate import runtime
    from dbmigrate.operators.validate_dsql import ValidateMongoToDsqlCountsOperator

    text = (SPEC_DIR / f"{MOVIE}.yaml").read_text()
    spec = tmp_path / f"{MOVIE}.yaml"
    spec.write_text(text.replace("arn:aws:secretsmanager:us-east-1:111122223333:secret:dbmigrate/movies-mongo", secret))
    server["server"]["films"]["movie_collection"].insert_one({"PK": "MOVIE#1", "SK": "MOVIE#1", "type": "movie"})
    run = {"source_uri": "mongodb://movies-prod.example.net/films", "spec_uri": str(spec), "run_id": "r",
           "dry_run": True, "window": {}}
    counts = ValidateMongoToDsqlCountsOperator(task_id="validate_counts", spec_dag_id=MOVIE, run=run)
    (line,) = counts._lines(runtime.run_spec(run, MOVIE))
    assert '"PK": "MOVIE#1"' in line  # canonical Extended JSON, as the connector gives the job
    assert server["uris"] == ["mongodb://mig%20user:p%40ss@movies-prod.example.net/films"]
