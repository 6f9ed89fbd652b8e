"""Triggers that wait, in the triggerer, until a DynamoDB table and all its GSIs are ACTIVE, or an import is done."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from dbmigrate.hooks.dynamodb_tables import (
    IMPORT_STATUS_QUERIES,
    IMPORT_WAITER,
    TABLE_READY_WAITER,
    TABLE_STATUS_QUERIES,
    DynamoDBTablesHook,
)


class _DynamoDBTrigger(AwsBaseWaiterTrigger):
    """Waits with `DynamoDBTablesHook`'s waiters (`dbmigrate/waiters/dynamodb_tables.json`) on one named thing
    (`key`: `value`), which the trigger serializes and its success event carries."""

    def __init__(self, *, key: str, value: str, waiter: str, args: dict[str, str], what: str, failure: str,
                 waiting: str, status_queries: list[str], connection: dict[str, Any]) -> None:
        super().__init__(serialized_fields={key: value}, waiter_name=waiter, waiter_args=args,
                         failure_message=f"{what} {failure}", status_message=f"{what} {waiting}",
                         status_queries=status_queries, return_key=key, return_value=value, **connection)

    def hook(self) -> DynamoDBTablesHook:
        return DynamoDBTablesHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name,
                                  verify=self.verify, config=self.botocore_config)


class DynamoDBTablesReadyTrigger(_DynamoDBTrigger):
    """Poll DescribeTable asynchronously until the table and every GSI are ACTIVE.

    Uses the `table_and_indexes_active` waiter; fails at once if the table does not exist or is being
    deleted or archived. The success event carries `table_name`.

    :param table_name: Name of the DynamoDB table.
    :param waiter_delay: Seconds between DescribeTable calls. Default 10.
    :param waiter_max_attempts: Maximum number of DescribeTable calls. Default 90.
    :param aws_conn_id: The Airflow connection used for AWS credentials. Default `aws_default`.
    :param region_name: AWS region of the table; the connection's region if None.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary for the botocore client.
    """

    def __init__(self, *, table_name: str, waiter_delay: int = 10, waiter_max_attempts: int = 90,
                 aws_conn_id: str | None = "aws_default", region_name: str | None = None,
                 verify: bool | str | None = None, botocore_config: dict | None = None) -> None:
        super().__init__(
            key="table_name", value=table_name, waiter=TABLE_READY_WAITER, args={"TableName": table_name},
            what=f"DynamoDB table {table_name}", failure="cannot become ACTIVE", waiting="not ready yet",
            status_queries=TABLE_STATUS_QUERIES,
            connection=dict(waiter_delay=waiter_delay, waiter_max_attempts=waiter_max_attempts,
                            aws_conn_id=aws_conn_id, region_name=region_name, verify=verify,
                            botocore_config=botocore_config))


class DynamoDBImportTrigger(_DynamoDBTrigger):
    """Poll DescribeImport asynchronously until an ImportTable is COMPLETED (FAILED or CANCELLED fail it).

    The success event carries `import_arn`.

    :param import_arn: The ImportArn ImportTable returned.
    :param waiter_delay: Seconds between DescribeImport calls. Default 30.
    :param waiter_max_attempts: Maximum number of DescribeImport calls. Default 240.
    :param aws_conn_id: The Airflow connection used for AWS credentials. Default `aws_default`.
    :param region_name: AWS region of the table; the connection's region if None.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary for the botocore client.
    """

    def __init__(self, *, import_arn: str, waiter_delay: int = 30, waiter_max_attempts: int = 240,
                 aws_conn_id: str | None = "aws_default", region_name: str | None = None,
                 verify: bool | str | None = None, botocore_config: dict | None = None) -> None:
        super().__init__(
            key="import_arn", value=import_arn, waiter=IMPORT_WAITER, args={"ImportArn": import_arn},
            what=f"DynamoDB import {import_arn}", failure="failed", waiting="in progress",
            status_queries=IMPORT_STATUS_QUERIES,
            connection=dict(waiter_delay=waiter_delay, waiter_max_attempts=waiter_max_attempts,
                            aws_conn_id=aws_conn_id, region_name=region_name, verify=verify,
                            botocore_config=botocore_config))
