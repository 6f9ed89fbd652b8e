"""dms_sample's two tables declared as a `sql_to_dynamodb` design (tests/fixtures/dms_sample_design.yaml) and
written by the generic engine: item for item, byte for byte, what the ticketing job wrote from the same source (the
session's `dms_loaded`). The full-load half of issue 25's step 2: the DAG still runs the ticketing job, which also
loads intervals."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from connectors.dynamodb_scan import scan_items
from jobs.sql_to_dynamodb import parse_args, run
from tests.fixtures import dms_sample_real_types as real_types_data
from tests.fixtures.dms_sample_load import Loaded, Source, drop_tables, make_tables, run_jobs
from tests.fixtures.session_runs import database_with
from transforms.dynamodb_tables import TableSpec, create_table_kwargs
from transforms.spec import load_spec

pytestmark = pytest.mark.spark
SPEC = Path(__file__).resolve().parents[2] / "fixtures" / "dms_sample_design.yaml"


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    return list(scan_items(table, client=client))


def declared_items(spark: Any, client: Any, source: Source, target: str, workdir: Path) -> tuple[dict, list[str]]:
    """The engine's job on `source` into a table of its own: its report and every item, as sorted JSON."""
    spec = load_spec(SPEC)
    table = f"{target}_declared_{uuid.uuid4().hex[:8]}"
    client.create_table(**create_table_kwargs(TableSpec.from_dict({**spec.targets[target], "name": table})))
    try:
        report = run(parse_args([
            "--spec", str(SPEC), "--item-set", target, "--run-id", "declared", "--table", table,
            "--report-uri", str(workdir / f"report_{target}.json"), "--source-json", json.dumps(source.info),
            "--source-schema", source.schema, "--source-password-file", str(source.password_file),
            "--partitions", "2"]), spark)
        return report, sorted(json.dumps(i, sort_keys=True) for i in scan(client, table))
    finally:
        client.delete_table(TableName=table)


def same(declared: list[str], built_in_code: list[str]) -> None:
    missing, extra = set(built_in_code) - set(declared), set(declared) - set(built_in_code)
    assert not missing and not extra, (sorted(missing)[:3], sorted(extra)[:3])
    assert declared == built_in_code


@pytest.mark.parametrize("target", ["config", "ticket_sales"])
def test_the_declared_design_writes_the_items_the_ticketing_job_wrote(spark: Any, dms_loaded: Loaded, tmp_path: Path,
                                                                     target: str) -> None:
    client = boto3.client("dynamodb")
    report, declared = declared_items(spark, client, dms_loaded.source, target, tmp_path)
    built_in_code = sorted(json.dumps(i, sort_keys=True) for i in scan(client, dms_loaded.tables[target]))
    assert report["rejects"] == {} and report["items"] == len(built_in_code) > 0
    same(declared, built_in_code)


@pytest.fixture(scope="module")
def real_types(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    """AWS's PostgreSQL port of dms_sample (ids DOUBLE PRECISION and NUMERIC, histories that share times and do
    not chain, one non-integral id) in a database of its own."""
    workdir = tmp_path_factory.mktemp("declared_real_types")
    with database_with(real_types_data.SQL_FILE, "declared_types") as db:
        info = psycopg.conninfo.conninfo_to_dict(os.environ["LOCAL_SOURCE_SQL_URI"])
        (workdir / "pw").write_text(str(info.pop("password", "")))
        yield Source(os.environ["LOCAL_SOURCE_SQL_URI"], real_types_data.SCHEMA, {**info, "dbname": db},
                     workdir / "pw", {}, {})


def test_on_the_real_type_fixture_too_every_item_is_the_ticketing_jobs(spark: Any, real_types: Source,
                                                                        tmp_path: Path) -> None:
    client = boto3.client("dynamodb")
    tables = make_tables(client, uuid.uuid4().hex[:8])
    try:
        run_jobs(spark, real_types, tables, tmp_path / "code")
        built_in_code = {t: sorted(json.dumps(i, sort_keys=True) for i in scan(client, name))
                         for t, name in tables.items()}
    finally:
        drop_tables(client, tables)
    for target in ("config", "ticket_sales"):
        report, declared = declared_items(spark, client, real_types, target, tmp_path)
        same(declared, built_in_code[target])
    # the one history row whose buyer is 4.5 is a bad_type reject, as the ticketing job's
    assert report["rejected_rows"] == {"ticket_purchase_hist": real_types_data.BAD_TYPE_REJECTS}


def test_the_generic_validators_prove_the_ticketing_jobs_tables_by_the_declared_design(dms_loaded: Loaded) -> None:
    """Counts per item type, sampled items and the five access patterns, all from the declared design, pass on what
    the ticketing job wrote: the generic validators can take over dms_sample's."""
    from dbmigrate.operators.run_inputs import resolve
    from tests.fixtures.in_process import validate_design

    run = resolve("dms_sample_to_dynamodb", {"source_schema": dms_loaded.schema}, "manual__declared_validators")
    run.update(spec_uri=str(SPEC), tables=dms_loaded.tables, job_report_uris={
        t: str(dms_loaded.workdir / f"{t}.json") for t in dms_loaded.tables})
    report = validate_design("dms_sample_to_dynamodb", run)
    assert report["status"] == "passed", [c for c in report["checks"] if not c["passed"]][:5]
    patterns = {c["name"].split(" {")[0] for c in report["checks"] if c["name"].startswith("access pattern ")}
    assert {f"access pattern {p}" for p in ("tickets_owned", "tickets_available", "tickets_transferred_from",
                                             "tickets_transferred_to", "config_by_name")} <= patterns
    assert report["sample"]["compared"] > 0 and report["sample"]["mismatched"] == 0
