"""Sensor that waits until a DynamoDB table and all its global secondary indexes are ACTIVE."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, conf
from botocore.exceptions import ClientError

from dbmigrate.hooks.dynamodb_tables import DynamoDBTablesHook, is_ready
from dbmigrate.triggers.dynamodb import DynamoDBTablesReadyTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

# Table states from which the table never becomes ACTIVE again by itself.
FAILED_TABLE_STATES = ("DELETING", "ARCHIVING", "ARCHIVED", "INACCESSIBLE_ENCRYPTION_CREDENTIALS")


class DynamoDBTableReadySensor(AwsBaseSensor[DynamoDBTablesHook]):
    """Wait until a DynamoDB table and every one of its GSIs are ACTIVE.

    Fails (instead of waiting) when the table does not exist or is in one of `failed_states`.

    :param table_name: Name of the DynamoDB table. (templated)
    :param failed_states: Table states that fail the sensor. Default `FAILED_TABLE_STATES`.
    :param max_attempts: In deferrable mode, the maximum number of DescribeTable calls. Default 60.
    :param deferrable: Wait in the triggerer; `poke_interval` is the delay between calls.
        Default from the `operators.default_deferrable` config.
    :param aws_conn_id: The Airflow connection used for AWS credentials. Default `aws_default`.
    :param region_name: AWS region of the table; the connection's region if None.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary for the botocore client.
    """

    aws_hook_class = DynamoDBTablesHook
    template_fields: Sequence[str] = aws_template_fields("table_name")
    ui_color = "#66c3ff"

    def __init__(self, *, table_name: str, failed_states: Sequence[str] = FAILED_TABLE_STATES,
                 max_attempts: int = 60,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table_name = table_name
        self.failed_states = failed_states
        self.max_attempts = max_attempts
        self.deferrable = deferrable

    def poke(self, context: Context) -> bool:
        try:
            table_state, index_states = self.hook.status(self.table_name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise AirflowException(f"DynamoDB table {self.table_name} does not exist") from err
            raise
        if table_state in self.failed_states:
            raise AirflowException(f"DynamoDB table {self.table_name} is {table_state}")
        self.log.info("DynamoDB table %s is %s; GSIs: %s", self.table_name, table_state, index_states or "none")
        return is_ready(table_state, index_states)

    def execute(self, context: Context) -> None:
        if not self.deferrable:
            super().execute(context=context)
        elif not self.poke(context):
            self.defer(
                timeout=timedelta(seconds=self.poke_interval * self.max_attempts),
                trigger=DynamoDBTablesReadyTrigger(
                    table_name=self.table_name,
                    waiter_delay=int(self.poke_interval),
                    waiter_max_attempts=self.max_attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
            )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> None:
        validated_event = validate_execute_complete_event(event)
        if validated_event["status"] != "success":
            raise AirflowException(f"Error while waiting for DynamoDB table {self.table_name}: {validated_event}")
        self.log.info("DynamoDB table %s and its GSIs are ACTIVE", self.table_name)
