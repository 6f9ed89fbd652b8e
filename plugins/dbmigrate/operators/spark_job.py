"""Stage a Spark job's files and run it: on EMR through the provider's operators, locally with spark-submit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from dbmigrate import runtime
from dbmigrate.hooks.dsql import DsqlHook
from dbmigrate.job_bundle import build_bundle, emr_step, spark_submit_args
from dbmigrate.paths import job_script

TARGET_PASSWORD_ENV = "DBMIGRATE_TARGET_PASSWORD"
SOURCE_PASSWORD_ENV = "DBMIGRATE_SOURCE_PASSWORD"


def _as_bool(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def stage_job_files(spec: Any, run_id: str, script: str, aws_conn_id: str | None, log: Any
                    ) -> tuple[dict[str, Path], dict[str, str]]:
    """Build the bundle and upload it, the job script and the spec under `<staging_uri>/runs/<run_id>/job/`.

    Returns the local files and their S3 URIs, keyed `py_files`, `script`, `spec`.
    """
    local_dir = Path(tempfile.mkdtemp(prefix="dbmigrate-stage-"))
    files = {"py_files": build_bundle(local_dir), "script": job_script(script), "spec": spec.path}
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    staged = {}
    for name, path in files.items():
        uri = f"{spec.staging_uri}/runs/{run_id}/job/{path.name}"
        bucket, key = S3Hook.parse_s3_url(uri)
        s3.load_file(str(path), key=key, bucket_name=bucket, replace=True)
        staged[name] = uri
        log.info("Staged %s at %s", path.name, uri)
    return files, staged


class StageMongoToDsqlJobOperator(BaseOperator):
    """Upload the job script, its `--py-files` bundle and the spec to S3, and build the run's step.

    Returns a dict with the staged URIs, `job_args` (the job's own arguments), `emr_steps` (what
    `EmrAddStepsOperator` submits) and `local` (the same files on local disk, for the local profile).
    The DSQL target travels as JSON without a password: executors mint IAM tokens themselves.

    :param spec_dag_id: the spec (by dag_id) this run migrates (templated)
    :param source_uri: source override; empty means the spec's source for the profile (templated)
    :param dsql_conn_id: Airflow connection of the DSQL cluster
    :param aws_conn_id: AWS connection for S3
    :param dry_run: the job classifies and reports but writes nothing to the target (templated)
    """

    template_fields: Sequence[str] = ("spec_dag_id", "source_uri", "dry_run")

    def __init__(self, *, spec_dag_id: str, source_uri: str = "", dsql_conn_id: str = "dsql_default",
                 aws_conn_id: str | None = "aws_default", dry_run: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.source_uri = source_uri
        self.dry_run = dry_run
        self.dsql_conn_id = dsql_conn_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        spec = runtime.spec_for(self.spec_dag_id)
        run_id = context["run_id"]
        prefix = runtime.run_prefix(spec, run_id)
        source = self.source_uri or runtime.source_uri(spec, context["params"])
        target = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id).get_target()
        files, staged = stage_job_files(spec, run_id, "mongo_to_dsql", self.aws_conn_id, self.log)

        def job_args(spec_uri: str) -> list[str]:
            args = ["--spec", spec_uri, "--source-uri", source, "--target-json", json.dumps(target.to_dict()),
                    "--run-id", run_id, "--report-uri", f"{prefix}/job_report.json",
                    "--quarantine-uri", runtime.quarantine_uri(spec, run_id)]
            if not target.is_dsql:
                args += ["--target-password-env", TARGET_PASSWORD_ENV]
            if _as_bool(self.dry_run):
                args.append("--dry-run")
            return args

        submit = spark_submit_args(script=staged["script"], py_files=staged["py_files"],
                                   job_args=job_args(staged["spec"]), packages=spec.emr.packages)
        return {
            "staged": staged,
            "source_uri": source,
            "job_report_uri": f"{prefix}/job_report.json",
            "quarantine_uri": runtime.quarantine_uri(spec, run_id),
            "emr_steps": [emr_step(f"{spec.dag_id} {run_id}", submit)],
            "local": {"script": str(files["script"]), "py_files": str(files["py_files"]),
                      "job_args": job_args(str(files["spec"]))},
        }


class StageDynamoDbJobsOperator(BaseOperator):
    """Upload the job script, bundle and spec to S3 and build each job's arguments, for Glue and for local Spark.

    Returns `staged` URIs, `job_reports` (item set → report URI), `glue_args` (item set → Glue job
    arguments: the crawled catalog tables) and `local` (item set → spark-submit job arguments reading
    the embedded source database through `source_conn_id`, its password passed as an env variable).

    :param spec_dag_id: the spec (by dag_id) this run migrates (templated)
    :param source_conn_id: Airflow connection of the source database (templated)
    :param source_schema: schema holding the source tables (templated)
    :param dry_run: jobs build and count items but write nothing (templated)
    :param aws_conn_id: AWS connection for S3
    """

    template_fields: Sequence[str] = ("spec_dag_id", "source_conn_id", "source_schema", "dry_run")

    def __init__(self, *, spec_dag_id: str, source_conn_id: str, source_schema: str, dry_run: Any = False,
                 aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.source_conn_id = source_conn_id
        self.source_schema = source_schema
        self.dry_run = dry_run
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk import BaseHook

        spec = runtime.spec_for(self.spec_dag_id)
        run_id = context["run_id"]
        prefix = runtime.run_prefix(spec, run_id)
        files, staged = stage_job_files(spec, run_id, "sqlserver_to_dynamodb", self.aws_conn_id, self.log)
        conn = BaseHook.get_connection(self.source_conn_id)
        source = {"host": conn.host, "port": conn.port or 5432, "user": conn.login, "dbname": conn.schema}
        out: dict[str, Any] = {"staged": staged, "job_reports": {}, "glue_args": {}, "local": {}}
        for item_set in spec.jobs:
            report = f"{prefix}/job_report_{item_set}.json"
            common = {"--item-set": item_set, "--run-id": run_id, "--report-uri": report,
                      "--write-units-per-s": str(spec.write_units_per_s),
                      "--capacity-share": str(spec.capacity_share), "--partitions": str(spec.partitions)}
            if _as_bool(self.dry_run):
                common["--dry-run"] = "true"
            out["job_reports"][item_set] = report
            out["glue_args"][item_set] = {
                **common, "--spec": staged["spec"], "--extra-py-files": staged["py_files"],
                "--catalog-database": spec.glue.catalog_database,
                "--catalog-table-prefix": f"{spec.glue.catalog_table_prefix}",
            }
            # Locally only as many writers as cores run at once; the capacity share is split among them.
            local = {**common, "--partitions": str(min(spec.partitions, os.cpu_count() or 2)),
                     "--spec": str(files["spec"]), "--source-json": json.dumps(source),
                     "--source-schema": self.source_schema, "--source-password-env": SOURCE_PASSWORD_ENV}
            args = [x for k, v in local.items() for x in ((k,) if k == "--dry-run" else (k, v))]
            out["local"][item_set] = {"script": str(files["script"]), "py_files": str(files["py_files"]),
                                      "job_args": args}
        return out


class LocalSparkSubmitOperator(BaseOperator):
    """Run a Spark job with the local `spark-submit` (pyspark's), as the EMR step or Glue job would run it.

    The local compute profile uses this instead of the EMR and Glue operators. Passwords of the embedded
    databases reach the job through environment variables (`secret_env`: variable → Airflow connection),
    never its arguments.

    :param script: the job script (templated)
    :param py_files: the `--py-files` bundle (templated)
    :param job_args: the job's own arguments (templated)
    :param secret_env: env variable → connection id whose password it carries (templated)
    :param master: Spark master, `local[*]` by default
    """

    template_fields: Sequence[str] = ("script", "py_files", "job_args", "secret_env")

    def __init__(self, *, script: str, py_files: str, job_args: Sequence[str] | str,
                 secret_env: dict[str, str] | None = None, master: str = "local[*]", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.py_files = py_files
        self.job_args = job_args
        self.secret_env = secret_env or {}
        self.master = master

    def execute(self, context: Any) -> None:
        from airflow.sdk import BaseHook

        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        for var, conn_id in self.secret_env.items():
            password = BaseHook.get_connection(conn_id).password
            if password:
                env[var] = password
        submit = Path(sys.executable).parent / "spark-submit"
        cmd = [str(submit), *spark_submit_args(
            script=self.script, py_files=self.py_files, job_args=list(self.job_args), master=self.master,
            conf={"spark.ui.enabled": "false", "spark.sql.session.timeZone": "UTC",
                  "spark.sql.shuffle.partitions": "8", "spark.driver.memory": "2g"})]
        self.log.info("Running %s", " ".join(cmd[:8]) + " ...")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            if " WARN " in line or " INFO " in line:
                continue
            self.log.info("spark: %s", line.rstrip())
            tail = [*tail[-40:], line]
        if proc.wait() != 0:
            raise AirflowException(f"spark-submit exited with {proc.returncode}:\n{''.join(tail)}")
