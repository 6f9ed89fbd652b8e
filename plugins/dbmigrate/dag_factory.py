"""Build one Airflow DAG per migration spec. Wiring only: no I/O beyond reading the spec file.

The task graph of a MongoDB → DSQL migration:

    check_source → deploy_ddl → stage_job ─┬─ aws:   [create_cluster →] add_step → wait_for_step [→ terminate]
                                           └─ local: run_spark_job
                 → validate_counts → validate_rows → report (ALL_DONE)

and of a SQL Server → DynamoDB migration:

    ensure_<table>… → stage_jobs ─┬─ aws:   crawl_source → glue_<job>… (parallel, deferrable)
                                  └─ local: run_<job>… (local Spark on the embedded source)
                 → validate_counts → validate_items → validate_access_patterns → report (ALL_DONE)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, chain

from dbmigrate import runtime
from transforms.spec import MongoToDsqlSpec, SqlServerToDynamoDbSpec

STAGE = "{{ ti.xcom_pull(task_ids='stage_job') }}"


def _staged(path: str, task_id: str = "stage_job") -> str:
    """A template for one value of what the staging task returned, e.g. `['local']['script']`."""
    return "{{ ti.xcom_pull(task_ids='" + task_id + "')" + path + " }}"


def _dag(spec: Any, profile: str, params: dict[str, Param]) -> DAG:
    """What every migration DAG shares: manual trigger, one run at a time, the spec's owner, tags and retries,
    and native rendering so templated params keep their types. `params` adds the migration's own."""
    return DAG(
        dag_id=spec.dag_id,
        description=spec.description.splitlines()[0] if spec.description else None,
        doc_md=spec.description,
        schedule=None,
        catchup=False,
        max_active_runs=1,  # two loads into the same target must not race on the same rows
        tags=[*spec.tags, f"profile:{profile}"],
        default_args={"owner": spec.owner, "retries": spec.retries, "retry_delay": timedelta(minutes=2)},
        render_template_as_native_obj=True,
        params={
            **params,
            "validation_sample_size": Param(spec.sample_size, type="integer", minimum=0, maximum=100_000,
                                            title="Source records to compare field by field with the target"),
            "dry_run": Param(False, type="boolean", title="Dry run",
                             description="Check and classify the source and build the output; write nothing."),
        },
    )


