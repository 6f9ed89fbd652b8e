"""LocalSparkSubmitOperator with real spark-submit: what the job sees (no password, no AIRFLOW_CONN_* in its
environment; the password only in a file), that its private files are gone afterwards, and that on_kill stops
the whole process group."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import boto3
import pyspark
import pytest
from airflow.sdk.exceptions import AirflowException

from dbmigrate.job_bundle import build_bundle
from dbmigrate.local_spark import archive_key, spark_home
from dbmigrate.operators.spark_job import LocalSparkSubmitOperator

CANARY_DB_PASSWORD = "canary-db-7f3a91c2e8"
CANARY_OTHER = "canary-other-5b0d44aa19"
BUCKET = "dbmigrate-test-local-submit"

PROBE = r'''
import json, os, sys, time
from pyspark.sql import SparkSession

out = sys.argv[sys.argv.index("--out") + 1]
mode = sys.argv[sys.argv.index("--mode") + 1]
password_file = sys.argv[sys.argv.index("--target-password-file") + 1] if "--target-password-file" in sys.argv else None
spark = SparkSession.builder.getOrCreate()
executor_env = spark.sparkContext.parallelize([0], 1).map(lambda _: dict(os.environ)).collect()[0]
executor_pyspark = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("pyspark").__file__).collect()[0]


def sealed(_):
    """Each zip importer of a worker that imported the bundle's connectors, and whether its archive's directory
    survives a task's `importlib.invalidate_caches()` (a re-read makes a new one)."""
    import importlib, zipimport
    import connectors
    zips = {p: f for p, f in sys.path_importer_cache.items() if isinstance(f, zipimport.zipimporter)}
    before = {p: f._files for p, f in zips.items()}
    importlib.invalidate_caches()
    return [(p, type(f).__name__, f._files is before[p]) for p, f in zips.items()]


executor_zips = spark.sparkContext.parallelize([0], 1).mapPartitions(sealed).collect()
import pyspark
jvm = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
with open(f"/proc/{os.getppid()}/maps") as maps:  # the driver's parent is spark-submit's JVM
    mapped = sorted({line.split()[-1] for line in maps if line.rstrip().endswith(".jsa")})
result = {"argv": sys.argv, "driver_env": dict(os.environ), "executor_env": executor_env, "pid": os.getpid(),
          "driver_pyspark": pyspark.__file__, "executor_pyspark": executor_pyspark, "executor_zips": executor_zips,
          "jvm_args": list(jvm.getInputArguments()), "jvm_mapped_archives": mapped,
          "pgid": os.getpgid(0), "password_file": password_file,
          "password": open(password_file).read() if password_file else None,
          "password_file_mode": oct(os.stat(password_file).st_mode & 0o777) if password_file else None}
json.dump(result, open(out, "w"))
if mode == "sleep":
    time.sleep(300)
if mode == "fail":
    raise SystemExit(3)
