"""The EMR wiring of the MongoDB → DSQL DAG against the moto server: staged files, the step definition, the
provider's EmrAddStepsOperator, and EmrStepSensor outcomes on canned terminal states (moto keeps steps RUNNING)."""

from __future__ import annotations

import io
import json
import zipfile
from unittest import mock

import boto3
import pytest
from airflow.providers.amazon.aws.operators.emr import EmrAddStepsOperator
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.amazon.aws.triggers.emr import EmrStepSensorTrigger
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from dbmigrate.operators.run_inputs import resolve
from dbmigrate.operators.spark_job import StageMongoToDsqlJobOperator, staged_files

DSQL_IAM = {"conn_type": "aurora_dsql", "host": "abcdefghijklmnop.dsql.us-east-1.on.aws", "login": "admin",
            "schema": "postgres", "extra": {"auth": "iam", "region_name": "us-east-1"}}
RUN_ID = "manual__2026-11-22T00:00:00+00:00"


@pytest.fixture
def staged(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("DBMIGRATE_PROFILE", "aws")
    monkeypatch.setenv("AIRFLOW_CONN_DSQL_IAM", json.dumps(DSQL_IAM))
    run = resolve("movie_collection_to_dsql", {"source_uri": None}, RUN_ID)
    op = StageMongoToDsqlJobOperator(task_id="stage_job", spec_dag_id="movie_collection_to_dsql", run=run,
                                     dsql_conn_id="dsql_iam")
    return op.execute({"run_id": RUN_ID})


class TestStageMongoToDsqlJobOperator:
    def test_files_are_in_s3(self, staged: dict) -> None:
        s3 = boto3.client("s3")
        for uri in staged["staged"].values():
            bucket, key = uri[5:].split("/", 1)
            assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
        bucket, key = staged["staged"]["py_files"][5:].split("/", 1)
        names = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).namelist()
        assert {"transforms/adjacency.py", "connectors/dsql_writer.py"} <= set(names)
        assert not any(n.startswith(("dbmigrate/", "airflow")) for n in names)  # jobs never import Airflow

    def test_emr_step_runs_the_staged_job_without_secrets(self, staged: dict) -> None:
        (step,) = staged["emr_steps"]
        args = step["HadoopJarStep"]["Args"]
        assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"
        assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
        assert args[args.index("--packages") + 1].startswith("org.mongodb.spark:mongo-spark-connector_2.12:")
        assert args[args.index("--py-files") + 1] == staged["staged"]["py_files"]
        assert staged["staged"]["script"] in args
        target = json.loads(args[args.index("--target-json") + 1])
        assert target["auth"] == "iam" and target["host"] == DSQL_IAM["host"] and "password" not in target
        assert "--target-password-file" not in args
        assert args[args.index("--source-uri") + 1].startswith("mongodb+srv://")
        assert "@" not in args[args.index("--source-uri") + 1]  # credentials come from Secrets Manager at run time
        assert args[args.index("--report-uri") + 1].startswith("s3://")

    def test_the_local_job_fetches_only_the_staged_files(self, staged: dict) -> None:
        job = staged["local_job"]
        args = job["job_args"]
        report = args[args.index("--report-uri") + 1]
        assert report.startswith("s3://")  # written by the job, not there yet to download
        assert staged_files(job) == set(staged["staged"].values())
        assert staged["staged"]["spec"] in args


