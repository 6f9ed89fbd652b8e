"""A run's inputs, resolved once from spec + params + profile: what each profile and param yields."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from dbmigrate import runtime
from dbmigrate.operators.run_inputs import resolve

MOVIE, DMS = "movie_collection_to_dsql", "dms_sample_to_dynamodb"
RUN_ID = "manual__2026-11-22T00:00:00+00:00"


def test_local_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DBMIGRATE_PROFILE", "local")
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))
    run = resolve(MOVIE, {"source_uri": None, "validation_sample_size": 7, "dry_run": False}, RUN_ID)
    assert run["source_uri"] == f"file://{tmp_path}/movie_collection.json"
    assert run["profile"] == "local" and run["sample_size"] == 7 and run["dry_run"] is False
    assert run["report_uri"].endswith(f"/{MOVIE}/{RUN_ID}/report.json")
    assert run["quarantine_uri"].endswith(f"/{MOVIE}/manual__2026-11-22T00_00_00_00_00")
    assert run["ddl_dir"].endswith("/sql/movie_db")


def test_aws_profile_rejects_a_worker_file_and_uses_the_live_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBMIGRATE_PROFILE", "aws")
    assert resolve(MOVIE, {}, RUN_ID)["source_uri"].startswith("mongodb+srv://")
    assert resolve(MOVIE, {}, RUN_ID)["report_uri"].startswith("s3://")
    with pytest.raises(runtime.RunInputError, match="EMR cannot read"):
        resolve(MOVIE, {"source_uri": "file:///tmp/x.json"}, RUN_ID)
    with pytest.raises(runtime.RunInputError, match="unsupported source_uri"):
        resolve(MOVIE, {"source_uri": "ftp://x"}, RUN_ID)


@pytest.fixture
def source_conn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """`tickets_prod`, a postgres connection to the source stand-in; `make(*names)` creates schemas (quoted)."""
    uri = os.environ["LOCAL_SOURCE_SQL_URI"]
    info = conninfo_to_dict(uri)
    monkeypatch.setenv("AIRFLOW_CONN_TICKETS_PROD", json.dumps({
        "conn_type": "postgres", "host": info["host"], "port": int(info["port"]), "login": info["user"],
        "password": info["password"], "schema": info["dbname"]}))
    made: list[str] = []

    def make(*names: str) -> None:
        with psycopg.connect(uri, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
                made.append(name)

    yield make
    with psycopg.connect(uri, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def test_source_params_drive_the_crawler_path_and_catalog_prefix(monkeypatch: pytest.MonkeyPatch,
                                                                 source_conn: Callable[..., None]) -> None:
    monkeypatch.setenv("DBMIGRATE_PROFILE", "aws")
    source_conn("rt_sales")
    database = conninfo_to_dict(os.environ["LOCAL_SOURCE_SQL_URI"])["dbname"]
    run = resolve(DMS, {"source_conn_id": "tickets_prod", "source_schema": "rt_sales"}, RUN_ID)
    assert (run["source_conn_id"], run["source_schema"], run["source_database"]) == \
        ("tickets_prod", "rt_sales", database)
    assert run["crawler_path"] == f"{database}/rt_sales/%"
    assert run["catalog_table_prefix"] == f"{database}_rt_sales_".lower()
    assert run["tables"] == {"ticket_sales": "ticket_sales", "config": "config"}
    assert set(run["job_report_uris"]) == {"ticket_sales", "config"}


def test_the_schema_is_the_source_catalogs_spelling(monkeypatch: pytest.MonkeyPatch,
                                                    source_conn: Callable[..., None]) -> None:
    """`DMS_SAMPLE` names the stand-in's `dms_sample`: job and validators then quote that one spelling."""
    monkeypatch.setenv("DBMIGRATE_PROFILE", "local")
    source_conn("rt_lower", "RT_Mixed", "Rt_Twice", "rt_twice")
    params = {"source_conn_id": "tickets_prod"}
    assert resolve(DMS, {**params, "source_schema": "RT_LOWER"}, RUN_ID)["source_schema"] == "rt_lower"
    assert resolve(DMS, {**params, "source_schema": "rt_mixed"}, RUN_ID)["source_schema"] == "RT_Mixed"
    assert resolve(DMS, {**params, "source_schema": "rt_twice"}, RUN_ID)["source_schema"] == "rt_twice"
    with pytest.raises(runtime.RunInputError, match="ambiguous"):
        resolve(DMS, {**params, "source_schema": "RT_TWICE"}, RUN_ID)
    with pytest.raises(runtime.RunInputError, match="'rt_missing' does not exist"):
        resolve(DMS, {**params, "source_schema": "rt_missing"}, RUN_ID)


def test_bad_params_fail_with_the_param_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBMIGRATE_PROFILE", "local")
    with pytest.raises(runtime.RunInputError, match="source_schema"):
        resolve(DMS, {"source_schema": "x; drop table"}, RUN_ID)
    with pytest.raises(runtime.RunInputError, match="source connection 'nope'"):
        resolve(DMS, {"source_conn_id": "nope"}, RUN_ID)
    with pytest.raises(runtime.RunInputError, match="validation_sample_size"):
        resolve(MOVIE, {"validation_sample_size": -1}, RUN_ID)
    with pytest.raises(runtime.RunInputError, match="spec of no_such_dag"):
        resolve("no_such_dag", {}, RUN_ID)


