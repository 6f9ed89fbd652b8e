"""End to end: every class of bad document of the corpus in one export, through `airflow dags test` (job, validators,
report); and a dry run against a target whose tables do not exist yet."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from generators.movie_collection import write
from tests.fixtures.bad_input import CASES

pytestmark = pytest.mark.e2e
DAG_ID = "movie_collection_to_dsql"
FILE_LEVEL = {"utf8_bom", "crlf_line_ends", "json_array_export"}  # changes of the whole file, applied below


CANARY = "canary-secret-91d2c4f7a0"


def _run(conf: dict) -> tuple[int, dict, str]:
    started = time.time()
    env = {**os.environ, "AIRFLOW_CONN_CANARY_SECRET": f"postgres://u:{CANARY}@db.example:5432/x"}
    proc = subprocess.run(["airflow", "dags", "test", DAG_ID, "-c", json.dumps(conf)], capture_output=True,
                          text=True, timeout=900, env=env)
    reports = [p for p in (Path(os.environ["LOCAL_REPORTS_DIR"]) / DAG_ID).glob("*/report.json")
               if p.stat().st_mtime >= started]
    assert len(reports) == 1, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.returncode, json.loads(reports[0].read_text()), proc.stdout + proc.stderr


def test_every_kind_of_bad_document_is_quarantined_and_the_run_passes(tmp_path: Path, dsql_uri: str) -> None:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:  # a full load: the tables must hold this source only
        conn.execute("DROP SCHEMA IF EXISTS movie_db CASCADE")
    source = tmp_path / "movie_collection.json"
    write(source, movies=300, seed=99)
    data = source.read_bytes()
    expected: Counter[str] = Counter()
    for case in CASES:
        if case.name not in FILE_LEVEL:
            data = case.change(data)
            expected.update(case.reasons)
    source.write_bytes(b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))  # and a BOM, and CRLF line ends

    rc, report, log = _run({"source_uri": f"file://{source}"})

    assert rc == 0 and report["status"] == "passed", log[-8000:]
    assert {r: n for r, n in report["rejects"].items() if n} == dict(expected)
    # No secret reaches the logs, the reports or the quarantine: an unrelated connection's password, nor the
    # password of the database the run wrote to.
    secrets = [CANARY, conninfo_to_dict(dsql_uri)["password"]]
    written = [Path(os.environ["AIRFLOW_HOME"]) / "logs", Path(os.environ["LOCAL_REPORTS_DIR"]) / DAG_ID,
               Path(urlparse(os.environ["DBMIGRATE_QUARANTINE_URI"]).path) / DAG_ID]
    for secret in secrets:
        assert secret not in log
        for root in written:
            for path in root.rglob("*"):
                assert not path.is_file() or secret.encode() not in path.read_bytes(), path
    assert report["sample"]["compared"] > 0 and report["sample"]["mismatches"] == []
    assert all(c["passed"] for c in report["checks"])
    assert report["reconciliation"] and all(r["passed"] for r in report["reconciliation"].values())


def test_a_dry_run_on_an_empty_target_writes_nothing(tmp_path: Path, dsql_uri: str) -> None:
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS movie_db CASCADE")
    source = tmp_path / "movie_collection.json"
    write(source, movies=100, seed=3)

    rc, report, log = _run({"source_uri": f"file://{source}", "dry_run": True})

    assert rc == 0 and report["status"] == "passed" and report["dry_run"] is True, log[-8000:]
    with psycopg.connect(dsql_uri) as conn:
        assert conn.execute("SELECT to_regclass('movie_db.movies')").fetchone()[0] is None
