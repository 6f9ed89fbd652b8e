"""Stage a Spark job's files and run it: on EMR through the provider's operators, locally with spark-submit."""

from __future__ import annotations

import json
import os
import shutil
import signal
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
from dbmigrate.local_spark import installed_spark_home, jvm_start, spark_home
from dbmigrate.paths import job_script
from dbmigrate.source_roots import JOB_DIR, STAGE_DIR

# The job argument that names the file a local job reads a database password from (`LocalSparkSubmitOperator`).
TARGET_PASSWORD_ARG = "--target-password-file"
SOURCE_PASSWORD_ARG = "--source-password-file"


def stage_job_files(spec: Any, spec_text: str, staging_prefix: str, script: str, aws_conn_id: str | None, log: Any
                    ) -> dict[str, str]:
    """Build the bundle and upload it, the job script and the run's spec (`spec_text`) under `staging_prefix` (S3).

    Returns their S3 URIs, keyed `py_files`, `script`, `spec`. The bundle is built in a temporary directory
    removed before returning, success or failure: the S3 copies are what every later task runs.
    """
    local_dir = Path(tempfile.mkdtemp(prefix=STAGE_DIR))
    try:
        bundle = build_bundle(local_dir)
        spec_file = local_dir / f"{spec.dag_id}.yaml"
        spec_file.write_text(spec_text, encoding="utf-8")
        files = {"py_files": bundle, "script": job_script(script), "spec": spec_file}
        s3 = S3Hook(aws_conn_id=aws_conn_id)
        staged = {}
        for name, path in files.items():
            uri = f"{staging_prefix}/{path.name}"
            bucket, key = S3Hook.parse_s3_url(uri)
            s3.load_file(str(path), key=key, bucket_name=bucket, replace=True)
            staged[name] = uri
            log.info("Staged %s at %s", path.name, uri)
        return staged
    finally:
        shutil.rmtree(local_dir, ignore_errors=True)


def window_args(run: dict[str, Any]) -> dict[str, str]:
    """`--window-start`/`--window-end` of an interval run (`runtime.run_window`): only its records are loaded."""
    window = run.get("window") or {}
    return {f"--window-{bound}": window[bound] for bound in ("start", "end") if window.get(bound)}


