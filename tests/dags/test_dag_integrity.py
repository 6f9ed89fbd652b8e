"""DAG integrity: every DAG imports, carries owners, tags and retries, has the expected task graph in both
compute profiles, and parsing does no I/O (no sockets, no Spark) — checked in a fresh interpreter."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"

R, V = "prepare.resolve_run", "validate."
RELEASE = "validate.release_lock"
_VALIDATE_MOVIE = {
    "validate.validate_counts": ["validate.report"],
    "validate.validate_rows": ["validate.report"],
    "validate.validate_reconcile": ["validate.report"],
    "validate.validate_values": ["validate.report"],
    "validate.report": ["validate.publish", RELEASE],
    "validate.publish": [],
    RELEASE: [],
}
_VALIDATE_DMS = {
    "validate.validate_counts": ["validate.report"],
    "validate.validate_items": ["validate.report"],
    "validate.validate_access_patterns": ["validate.report"],
    "validate.validate_reconcile": ["validate.report"],
    "validate.report": ["validate.publish", RELEASE],
    "validate.publish": [],
    RELEASE: [],
}
# resolve_run feeds (XComArgs) every task that takes the run's inputs
_MOVIE_RESOLVE = ["prepare.acquire_lock", "prepare.check_source", "prepare.deploy_ddl", "prepare.stage_job",
                  "validate.publish", RELEASE, "validate.validate_counts", "validate.validate_reconcile",
                  "validate.validate_rows", "validate.validate_values"]
_DMS_CHECKS = ["validate.validate_access_patterns", "validate.validate_counts", "validate.validate_items",
               "validate.validate_reconcile"]
# the lock is taken once the target is ready, and given back after every task that can write; a job's items go to
# its import task (ImportTable of a first load into a new table), then the checks
_DMS_IMPORTS = ["load.import_config", "load.import_ticket_sales"]
_DMS_AFTER_LOAD = sorted([RELEASE, *_DMS_CHECKS])
EXPECTED = {
    ("movie_collection_to_dsql", "local"): {
        R: _MOVIE_RESOLVE,
        "prepare.check_source": ["prepare.deploy_ddl"],
        "prepare.deploy_ddl": ["prepare.acquire_lock"],
        "prepare.acquire_lock": ["prepare.stage_job"],
        "prepare.stage_job": ["load.run_spark_job"],
        "load.run_spark_job": [RELEASE, "validate.validate_counts", "validate.validate_reconcile",
                               "validate.validate_rows", "validate.validate_values"],
        **_VALIDATE_MOVIE,
    },
    ("movie_collection_to_dsql", "aws"): {
        R: _MOVIE_RESOLVE,
        "prepare.check_source": ["prepare.deploy_ddl"],
        "prepare.deploy_ddl": ["prepare.acquire_lock"],
        "prepare.acquire_lock": ["prepare.stage_job"],
        "prepare.stage_job": ["load.add_step", "load.create_cluster"],
        "load.create_cluster": ["load.add_step", "load.terminate_cluster", "load.wait_for_step", RELEASE],
        "load.add_step": ["load.wait_for_step", RELEASE],
        "load.wait_for_step": ["load.terminate_cluster", RELEASE, "validate.validate_counts",
                               "validate.validate_reconcile", "validate.validate_rows", "validate.validate_values"],
        "load.terminate_cluster": [RELEASE],
        **_VALIDATE_MOVIE,
    },
    ("dms_sample_to_dynamodb", "local"): {
        R: sorted(["prepare.acquire_lock", "prepare.ensure_config", "prepare.ensure_ticket_sales",
                   "prepare.stage_jobs", "validate.publish", RELEASE, *_DMS_CHECKS, *_DMS_IMPORTS]),
        "prepare.ensure_ticket_sales": ["prepare.acquire_lock"],
        "prepare.ensure_config": ["prepare.acquire_lock"],
        "prepare.acquire_lock": ["prepare.stage_jobs"],
        "prepare.stage_jobs": ["load.run_config", "load.run_ticket_sales"],
        "load.run_ticket_sales": ["load.import_ticket_sales", RELEASE],
        "load.run_config": ["load.import_config", RELEASE],
        "load.import_ticket_sales": _DMS_AFTER_LOAD,
        "load.import_config": _DMS_AFTER_LOAD,
        **_VALIDATE_DMS,
    },
    ("dms_sample_to_dynamodb", "aws"): {
        R: sorted(["load.crawl_source", "prepare.acquire_lock", "prepare.ensure_config", "prepare.ensure_ticket_sales",
                   "prepare.stage_jobs", "validate.publish", RELEASE, *_DMS_CHECKS, *_DMS_IMPORTS]),
        "prepare.ensure_ticket_sales": ["prepare.acquire_lock"],
        "prepare.ensure_config": ["prepare.acquire_lock"],
        "prepare.acquire_lock": ["prepare.stage_jobs"],
        "prepare.stage_jobs": ["load.crawl_source", "load.glue_config", "load.glue_ticket_sales"],
        "load.crawl_source": ["load.glue_config", "load.glue_ticket_sales"],
        "load.glue_ticket_sales": ["load.import_ticket_sales", RELEASE],
        "load.glue_config": ["load.import_config", RELEASE],
        "load.import_ticket_sales": _DMS_AFTER_LOAD,
        "load.import_config": _DMS_AFTER_LOAD,
        **_VALIDATE_DMS,
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
        "trigger_rules": {t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in d.tasks},
        "retries_by_task": {t.task_id: t.retries for t in d.tasks},
        "deferrable": sorted(t.task_id for t in d.tasks if getattr(t, "deferrable", False)),
        "params": {k: {"default": d.params.get_param(k).value, "schema": d.params.get_param(k).schema,
                       "description": d.params.get_param(k).description}
                   for k in d.params.keys()},
        "doc_md": d.doc_md,
        "outlets": {t.task_id: sorted(a.uri for a in t.outlets) for t in d.tasks if t.outlets},
        "groups": sorted({t.task_id.split(".")[0] for t in d.tasks}),
    } for d in bag.dags.values()},
    "heavy_modules": sorted(m for m in ("pyspark", "psycopg", "pymongo", "awsglue") if m in sys.modules),
}))
"""


