"""Airflow hook for DynamoDB table management: describe, create, and wait until table and GSIs are ACTIVE.

A thin wrapper around the `dynamodb` boto3 client. The table definitions are `transforms.dynamodb_tables`
specs, and the waiter `table_and_indexes_active` (DescribeTable until the table and every GSI are ACTIVE)
is data in `dbmigrate/waiters/dynamodb_tables.json`, used synchronously by `get_waiter` and asynchronously
by `DynamoDBTablesReadyTrigger`. The hook keeps config, never per-run state.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.exceptions import ClientError

import dbmigrate  # noqa: F401 - puts include/ on sys.path for `transforms`
from transforms.dynamodb_tables import TableSpec, create_table_kwargs

WAITERS_FILE = Path(__file__).resolve().parents[1] / "waiters" / "dynamodb_tables.json"
TABLE_READY_WAITER = "table_and_indexes_active"


class DynamoDBTablesHook(AwsBaseHook):
    """Describe and create DynamoDB tables from `TableSpec`s.

    Custom waiters come from `dbmigrate/waiters/dynamodb_tables.json` instead of the provider's
    `dynamodb.json`; the official boto3 waiters (`table_exists`, ...) stay available.

    Additional arguments (such as ``aws_conn_id``, ``region_name``) are passed down to `AwsBaseHook`.

    .. seealso::
        - :class:`airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "dynamodb"
        super().__init__(*args, **kwargs)

    @cached_property
    def waiter_path(self) -> os.PathLike[str] | None:
        return WAITERS_FILE

    def describe(self, name: str) -> dict[str, Any] | None:
        """Return the table description (the `Table` of the response), or None if the table does not exist.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.describe_table`
        """
        try:
            return self.conn.describe_table(TableName=name)["Table"]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise

    def create(self, spec: TableSpec) -> dict[str, Any]:
        """Create the table (keys, attribute definitions, GSIs, billing mode) of `spec`; return its description.

        Returns as soon as DynamoDB accepts the request (status CREATING); wait with the
        `table_and_indexes_active` waiter. Raises `ClientError` `ResourceInUseException` if it exists.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.create_table`
        """
        return self.conn.create_table(**create_table_kwargs(spec))["TableDescription"]

    def status(self, name: str) -> tuple[str, dict[str, str]]:
        """Return the table status and the `IndexStatus` of each GSI by index name.

        Raises `ClientError` `ResourceNotFoundException` if the table does not exist.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.describe_table`
        """
        return table_status(self.conn.describe_table(TableName=name)["Table"])


def table_status(table: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(TableStatus, {GSI name: IndexStatus}) of a DescribeTable `Table` description."""
    return table["TableStatus"], {g["IndexName"]: g.get("IndexStatus", "UNKNOWN")
                                  for g in table.get("GlobalSecondaryIndexes") or []}


def is_ready(table_state: str, index_states: dict[str, str]) -> bool:
    """True when the table and every GSI are ACTIVE (the waiter's success acceptor, in Python)."""
    return table_state == "ACTIVE" and all(s == "ACTIVE" for s in index_states.values())