class TestEmrSubmission:
    def test_add_steps_operator_submits_the_step_to_the_cluster(self, staged: dict) -> None:
        emr = boto3.client("emr")
        cluster = emr.run_job_flow(
            Name="dbmigrate-test", ReleaseLabel="emr-7.5.0", Applications=[{"Name": "Spark"}],
            Instances={"MasterInstanceType": "m6g.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
            JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]
        op = EmrAddStepsOperator(task_id="add_step", job_flow_id=cluster, steps=staged["emr_steps"])
        (step_id,) = op.execute({"ti": mock.MagicMock()})
        step = emr.describe_step(ClusterId=cluster, StepId=step_id)["Step"]
        assert step["Config"]["Args"] == staged["emr_steps"][0]["HadoopJarStep"]["Args"]


def _step(state: str, reason: str | None = None) -> dict:
    status: dict = {"State": state}
    if reason:
        status["FailureDetails"] = {"Reason": reason, "Message": "Exception in thread main", "LogFile": "s3://l/"}
    return {"ResponseMetadata": {"HTTPStatusCode": 200}, "Step": {"Id": "s-1", "Status": status}}


class TestEmrStepSensorOutcomes:
    def _sensor(self, **kwargs: object) -> EmrStepSensor:
        return EmrStepSensor(task_id="wait_for_step", job_flow_id="j-1", step_id="s-1", **kwargs)

    @pytest.mark.parametrize(("state", "done"), [("PENDING", False), ("RUNNING", False), ("COMPLETED", True)])
    def test_poke(self, state: str, done: bool) -> None:
        with mock.patch.object(EmrStepSensor, "get_emr_response", return_value=_step(state)):
            assert self._sensor().poke({}) is done

    @pytest.mark.parametrize("state", ["FAILED", "CANCELLED", "INTERRUPTED"])
    def test_terminal_failures_raise_with_the_reason(self, state: str) -> None:
        with mock.patch.object(EmrStepSensor, "get_emr_response", return_value=_step(state, "Job failed")):
            with pytest.raises(AirflowException, match="EMR job failed: for reason Job failed"):
                self._sensor().poke({})

    def test_deferrable_sensor_hands_the_wait_to_the_triggerer(self) -> None:
        sensor = self._sensor(deferrable=True, poke_interval=60, max_attempts=240)
        with mock.patch.object(EmrStepSensor, "poke", return_value=False), pytest.raises(TaskDeferred) as deferred:
            sensor.execute({})
        trigger = deferred.value.trigger
        assert isinstance(trigger, EmrStepSensorTrigger)
        assert trigger.waiter_args == {"ClusterId": "j-1", "StepId": "s-1"}
        assert trigger.waiter_delay == 60 and trigger.attempts == 240


class TestStageDynamoDbJobsOperator:
    @pytest.mark.parametrize("dry_run", [False, True], ids=["load", "dry run"])
    def test_a_job_whose_table_does_not_exist_puts_its_items_on_s3_for_the_import(
            self, monkeypatch: pytest.MonkeyPatch, dry_run: bool) -> None:
        """Decided under the run's lock: the missing table's job gets `--import-uri`, the existing one's writes it;
        a dry run writes nothing anywhere."""
        import uuid

        from dbmigrate.operators.spark_job import StageDynamoDbJobsOperator
        from transforms.dynamodb_tables import TableSpec, create_table_kwargs
        from transforms.spec import load_spec

        monkeypatch.setenv("DBMIGRATE_PROFILE", "aws")
        monkeypatch.setattr("dbmigrate.operators.run_inputs.source_schema", lambda conn, conn_id, requested: "dbo")
        run = resolve("dms_sample_to_dynamodb", {"dry_run": dry_run}, RUN_ID)
        missing, existing = (f"stage_{uuid.uuid4().hex[:8]}" for _ in range(2))
        run["tables"] = {"ticket_sales": missing, "config": existing}
        client = boto3.client("dynamodb")
        config = load_spec("include/specs/dms_sample_to_dynamodb.yaml").targets["config"]
        client.create_table(**create_table_kwargs(TableSpec.from_dict({**config, "name": existing})))
        try:
            out = StageDynamoDbJobsOperator(task_id="stage_jobs", spec_dag_id="dms_sample_to_dynamodb",
                                            run=run).execute({"run_id": RUN_ID})
        finally:
            client.delete_table(TableName=existing)
        ticket_sales, config_args = out["glue_args_ticket_sales"], out["glue_args_config"]
        assert ticket_sales["--table"] == missing and "--import-uri" not in config_args
        if dry_run:
            assert "--import-uri" not in ticket_sales
        else:
            assert ticket_sales["--import-uri"] == run["import_uris"]["ticket_sales"]
            assert run["import_uris"]["ticket_sales"].endswith(f"/runs/{RUN_ID}/import/ticket_sales")
