"""Fixtures shared by the job tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from transforms.dynamodb_tables import TableSpec, create_table_kwargs


@pytest.fixture(scope="module")
def ddb(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture(scope="module")
def make_table(ddb: Any) -> Iterator[Callable[[dict[str, Any]], str]]:
    """Creates a uniquely named table from a spec target dict; deletes them all afterwards."""
    created: list[str] = []

    def make(target: dict[str, Any]) -> str:
        name = f"{target['name']}_{uuid.uuid4().hex[:8]}"
        ddb.create_table(**create_table_kwargs(TableSpec.from_dict({**target, "name": name})))
        ddb.get_waiter("table_exists").wait(TableName=name)
        created.append(name)
        return name

    yield make
    for name in created:
        ddb.delete_table(TableName=name)
