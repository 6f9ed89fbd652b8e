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
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from dbmigrate import runtime
from dbmigrate.hooks.dsql import DsqlHook
from dbmigrate.job_bundle import build_bundle, emr_step, spark_submit_args
from dbmigrate.local_sources import mongo_packages, sqlserver_source_args
from dbmigrate.paths import job_script

TARGET_PASSWORD_ENV = "DBMIGRATE_TARGET_PASSWORD"
SOURCE_PASSWORD_ENV = "DBMIGRATE_SOURCE_PASSWORD"


def stage_job_files(spec: Any, staging_prefix: str, script: str, aws_conn_id: str | None, log: Any
                    ) -> tuple[dict[str, Path], dict[str, str]]:
    """Build the bundle and upload it, the job script and the spec under `staging_prefix` (S3).

    Returns the local files and their S3 URIs, keyed `py_files`, `script`, `spec`.
    """
    local_dir = Path(tempfile.mkdtemp(prefix="dbmigrate-stage-"))
    files = {"py_files": build_bundle(local_dir), "script": job_script(script), "spec": spec.path}
    s3 = S3Hook(aws_conn_id=aws_conn_id)
    staged = {}
    for name, path in files.items():
        uri = f"{staging_prefix}/{path.name}"
        bucket, key = S3Hook.parse_s3_url(uri)
        s3.load_file(str(path), key=key, bucket_name=bucket, replace=True)
        staged[name] = uri
        log.info("Staged %s at %s", path.name, uri)
    return files, staged


class StageMongoToDsqlJobOperator(BaseOperator):
    """Upload the job script, its `--py-files` bundle and the spec to S3, and build the run's step.

    Returns (and, with `multiple_outputs`, pushes key by key) the staged URIs, `emr_steps` (what
    `EmrAddStepsOperator` submits) and `local_job` (the same files on local disk with the job's arguments,
    what `LocalSparkSubmitOperator` runs). The DSQL target travels as JSON without a password: executors
    mint IAM tokens themselves.

    :param spec_dag_id: the spec (by dag_id) this run migrates (templated)
    :param run: the run's inputs, as the first task resolved them (templated)
    :param dsql_conn_id: Airflow connection of the DSQL cluster
    :param aws_conn_id: AWS connection for S3
    """

    template_fields: Sequence[str] = ("spec_dag_id", "run")

    def __init__(self, *, spec_dag_id: str, run: Any, dsql_conn_id: str = "dsql_default",
                 aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.run = run
        self.dsql_conn_id = dsql_conn_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        spec = runtime.spec_for(self.spec_dag_id)
        run = self.run
        target = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id).get_target()
        files, staged = stage_job_files(spec, run["staging_prefix"], "mongo_to_dsql", self.aws_conn_id, self.log)

        def job_args(spec_uri: str) -> list[str]:
            args = ["--spec", spec_uri, "--source-uri", run["source_uri"],
                    "--target-json", json.dumps(target.to_dict()), "--run-id", run["run_id"],
                    "--report-uri", run["job_report_uri"], "--quarantine-uri", run["quarantine_uri"]]
            if not target.is_dsql:
                args += ["--target-password-env", TARGET_PASSWORD_ENV]
            if run["dry_run"]:
                args.append("--dry-run")
            return args

        submit = spark_submit_args(script=staged["script"], py_files=staged["py_files"],
                                   job_args=job_args(staged["spec"]), packages=spec.emr.packages)
        return {
            "staged": staged,
            "emr_steps": [emr_step(f"{spec.dag_id} {run['run_id']}", submit)],
            "local_job": {"script": str(files["script"]), "py_files": str(files["py_files"]),
                          "job_args": job_args(str(files["spec"])), "packages": mongo_packages(run["source_uri"])},
        }