@functools.cache
def _parse(profile: str) -> dict:
    """The DAG folder parsed in a fresh interpreter under `profile` (once per profile: a parse costs seconds)."""
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


def _reachable(graph: dict[str, list[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_target_lock_spans_every_write(parsed: tuple[str, dict]) -> None:
    """acquire_lock after the target is ready and before any load task; release_lock after every load task and
    the report, whatever happened (ALL_DONE, no retries), and a leaf, so publish still decides the outcome."""
    _, result = parsed
    for dag_id, ready in (("movie_collection_to_dsql", ["prepare.deploy_ddl"]),
                          ("dms_sample_to_dynamodb", ["prepare.ensure_config", "prepare.ensure_ticket_sales"])):
        dag = result["dags"][dag_id]
        graph = dag["graph"]
        loads = {t for t in graph if t.startswith("load.")}
        assert all("prepare.acquire_lock" in _reachable(graph, t) for t in ready), dag_id
        assert loads <= _reachable(graph, "prepare.acquire_lock"), dag_id
        assert all(RELEASE in _reachable(graph, t) for t in [*loads, "validate.report"]), dag_id
        assert graph[RELEASE] == [] and graph["validate.publish"] == [], dag_id
        assert dag["trigger_rules"][RELEASE] == "all_done" and dag["retries_by_task"][RELEASE] == 0, dag_id
        assert dag["trigger_rules"]["prepare.acquire_lock"] == "all_success", dag_id


def test_aws_waits_are_deferrable() -> None:
    result = _parse("aws")
    assert "load.wait_for_step" in result["dags"]["movie_collection_to_dsql"]["deferrable"]
    assert {"prepare.ensure_ticket_sales", "prepare.ensure_config", "load.crawl_source", "load.glue_ticket_sales",
            "load.glue_config", *_DMS_IMPORTS} <= set(result["dags"]["dms_sample_to_dynamodb"]["deferrable"])


def test_parse_does_no_io_and_no_heavy_imports(parsed: tuple[str, dict]) -> None:
    _, result = parsed
    # a socket opened during parsing would have surfaced as an import error above
    assert result["errors"] == {}
    assert "pyspark" not in result["heavy_modules"]
    assert "awsglue" not in result["heavy_modules"]


def test_every_param_has_a_usable_default_and_a_description(parsed: tuple[str, dict]) -> None:
    """The trigger form can be submitted as it opens: every default validates against its own schema."""
    import jsonschema

    _, result = parsed
    for dag_id, dag in result["dags"].items():
        for name, p in dag["params"].items():
            assert p["description"], f"{dag_id}.{name} has no description"
            jsonschema.validate(p["default"], p["schema"])
    assert result["dags"]["movie_collection_to_dsql"]["params"]["source_uri"]["default"] is None


def test_docs_groups_and_assets(parsed: tuple[str, dict]) -> None:
    _, result = parsed
    for dag_id, dag in result["dags"].items():
        assert dag["groups"] == ["load", "prepare", "validate"], dag_id
        for heading in ("### A run", "### Params", "### Results", "### Rerun"):
            assert heading in dag["doc_md"], (dag_id, heading)
    assert result["dags"]["movie_collection_to_dsql"]["outlets"] == {"validate.publish": sorted(
        f"dsql://dsql_default/movie_db/{t}" for t in ("movies", "actors", "directors", "movie_actors",
                                                      "movie_directors"))}
    assert result["dags"]["dms_sample_to_dynamodb"]["outlets"] == {"validate.publish": [
        "dynamodb://aws_default/config", "dynamodb://aws_default/ticket_sales"]}


def test_a_broken_spec_leaves_the_other_dag_loadable(tmp_path: Path) -> None:
    """A typo in one spec: that DAG shows (tagged broken-spec) and fails at once with the error; the other loads."""
    import shutil

    include = tmp_path / "include"
    shutil.copytree(ROOT / "include" / "specs", include / "specs")
    shutil.copytree(ROOT / "include" / "sql", include / "sql")
    spec = include / "specs" / "dms_sample_to_dynamodb.yaml"
    spec.write_text(spec.read_text().replace("validation:", "valdation:"))
    env = {**os.environ, "DBMIGRATE_PROFILE": "local", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "DBMIGRATE_INCLUDE_DIR": str(include), "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT / 'include'}"}
    out = subprocess.run([sys.executable, "-c", _PARSE, str(DAGS)], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["dags"]["movie_collection_to_dsql"]["graph"] == EXPECTED[("movie_collection_to_dsql", "local")]
    broken = result["dags"]["dms_sample_to_dynamodb"]
    assert broken["tags"] == ["broken-spec"] and list(broken["graph"]) == ["spec_error"]
    assert "dms_sample_to_dynamodb.yaml: unknown top-level keys ['valdation']" in broken["doc_md"]


def test_the_broken_spec_dag_fails_at_once_with_the_error() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from dbmigrate.dag_factory import broken_spec_dag

    task = broken_spec_dag("x", "x.yaml: retries: must be a whole number >= 0, got 'two'").get_task("spec_error")
    assert task.retries == 0
    with pytest.raises(AirflowFailException, match="retries: must be a whole number"):
        task.python_callable(*task.op_args)


def test_the_dag_description_is_the_specs_whole() -> None:
    """A folded YAML block is one description: the DAG list shows it whole, not its first line."""
    from dbmigrate.dag_factory import build_dags
    from transforms.spec import load_spec

    spec = load_spec(ROOT / "include" / "specs" / "movie_collection_to_dsql.yaml")
    dag = build_dags(ROOT / "include" / "specs")["movie_collection_to_dsql"]
    assert dag.description == " ".join(spec.description.split()) and dag.description.endswith("prove the result.")
