"""Build one Airflow DAG per migration spec. Wiring only: no I/O beyond reading the spec file.

Every run has three task groups. A MongoDB → DSQL migration:

    prepare:  resolve_run → check_source → deploy_ddl → acquire_lock → stage_job
    load:     aws: [create_cluster →] add_step → wait_for_step [→ terminate_cluster] | local: run_spark_job
    validate: validate_counts, validate_rows, validate_reconcile → report (ALL_DONE) → publish (assets)
              report, load tasks [, terminate_cluster] → release_lock (ALL_DONE)

and a SQL Server → DynamoDB migration:

    prepare:  resolve_run → ensure_<table>… → acquire_lock → stage_jobs
    load:     aws: crawl_source → glue_<job>… (parallel, deferrable) | local: run_<job>… (local Spark);
              then import_<job>… (ImportTable creates a new table from the job's items; else nothing to do)
    validate: validate_counts, validate_items, validate_access_patterns, validate_reconcile → report (ALL_DONE)
              → publish
              report, load jobs → release_lock (ALL_DONE)

`resolve_run` resolves the run's inputs once; every later task takes them as XComArgs
(`resolve.output["source_uri"]`). Validators need a finished load: after a failure they are
`upstream_failed`, and the report (which always runs) names the first failed task and its error.

`max_active_runs=1` only limits the runs of one deployment (and not a backfill's runs); two `airflow dags test`
processes, a UI run beside a test run or two deployments would still write the same target at once. So once
the target is ready and before anything is written, `acquire_lock` takes the target's lock
(`dbmigrate.operators.lock`: a row in the DSQL schema, an item per DynamoDB table in a lock table); a manual
run that finds it held fails there at once, naming the holder, a backfill or scheduled run waits for it
deferred. `release_lock` gives it back when the run ends, whatever happened (ALL_DONE, after the report, every
load task and any cluster teardown); it never fails, so the run's outcome and the report's first failure stay
those of the migration. Dry runs write nothing and take no lock.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, Param, TaskGroup, TriggerRule, chain
from dateutil.relativedelta import relativedelta

from dbmigrate import runtime
from dbmigrate.dag_docs import dag_doc_md
from dbmigrate.failures import record_failure
from transforms.spec import MongoToDsqlSpec, SpecError, load_spec
from transforms.spec_dynamodb import SqlToDynamoDbSpec

log = logging.getLogger(__name__)


def _dag(spec: Any, profile: str, params: dict[str, Param]) -> DAG:
    """What every migration DAG shares: the spec's schedule (none: manual runs only; a periodic one makes each
    scheduled or backfill run load its data interval, see `runtime.run_window`), one run at a time, the spec's
    owner, tags and retries, every failure recorded for the report, and native rendering so XComArgs and params
    keep their types."""
    inc = spec.incremental
    field = f"{inc.table}.{inc.field}" if inc.table else inc.field
    window_help = (f"Records whose {field} falls in [window_start, window_end) are loaded; empty: every "
                   "record (a scheduled or backfill run loads its data interval instead). ISO 8601, UTC unless "
                   "an offset is given.")
    return DAG(
        dag_id=spec.dag_id,
        description=" ".join(spec.description.split()) or None,  # whole: a folded YAML block is one sentence
        doc_md=dag_doc_md(spec, profile),
        schedule=timetable(inc.schedule),
        start_date=inc.start_date,
        catchup=False,  # backfills are asked for (UI or `airflow backfill create`), never implied
        max_active_runs=1,  # this deployment's runs one at a time; the target lock covers the rest
        tags=[*spec.tags, f"profile:{profile}"],
        default_args={"owner": spec.owner, "retries": spec.retries, "retry_delay": timedelta(minutes=2),
                      "on_failure_callback": record_failure},
        render_template_as_native_obj=True,
        params={
            **params,
            "validation_sample_size": Param(
                spec.sample_size, type="integer", minimum=0, maximum=100_000, title="Validation sample size",
                description="Source records compared field by field with the target (the same records on "
                            "every run); 0 compares none. Counts are always reconciled in full."),
            "dry_run": Param(False, type="boolean", title="Dry run",
                             description="Check the source, lint the DDL, classify and quarantine, build the "
                                         "report; write nothing to the target."),
            "window_start": Param(None, type=["null", "string"], title="Window start", description=window_help),
            "window_end": Param(None, type=["null", "string"], title="Window end", description=window_help),
        },
    )


# A preset's data interval: the period before each run (a daily run at midnight loads the day before).
PRESET_INTERVALS: dict[str, tuple[str, Any]] = {
    "@hourly": ("0 * * * *", timedelta(hours=1)), "@daily": ("0 0 * * *", timedelta(days=1)),
    "@weekly": ("0 0 * * 0", timedelta(days=7)), "@monthly": ("0 0 1 * *", relativedelta(months=1)),
    "@quarterly": ("0 0 1 */3 *", relativedelta(months=3)), "@yearly": ("0 0 1 1 *", relativedelta(years=1)),
}


def timetable(schedule: str | None) -> Any:
    """The spec's schedule as a timetable with real data intervals, in UTC. A preset triggers at the end of each
    period with that period as its data interval, and unpausing the DAG never starts a load by itself: the next
    run is the end of the current period (`dbmigrate.timetables.NextPeriodTimetable`). Any other cron: each
    run's interval reaches back to the cron's previous time, and unpausing waits for the current one to end
    (`dbmigrate.timetables.NextPeriodCronTimetable`)."""
    if schedule is None:
        return None
    from dbmigrate.timetables import NextPeriodCronTimetable, NextPeriodTimetable

    if schedule in PRESET_INTERVALS:
        cron, interval = PRESET_INTERVALS[schedule]
        return NextPeriodTimetable(cron, timezone="UTC", interval=interval, run_immediately=False)
    return NextPeriodCronTimetable(schedule, timezone="UTC")


def _report_and_publish(spec: Any, resolve: Any, counts: Any, sample: Any, checks: list[Any],
                        assets: dict[str, tuple[Asset, list[str]]]) -> tuple[Any, Any]:
    from dbmigrate.operators.report import MigrationReportOperator, PublishAssetsOperator

    report = MigrationReportOperator(task_id="report", spec_dag_id=spec.dag_id, resolve_task_id=resolve.task_id,
                                     count_task_id=counts.task_id, sample_task_id=sample.task_id,
                                     check_task_ids=[c.task_id for c in checks])
    publish = PublishAssetsOperator(task_id="publish", run=resolve.output, report=report.output,
                                    tables={name: entities for name, (_, entities) in assets.items()},
                                    outlets=[asset for asset, _ in assets.values()])
    [counts, sample, *checks] >> report >> publish
    return report, publish


def mongo_to_dsql_dag(spec: MongoToDsqlSpec, profile: str | None = None) -> DAG:
    """The DAG for one MongoDB adjacency-list collection → Aurora DSQL migration."""
    from airflow.providers.amazon.aws.operators.emr import (
        EmrAddStepsOperator,
        EmrCreateJobFlowOperator,
        EmrTerminateJobFlowOperator,
    )

    from dbmigrate.operators.conserve_dsql import ValidateMongoToDsqlValuesOperator
    from dbmigrate.operators.dsql import DsqlDeployDdlOperator
    from dbmigrate.operators.lock import AcquireDsqlLockOperator, ReleaseDsqlLockOperator
    from dbmigrate.operators.reconcile_dsql import ValidateMongoToDsqlReconcileOperator
    from dbmigrate.operators.run_inputs import ResolveRunOperator
    from dbmigrate.operators.source import CheckMongoSourceOperator
    from dbmigrate.operators.spark_job import LocalSparkSubmitOperator, StageMongoToDsqlJobOperator
    from dbmigrate.operators.validate_dsql import ValidateMongoToDsqlCountsOperator, ValidateMongoToDsqlRowsOperator
    from dbmigrate.sensors.emr import LoggedEmrStepSensor

    profile = profile or runtime.compute_profile()
    source_help = ("file:///…/export.json or s3://…/export.json (a mongoexport file) or mongodb://…"
                   if profile == "local" else "s3://…/export.json (a mongoexport file) or mongodb+srv://…")
    with _dag(spec, profile, {
        "source_uri": Param(None, type=["null", "string"], title="Source URI",
                            description=f"Empty: the spec's source for this profile. Or {source_help}."),
        "reconcile_scope": Param("source", type="string", enum=["table", "source"], title="Reconciliation scope",
                                 description="source (default): every row of this source's keys is compared; target "
                                             "rows of other loads (a shared target, backfills) are counted in a note. "
                                             "table: the target tables must hold exactly this source's rows (a full "
                                             "load; other rows fail as extra)."),
    }) as dag:
        with TaskGroup("prepare", tooltip="Resolve the run, check the source, deploy the DDL, lock the target, "
                                          "stage the job"):
            resolve = ResolveRunOperator(task_id="resolve_run", spec_dag_id=spec.dag_id)
            run = resolve.output
            check = CheckMongoSourceOperator(task_id="check_source", spec_dag_id=spec.dag_id,
                                             source_uri=run["source_uri"], spec_uri=run["spec_uri"],
                                             profile=run["profile"])
            ddl = DsqlDeployDdlOperator(task_id="deploy_ddl", dsql_conn_id=spec.target_conn_id,
                                        sql_dir=run["ddl_dir"], lint_only=run["dry_run"],
                                        deferrable=profile != "local")
            lock_args = {"schema": run["target_schema"], "dry_run": run["dry_run"],
                         "dsql_conn_id": spec.target_conn_id}
            lock = AcquireDsqlLockOperator(task_id="acquire_lock", **lock_args)
            stage = StageMongoToDsqlJobOperator(task_id="stage_job", spec_dag_id=spec.dag_id, run=run,
                                                dsql_conn_id=spec.target_conn_id)
            chain(resolve, check, ddl, lock, stage)
        with TaskGroup("load", tooltip="Run the Spark job: an EMR step on AWS, spark-submit locally"):
            if profile == "local":
                load: list[Any] = [LocalSparkSubmitOperator(
                    task_id="run_spark_job", job=stage.output["local_job"], retries=0)]
                teardown = None
            else:
                transient = spec.emr.cluster_id is None
                create = EmrCreateJobFlowOperator(task_id="create_cluster", job_flow_overrides=_cluster(spec)) \
                    if transient else None
                job_flow_id = create.output if create else spec.emr.cluster_id
                add = EmrAddStepsOperator(task_id="add_step", job_flow_id=job_flow_id,
                                          steps=stage.output["emr_steps"], retries=0)
                wait = LoggedEmrStepSensor(task_id="wait_for_step", job_flow_id=job_flow_id,
                                           step_id="{{ ti.xcom_pull(task_ids='" + add.task_id + "')[0] }}",
                                           deferrable=True, poke_interval=60, max_attempts=240)
                load = [x for x in (create, add, wait) if x is not None]
                teardown = EmrTerminateJobFlowOperator(task_id="terminate_cluster", job_flow_id=job_flow_id,
                                                       trigger_rule=TriggerRule.ALL_DONE) if transient else None
            chain(stage, *load)
            if teardown is not None:
                load[-1] >> teardown
        with TaskGroup("validate", tooltip="Reconcile counts and rows, report, publish the tables as assets"):
            common = {"spec_dag_id": spec.dag_id, "run": run, "dsql_conn_id": spec.target_conn_id}
            counts = ValidateMongoToDsqlCountsOperator(task_id="validate_counts", **common)
            rows = ValidateMongoToDsqlRowsOperator(task_id="validate_rows", **common)
            full = ValidateMongoToDsqlReconcileOperator(task_id="validate_reconcile",
                                                        scope="{{ params.reconcile_scope }}", **common)
            values = ValidateMongoToDsqlValuesOperator(task_id="validate_values", **common)
            load[-1] >> [counts, rows, full, values]
            assets = {f"{spec.target_schema}.{t.table}": (
                Asset(name=f"{spec.target_schema}.{t.table}", group="dsql",
                      uri=f"dsql://{spec.target_conn_id}/{spec.target_schema}/{t.table}"), [t.name])
                for t in (*spec.entities, *spec.children)}
            report, _ = _report_and_publish(spec, resolve, counts, rows, [full, values], assets)
            # after every task that can still write: the report may run while a failed load's step is running
            release = ReleaseDsqlLockOperator(task_id="release_lock", **lock_args)
            [report, *load, *([teardown] if teardown is not None else [])] >> release
    report.watched_task_ids = [t.task_id for t in dag.tasks]
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


def sql_to_dynamodb_dag(spec: SqlToDynamoDbSpec, profile: str | None = None) -> DAG:
    """The DAG for one relational database → DynamoDB single-table designs migration (Glue on AWS)."""
    from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
    from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerOperator

    from dbmigrate.operators.dynamodb import DynamoDBImportOperator, DynamoDBTableReadyOperator
    from dbmigrate.operators.lock import AcquireDynamoDbLockOperator, ReleaseDynamoDbLockOperator
    from dbmigrate.operators.reconcile_dynamodb import ValidateDesignReconcileOperator
    from dbmigrate.operators.run_inputs import ResolveRunOperator
    from dbmigrate.operators.spark_job import LocalSparkSubmitOperator, StageDynamoDbJobsOperator
    from dbmigrate.operators.validate_design import (
        ValidateDesignAccessPatternsOperator,
        ValidateDesignCountsOperator,
        ValidateDesignItemsOperator,
    )

    profile = profile or runtime.compute_profile()
    local = profile == "local"
    reads = "the jobs (through the Glue crawler and catalog) and the validators" if not local else \
        "the local Spark jobs and the validators"
    with _dag(spec, profile, {
        "source_conn_id": Param(spec.source_conn_id, type="string", title="Source connection",
                                description=f"Airflow connection of the source database; its database is what "
                                            f"{reads} read."),
        "source_schema": Param(runtime.default_source_schema(spec, profile), type="string",
                               title="Source schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                               description="Schema of the source tables" + (
                                   "" if local else "; it also sets the crawler path and catalog table prefix")
                                           + "."),
    }) as dag:
        with TaskGroup("prepare", tooltip="Resolve the run, make the tables ready, lock them, stage the jobs"):
            resolve = ResolveRunOperator(task_id="resolve_run", spec_dag_id=spec.dag_id)
            run = resolve.output
            ensure = [DynamoDBTableReadyOperator(task_id=f"ensure_{name}", table=spec.targets[name],
                                                 leave_new=spec.first_load == "import", deferrable=not local,
                                                 waiter_delay=10)
                      for name in spec.jobs]
            lock_args = {"table_names": run["tables"], "dry_run": run["dry_run"]}
            lock = AcquireDynamoDbLockOperator(task_id="acquire_lock", **lock_args)
            stage = StageDynamoDbJobsOperator(task_id="stage_jobs", spec_dag_id=spec.dag_id, run=run)
            resolve >> ensure >> lock >> stage
        with TaskGroup("load", tooltip="Glue crawler and Glue jobs on AWS, local Spark jobs locally"):
            if local:
                jobs: list[Any] = [LocalSparkSubmitOperator(
                    task_id=f"run_{name}", job=stage.output[f"local_job_{name}"], retries=0, master="local[2]")
                    for name in spec.jobs]
                stage >> jobs
            else:
                crawl = GlueCrawlerOperator(task_id="crawl_source", deferrable=True, config={
                    "Name": spec.glue.crawler_name, "Role": spec.glue.role,
                    "DatabaseName": run["catalog_database"],
                    "Targets": {"JdbcTargets": [{"ConnectionName": spec.glue_connection,
                                                 "Path": run["crawler_path"]}]},
                })
                jobs = [GlueJobOperator(
                    task_id=f"glue_{name}", job_name=f"{spec.dag_id}-{name}", deferrable=True, update_config=True,
                    script_location=stage.output["script_uri"], iam_role_arn=spec.glue.role,
                    s3_bucket=spec.staging_uri.split("/")[2],
                    create_job_kwargs={"GlueVersion": spec.glue.glue_version, "WorkerType": spec.glue.worker_type,
                                       "NumberOfWorkers": spec.glue.number_of_workers,
                                       "Connections": {"Connections": [spec.glue_connection]}},
                    script_args=stage.output[f"glue_args_{name}"], retries=0) for name in spec.jobs]
                stage >> crawl >> jobs
            # a first load into a new table: ImportTable creates it from the items the job put on S3
            imports = [DynamoDBImportOperator(task_id=f"import_{name}", table=spec.targets[name],
                                              item_set=name, job_report_uris=run["job_report_uris"],
                                              deferrable=not local, waiter_delay=2 if local else 30, retries=0)
                       for name in spec.jobs]
            for job, imp in zip(jobs, imports, strict=True):
                job >> imp
        with TaskGroup("validate", tooltip="Counts, sampled items, access patterns, every item, report, publish"):
            common = {"spec_dag_id": spec.dag_id, "source_conn_id": run["source_conn_id"],
                      "source_schema": run["source_schema"], "table_names": run["tables"], "dry_run": run["dry_run"],
                      "window": run["window"], "spec_uri": run["spec_uri"]}
            counts = ValidateDesignCountsOperator(task_id="validate_counts", job_report_uris=run["job_report_uris"],
                                                  **common)
            items = ValidateDesignItemsOperator(task_id="validate_items", sample_size=run["sample_size"], **common)
            checks = [ValidateDesignAccessPatternsOperator(task_id="validate_access_patterns", **common),
                      ValidateDesignReconcileOperator(task_id="validate_reconcile", **common)]
            imports >> counts
            imports >> items
            for check in checks:
                imports >> check
            assets = {f"dynamodb.{t['name']}": (
                Asset(name=f"dynamodb.{t['name']}", group="dynamodb", uri=f"dynamodb://aws_default/{t['name']}"),
                [job]) for job, t in spec.targets.items()}
            report, _ = _report_and_publish(spec, resolve, counts, items, checks, assets)
            # after every job too: the report runs as soon as one job failed, while the others may still write
            [report, *jobs, *imports] >> ReleaseDynamoDbLockOperator(task_id="release_lock", **lock_args)
    report.watched_task_ids = [t.task_id for t in dag.tasks]
    return dag


BUILDERS = {"mongo_to_dsql": mongo_to_dsql_dag, "sql_to_dynamodb": sql_to_dynamodb_dag}


def build_dag(spec: Any, profile: str | None = None) -> DAG:
    return BUILDERS[spec.kind](spec, profile)


def build_dags(spec_dir: Path, profile: str | None = None) -> dict[str, DAG]:
    """One DAG per spec file of `spec_dir`, each loaded on its own: a spec that cannot be used becomes a DAG of
    the file's name that fails at once with the spec's error (naming file and field), and every other DAG loads."""
    dags: dict[str, DAG] = {}
    for path in sorted(spec_dir.glob("*.yaml")):
        try:
            spec = load_spec(path)
        except (OSError, SpecError) as err:
            log.error("migration spec %s cannot be used: %s", path, err)
            dags[path.stem] = broken_spec_dag(path.stem, str(err))
            continue
        dags[spec.dag_id] = build_dag(spec, profile)
    return dags


def _fail_with(message: str) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)


def broken_spec_dag(name: str, error: str) -> DAG:
    """A DAG standing for a spec that does not load: visible in the UI with the error, failing at once if run."""
    from airflow.providers.standard.operators.python import PythonOperator

    dag_id = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "unnamed_spec"
    with DAG(dag_id=dag_id, schedule=None, catchup=False, tags=["broken-spec"],
             description=f"broken migration spec: {error.splitlines()[0][:200]}",
             doc_md=f"### This migration's spec does not load\n\n```\n{error}\n```\n\nFix the spec file; "
                    "the DAG comes back as soon as it loads.",
             default_args={"owner": "dbmigrate", "retries": 0}) as dag:
        PythonOperator(task_id="spec_error", python_callable=_fail_with, op_args=[error])
    return dag