def mongo_to_dsql_dag(spec: MongoToDsqlSpec, profile: str | None = None) -> DAG:
    """The DAG for one MongoDB adjacency-list collection → Aurora DSQL migration."""
    from airflow.providers.amazon.aws.operators.emr import (
        EmrAddStepsOperator,
        EmrCreateJobFlowOperator,
        EmrTerminateJobFlowOperator,
    )
    from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor

    from dbmigrate.operators.dsql import DsqlDeployDdlOperator
    from dbmigrate.operators.source import CheckMongoSourceOperator
    from dbmigrate.operators.spark_job import (
        TARGET_PASSWORD_ENV,
        LocalSparkSubmitOperator,
        StageMongoToDsqlJobOperator,
    )
    from dbmigrate.operators.validate_dsql import (
        MigrationReportOperator,
        ValidateMongoToDsqlCountsOperator,
        ValidateMongoToDsqlRowsOperator,
    )

    profile = profile or runtime.compute_profile()
    with _dag(spec, profile, {
        "source_uri": Param("", type="string", title="Source URI",
                            description="Overrides the spec's source: file:///…/export.json, s3://… or "
                                        "mongodb://… . Empty: the spec's source for this compute profile."),
    }) as dag:
        dry_run = "{{ params.dry_run }}"
        check = CheckMongoSourceOperator(task_id="check_source", spec_dag_id=spec.dag_id,
                                         source_uri="{{ params.source_uri }}")
        ddl = DsqlDeployDdlOperator(task_id="deploy_ddl", dsql_conn_id=spec.target_conn_id,
                                    sql_dir=spec.ddl_dir, lint_only=dry_run)
        stage = StageMongoToDsqlJobOperator(task_id="stage_job", spec_dag_id=spec.dag_id,
                                            source_uri="{{ ti.xcom_pull(task_ids='check_source') }}",
                                            dsql_conn_id=spec.target_conn_id, dry_run=dry_run)
        if profile == "local":
            body: list[Any] = [LocalSparkSubmitOperator(
                task_id="run_spark_job", secret_env={TARGET_PASSWORD_ENV: spec.target_conn_id}, retries=0,
                script=_staged("['local']['script']"), py_files=_staged("['local']['py_files']"),
                job_args=_staged("['local']['job_args']"))]
            teardown = None
        else:
            transient = spec.emr.cluster_id is None
            create = EmrCreateJobFlowOperator(task_id="create_cluster", job_flow_overrides=_cluster(spec)) \
                if transient else None
            job_flow_id = create.output if create else spec.emr.cluster_id
            add = EmrAddStepsOperator(task_id="add_step", job_flow_id=job_flow_id,
                                      steps=_staged("['emr_steps']"), retries=0)
            wait = EmrStepSensor(task_id="wait_for_step", job_flow_id=job_flow_id,
                                 step_id="{{ ti.xcom_pull(task_ids='add_step')[0] }}", deferrable=True,
                                 poke_interval=60, max_attempts=240)
            body = [x for x in (create, add, wait) if x is not None]
            teardown = EmrTerminateJobFlowOperator(task_id="terminate_cluster", job_flow_id=job_flow_id,
                                                   trigger_rule=TriggerRule.ALL_DONE) if transient else None
        counts = ValidateMongoToDsqlCountsOperator(task_id="validate_counts", spec_dag_id=spec.dag_id,
                                                   stage=STAGE, dsql_conn_id=spec.target_conn_id, dry_run=dry_run)
        rows = ValidateMongoToDsqlRowsOperator(task_id="validate_rows", spec_dag_id=spec.dag_id, stage=STAGE,
                                               sample_size="{{ params.validation_sample_size }}",
                                               dsql_conn_id=spec.target_conn_id, dry_run=dry_run,
                                               trigger_rule=TriggerRule.ALL_DONE)
        report = MigrationReportOperator(task_id="report", spec_dag_id=spec.dag_id, count_task_id="validate_counts",
                                         row_task_id="validate_rows", dry_run=dry_run, retries=0,
                                         trigger_rule=TriggerRule.ALL_DONE)
        chain(check, ddl, stage, *body, counts, rows, report)
        if teardown is not None:
            body[-1] >> teardown
    return dag


def _cluster(spec: MongoToDsqlSpec) -> dict[str, Any]:
    """A transient EMR cluster sized by the spec; it terminates when the DAG's teardown task runs."""
    emr = spec.emr
    overrides: dict[str, Any] = {
        "Name": f"dbmigrate-{spec.dag_id}",
        "ReleaseLabel": emr.release_label,
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"Name": "primary", "Market": "ON_DEMAND", "InstanceRole": "MASTER",
                 "InstanceType": emr.instance_type, "InstanceCount": 1},
                {"Name": "core", "Market": "ON_DEMAND", "InstanceRole": "CORE",
                 "InstanceType": emr.instance_type, "InstanceCount": emr.core_instance_count},
            ],
            "KeepJobFlowAliveWhenNoSteps": True,
            "TerminationProtected": False,
        },
        "JobFlowRole": emr.job_flow_role,
        "ServiceRole": emr.service_role,
        "Tags": [{"Key": "dbmigrate:dag_id", "Value": spec.dag_id}],
    }
    if emr.log_uri:
        overrides["LogUri"] = emr.log_uri
    return overrides


