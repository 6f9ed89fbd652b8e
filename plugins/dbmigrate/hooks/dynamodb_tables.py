"""Airflow hook for DynamoDB table management: describe, create, and wait until table and GSIs are ACTIVE.

A thin wrapper around the `dynamodb` boto3 client. The table definitions are `transforms.dynamodb_tables`
specs, and the waiter `table_and_indexes_active` (DescribeTable until the table and every GSI are ACTIVE)
is data in `dbmigrate/waiters/dynamodb_tables.json`, used synchronously by `get_waiter` and asynchronously
by `DynamoDBTablesReadyTrigger`. The hook keeps config, never per-run state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.exceptions import ClientError

import dbmigrate  # noqa: F401 - puts include/ on sys.path for `transforms`
from connectors.dynamodb_scan import batch_get_items
from connectors.dynamodb_writer import count_items, count_items_by
from transforms.dynamodb_tables import TableSpec, create_table_kwargs, import_table_kwargs

WAITERS_FILE = Path(__file__).resolve().parents[1] / "waiters" / "dynamodb_tables.json"
TABLE_READY_WAITER = "table_and_indexes_active"
IMPORT_WAITER = "import_completed"  # DescribeImport until COMPLETED; FAILED or CANCELLED fail it
# What a wait logs of a table, and of an import, while it is not done yet
TABLE_STATUS_QUERIES = ["Table.TableStatus", "Table.GlobalSecondaryIndexes[].[IndexName, IndexStatus]"]
IMPORT_STATUS_QUERIES = ["ImportTableDescription.ImportStatus", "ImportTableDescription.ProcessedItemCount"]


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

    def import_table(self, spec: TableSpec, uri: str, token: str) -> dict[str, Any]:
        """Start ImportTable: create the table of `spec` from the gzipped DynamoDB JSON under the S3 prefix `uri`;
        return the `ImportTableDescription` (wait with the `import_completed` waiter). `token` makes a repeated call
        (a retried task) join the same import.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.import_table`
        """
        return self.conn.import_table(**import_table_kwargs(spec, uri, token))["ImportTableDescription"]

    def describe_import(self, import_arn: str) -> dict[str, Any]:
        """The `ImportTableDescription` of an import: status, item counts, errors.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.describe_import`
        """
        return self.conn.describe_import(ImportArn=import_arn)["ImportTableDescription"]

    def status(self, name: str) -> tuple[str, dict[str, str]]:
        """Return the table status and the `IndexStatus` of each GSI by index name.

        Raises `ClientError` `ResourceNotFoundException` if the table does not exist.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.describe_table`
        """
        return table_status(self.conn.describe_table(TableName=name)["Table"])

    def count_items(self, table: str, *, segments: int = 4, filter_expression: str | None = None,
                    expression_values: Mapping[str, Any] | None = None,
                    expression_names: Mapping[str, str] | None = None) -> int:
        """Count the items of `table` (matching `filter_expression`) with a parallel, consistent COUNT Scan.

        DescribeTable's ItemCount lags by hours, so it is never used. Wraps `connectors.dynamodb_writer.count_items`.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.scan`
        """
        return count_items(table, client=self.conn, segments=segments, filter_expression=filter_expression,
                           expression_values=expression_values, expression_names=expression_names)

    def count_items_by(self, table: str, attribute: str, *, segments: int = 4) -> dict[str | None, int]:
        """The items of `table` counted by one string attribute's value, in one parallel, consistent Scan.

        Wraps `connectors.dynamodb_writer.count_items_by`.
        """
        return count_items_by(table, attribute, client=self.conn, segments=segments)

    def batch_get_items(self, table: str, keys: list[dict[str, dict]], *, max_attempts: int = 10,
                        sleep: Callable[[float], None] = time.sleep) -> list[dict[str, dict]]:
        """Every item of `keys` that exists (strongly consistent), 100 keys per BatchGetItem.

        `UnprocessedKeys` and throttling errors are retried with full-jitter backoff, `max_attempts` per call.
        Wraps `connectors.dynamodb_scan.batch_get_items`.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.batch_get_item`
        """
        return list(batch_get_items(table, keys, client=self.conn, consistent_read=True, max_attempts=max_attempts,
                                    sleep=sleep))

    def query_all(self, table: str, query: dict[str, Any]) -> list[dict[str, dict]]:
        """Every item a Query returns, following `LastEvaluatedKey`.

        .. seealso::
            - :external+boto3:py:meth:`DynamoDB.Client.query`
        """
        request = {"TableName": table, **query}
        items: list[dict[str, dict]] = []
        while True:
            response = self.conn.query(**request)
            items += response.get("Items", [])
            if not response.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def table_status(table: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(TableStatus, {GSI name: IndexStatus}) of a DescribeTable `Table` description."""
    return table["TableStatus"], {g["IndexName"]: g.get("IndexStatus", "UNKNOWN")
                                  for g in table.get("GlobalSecondaryIndexes") or []}


def is_ready(table_state: str, index_states: dict[str, str]) -> bool:
    """True when the table and every GSI are ACTIVE (the waiter's success acceptor, in Python)."""
    return table_state == "ACTIVE" and all(s == "ACTIVE" for s in index_states.values())
