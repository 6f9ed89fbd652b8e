"""dms_sample's two tables declared as a `sql_to_dynamodb` design (tests/fixtures/dms_sample_design.yaml) and
written by the generic engine: item for item, byte for byte, what the ticketing job wrote from the same source (the
session's `dms_loaded`). The full-load half of issue 25's step 2: the DAG still runs the ticketing job, which also
loads intervals."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from connectors.dynamodb_scan import scan_items
from jobs.sql_to_dynamodb import parse_args, run
from tests.fixtures.dms_sample_load import Loaded
from transforms.dynamodb_tables import TableSpec, create_table_kwargs
from transforms.spec import load_spec

pytestmark = pytest.mark.spark
SPEC = Path(__file__).resolve().parents[2] / "fixtures" / "dms_sample_design.yaml"


def scan(client: Any, table: str) -> list[dict[str, Any]]:
    return list(scan_items(table, client=client))


@pytest.mark.parametrize("target", ["config", "ticket_sales"])
def test_the_declared_design_writes_the_items_the_ticketing_job_wrote(spark: Any, dms_loaded: Loaded, tmp_path: Path,
                                                                     target: str) -> None:
    client = boto3.client("dynamodb")
    spec = load_spec(SPEC)
    table = f"{target}_declared_{uuid.uuid4().hex[:8]}"
    client.create_table(**create_table_kwargs(TableSpec.from_dict({**spec.targets[target], "name": table})))
    try:
        report = run(parse_args([
            "--spec", str(SPEC), "--item-set", target, "--run-id", "declared", "--table", table,
            "--report-uri", str(tmp_path / "report.json"), "--source-json", json.dumps(dms_loaded.source.info),
            "--source-schema", dms_loaded.schema, "--source-password-file", str(dms_loaded.source.password_file),
            "--partitions", "2"]), spark)
        declared = sorted(json.dumps(i, sort_keys=True) for i in scan(client, table))
    finally:
        client.delete_table(TableName=table)
    built_in_code = sorted(json.dumps(i, sort_keys=True) for i in scan(client, dms_loaded.tables[target]))
    assert report["rejects"] == {} and report["items"] == len(built_in_code) > 0
    missing, extra = set(built_in_code) - set(declared), set(declared) - set(built_in_code)
    assert not missing and not extra, (sorted(missing)[:3], sorted(extra)[:3])
    assert declared == built_in_code