def sqlserver_to_dynamodb_dag(spec: SqlServerToDynamoDbSpec, profile: str | None = None) -> DAG:
    """The DAG for one relational database → DynamoDB single-table designs migration (Glue on AWS)."""
    from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
    from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerOperator

    from dbmigrate.operators.dynamodb import DynamoDBTableReadyOperator
    from dbmigrate.operators.spark_job import (
        SOURCE_PASSWORD_ENV,
        LocalSparkSubmitOperator,
        StageDynamoDbJobsOperator,
    )
    from dbmigrate.operators.validate_dsql import MigrationReportOperator
    from dbmigrate.operators.validate_dynamodb import (
        ValidateAccessPatternsOperator,
        ValidateDynamoDbCountsOperator,
        ValidateDynamoDbItemsOperator,
    )

    profile = profile or runtime.compute_profile()
    local = profile == "local"
    with _dag(spec, profile, {
        "source_conn_id": Param(spec.source_conn_id, type="string", title="Source connection",
                                description="Airflow connection of any database holding the dms_sample tables."),
        "source_schema": Param(spec.local_source_schema if local else spec.source_schema, type="string",
                               title="Source schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
    }) as dag:
        dry_run = "{{ params.dry_run }}"
        source = {"source_conn_id": "{{ params.source_conn_id }}", "source_schema": "{{ params.source_schema }}"}
        ensure = [DynamoDBTableReadyOperator(task_id=f"ensure_{name}", table=spec.targets[name],
                                             deferrable=not local, waiter_delay=10)
                  for name in spec.jobs]
        stage = StageDynamoDbJobsOperator(task_id="stage_jobs", spec_dag_id=spec.dag_id, dry_run=dry_run, **source)
        if local:
            jobs: list[Any] = [LocalSparkSubmitOperator(
                task_id=f"run_{name}", retries=0, master="local[2]",
                secret_env={SOURCE_PASSWORD_ENV: "{{ params.source_conn_id }}"},
                script=_staged(f"['local']['{name}']['script']", "stage_jobs"),
                py_files=_staged(f"['local']['{name}']['py_files']", "stage_jobs"),
                job_args=_staged(f"['local']['{name}']['job_args']", "stage_jobs")) for name in spec.jobs]
            upstream: Any = stage
        else:
            crawl = GlueCrawlerOperator(task_id="crawl_source", deferrable=True, config={
                "Name": spec.glue.crawler_name, "Role": spec.glue.role, "DatabaseName": spec.glue.catalog_database,
                "Targets": {"JdbcTargets": [{"ConnectionName": spec.glue_connection, "Path": spec.crawler_path}]},
            })
            stage >> crawl
            jobs = [GlueJobOperator(
                task_id=f"glue_{name}", job_name=f"{spec.dag_id}-{name}", deferrable=True, update_config=True,
                script_location=_staged("['staged']['script']", "stage_jobs"), iam_role_arn=spec.glue.role,
                s3_bucket=spec.staging_uri.split("/")[2],
                create_job_kwargs={"GlueVersion": spec.glue.glue_version, "WorkerType": spec.glue.worker_type,
                                   "NumberOfWorkers": spec.glue.number_of_workers,
                                   "Connections": {"Connections": [spec.glue_connection]}},
                script_args=_staged(f"['glue_args']['{name}']", "stage_jobs"), retries=0) for name in spec.jobs]
            upstream = crawl
        common = {"spec_dag_id": spec.dag_id, "dry_run": dry_run, **source}
        counts = ValidateDynamoDbCountsOperator(task_id="validate_counts", **common)
        sample = "{{ params.validation_sample_size }}"
        items = ValidateDynamoDbItemsOperator(task_id="validate_items", trigger_rule=TriggerRule.ALL_DONE,
                                              sample_size=sample, **common)
        patterns = ValidateAccessPatternsOperator(task_id="validate_access_patterns", sample_size=sample,
                                                  trigger_rule=TriggerRule.ALL_DONE, **common)
        report = MigrationReportOperator(task_id="report", spec_dag_id=spec.dag_id, count_task_id="validate_counts",
                                         row_task_id="validate_items", check_task_ids=["validate_access_patterns"],
                                         dry_run=dry_run, retries=0, trigger_rule=TriggerRule.ALL_DONE)
        ensure >> stage
        upstream >> jobs
        jobs >> counts
        chain(counts, items, patterns, report)
    return dag


BUILDERS = {"mongo_to_dsql": mongo_to_dsql_dag, "sqlserver_to_dynamodb": sqlserver_to_dynamodb_dag}


def build_dag(spec: Any, profile: str | None = None) -> DAG:
    return BUILDERS[spec.kind](spec, profile)