class StageMongoToDsqlJobOperator(BaseOperator):
    """Upload the job script, its `--py-files` bundle and the spec to S3, and build the run's step.

    Returns (and, with `multiple_outputs`, pushes key by key) the staged URIs, `emr_steps` (what
    `EmrAddStepsOperator` submits) and `local_job` (the same files on local disk with the job's arguments,
    what `LocalSparkSubmitOperator` runs). The DSQL target travels as JSON without a password: executors
    mint IAM tokens themselves; the local stand-in's password is handed over by `LocalSparkSubmitOperator`.

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
        run = self.run
        spec_text, _ = runtime.run_spec_text(run, self.spec_dag_id, self.aws_conn_id)
        spec = runtime.run_spec(run, self.spec_dag_id, self.aws_conn_id)
        target = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id).get_target()
        staged = stage_job_files(spec, spec_text, run["staging_prefix"], "mongo_to_dsql", self.aws_conn_id, self.log)

        def job_args(spec_uri: str) -> list[str]:
            args = ["--spec", spec_uri, "--source-uri", run["source_uri"],
                    "--target-json", json.dumps(target.to_dict()), "--run-id", run["run_id"],
                    "--report-uri", run["job_report_uri"], "--quarantine-uri", run["quarantine_uri"]]
            if run["dry_run"]:
                args.append("--dry-run")
            return args + [x for kv in window_args(run).items() for x in kv]

        submit = spark_submit_args(script=staged["script"], py_files=staged["py_files"],
                                   job_args=job_args(staged["spec"]), packages=spec.emr.packages)
        return {
            "staged": staged,
            "emr_steps": [emr_step(f"{spec.dag_id} {run['run_id']}", submit)],
            "local_job": {"script": staged["script"], "py_files": staged["py_files"],
                          "job_args": job_args(staged["spec"]), "packages": mongo_packages(run["source_uri"]),
                          "secrets": {} if target.is_dsql else {TARGET_PASSWORD_ARG: self.dsql_conn_id}},
        }


class StageDynamoDbJobsOperator(BaseOperator):
    """Upload the job script, bundle and spec to S3 and build each job's arguments, for Glue and for local Spark.

    Returns (and, with `multiple_outputs`, pushes key by key) `staged` URIs, `glue_args_<item set>` (Glue job
    arguments: the crawled catalog tables of the run's source database and schema) and `local_job_<item set>`
    (what `LocalSparkSubmitOperator` runs: the job reading the source through the run's `source_conn_id`, its
    password passed as an env variable). Only the local profile reads the source connection: Glue reads
    through its catalog connection. A job whose table does not exist yet (checked under the run's lock) puts its
    items under the run's `import_uris` for ImportTable (`--import-uri`) when the spec's
    `write.first_load` is `import`.

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
        run = self.run
        spec_text, _ = runtime.run_spec_text(run, self.spec_dag_id, self.aws_conn_id)
        spec = runtime.run_spec(run, self.spec_dag_id, self.aws_conn_id)
        local = run["profile"] == "local"
        staged = stage_job_files(spec, spec_text, run["staging_prefix"], spec.kind, self.aws_conn_id, self.log)
        out: dict[str, Any] = {"staged": staged, "script_uri": staged["script"]}
        source = _local_source(run["source_conn_id"]) if local else None
        for item_set in spec.jobs:
            common = {"--item-set": item_set, "--run-id": run["run_id"], "--table": run["tables"][item_set],
                      "--report-uri": run["job_report_uris"][item_set], "--quarantine-uri": run["quarantine_uri"],
                      "--write-units-per-s": str(spec.write_units_per_s),
                      "--capacity-share": str(spec.capacity_share), "--partitions": str(spec.partitions)}
            if run["dry_run"]:
                common["--dry-run"] = "true"
            elif self._imports(spec, run["tables"][item_set]):  # decided under the run's lock
                common["--import-uri"] = run["import_uris"][item_set]
            common.update(window_args(run))
            if source is None:
                out[f"glue_args_{item_set}"] = {
                    **common, "--spec": staged["spec"], "--extra-py-files": staged["py_files"],
                    "--catalog-database": run["catalog_database"],
                    "--catalog-table-prefix": run["catalog_table_prefix"],
                }
                continue
            # Locally only as many writers as cores run at once; the capacity share is split among them.
            args_ = {**common, "--partitions": str(min(spec.partitions, os.cpu_count() or 2)),
                     "--spec": staged["spec"], "--source-json": json.dumps(source["json"]),
                     "--source-schema": run["source_schema"]}
            args = [x for k, v in args_.items() for x in ((k,) if k == "--dry-run" else (k, v))]
            out[f"local_job_{item_set}"] = {"script": staged["script"], "py_files": staged["py_files"],
                                            "job_args": args, "packages": source["packages"],
                                            "secrets": {SOURCE_PASSWORD_ARG: run["source_conn_id"]}}
        return out

    def _imports(self, spec: Any, table: str) -> bool:
        """A first load through ImportTable: the spec's `write.first_load` says so and the table does not exist."""
        from dbmigrate.hooks.dynamodb_tables import DynamoDBTablesHook

        if spec.first_load != "import" or DynamoDBTablesHook(aws_conn_id=self.aws_conn_id).describe(table):
            return False
        self.log.info("DynamoDB table %s does not exist: the job puts its items on S3 for ImportTable", table)
        return True


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

    The local compute profile uses this instead of the EMR and Glue operators. The job's staged files are
    fetched from S3 into a private directory of this task, removed when it ends, success, failure or kill.
    A database password (`job["secrets"]`: job argument → Airflow connection) is written there to a file
    only this user can read and passed as that argument: never on the command line, never in the job's
    environment, which is an allow-listed part of the worker's (`job_environment`). spark-submit runs in
    its own process group, so `on_kill` stops the JVM and its Python workers too. Output is streamed into
    the task log as it comes, progress lines included.

    :param job: what the staging task built: `script`, `py_files`, `job_args` (S3 URIs of staged files among
        them), `packages` and `secrets` (templated)
    :param master: Spark master, `local[*]` by default
    :param aws_conn_id: AWS connection to fetch the staged files
    :param kill_grace_s: seconds between SIGTERM and SIGKILL when the task is killed
    """

    template_fields: Sequence[str] = ("job",)

    def __init__(self, *, job: Any, master: str = "local[*]", aws_conn_id: str | None = "aws_default",
                 kill_grace_s: float = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.master = master
        self.aws_conn_id = aws_conn_id
        self.kill_grace_s = kill_grace_s
        self._proc: subprocess.Popen[str] | None = None

    def _fetch(self, workdir: Path) -> dict[str, str]:
        """Download the staged files (`staged_files`) into `workdir`; returns URI → local path."""
        s3 = S3Hook(aws_conn_id=self.aws_conn_id).get_conn()
        local: dict[str, str] = {}
        for uri in sorted(staged_files(self.job)):
            bucket, key = S3Hook.parse_s3_url(uri)
            path = workdir / key.rsplit("/", 1)[-1]
            s3.download_file(bucket, key, str(path))
            local[uri] = str(path)
        return local

    def _secret_args(self, workdir: Path) -> list[str]:
        from airflow.sdk import BaseHook

        args: list[str] = []
        for arg, conn_id in (self.job.get("secrets") or {}).items():
            password = BaseHook.get_connection(conn_id).password
            if not password:
                continue
            path = workdir / f"{arg.strip('-')}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(password)
            args += [arg, str(path)]
        return args

    def execute(self, context: Any) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=JOB_DIR))  # mode 0700
        try:
            local = self._fetch(workdir)
            job_args = [local.get(a, a) for a in self.job["job_args"]] + self._secret_args(workdir)
            self._run(local[self.job["script"]], local[self.job["py_files"]], job_args)
        finally:
            self._proc = None
            shutil.rmtree(workdir, ignore_errors=True)

    def _run(self, script: str, py_files: str, job_args: list[str]) -> None:
        env = {**job_environment(os.environ), "PYSPARK_PYTHON": sys.executable,
               "PYSPARK_DRIVER_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}
        submit = Path(sys.executable).parent / "spark-submit"
        packages = tuple(self.job.get("packages") or ())
        home = spark_home()  # the installed Spark home, PySpark imported from its package (dbmigrate.local_spark)
        if home is not None:
            env["SPARK_HOME"] = str(home)
        jvm = jvm_start(home or installed_spark_home(), packages)
        cmd = [str(submit), *spark_submit_args(
            script=script, py_files=py_files, job_args=job_args, master=self.master, packages=packages,
            # no console progress bar: its `[Stage 3:>  (0 + 2) / 4]` fragments filled half the task log
            conf={"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                  "spark.sql.session.timeZone": "UTC", "spark.driver.extraJavaOptions": jvm.java_options,
                  "spark.sql.shuffle.partitions": "8", "spark.driver.memory": "2g"})]
        self.log.info("spark-submit %s with --py-files %s (master %s; JVM %s)", self.job["script"],
                      self.job["py_files"], self.master, jvm.java_options)
        try:
            self._proc = proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                 text=True, bufsize=1, start_new_session=True)
            assert proc.stdout is not None
            tail: list[str] = []
            for line in proc.stdout:  # streamed as the job prints it: progress lines reach the task log live
                if " WARN " in line or " INFO " in line:
                    continue
                self.log.info("spark: %s", line.rstrip())
                tail = [*tail[-40:], line]
            if proc.wait() != 0:
                raise AirflowException(f"spark-submit exited with {proc.returncode}:\n{''.join(tail)}")
            jvm.keep()
        finally:
            jvm.discard()

    def on_kill(self) -> None:
        """Stop spark-submit and everything it started (JVM, Python workers): SIGTERM, then SIGKILL."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self.log.info("Stopping spark-submit (process group %d)", proc.pid)
        stop_process_group(proc, self.kill_grace_s)


def staged_files(job: dict[str, Any]) -> set[str]:
    """The S3 URIs of what the staging task uploaded for `job`: its script, its bundle and the arguments in
    the same staging folder (the spec). Other s3:// arguments (a source, a report or quarantine location) are
    the job's own to read or write, so they are passed on as they are, never downloaded."""
    folder = str(job["script"]).rsplit("/", 1)[0] + "/"
    return {job["script"], job["py_files"], *(a for a in job["job_args"] if str(a).startswith(folder))}


def stop_process_group(proc: subprocess.Popen[Any], grace_s: float) -> None:
    """SIGTERM the process group `proc` leads; SIGKILL it if `proc` is still alive after `grace_s`."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


# What a local Spark job may see of the worker's environment: the JVM, Spark, locale, temp and AWS endpoint
# settings. Everything else (AIRFLOW_CONN_* with passwords, Airflow's own config) stays with the worker.
JOB_ENV_NAMES = ("PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "JAVA_HOME", "HADOOP_CONF_DIR")
JOB_ENV_PREFIXES = ("LC_", "SPARK_", "PYSPARK_", "AWS_")


def job_environment(environ: Any) -> dict[str, str]:
    """The allow-listed part of `environ` that a spark-submit child inherits."""
    return {k: v for k, v in environ.items() if k in JOB_ENV_NAMES or k.startswith(JOB_ENV_PREFIXES)}
