"""Make a DynamoDB table ready from its spec (create it, or check an existing one, or leave a new one for ImportTable)
and wait until it and its GSIs are ACTIVE; import a first load's items into a new table."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.amazon.aws.utils.waiter_with_logging import wait
from airflow.providers.common.compat.sdk import AirflowException, conf
from airflow.sdk.exceptions import AirflowFailException
from botocore.exceptions import ClientError

from dbmigrate import run_files
from dbmigrate.hooks.dynamodb_tables import (
    IMPORT_STATUS_QUERIES,
    IMPORT_WAITER,
    TABLE_READY_WAITER,
    TABLE_STATUS_QUERIES,
    DynamoDBTablesHook,
    is_ready,
    table_status,
)
from dbmigrate.triggers.dynamodb import DynamoDBImportTrigger, DynamoDBTablesReadyTrigger
from transforms.dynamodb_tables import TableSpec, drift
from transforms.intervals import Window

if TYPE_CHECKING:
    from airflow.sdk import Context

def wait_until_ready(hook: DynamoDBTablesHook, name: str, delay: int, attempts: int) -> None:
    """Wait here until table `name` and its GSIs are ACTIVE (the `table_and_indexes_active` waiter), logging their
    states while they are not."""
    wait(waiter=hook.get_waiter(TABLE_READY_WAITER), waiter_delay=delay, waiter_max_attempts=attempts,
         args={"TableName": name}, failure_message=f"DynamoDB table {name} cannot become ACTIVE",
         status_message=f"DynamoDB table {name} not ready yet", status_args=TABLE_STATUS_QUERIES)


CONSOLE_URL = "https://{region}.console.aws.amazon.com/dynamodbv2/home?region={region}#table?name={name}"


class DynamoDBTableReadyOperator(AwsBaseOperator[DynamoDBTablesHook]):
    """Make sure a DynamoDB table exists exactly as specified, creating it if missing, and wait until ready.

    A missing table is created from the spec (keys, GSIs, billing mode). An existing table is never
    modified: it is compared with the spec, and any difference (key schema, attribute types, missing or
    extra GSIs, GSI keys or projection, billing mode) fails the task without retries, listing them all.
    Then the task waits until the table and all of its GSIs are ACTIVE.

    :param table: The table spec, as the dict `TableSpec.from_dict` reads:
        ``{name, partition_key: {name, type}, sort_key, billing_mode, gsis: [...]}``. (templated)
    :param leave_new: A missing table is not created: the load's ImportTable creates it
        (`DynamoDBImportOperator`, the spec's `write.first_load: import`). Default False.
    :param wait_for_completion: Wait until the table and its GSIs are ACTIVE. Default True.
    :param deferrable: Wait in the triggerer instead of the worker. This implies waiting.
        Default from the `operators.default_deferrable` config (False if unset).
    :param waiter_delay: Seconds between DescribeTable calls. Default 10.
    :param waiter_max_attempts: Maximum number of DescribeTable calls. Default 90.
    :param aws_conn_id: The Airflow connection used for AWS credentials. Default `aws_default`.
    :param region_name: AWS region of the table; the connection's region if None.
    :param verify: Whether to verify SSL certificates.
    :param botocore_config: Configuration dictionary for the botocore client.
    :return: The table ARN; None for a table left to its import.
    """

    aws_hook_class = DynamoDBTablesHook
    template_fields: Sequence[str] = aws_template_fields("table")
    template_fields_renderers = {"table": "json"}
    ui_color = "#66c3ff"

    def __init__(self, *, table: dict[str, Any], leave_new: bool = False, wait_for_completion: bool = True,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 waiter_delay: int = 10, waiter_max_attempts: int = 90, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.leave_new = leave_new
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

    def execute(self, context: Context) -> str | None:
        spec = self._spec()
        if self.leave_new and self.hook.describe(spec.name) is None:
            self.log.info("DynamoDB table %s does not exist: the load's ImportTable creates it", spec.name)
            return None
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
            wait_until_ready(self.hook, spec.name, self.waiter_delay, self.waiter_max_attempts)
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


def import_token(run_id: str, table: str) -> str:
    """ImportTable's ClientToken for one run's import into one table: a retried task joins the same import."""
    return hashlib.sha256(f"{run_id}\0{table}".encode()).hexdigest()[:36]


class DynamoDBImportOperator(AwsBaseOperator[DynamoDBTablesHook]):
    """Create a new DynamoDB table from a first load's items with ImportTable, when the job put them on S3.

    Reads the job's report: a job that wrote its items to an existing table reports no `import`, and the task
    has nothing to do. Otherwise ImportTable creates the table as its spec says (keys, GSIs, billing mode) from the
    gzipped DynamoDB JSON under the report's prefix, using no write capacity; the task waits (deferred, or here)
    until the import is COMPLETED, fails unless every item the job built was imported without an error, waits until
    the table and its GSIs are ACTIVE, and records the load in the table's load log (what the job records itself
    when it writes a table that exists). A job that built no item has the table created empty instead.

    :param table: The table spec, as the dict `TableSpec.from_dict` reads. (templated)
    :param item_set: The spec's target (job) whose items this task imports.
    :param job_report_uris: Where each job wrote its report (S3 or file), by target. (templated)
    :param deferrable: Wait in the triggerer instead of the worker. Default from `operators.default_deferrable`.
    :param waiter_delay: Seconds between DescribeImport calls. Default 30.
    :param waiter_max_attempts: Maximum number of DescribeImport calls. Default 240.
    :param aws_conn_id: The Airflow connection used for AWS credentials. Default `aws_default`.
    :param region_name: AWS region of the table; the connection's region if None.
    :return: ``{"import_arn", "items"}`` of the import; None when the job wrote the table itself.
    """

    aws_hook_class = DynamoDBTablesHook
    template_fields: Sequence[str] = aws_template_fields("table", "job_report_uris")
    template_fields_renderers = {"table": "json"}
    ui_color = "#66c3ff"

    def __init__(self, *, table: dict[str, Any], item_set: str, job_report_uris: Any,
                 deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
                 waiter_delay: int = 30, waiter_max_attempts: int = 240, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = table
        self.item_set = item_set
        self.job_report_uris = job_report_uris
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def _report(self) -> dict[str, Any]:
        return json.loads(run_files.read_text(self.job_report_uris[self.item_set], self.aws_conn_id))

    def execute(self, context: Context) -> dict[str, Any] | None:
        report = self._report()
        todo = report.get("import")
        if not todo:
            self.log.info("The job wrote its items to the table: nothing to import")
            return None
        spec = TableSpec.from_dict(self.table)
        if not todo["items"]:  # ImportTable needs objects to read: a load of nothing makes the table empty
            self.log.info("The job built no item: creating DynamoDB table %s empty", spec.name)
            self.hook.create(spec)
            return self._finish(None, report)
        started = self.hook.import_table(spec, todo["uri"], import_token(report["run_id"], spec.name))
        arn = started["ImportArn"]
        self.log.info("ImportTable %s: %d items from %s into the new table %s", arn, todo["items"], todo["uri"],
                      spec.name)
        if self.deferrable:
            self.defer(trigger=DynamoDBImportTrigger(
                import_arn=arn, waiter_delay=self.waiter_delay, waiter_max_attempts=self.waiter_max_attempts,
                aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                botocore_config=self.botocore_config), method_name="execute_complete")
        try:
            wait(waiter=self.hook.get_waiter(IMPORT_WAITER), waiter_delay=self.waiter_delay,
                 waiter_max_attempts=self.waiter_max_attempts, args={"ImportArn": arn},
                 failure_message=f"DynamoDB import {arn} failed",
                 status_message=f"DynamoDB import {arn} in progress",
                 status_args=IMPORT_STATUS_QUERIES)
        except AirflowException as err:  # failed or still running: `_finish` says how, with the import's counts
            self.log.warning("%s", err)
        return self._finish(arn, report)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        validated_event = validate_execute_complete_event(event)
        if validated_event["status"] != "success" and not validated_event.get("import_arn"):
            raise AirflowException(f"Error while waiting for the DynamoDB import: {validated_event}")
        return self._finish(validated_event["import_arn"], self._report())

    def _finish(self, arn: str | None, report: dict[str, Any]) -> dict[str, Any]:
        """Every item imported, the table ready, the load recorded."""
        from connectors.dynamodb_load_log import record_load

        spec = TableSpec.from_dict(self.table)
        todo = report["import"]
        if arn is not None:
            done = self.hook.describe_import(arn)
            imported, errors = done.get("ImportedItemCount", 0), done.get("ErrorCount", 0)
            if done["ImportStatus"] != "COMPLETED" or errors or imported != todo["items"]:
                raise AirflowFailException(
                    f"DynamoDB import {arn} into {spec.name}: {done['ImportStatus']}, {imported} of the "
                    f"{todo['items']} items the job built imported, {errors} errors "
                    f"({done.get('FailureCode')}: {done.get('FailureMessage')}); the errors are in CloudWatch Logs "
                    f"(log group {done.get('CloudWatchLogGroupArn', '-')})")
            self.log.info("ImportTable %s completed: %d items", arn, imported)
        wait_until_ready(self.hook, spec.name, delay=5, attempts=120)
        window = Window.parse(todo["window"]["start"], todo["window"]["end"])
        record_load(self.hook.conn, spec.name, window, report["run_id"], todo["log_table"], source=report["source"])
        return {"import_arn": arn, "items": todo["items"]}
