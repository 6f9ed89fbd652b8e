"""The baseline of the DAG-parse figure: the two migration DAGs written by hand, as a team without the factory
would, with the same Amazon provider operators, the same 15 tasks each and the same groups and edges. The
project's own operators are stood in for by PythonOperators (a hand-written DAG has no such classes). Never run:
`make bench` only parses it (`bench/dag_parse.py`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.amazon.aws.operators.emr import (
    EmrAddStepsOperator,
    EmrCreateJobFlowOperator,
    EmrTerminateJobFlowOperator,
)
from airflow.providers.amazon.aws.operators.glue import GlueJobOperator
from airflow.providers.amazon.aws.operators.glue_crawler import GlueCrawlerOperator
from airflow.providers.amazon.aws.sensors.emr import EmrStepSensor
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, CronTriggerTimetable, Param, TaskGroup, cross_downstream


def _todo(**_: object) -> None:
    raise NotImplementedError("parsed by make bench, never run")


def task(task_id: str) -> PythonOperator:
    return PythonOperator(task_id=task_id, python_callable=_todo)


with DAG("movie_collection_to_dsql_by_hand", start_date=datetime(2024, 1, 1), catchup=False,
         schedule=CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1)),
         params={"source_uri": Param("", type="string"), "validation_sample_size": Param(200, type="integer"),
                 "dry_run": Param(False, type="boolean"), "window_start": Param(None, type=["null", "string"]),
                 "window_end": Param(None, type=["null", "string"])}, tags=["bench"]):
    with TaskGroup("prepare"):
        resolve, check, ddl, lock, stage = (task(t) for t in ("resolve_run", "check_source", "deploy_ddl",
                                                              "acquire_lock", "stage_job"))
        resolve >> check >> ddl >> lock >> stage
    with TaskGroup("load"):
        create = EmrCreateJobFlowOperator(task_id="create_cluster", job_flow_overrides={"Name": "dbmigrate"})
        add = EmrAddStepsOperator(task_id="add_step", job_flow_id=create.output, steps=[], deferrable=True)
        wait = EmrStepSensor(task_id="wait_for_step", job_flow_id=create.output,
                             step_id="{{ ti.xcom_pull('load.add_step')[0] }}", deferrable=True)
        terminate = EmrTerminateJobFlowOperator(task_id="terminate_cluster", job_flow_id=create.output,
                                                trigger_rule="all_done")
        stage >> create >> add >> wait >> terminate
    with TaskGroup("validate"):
        checks = [task(t) for t in ("validate_counts", "validate_rows", "validate_reconcile", "validate_values")]
        report, publish, release = task("report"), task("publish"), task("release_lock")
        wait >> checks >> report >> [publish, release]
        [create, add, wait, terminate] >> release

with DAG("dms_sample_to_dynamodb_by_hand", schedule=None, start_date=datetime(2024, 1, 1), catchup=False,
         params={"validation_sample_size": Param(200, type="integer"), "dry_run": Param(False, type="boolean")},
         tags=["bench"]):
    with TaskGroup("prepare"):
        resolve = task("resolve_run")
        ensure = [task("ensure_ticket_sales"), task("ensure_config")]
        lock, stage = task("acquire_lock"), task("stage_jobs")
        resolve >> ensure >> lock >> stage
    with TaskGroup("load"):
        crawl = GlueCrawlerOperator(task_id="crawl_source", config={"Name": "dbmigrate"}, deferrable=True)
        jobs = [GlueJobOperator(task_id=f"glue_{n}", job_name=f"dbmigrate-{n}", deferrable=True)
                for n in ("ticket_sales", "config")]
        stage >> crawl >> jobs
        imports = [task(f"import_{n}") for n in ("ticket_sales", "config")]
        for job, imp in zip(jobs, imports, strict=True):
            job >> imp
    with TaskGroup("validate"):
        checks = [task(t) for t in ("validate_counts", "validate_items", "validate_access_patterns",
                                    "validate_reconcile")]
        report, publish, release = task("report"), task("publish"), task("release_lock")
        cross_downstream(imports, checks)
        checks >> report >> [publish, release]
        [*jobs, *imports] >> release