class StageDynamoDbJobsOperator(BaseOperator):
    """Upload the job script, bundle and spec to S3 and build each job's arguments, for Glue and for local Spark.

    Returns (and, with `multiple_outputs`, pushes key by key) `staged` URIs, `glue_args_<item set>` (Glue job
    arguments: the crawled catalog tables of the run's source database and schema) and `local_job_<item set>`
    (what `LocalSparkSubmitOperator` runs: the job reading the source through the run's `source_conn_id`, its
    password passed as an env variable). Only the local profile reads the source connection: Glue reads
    through its catalog connection.

    :param spec_dag_id: the spec (by dag_id) this run migrates (templated)
    :param run: the run's inputs, as the first task resolved them (templated)
    :param aws_conn_id: AWS connection for S3
    """

    template_fields: Sequence[str] = ("spec_dag_id", "run")

    def __init__(self, *, spec_dag_id: str, run: Any, aws_conn_id: str | None = "aws_default",
                 **kwargs: Any) -> None:
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.run = run
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        spec = runtime.spec_for(self.spec_dag_id)
        run = self.run
        local = run["profile"] == "local"
        files, staged = stage_job_files(spec, run["staging_prefix"], "sqlserver_to_dynamodb", self.aws_conn_id,
                                        self.log)
        out: dict[str, Any] = {"staged": staged, "script_uri": staged["script"]}
        source = _local_source(run["source_conn_id"]) if local else None
        for item_set in spec.jobs:
            common = {"--item-set": item_set, "--run-id": run["run_id"], "--table": run["tables"][item_set],
                      "--report-uri": run["job_report_uris"][item_set],
                      "--write-units-per-s": str(spec.write_units_per_s),
                      "--capacity-share": str(spec.capacity_share), "--partitions": str(spec.partitions)}
            if run["dry_run"]:
                common["--dry-run"] = "true"
            if source is None:
                out[f"glue_args_{item_set}"] = {
                    **common, "--spec": staged["spec"], "--extra-py-files": staged["py_files"],
                    "--catalog-database": run["catalog_database"],
                    "--catalog-table-prefix": run["catalog_table_prefix"],
                }
                continue
            # Locally only as many writers as cores run at once; the capacity share is split among them.
            args_ = {**common, "--partitions": str(min(spec.partitions, os.cpu_count() or 2)),
                     "--spec": str(files["spec"]), "--source-json": json.dumps(source["json"]),
                     "--source-schema": run["source_schema"], "--source-password-env": SOURCE_PASSWORD_ENV}
            args = [x for k, v in args_.items() for x in ((k,) if k == "--dry-run" else (k, v))]
            out[f"local_job_{item_set}"] = {"script": str(files["script"]), "py_files": str(files["py_files"]),
                                            "job_args": args, "packages": source["packages"]}
        return out


def _local_source(conn_id: str) -> dict[str, Any]:
    """What a local job needs to read the source connection: its JSON (no password) and Spark packages."""
    from airflow.sdk import BaseHook

    try:
        source_json, packages = sqlserver_source_args(BaseHook.get_connection(conn_id))
    except ValueError as err:
        raise AirflowFailException(str(err)) from err
    return {"json": source_json, "packages": packages}


class LocalSparkSubmitOperator(BaseOperator):
    """Run a Spark job with the local `spark-submit` (pyspark's), as the EMR step or Glue job would run it.

    The local compute profile uses this instead of the EMR and Glue operators. Passwords of the embedded
    databases reach the job through environment variables (`secret_env`: variable → Airflow connection),
    never its arguments; the job sees only an allow-listed part of the worker's environment. Its output is
    streamed into the task log as it comes, progress lines included.

    :param job: what the staging task built: `script`, `py_files`, `job_args` and `packages` (templated)
    :param secret_env: env variable → connection id whose password it carries (templated)
    :param master: Spark master, `local[*]` by default
    """

    template_fields: Sequence[str] = ("job", "secret_env")

    def __init__(self, *, job: Any, secret_env: dict[str, str] | None = None, master: str = "local[*]",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.secret_env = secret_env or {}
        self.master = master

    def execute(self, context: Any) -> None:
        from airflow.sdk import BaseHook

        env = {**job_environment(os.environ), "PYSPARK_PYTHON": sys.executable,
               "PYSPARK_DRIVER_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}
        for var, conn_id in self.secret_env.items():
            password = BaseHook.get_connection(conn_id).password
            if password:
                env[var] = password
        submit = Path(sys.executable).parent / "spark-submit"
        cmd = [str(submit), *spark_submit_args(
            script=self.job["script"], py_files=self.job["py_files"], job_args=list(self.job["job_args"]),
            master=self.master, packages=list(self.job.get("packages") or []),
            conf={"spark.ui.enabled": "false", "spark.sql.session.timeZone": "UTC",
                  "spark.sql.shuffle.partitions": "8", "spark.driver.memory": "2g"})]
        self.log.info("spark-submit %s with --py-files %s (master %s)", self.job["script"], self.job["py_files"],
                      self.master)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:  # streamed as the job prints it: progress lines reach the task log live
            if " WARN " in line or " INFO " in line:
                continue
            self.log.info("spark: %s", line.rstrip())
            tail = [*tail[-40:], line]
        if proc.wait() != 0:
            raise AirflowException(f"spark-submit exited with {proc.returncode}:\n{''.join(tail)}")


# What a local Spark job may see of the worker's environment: the JVM, Spark, locale, temp and AWS endpoint
# settings. Everything else (AIRFLOW_CONN_* with passwords, Airflow's own config) stays with the worker.
JOB_ENV_NAMES = ("PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "JAVA_HOME", "HADOOP_CONF_DIR")
JOB_ENV_PREFIXES = ("LC_", "SPARK_", "PYSPARK_", "AWS_")


def job_environment(environ: Any) -> dict[str, str]:
    """The allow-listed part of `environ` that a spark-submit child inherits."""
    return {k: v for k, v in environ.items() if k in JOB_ENV_NAMES or k.startswith(JOB_ENV_PREFIXES)}
