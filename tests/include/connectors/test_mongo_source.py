"""The live MongoDB source's credentials and database (`connectors.mongo_source`), the one way the job, the source
check and the validators reach it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.mongo_source import database_of, secret_region, with_credentials

ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:dbmigrate/movies-mongo"


def test_secret_region() -> None:
    assert secret_region("arn:aws:secretsmanager:eu-west-1:111122223333:secret:dbmigrate/movies-mongo") == \
        "eu-west-1"
    assert secret_region("dbmigrate/movies-mongo") is None


def test_credentials_go_into_the_uri_only(monkeypatch: pytest.MonkeyPatch) -> None:
    class Client:
        def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803
            assert SecretId == ARN
            return {"SecretString": json.dumps({"username": "mig user", "password": "p@ss:/word"})}

    made: list[dict[str, Any]] = []
    import boto3

    monkeypatch.setattr(boto3, "client", lambda service, **kw: made.append({"service": service, **kw}) or Client())
    uri = with_credentials("mongodb://old:creds@mongodb:27017/?authSource=admin", ARN)
    assert uri == "mongodb://mig%20user:p%40ss%3A%2Fword@mongodb:27017/?authSource=admin"
    assert made == [{"service": "secretsmanager", "region_name": "us-east-1"}]  # the ARN's region


def test_the_database_is_the_uris_else_the_specs() -> None:
    assert database_of("mongodb://db1:27017/shop?authSource=admin", "entertainment") == "shop"
    assert database_of("mongodb+srv://cluster.example.net/?retryWrites=false", "entertainment") == "entertainment"
    with pytest.raises(ValueError, match="needs source.secret_arn"):
        with_credentials("mongodb://db1:27017", None)
