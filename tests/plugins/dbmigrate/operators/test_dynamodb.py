"""DynamoDBTableReadyOperator against the moto server, with uniquely named tables deleted afterwards."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from dbmigrate.operators.dynamodb import DynamoDBTableReadyOperator
from dbmigrate.triggers.dynamodb import DynamoDBTablesReadyTrigger
from tests.fixtures.design_tables import CONFIG, TICKET_SALES
from transforms.dynamodb_tables import TableSpec, create_table_kwargs


@pytest.fixture
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture
def named(client: Any) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Copy a table spec dict under a unique name; every such table is deleted afterwards."""
    names: list[str] = []

    def make(d: dict[str, Any]) -> dict[str, Any]:
        names.append(f"{d['name']}_{uuid.uuid4().hex[:10]}")
        return {**copy.deepcopy(d), "name": names[-1]}

    yield make
    for name in names:
        try:
            client.delete_table(TableName=name)
        except client.exceptions.ResourceNotFoundException:
            pass


def operator(table: dict[str, Any], **kwargs: Any) -> DynamoDBTableReadyOperator:
    return DynamoDBTableReadyOperator(task_id="table_ready", table=table, waiter_delay=1, waiter_max_attempts=5,
                                      **kwargs)


class TestDynamoDBTableReadyOperator:
    def test_template_fields(self) -> None:
        assert DynamoDBTableReadyOperator.template_fields == ("aws_conn_id", "region_name", "table", "verify")
        assert DynamoDBTableReadyOperator.template_fields_renderers == {"table": "json"}

    @pytest.mark.parametrize("design", [TICKET_SALES, CONFIG], ids=["ticket_sales", "config"])
    def test_creates_table_then_accepts_it_unchanged(self, client: Any, named: Any, design: dict[str, Any]) -> None:
        table = named(design)
        arn = operator(table).execute(context={})
        described = client.describe_table(TableName=table["name"])["Table"]
        assert arn == described["TableArn"]
        assert described["TableStatus"] == "ACTIVE"
        assert {g["IndexName"]: g["IndexStatus"] for g in described.get("GlobalSecondaryIndexes", [])} == {
            g["name"]: "ACTIVE" for g in design["gsis"]}
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        # a second run (a retry, the next DAG run) finds the table as specified and succeeds
        assert operator(table).execute(context={}) == arn

    def test_without_waiting(self, named: Any) -> None:
        table = named(CONFIG)
        assert operator(table, wait_for_completion=False).execute(context={}).endswith(f"table/{table['name']}")

    def test_different_sort_key_fails_and_leaves_table_alone(self, client: Any, named: Any) -> None:
        table = named(TICKET_SALES)
        existing = TableSpec.from_dict({**table, "sort_key": {"name": "status", "type": "S"}})
        client.create_table(**create_table_kwargs(existing))
        with pytest.raises(AirflowFailException) as err:
            operator(table).execute(context={})
        message = str(err.value)
        assert f"DynamoDB table {table['name']} exists but differs from its spec in 1 way(s)" in message
        assert "table key: sort key is 'status' (S), spec wants 'ticket_status_owner' (S)" in message
        key_schema = client.describe_table(TableName=table["name"])["Table"]["KeySchema"]
        assert key_schema[1] == {"AttributeName": "status", "KeyType": "RANGE"}

    def test_missing_gsi_and_billing_mode_are_listed(self, client: Any, named: Any) -> None:
        table = named(TICKET_SALES)
        kwargs = create_table_kwargs(TableSpec.from_dict({**table, "gsis": table["gsis"][:3]}))
        kwargs.update(BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 5,
                                                                        "WriteCapacityUnits": 5})
        for gsi in kwargs["GlobalSecondaryIndexes"]:
            gsi["ProvisionedThroughput"] = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        client.create_table(**kwargs)
        with pytest.raises(AirflowFailException) as err:
            operator(table).execute(context={})
        message = str(err.value)
        assert "differs from its spec in 2 way(s)" in message
        assert "- GSI 'transferred_to_index' is missing" in message
        assert "- billing mode is PROVISIONED, spec wants PAY_PER_REQUEST" in message
        assert "transferred_to_index" not in {
            g["IndexName"] for g in client.describe_table(TableName=table["name"])["Table"]["GlobalSecondaryIndexes"]}

    def test_invalid_spec_fails_without_retry(self) -> None:
        with pytest.raises(AirflowFailException, match="invalid DynamoDB table spec: table 'bad_table': missing"):
            operator({"name": "bad_table"}).execute(context={})

    def test_deferrable_defers_to_trigger_after_creating(self, client: Any, named: Any) -> None:
        table = named(TICKET_SALES)
        op = operator(table, deferrable=True, aws_conn_id="aws_default", region_name="us-east-1")
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context={})
        trigger = deferred.value.trigger
        assert isinstance(trigger, DynamoDBTablesReadyTrigger)
        assert deferred.value.method_name == "execute_complete"
        assert trigger.waiter_args == {"TableName": table["name"]}
        assert trigger.waiter_name == "table_and_indexes_active"
        assert (trigger.waiter_delay, trigger.attempts) == (1, 5)
        assert (trigger.aws_conn_id, trigger.region_name) == ("aws_default", "us-east-1")
        assert client.describe_table(TableName=table["name"])["Table"]["TableStatus"] == "ACTIVE"

        arn = op.execute_complete(context={}, event={"status": "success", "table_name": table["name"]})
        assert arn == client.describe_table(TableName=table["name"])["Table"]["TableArn"]

    def test_deferrable_returns_at_once_for_a_ready_existing_table(self, named: Any) -> None:
        table = named(CONFIG)
        arn = operator(table).execute(context={})
        assert operator(table, deferrable=True).execute(context={}) == arn

    @pytest.mark.parametrize("event", [None, {"status": "error", "message": "boom", "table_name": "t_x"}])
    def test_execute_complete_raises_unless_success(self, event: dict[str, Any] | None) -> None:
        with pytest.raises(AirflowException):
            operator(CONFIG).execute_complete(context={}, event=event)
