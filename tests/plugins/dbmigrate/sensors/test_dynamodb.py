"""DynamoDBTableReadySensor against the moto server; non-ACTIVE states come from a patched hook."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from dbmigrate.hooks.dynamodb_tables import DynamoDBTablesHook
from dbmigrate.sensors.dynamodb import DynamoDBTableReadySensor
from dbmigrate.triggers.dynamodb import DynamoDBTablesReadyTrigger
from tests.fixtures.design_tables import TICKET_SALES
from transforms.dynamodb_tables import TableSpec, create_table_kwargs


@pytest.fixture
def table_name(moto_endpoint: str) -> Iterator[str]:
    """A unique table name; the table is deleted afterwards if the test created it."""
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    name = f"sensor_{uuid.uuid4().hex[:10]}"
    yield name
    try:
        client.delete_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        pass


@pytest.fixture
def active_table(moto_endpoint: str, table_name: str) -> str:
    spec = TableSpec.from_dict({**TICKET_SALES, "name": table_name})
    boto3.client("dynamodb", endpoint_url=moto_endpoint).create_table(**create_table_kwargs(spec))
    return table_name


def sensor(table_name: str, **kwargs: Any) -> DynamoDBTableReadySensor:
    return DynamoDBTableReadySensor(task_id="table_ready", table_name=table_name, poke_interval=2,
                                    max_attempts=4, **kwargs)


class TestDynamoDBTableReadySensor:
    def test_template_fields(self) -> None:
        assert DynamoDBTableReadySensor.template_fields == ("aws_conn_id", "region_name", "table_name", "verify")

    def test_poke_true_on_active_table(self, active_table: str) -> None:
        assert sensor(active_table).poke(context={}) is True

    @pytest.mark.parametrize("status", [("CREATING", {}), ("ACTIVE", {"owner_index": "CREATING"}),
                                        ("UPDATING", {"owner_index": "ACTIVE"})])
    def test_poke_false_until_table_and_gsis_active(self, status: tuple[str, dict[str, str]]) -> None:
        with mock.patch.object(DynamoDBTablesHook, "status", return_value=status):
            assert sensor("t_any").poke(context={}) is False

    def test_poke_fails_on_failed_state(self) -> None:
        with mock.patch.object(DynamoDBTablesHook, "status", return_value=("DELETING", {})), \
                pytest.raises(AirflowException, match="t_any is DELETING"):
            sensor("t_any").poke(context={})

    def test_poke_fails_on_missing_table(self, table_name: str) -> None:
        with pytest.raises(AirflowException, match=f"DynamoDB table {table_name} does not exist"):
            sensor(table_name).poke(context={})

    def test_deferrable_returns_at_once_when_ready(self, active_table: str) -> None:
        assert sensor(active_table, deferrable=True).execute(context={}) is None

    def test_deferrable_defers_when_not_ready(self) -> None:
        op = sensor("t_any", deferrable=True, region_name="eu-west-1")
        with mock.patch.object(DynamoDBTablesHook, "status", return_value=("CREATING", {})), \
                pytest.raises(TaskDeferred) as deferred:
            op.execute(context={})
        trigger = deferred.value.trigger
        assert isinstance(trigger, DynamoDBTablesReadyTrigger)
        assert deferred.value.method_name == "execute_complete"
        assert trigger.waiter_args == {"TableName": "t_any"}
        assert (trigger.waiter_delay, trigger.attempts, trigger.region_name) == (2, 4, "eu-west-1")
        assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() == 8

    def test_execute_complete(self) -> None:
        op = sensor("t_any")
        op.execute_complete(context={}, event={"status": "success", "table_name": "t_any"})
        with pytest.raises(AirflowException, match="Error while waiting"):
            op.execute_complete(context={}, event={"status": "error", "message": "boom", "table_name": "t_any"})
        with pytest.raises(AirflowException):
            op.execute_complete(context={}, event=None)
