"""DynamoDBTablesHook against the moto server (AIRFLOW_CONN_AWS_DEFAULT points at it).

Moto creates tables ACTIVE at once, so the waiter's retry and failure paths are shown with canned
DescribeTable responses from botocore's Stubber on a real client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError
from botocore.stub import Stubber

from dbmigrate.hooks.dynamodb_tables import (
    TABLE_READY_WAITER,
    DynamoDBTablesHook,
    is_ready,
    table_status,
)
from tests.fixtures.design_tables import CONFIG, TICKET_SALES
from transforms.dynamodb_tables import TableSpec, drift


@pytest.fixture
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture
def table_name(client: Any) -> Iterator[str]:
    """A unique table name; the table is deleted afterwards if a test created it."""
    name = f"hook_{uuid.uuid4().hex[:10]}"
    yield name
    try:
        client.delete_table(TableName=name)
    except client.exceptions.ResourceNotFoundException:
        pass


def spec_named(d: dict[str, Any], name: str) -> TableSpec:
    return TableSpec.from_dict({**d, "name": name})


def describe_response(table_status: str, index_statuses: dict[str, str] | None = None) -> dict[str, Any]:
    table: dict[str, Any] = {"TableName": "t_stub", "TableStatus": table_status}
    if index_statuses is not None:
        table["GlobalSecondaryIndexes"] = [{"IndexName": n, "IndexStatus": s} for n, s in index_statuses.items()]
    return {"Table": table}


class TestDynamoDBTablesHook:
    def test_client_type_and_custom_waiter(self) -> None:
        hook = DynamoDBTablesHook(aws_conn_id="aws_default")
        assert hook.client_type == "dynamodb"
        assert TABLE_READY_WAITER in hook.list_waiters()
        assert "table_exists" in hook.list_waiters()  # official waiters stay available

    def test_describe_missing_table_is_none(self, table_name: str) -> None:
        assert DynamoDBTablesHook().describe(table_name) is None

    def test_describe_reraises_other_errors(self, table_name: str) -> None:
        hook = DynamoDBTablesHook()
        with Stubber(hook.conn) as stub, pytest.raises(ClientError, match="AccessDeniedException"):
            stub.add_client_error("describe_table", service_error_code="AccessDeniedException",
                                  expected_params={"TableName": table_name})
            hook.describe(table_name)

    @pytest.mark.parametrize("design", [TICKET_SALES, CONFIG], ids=["ticket_sales", "config"])
    def test_create_describe_status(self, table_name: str, design: dict[str, Any]) -> None:
        hook = DynamoDBTablesHook()
        spec = spec_named(design, table_name)
        created = hook.create(spec)
        assert created["TableName"] == table_name
        described = hook.describe(table_name)
        assert described is not None
        assert drift(spec, described) == []
        state, indexes = hook.status(table_name)
        assert state == "ACTIVE"
        assert indexes == {g.name: "ACTIVE" for g in spec.gsis}
        hook.get_waiter(TABLE_READY_WAITER).wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 2})

    def test_create_existing_table_fails(self, table_name: str) -> None:
        hook = DynamoDBTablesHook()
        hook.create(spec_named(CONFIG, table_name))
        with pytest.raises(ClientError, match="ResourceInUseException"):
            hook.create(spec_named(CONFIG, table_name))

    def test_status_of_missing_table_raises(self, table_name: str) -> None:
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            DynamoDBTablesHook().status(table_name)

    def test_waiter_fails_at_once_on_missing_table(self, table_name: str) -> None:
        waiter = DynamoDBTablesHook().get_waiter(TABLE_READY_WAITER)
        with pytest.raises(WaiterError, match="terminal failure"):
            waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 3})


class TestTableAndIndexesActiveWaiter:
    """The waiter's acceptors, fed canned DescribeTable responses."""

    @staticmethod
    def run(responses: list[dict[str, Any]], max_attempts: int = 10) -> None:
        """Wait on a stubbed client answering `responses` in turn; every response must be used."""
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:1")
        with Stubber(client) as stub:
            for response in responses:
                stub.add_response("describe_table", response, {"TableName": "t_stub"})
            waiter = DynamoDBTablesHook().get_waiter(TABLE_READY_WAITER, client=client)
            waiter.wait(TableName="t_stub", WaiterConfig={"Delay": 0, "MaxAttempts": max_attempts})
            stub.assert_no_pending_responses()

    def test_retries_until_table_and_every_gsi_active(self) -> None:
        self.run([
            describe_response("CREATING", {"idx_a": "CREATING", "idx_b": "CREATING"}),
            describe_response("ACTIVE", {"idx_a": "ACTIVE", "idx_b": "CREATING"}),
            describe_response("UPDATING", {"idx_a": "ACTIVE", "idx_b": "ACTIVE"}),
            describe_response("ACTIVE", {"idx_a": "ACTIVE", "idx_b": "ACTIVE"}),
        ])

    def test_table_without_gsis(self) -> None:
        self.run([describe_response("CREATING"), describe_response("ACTIVE")])

    def test_deleting_table_is_a_failure(self) -> None:
        with pytest.raises(WaiterError, match="terminal failure"):
            self.run([describe_response("DELETING", {"idx_a": "ACTIVE"})])

    def test_gives_up_after_max_attempts(self) -> None:
        with pytest.raises(WaiterError, match="Max attempts exceeded"):
            self.run([describe_response("ACTIVE", {"idx_a": "CREATING"})] * 2, max_attempts=2)


def test_table_status_and_is_ready() -> None:
    state, indexes = table_status(describe_response("ACTIVE", {"idx_a": "ACTIVE", "idx_b": "CREATING"})["Table"])
    assert (state, indexes) == ("ACTIVE", {"idx_a": "ACTIVE", "idx_b": "CREATING"})
    assert not is_ready(state, indexes)
    assert is_ready("ACTIVE", {})
    assert not is_ready("CREATING", {})
