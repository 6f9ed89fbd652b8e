"""Create a DynamoDB table from its spec (or check an existing one) and wait until it and its GSIs are ACTIVE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.amazon.aws.utils.waiter_with_logging import wait
from airflow.providers.common.compat.sdk import AirflowException, conf
from airflow.sdk.exceptions import AirflowFailException
from botocore.exceptions import ClientError

from dbmigrate.hooks.dynamodb_tables import TABLE_READY_WAITER, DynamoDBTablesHook, is_ready, table_status
from dbmigrate.triggers.dynamodb import DynamoDBTablesReadyTrigger
from transforms.dynamodb_tables import TableSpec, drift

if TYPE_CHECKING:
    from airflow.sdk import Context

CONSOLE_URL = "https://{region}.console.aws.amazon.com/dynamodbv2/home?region={region}#table?name={name}"


class DynamoDBTableReadyOperator(AwsBaseOperator[DynamoDBTablesHook]):
    """Make sure a DynamoDB table exists exactly as specified, creating it if missing, and wait until ready.

    A missing table is created from the spec (keys, GSIs, billing mode). An existing table is never
    modified: it is compared with the spec, and any difference (key schema, attribute types, missing or
    extra GSIs, GSI keys or projection, billing mode) fails the task without retries, listing them all.
    Then the task waits until the table and all of its GSIs are ACTIVE.

    :param table: The table spec, as the dict `TableSpec.from_dict` reads:
        ``{name, partition_key: {name, type}, sort_key, billing_mode, gsis: [...]}``. (templated)
    :param wait_for_completion: Wait until the table and its GSIs are ACTIVE. Default True.
    :param deferrable: Wait in the triggerer instead of the worker. This implies waiting.
        Default from the `operators.default_deferrable` config (False if unset).
    :param waiter_delay: Seconds between DescribeTable calls. Default 10.
    :param waiter_max_attempts: Maximum number of DescribeTable calls. Default 90.
    :param aws_conn_id: The Airflow connection used for AWS credentials. Default `aws_default`.
    :param region_name: AWS region of the table; the connection's region if None.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary for the botocore client.
    :return: The table ARN.
    """

    aws_hook_class = DynamoDBTablesHook
    template_fields: Sequence[str] = aws_template_fields("table")
    template_fields_renderers = {"table": "json"}
    ui_color = "#66c3ff"

    def __init__(self, *, table: dict[str, Any], wait_for_completion: bool = True,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 waiter_delay: int = 10, waiter_max_attempts: int = 90, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def _spec(self) -> TableSpec:
        try:
            return TableSpec.from_dict(self.table)
        except ValueError as err:
            raise AirflowFailException(f"invalid DynamoDB table spec: {err}") from err

    def _check_drift(self, spec: TableSpec, description: dict[str, Any]) -> None:
        differences = drift(spec, description)
        if differences:
            raise AirflowFailException(
                f"DynamoDB table {spec.name} exists but differs from its spec in {len(differences)} way(s); "
                "it is never modified, fix the spec or migrate the table by hand:\n- " + "\n- ".join(differences))

    def _create_or_check(self, spec: TableSpec) -> tuple[dict[str, Any], bool]:
        """(table description, created by this run)."""
        description = self.hook.describe(spec.name)
        if description is None:
            self.log.info("Creating DynamoDB table %s", spec.name)
            try:
                return self.hook.create(spec), True
            except ClientError as err:  # created concurrently (another run, another task)
                if err.response.get("Error", {}).get("Code") != "ResourceInUseException":
                    raise
                self.log.info("DynamoDB table %s was created concurrently; checking it", spec.name)
                description = self.hook.describe(spec.name)
                if description is None:
                    raise
        self._check_drift(spec, description)
        self.log.info("DynamoDB table %s exists and matches its spec", spec.name)
        return description, False

    def execute(self, context: Context) -> str:
        spec = self._spec()
        description, created = self._create_or_check(spec)
        self.log.info("DynamoDB console: %s",
                      CONSOLE_URL.format(region=self.hook.conn_region_name, name=spec.name))
        table_arn = description["TableArn"]
        if not created and is_ready(*table_status(description)):
            return table_arn
        if self.deferrable:
            self.defer(
                trigger=DynamoDBTablesReadyTrigger(
                    table_name=spec.name,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
            )
        elif self.wait_for_completion:
            self.log.info("Waiting for DynamoDB table %s and its GSIs to become ACTIVE", spec.name)
            wait(
                waiter=self.hook.get_waiter(TABLE_READY_WAITER),
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=self.waiter_max_attempts,
                args={"TableName": spec.name},
                failure_message=f"DynamoDB table {spec.name} cannot become ACTIVE",
                status_message=f"DynamoDB table {spec.name} not ready yet",
                status_args=["Table.TableStatus", "Table.GlobalSecondaryIndexes[].[IndexName, IndexStatus]"],
            )
        return table_arn

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        validated_event = validate_execute_complete_event(event)
        if validated_event["status"] != "success":
            raise AirflowException(f"Error while waiting for DynamoDB table: {validated_event}")
        name = validated_event["table_name"]
        description = self.hook.describe(name)
        if description is None:
            raise AirflowException(f"DynamoDB table {name} disappeared after becoming ACTIVE")
        self.log.info("DynamoDB table %s and its GSIs are ACTIVE", name)
        return description["TableArn"]
