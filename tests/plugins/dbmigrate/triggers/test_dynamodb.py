"""DynamoDBTablesReadyTrigger and DynamoDBImportTrigger: serialization, and their async run() against the moto server
via aiobotocore."""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dbmigrate.hooks.dynamodb_tables import DynamoDBTablesHook
from dbmigrate.triggers.dynamodb import DynamoDBImportTrigger, DynamoDBTablesReadyTrigger
from tests.fixtures.design_tables import CONFIG
from transforms.dynamodb_tables import TableSpec, create_table_kwargs, import_table_kwargs


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


class TestDynamoDBImportTrigger:
    def test_serialization(self) -> None:
        trigger = DynamoDBImportTrigger(import_arn="arn:x/import/1", waiter_delay=2, waiter_max_attempts=9,
                                        region_name="eu-west-1")
        classpath, kwargs = trigger.serialize()
        assert classpath == "dbmigrate.triggers.dynamodb.DynamoDBImportTrigger"
        assert kwargs == {"import_arn": "arn:x/import/1", "waiter_delay": 2, "waiter_max_attempts": 9,
                          "aws_conn_id": "aws_default", "region_name": "eu-west-1"}
        module, name = classpath.rsplit(".", 1)
        assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)
        assert isinstance(trigger.hook(), DynamoDBTablesHook)

    @pytest.mark.parametrize("key_of_item", ["data_id", None], ids=["complete", "an item without its sort key"])
    def test_run_waits_until_the_import_is_done(self, moto_endpoint: str, table_name: str,
                                                key_of_item: str | None) -> None:
        import gzip

        s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
        bucket = f"trig-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        item = {"data_type": {"S": "A"}, **({key_of_item: {"S": "1"}} if key_of_item else {})}
        s3.put_object(Bucket=bucket, Key="i/part-00000-0000.json.gz",
                      Body=gzip.compress(json.dumps({"Item": item}).encode() + b"\n"))
        spec = TableSpec.from_dict({**CONFIG, "name": table_name})
        arn = boto3.client("dynamodb", endpoint_url=moto_endpoint).import_table(
            **import_table_kwargs(spec, f"s3://{bucket}/i", "t"))["ImportTableDescription"]["ImportArn"]
        event = first_event(DynamoDBImportTrigger(import_arn=arn, waiter_delay=1, waiter_max_attempts=10))
        assert event["import_arn"] == arn
        assert event["status"] == ("success" if key_of_item else "error"), event
