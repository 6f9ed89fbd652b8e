"""DAG integrity: every DAG imports, carries owners, tags and retries, has the expected task graph in both
compute profiles, and parsing does no I/O (no sockets, no Spark) — checked in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"

EXPECTED = {
    ("movie_collection_to_dsql", "local"): {
        "check_source": ["deploy_ddl"],
        "deploy_ddl": ["stage_job"],
        "stage_job": ["run_spark_job"],
        "run_spark_job": ["validate_counts"],
        "validate_counts": ["validate_rows"],
        "validate_rows": ["report"],
        "report": [],
    },
    ("movie_collection_to_dsql", "aws"): {
        "check_source": ["deploy_ddl"],
        "deploy_ddl": ["stage_job"],
        "stage_job": ["create_cluster"],
        "create_cluster": ["add_step", "terminate_cluster", "wait_for_step"],
        "add_step": ["wait_for_step"],
        "wait_for_step": ["terminate_cluster", "validate_counts"],
        "terminate_cluster": [],
        "validate_counts": ["validate_rows"],
        "validate_rows": ["report"],
        "report": [],
    },
    ("dms_sample_to_dynamodb", "local"): {
        "ensure_ticket_sales": ["stage_jobs"],
        "ensure_config": ["stage_jobs"],
        "stage_jobs": ["run_config", "run_ticket_sales"],
        "run_ticket_sales": ["validate_counts"],
        "run_config": ["validate_counts"],
        "validate_counts": ["validate_items"],
        "validate_items": ["validate_access_patterns"],
        "validate_access_patterns": ["report"],
        "report": [],
    },
    ("dms_sample_to_dynamodb", "aws"): {
        "ensure_ticket_sales": ["stage_jobs"],
        "ensure_config": ["stage_jobs"],
        "stage_jobs": ["crawl_source"],
        "crawl_source": ["glue_config", "glue_ticket_sales"],
        "glue_ticket_sales": ["validate_counts"],
        "glue_config": ["validate_counts"],
        "validate_counts": ["validate_items"],
        "validate_items": ["validate_access_patterns"],
        "validate_access_patterns": ["report"],
        "report": [],
    },
}

# Parse the DAG folder in a clean interpreter where any network connection fails, and report what happened.
_PARSE = """
import json, os, socket, sys
def _no_network(*a, **k):
    raise RuntimeError("network I/O at DAG parse time")
socket.socket.connect = _no_network
socket.create_connection = _no_network
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {d.dag_id: {
        "tags": sorted(d.tags), "owners": sorted({t.owner for t in d.tasks}),
        "retries": sorted({t.retries for t in d.tasks}),
        "default_retries": d.default_args.get("retries"),
        "graph": {t.task_id: sorted(t.downstream_task_ids) for t in d.tasks},
        "deferrable": sorted(t.task_id for t in d.tasks if getattr(t, "deferrable", False)),
        "params": sorted(d.params.keys()),
    } for d in bag.dags.values()},
    "heavy_modules": sorted(m for m in ("pyspark", "psycopg", "pymongo", "awsglue") if m in sys.modules),
}))
"""


def _parse(profile: str) -> dict:
    env = {**os.environ, "DBMIGRATE_PROFILE": profile, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT / 'include'}"}
    out = subprocess.run([sys.executable, "-c", _PARSE, str(DAGS)], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=["local", "aws"])
def parsed(request: pytest.FixtureRequest) -> tuple[str, dict]:
    return request.param, _parse(request.param)


def test_no_import_errors(parsed: tuple[str, dict]) -> None:
    _, result = parsed
    assert result["errors"] == {}
    assert set(result["dags"]) >= {dag_id for dag_id, _ in EXPECTED}


def test_owners_tags_retries(parsed: tuple[str, dict]) -> None:
    profile, result = parsed
    for dag_id, dag in result["dags"].items():
        assert dag["tags"], dag_id
        assert f"profile:{profile}" in dag["tags"]
        assert "airflow" not in dag["owners"], f"{dag_id} has tasks without a real owner"
        # retries come from the spec (>= 2); only tasks that must not re-run blindly opt out with 0
        assert dag["default_retries"] >= 2, dag_id
        assert {"validation_sample_size", "dry_run"} <= set(dag["params"])
    assert "source_uri" in result["dags"]["movie_collection_to_dsql"]["params"]
    assert {"source_conn_id", "source_schema"} <= set(result["dags"]["dms_sample_to_dynamodb"]["params"])


def test_task_graph(parsed: tuple[str, dict]) -> None:
    profile, result = parsed
    for (dag_id, p), graph in EXPECTED.items():
        if p == profile:
            assert result["dags"][dag_id]["graph"] == graph


def test_aws_waits_are_deferrable() -> None:
    result = _parse("aws")
    assert "wait_for_step" in result["dags"]["movie_collection_to_dsql"]["deferrable"]
    assert {"ensure_ticket_sales", "ensure_config", "crawl_source", "glue_ticket_sales", "glue_config"} <= set(
        result["dags"]["dms_sample_to_dynamodb"]["deferrable"])


def test_parse_does_no_io_and_no_heavy_imports(parsed: tuple[str, dict]) -> None:
    _, result = parsed
    # a socket opened during parsing would have surfaced as an import error above
    assert result["errors"] == {}
    assert "pyspark" not in result["heavy_modules"]
    assert "awsglue" not in result["heavy_modules"]