def test_which_records_a_run_loads() -> None:
    from transforms.spec import load_spec

    spec = load_spec(runtime.paths.spec_dir() / "movie_collection_to_dsql.yaml")
    day = ("2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00")
    assert runtime.run_window(spec, {}, "manual", day)["source"] == "full"  # a manual run: everything
    assert runtime.run_window(spec, {}, "backfill", day) == {
        "start": day[0], "end": day[1], "source": "data_interval", "field": "_id", "table": None}
    assert runtime.run_window(spec, {"window_start": "2024-03-01"}, "scheduled", day) == {
        "start": "2024-03-01T00:00:00+00:00", "end": None, "source": "params", "field": "_id", "table": None}
    with pytest.raises(runtime.RunInputError, match="is not before its end"):
        runtime.run_window(spec, {"window_start": "2024-03-02", "window_end": "2024-03-01"})
    dms = load_spec(runtime.paths.spec_dir() / "dms_sample_to_dynamodb.yaml")
    assert runtime.run_window(dms, {}, "backfill", day) == {  # the purchase history's day
        "start": day[0], "end": day[1], "source": "data_interval", "field": "transaction_date_time",
        "table": "ticket_purchase_hist"}
    assert runtime.run_window(dms, {}, "manual", day)["source"] == "full"


@pytest.fixture(scope="module")
def resolve_task() -> Callable[[str], object]:
    from dbmigrate.dag_factory import build_dags
    from tests.fixtures import SPEC_DIR

    dags = build_dags(SPEC_DIR)
    return lambda dag_id: (dags[dag_id], dags[dag_id].task_dict["prepare.resolve_run"])


@pytest.mark.parametrize(("dag_id", "conf", "message"), [
    (MOVIE, {"dryrun": True}, r"unknown conf key\(s\) 'dryrun' \(did you mean 'dry_run'\?\)"),
    (DMS, {"source_schema": "pg_catalog"}, "'pg_catalog' is a system schema"),
    (DMS, {"source_schema": "INFORMATION_SCHEMA"}, "is a system schema"),
    (DMS, {"source_schema": "sys"}, "is a system schema"),
    (MOVIE, {"dry_run": "ture"}, r"dry_run: expected true or false, got 'ture'"),  # never a quiet "no"
])
def test_the_first_task_refuses_what_must_not_run(monkeypatch: pytest.MonkeyPatch, resolve_task: Callable,
                                                 dag_id: str, conf: dict, message: str) -> None:
    """Before any lock, table or job: the run fails in `prepare.resolve_run`, naming what is wrong."""
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("DBMIGRATE_PROFILE", "local")
    dag, task = resolve_task(dag_id)
    params = {**{k: dag.params[k] for k in dag.params}, **conf}
    context = {"dag": dag, "dag_run": SimpleNamespace(conf=conf, run_type="manual"), "params": params,
               "run_id": RUN_ID, "data_interval_start": None, "data_interval_end": None}
    with pytest.raises(AirflowFailException, match=message):
        task.execute(context)


def test_a_run_keeps_the_spec_it_started_with(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The first task copies the deployed spec beside the run's report; every later task reads that copy, so a spec
    deployed while the run runs (another target schema, say) changes nothing of it."""
    import shutil

    from tests.fixtures import ROOT

    include = tmp_path / "include"
    shutil.copytree(ROOT / "include" / "specs", include / "specs")
    monkeypatch.setenv("DBMIGRATE_INCLUDE_DIR", str(include))
    monkeypatch.setenv("DBMIGRATE_PROFILE", "local")
    monkeypatch.setenv("LOCAL_REPORTS_DIR", str(tmp_path / "reports"))
    run = resolve(MOVIE, {}, RUN_ID)
    assert run["spec_uri"] == f"{run['run_prefix']}/{MOVIE}.yaml"
    deployed = include / "specs" / f"{MOVIE}.yaml"
    deployed.write_text(deployed.read_text().replace("schema: movie_db", "schema: redeployed_db"))
    assert runtime.spec_for(MOVIE).target_schema == "redeployed_db"  # what a new run would get
    assert runtime.run_spec(run, MOVIE).target_schema == "movie_db"  # what this run's tasks get
    assert runtime.run_spec({}, MOVIE).target_schema == "redeployed_db"  # a run resolved before runs staged specs


def test_only_the_first_task_reads_the_deployed_spec() -> None:
    """Every operator after `prepare.resolve_run` reads the run's copy (`runtime.run_spec`)."""
    from tests.fixtures import ROOT

    readers = sorted(p.name for p in (ROOT / "plugins" / "dbmigrate" / "operators").glob("*.py")
                     if "runtime.spec_for(" in p.read_text())
    assert readers == ["run_inputs.py"]
