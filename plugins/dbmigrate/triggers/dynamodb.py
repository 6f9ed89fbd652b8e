"""Trigger that waits, in the triggerer, until a DynamoDB table and all its GSIs are ACTIVE."""

from __future__ import annotations

from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

from dbmigrate.hooks.dynamodb_tables import TABLE_READY_WAITER, DynamoDBTablesHook


class DynamoDBTablesReadyTrigger(AwsBaseWaiterTrigger):
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
            serialized_fields={"table_name": table_name},
            waiter_name=TABLE_READY_WAITER,
            waiter_args={"TableName": table_name},
            failure_message=f"DynamoDB table {table_name} cannot become ACTIVE",
            status_message=f"DynamoDB table {table_name} not ready yet",
            status_queries=["Table.TableStatus", "Table.GlobalSecondaryIndexes[].[IndexName, IndexStatus]"],
            return_key="table_name",
            return_value=table_name,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )

    def hook(self) -> DynamoDBTablesHook:
        return DynamoDBTablesHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name,
                                  verify=self.verify, config=self.botocore_config)
