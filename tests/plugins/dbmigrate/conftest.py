"""Fixtures shared by the plugin's hook and operator tests."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import boto3
import pytest


@pytest.fixture
def lock_table(moto_endpoint: str) -> Iterator[str]:
    """A lock table name of this test only; the hook creates the table, the fixture deletes it."""
    name = f"locks_{uuid.uuid4().hex[:10]}"
    yield name
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    try:
        client.delete_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        pass


@pytest.fixture
def conn_id(monkeypatch: pytest.MonkeyPatch) -> str:
    """An Airflow connection (postgres) to the `dms_sample` database of the embedded stack, for this test only."""
    uri = urlsplit(os.environ["LOCAL_SOURCE_SQL_URI"])
    name = f"dms_source_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps({
        "conn_type": "postgres", "host": uri.hostname, "port": uri.port, "login": unquote(uri.username or ""),
        "password": unquote(uri.password or ""), "schema": uri.path.lstrip("/")}))
    return name
