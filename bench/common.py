"""What every figure needs: the embedded stack's coordinates, timing with medians, peak memory of a process tree."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict

from dbmigrate.local_spark import spark_home

ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = ROOT / "include" / "sql" / "movie_db"
SPEC = ROOT / "include" / "specs" / "movie_collection_to_dsql.yaml"
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"
# Every contender's JVM compiles as on EMR (the JVM's default tiered JIT), not with the local profile's C1 only
# (dbmigrate.local_spark): that profile is for runs of seconds, and it slowed the JVM-heavy naive method at a
# million documents from 42 to 75 s. No class archive either: the figures are throughputs, not start-up times.
SPARK_CONF = {"spark.ui.enabled": "false", "spark.sql.session.timeZone": "UTC", "spark.sql.shuffle.partitions": "8"}


def dsql_uri() -> str:
    """The embedded PostgreSQL standing in for DSQL (`bin/local-stack env`)."""
    try:
        return os.environ["LOCAL_DSQL_URI"]
    except KeyError:
        raise SystemExit("bench: run under the embedded stack: source <(bin/local-stack env)") from None


def target_json(uri: str) -> dict[str, Any]:
    info = conninfo_to_dict(uri)
    return {"host": info["host"], "port": int(info["port"]), "user": info["user"], "database": info["dbname"],
            "auth": "password", "sslmode": "disable"}


def fresh_schema(uri: str, prefix: str) -> str:
    """A new schema holding the movie tables exactly as the DDL declares them (not the async indexes)."""
    from transforms.ddl_lint import split_statements

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(uri, autocommit=True) as conn:
        for path in sorted(SQL_DIR.glob("0[0-5]*.sql")):  # 001 creates the schema
            for stmt in split_statements(path.read_text().replace("movie_db", schema)):
                conn.execute(stmt)
    return schema


def drop_schema(uri: str, schema: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


class PeakRss:
    """Peak resident memory of a process and all its children (the JVM, Spark's Python workers), sampled."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.peak = 0
        self._pid, self._interval = pid, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self._pid)
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            self._stop.wait(self._interval)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def spark_submit(script: Path, args: Sequence[str], *, py_files: Path | None = None, jars: Sequence[Path] = (),
                 log: Path) -> tuple[float, int]:
    """Run `script` with pyspark's spark-submit (local[2], as the DAG's local run does): (seconds, peak RSS)."""
    cmd = [str(SPARK_SUBMIT), "--master", "local[2]", "--driver-memory", "2g"]
    for k, v in SPARK_CONF.items():
        cmd += ["--conf", f"{k}={v}"]
    if py_files:
        cmd += ["--py-files", str(py_files)]
    if jars:
        cmd += ["--jars", ",".join(map(str, jars))]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    if (home := spark_home()) is not None:  # PySpark imported from its package, as in a local DAG run
        env["SPARK_HOME"] = str(home)
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen([*cmd, str(script), *args], env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = PeakRss(proc.pid)
        code = proc.wait()
        seconds = time.perf_counter() - started
        rss = peak.stop()
    if code != 0:
        raise RuntimeError(f"{script.name} exited with {code}; see {log}:\n{log.read_text()[-3000:]}")
    return seconds, rss


@dataclass
class Samples:
    """Several timings of one contender; figures use the median (these machines are noisy)."""

    seconds: list[float] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def alternate(contenders: dict[str, Callable[[], tuple[float, dict[str, Any]]]], repeats: int
              ) -> dict[str, Samples]:
    """Run each contender `repeats` times, interleaved (A B C A B C …), so drift hits all alike."""
    out = {name: Samples() for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            seconds, extra = run()
            out[name].seconds.append(seconds)
            out[name].extra.append(extra)
            print(f"bench:   {name}: {seconds:.2f}s", flush=True)
    return out


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
