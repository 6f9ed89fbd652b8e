"""A MongoDB → DSQL load killed mid-write (spark-submit, its JVM and its Python workers, SIGKILL) and run again:
the target ends exactly as after a clean run of the job (in this process), nothing duplicated, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from dbmigrate.job_bundle import build_bundle
from generators.movie_collection import write
from tests.fixtures import ROOT, SPEC_DIR
from tests.include.jobs.test_bad_input_corpus import deploy, run_job, snapshot

pytestmark = pytest.mark.spark
JOB = ROOT / "include" / "jobs" / "mongo_to_dsql.py"
TABLES = ("movies", "actors", "directors", "movie_actors", "movie_directors")


def spark_submit(args: list[str], bundle: Path, **popen: Any) -> subprocess.Popen[str]:
    """spark-submit the job in the background, its output into a log file (a pipe nobody reads would fill
    and stall it)."""
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]", "--conf",
           "spark.ui.enabled=false", "--conf", "spark.sql.session.timeZone=UTC", "--py-files", str(bundle),
           str(JOB), *args]
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115 - read by finish()
    proc = subprocess.Popen(cmd, env={**os.environ, "PYSPARK_PYTHON": sys.executable}, stdout=log,
                            stderr=subprocess.STDOUT, text=True, **popen)
    proc.log_path = log.name  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    proc.wait(timeout=600)
    out = Path(proc.log_path).read_text()  # type: ignore[attr-defined]
    assert proc.returncode == 0, out[-4000:]


def job_args(tmp: Path, schema: str, source: Path, password_file: Path) -> list[str]:
    spec = tmp / "movie_collection_to_dsql.yaml"
    # small transactions, one connection a task: some 2,500 commits one after the other in each of two tasks, so
    # the write lasts long enough for the kill to land between two of them, however fast a commit is
    text = (SPEC_DIR / "movie_collection_to_dsql.yaml").read_text()
    assert "batch_rows: 1000" in text and "connections: 4" in text
    spec.write_text(text.replace("schema: movie_db", f"schema: {schema}").replace(
        "batch_rows: 1000", "batch_rows: 2").replace("connections: 4", "connections: 1"))
    info = conninfo_to_dict(os.environ["LOCAL_DSQL_URI"])
    target = {"host": info["host"], "port": int(info["port"]), "user": info["user"], "database": info["dbname"],
              "auth": "password", "sslmode": "disable"}
    return ["--spec", str(spec), "--source-uri", f"file://{source}", "--target-json", json.dumps(target),
            "--target-password-file", str(password_file), "--run-id", f"kill-{schema}", "--report-uri",
            str(tmp / "report.json"), "--quarantine-uri", f"file://{tmp}/quarantine", "--partitions", "2"]


def rows(conn: psycopg.Connection, schema: str) -> int:
    """Rows in all the target's tables."""
    return sum(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, t))).fetchone()[0]
               for t in TABLES)


def test_a_load_killed_mid_write_and_run_again_equals_a_clean_load(spark: Any, tmp_path: Path, dsql_uri: str) -> None:
    bundle = build_bundle(tmp_path)
    password_file = tmp_path / "password"
    password_file.write_text(str(conninfo_to_dict(dsql_uri).get("password", "")))
    source = tmp_path / "movie_collection.json"
    write(source, movies=600, seed=13, bad_input=True)
    schemas = [f"t_kill_{uuid.uuid4().hex[:8]}", f"t_clean_{uuid.uuid4().hex[:8]}"]
    conn = psycopg.connect(dsql_uri, autocommit=True)
    try:
        for schema in schemas:
            deploy(dsql_uri, schema)
        killed, clean = schemas
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()  # the clean run's spec, report and quarantine
        proc = spark_submit(job_args(tmp_path / "a", killed, source, password_file), bundle, start_new_session=True)
        deadline = time.monotonic() + 300
        while rows(conn, killed) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)  # one connection: each look takes a millisecond
        assert proc.poll() is None, "the job ended before it could be killed mid-write"
        os.killpg(proc.pid, signal.SIGKILL)  # spark-submit, its JVM and its Python workers, at once
        proc.wait()
        partial = rows(conn, killed)

        finish(spark_submit(job_args(tmp_path / "a", killed, source, password_file), bundle))
        run_job(spark, tmp_path / "b", dsql_uri, clean, source)
        assert 0 < partial < rows(conn, clean)  # it was killed with part of the load written
        assert snapshot(dsql_uri, killed) == snapshot(dsql_uri, clean)
    finally:
        with conn:
            for schema in schemas:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
