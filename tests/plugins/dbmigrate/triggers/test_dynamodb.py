"""DynamoDBTablesReadyTrigger: serialization, and its async run() against the moto server via aiobotocore."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dbmigrate.hooks.dynamodb_tables import DynamoDBTablesHook
from dbmigrate.triggers.dynamodb import DynamoDBTablesReadyTrigger
from tests.fixtures.design_tables import CONFIG
from transforms.dynamodb_tables import TableSpec, create_table_kwargs


@pytest.fixture
def table_name(moto_endpoint: str) -> Iterator[str]:
    """A unique name; the table is deleted afterwards if the test created it."""
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    name = f"trigger_{uuid.uuid4().hex[:10]}"
    yield name
    try:
        client.delete_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        pass


def first_event(trigger: DynamoDBTablesReadyTrigger) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger yielded no event")

    return asyncio.run(asyncio.wait_for(run(), timeout=30))


class TestDynamoDBTablesReadyTrigger:
    def test_serialization(self) -> None:
        trigger = DynamoDBTablesReadyTrigger(table_name="ticket_sales", waiter_delay=3, waiter_max_attempts=7,
                                             aws_conn_id="aws_other", region_name="eu-west-1",
                                             botocore_config={"retries": {"max_attempts": 2}})
        classpath, kwargs = trigger.serialize()
        assert classpath == "dbmigrate.triggers.dynamodb.DynamoDBTablesReadyTrigger"
        assert kwargs == {"table_name": "ticket_sales", "waiter_delay": 3, "waiter_max_attempts": 7,
                          "aws_conn_id": "aws_other", "region_name": "eu-west-1",
                          "botocore_config": {"retries": {"max_attempts": 2}}}
        module, name = classpath.rsplit(".", 1)
        rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
        assert rebuilt.waiter_args == {"TableName": "ticket_sales"}

    def test_hook(self) -> None:
        hook = DynamoDBTablesReadyTrigger(table_name="t_x", region_name="eu-west-1").hook()
        assert isinstance(hook, DynamoDBTablesHook)
        assert (hook.aws_conn_id, hook.region_name, hook.client_type) == ("aws_default", "eu-west-1", "dynamodb")

    def test_run_yields_success_when_table_active(self, moto_endpoint: str, table_name: str) -> None:
        spec = TableSpec.from_dict({**CONFIG, "name": table_name})
        boto3.client("dynamodb", endpoint_url=moto_endpoint).create_table(**create_table_kwargs(spec))
        event = first_event(DynamoDBTablesReadyTrigger(table_name=table_name, waiter_delay=1, waiter_max_attempts=3))
        assert event == {"status": "success", "table_name": table_name}

    def test_run_yields_error_for_missing_table(self, table_name: str) -> None:
        event = first_event(DynamoDBTablesReadyTrigger(table_name=table_name, waiter_delay=1, waiter_max_attempts=3))
        assert event["status"] == "error"
        assert event["table_name"] == table_name
        assert f"DynamoDB table {table_name} cannot become ACTIVE" in event["message"]