spark.stop()
'''


@pytest.fixture
def staged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The probe and a bundle in (moto) S3, as the staging task leaves them; canaries in the worker's env."""
    s3 = boto3.client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    bundle = build_bundle(tmp_path)
    for path in (script, bundle):
        s3.upload_file(str(path), BUCKET, f"runs/r1/job/{path.name}")
    monkeypatch.setenv("AIRFLOW_CONN_CANARY_DB", json.dumps({
        "conn_type": "postgres", "host": "127.0.0.1", "login": "u", "password": CANARY_DB_PASSWORD}))
    monkeypatch.setenv("AIRFLOW_CONN_CANARY_OTHER", f"postgres://u:{CANARY_OTHER}@db.example:5432/x")
    monkeypatch.setenv("AIRFLOW_VAR_CANARY", CANARY_OTHER)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "worker_tmp"))
    (tmp_path / "worker_tmp").mkdir()
    return {"script": f"s3://{BUCKET}/runs/r1/job/probe.py", "py_files": f"s3://{BUCKET}/runs/r1/job/{bundle.name}",
            "out": tmp_path / "probe.json", "worker_tmp": tmp_path / "worker_tmp"}


def _op(staged: dict, mode: str) -> LocalSparkSubmitOperator:
    job = {"script": staged["script"], "py_files": staged["py_files"], "packages": [],
           "job_args": ["--out", str(staged["out"]), "--mode", mode],
           "secrets": {"--target-password-file": "canary_db"}}
    return LocalSparkSubmitOperator(task_id="run_spark_job", job=job, master="local[1]", kill_grace_s=5)


def test_the_job_gets_its_password_in_a_private_file_and_no_secret_in_its_environment(staged: dict) -> None:
    _op(staged, "ok").execute({})
    seen = json.loads(staged["out"].read_text())
    assert seen["password"] == CANARY_DB_PASSWORD and seen["password_file_mode"] == "0o600"
    for name in ("driver_env", "executor_env"):
        env = seen[name]
        assert not [k for k in env if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__"))], name
        text = json.dumps(env)
        for secret in (CANARY_DB_PASSWORD, CANARY_OTHER):
            assert secret not in text, name
    assert CANARY_DB_PASSWORD not in json.dumps(seen["argv"])  # a path, never the password
    assert not Path(seen["password_file"]).exists()  # the task's private directory is gone
    assert list(staged["worker_tmp"].iterdir()) == []


def test_the_jvm_starts_from_its_class_archive_and_pyspark_from_its_package(
        staged: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dbmigrate.local_spark: C1 only; the first run of a classpath writes the class archive, every later run maps
    it; the driver and the Python workers import the installed pyspark, not the Spark home's zip of it."""
    monkeypatch.delenv("SPARK_SUBMIT_OPTS", raising=False)  # the tests' JVM options (fixtures.spark_jvm) step aside
    monkeypatch.delenv("SPARK_HOME", raising=False)
    directory = tmp_path / "jvm"  # a cache of its own: no other test's JVM writes an archive while these map it
    monkeypatch.setenv("DBMIGRATE_JVM_CACHE", str(directory))
    archive = directory / f"spark-{archive_key(spark_home(), ())}.jsa"
    runs: list[dict] = []
    while len(runs) < 2 and not (runs and f"-XX:SharedArchiveFile={archive}" in runs[-1]["jvm_args"]):
        _op(staged, "ok").execute({})  # the first run of a new cache writes the archive, the next maps it
        runs.append(json.loads(staged["out"].read_text()))
    assert archive.is_file()
    seen = runs[-1]
    assert "-XX:TieredStopAtLevel=1" in seen["jvm_args"]
    assert f"-XX:SharedArchiveFile={archive}" in seen["jvm_args"]
    assert str(archive) in seen["jvm_mapped_archives"]  # mapped (beside the JDK's own), not merely named
    for side in ("driver_pyspark", "executor_pyspark"):
        assert ".zip" not in seen[side] and seen[side] == pyspark.__file__, side
    assert seen["driver_env"]["SPARK_HOME"] == str(spark_home())
    # pyspark's own daemon here (no tests' daemon): the worker's archives (the bundle, Spark's core jar) read once
    assert {Path(p).suffix for p, _, _ in seen["executor_zips"]} >= {".zip", ".jar"}
    assert all(kind == "SealedZipImporter" and kept for _, kind, kept in seen["executor_zips"])


def test_a_failed_job_leaves_nothing_behind(staged: dict) -> None:
    with pytest.raises(AirflowException, match="spark-submit exited with 3"):
        _op(staged, "fail").execute({})
    assert list(staged["worker_tmp"].iterdir()) == []


def test_on_kill_stops_the_whole_process_group(staged: dict) -> None:
    op = _op(staged, "sleep")
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(op, errors))
    thread.start()
    deadline = time.monotonic() + 120
    while not staged["out"].exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    seen = json.loads(staged["out"].read_text())
    op.on_kill()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors and "spark-submit exited with" in str(errors[0])
    with pytest.raises(ProcessLookupError):  # the JVM's Python driver (same group) is gone too
        os.kill(seen["pid"], 0)
    assert list(staged["worker_tmp"].iterdir()) == []


def _capture(op: LocalSparkSubmitOperator, errors: list[BaseException]) -> None:
    try:
        op.execute({})
    except BaseException as err:  # noqa: BLE001 - the test reads it
        errors.append(err)
