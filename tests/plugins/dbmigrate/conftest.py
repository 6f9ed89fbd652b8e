"""Fixtures shared by the plugin's hook and operator tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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
