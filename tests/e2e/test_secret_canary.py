"""Canary secrets: no password of the worker reaches a local Spark job's processes, logs, reports or quarantine.

The worker's environment carries canaries (an extra connection's password, a Variable, an Airflow config
value) next to the real target password (`AIRFLOW_CONN_DSQL_DEFAULT`) while `airflow dags test` runs a
migration: every Spark process it spawns is looked at (`/proc/<pid>/environ`, the environment a process was
started with, and its command line), then the logs, reports and quarantine. The job's password file and the
driver's and executors' environments are tested in tests/plugins/dbmigrate/operators/test_local_spark_submit.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from psycopg.conninfo import conninfo_to_dict

from connectors.storage import safe_segment
from generators.movie_collection import write

pytestmark = pytest.mark.e2e
CANARY = "canary-7f3a91e05bd2"
DAG_ID = "movie_collection_to_dsql"

def _target_password() -> str:
    return conninfo_to_dict(os.environ["LOCAL_DSQL_URI"])["password"]


def _canaries(env: dict[str, str]) -> dict[str, str]:
    """`env` with the canary in an extra connection, a Variable and an Airflow config value."""
    return {**env, "AIRFLOW_CONN_CANARY_SECRET": json.dumps({"conn_type": "postgres", "host": "db.example",
                                                             "login": "u", "password": CANARY}),
            "AIRFLOW_VAR_CANARY": CANARY, "AIRFLOW__DBMIGRATE__CANARY_TOKEN": CANARY}


class SparkProcesses:
    """Records, while a command runs, the start environment and command line of each Spark process it spawns:
    every descendant of `root` whose command line names java, spark or pyspark."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, tuple[str, bytes]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            for pid in self._descendants():
                if pid in self.seen:
                    continue
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                    if any(word in cmdline for word in ("java", "spark", "pyspark")):
                        self.seen[pid] = (cmdline, Path(f"/proc/{pid}/environ").read_bytes())
                except OSError:  # gone in between
                    continue

    def _descendants(self) -> set[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        found, frontier = set(), {self.root}
        while frontier:
            frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
            found |= frontier
        return found


@pytest.mark.usefixtures("empty_movie_db")
def test_a_dag_run_leaks_no_secret_to_its_processes_logs_reports_or_quarantine(tmp_path: Path) -> None:
    source = tmp_path / "movie_collection.json"
    write(source, movies=60, seed=7)
    with source.open("a", encoding="utf-8") as handle:  # two rejects (under the spec's 5%): quarantine files
        handle.write('{"_id": "broken-1", "type": "movie", \n{"type": "nobody knows"}\n')
    started = time.time()
    proc = subprocess.Popen(["airflow", "dags", "test", DAG_ID, "-c", json.dumps({"source_uri": f"file://{source}"})],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_canaries(dict(os.environ)))
    spark = SparkProcesses(proc.pid)
    try:
        output, _ = proc.communicate(timeout=900)
    finally:
        spark.stop()
    reports = [p for p in (Path(os.environ["LOCAL_REPORTS_DIR"]) / DAG_ID).glob("*/report.json")
               if p.stat().st_mtime >= started]
    assert proc.returncode == 0 and len(reports) == 1, output[-6000:]
    report = json.loads(reports[0].read_text())
    assert report["status"] == "passed" and sum(report["rejects"].values()) > 0, report

    secrets = {"canary": CANARY, "target password": _target_password()}
    assert any("SparkSubmit" in cmd for cmd, _ in spark.seen.values()), [c for c, _ in spark.seen.values()]
    assert any("mongo_to_dsql.py" in cmd for cmd, _ in spark.seen.values())  # the job's Python driver
    for pid, (cmdline, environ) in spark.seen.items():
        for name, secret in secrets.items():
            assert secret not in cmdline and secret.encode() not in environ, (name, pid, cmdline)

    # `airflow dags test` prints the task logs (it writes no log files): the output is the run's task log.
    assert "spark-submit" in output and "dbmigrate progress" in output  # the load task's log, the job's lines
    logs = [p for p in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*")
            if p.is_file() and p.stat().st_mtime >= started]
    run_dirs = [reports[0].parent,
                Path(urlparse(os.environ["DBMIGRATE_QUARANTINE_URI"]).path) / DAG_ID / safe_segment(report["run_id"])]
    for root in run_dirs:
        assert any(p.is_file() for p in root.rglob("*")), root  # the run wrote there
    for path in [*logs, *(p for root in run_dirs for p in root.rglob("*") if p.is_file())]:
        data = path.read_bytes()
        for name, secret in secrets.items():
            assert secret.encode() not in data, (name, path)
    for name, secret in secrets.items():
        assert secret not in output, name
