"""dms_sample through the generic engine writes, item for item and byte for byte, what the ticketing job wrote before
issue 25 replaced it by the declared design (include/specs/dms_sample_to_dynamodb.yaml).

`tests/fixtures/ticketing_reference/` holds what that job (`jobs/sqlserver_to_dynamodb.py` with
`transforms/ticketing.py`, removed in the same change) wrote from four sources, taken just before the switch:
every item of both tables as sorted JSON lines, and what its reports said (items by type, rejects, the source's
anomalies). The sources: the session's generated dms_sample (seed 11, scale 0.1), the three-day one of the interval
tests (seed 4), AWS's PostgreSQL port with its real types (`dms_sample_real_types.sql`: DOUBLE PRECISION ids, ties,
transfers that do not chain, a non-integral id) and another database of the same shape (`other_ticketing.sql`).
The generated sets hold as long as `generators.dms_sample` makes the same rows for a seed (its own tests say so).
"""

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
from tests.fixtures import dms_sample_real_types as real_types
from tests.fixtures.dms_sample_load import (
    REFERENCE,
    Loaded,
    Source,
    drop_tables,
    make_tables,
    reference,
    run_jobs,
    three_day_source,
)
from tests.fixtures.session_runs import database_with
from tests.include.jobs.test_dynamodb_intervals import START

pytestmark = pytest.mark.spark
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REPORTED = ("anomalies", "by_type", "rejects", "rejected_rows")


def table_items(table: str) -> list[str]:
    return sorted(json.dumps(i, sort_keys=True) for i in scan_items(table, client=boto3.client("dynamodb")))


def same_as_before(name: str, tables: dict[str, str], reports: dict[str, dict[str, Any]]) -> None:
    """Every item of both tables and what the reports say, against the ticketing job's."""
    before = json.loads((REFERENCE / f"{name}.reports.json").read_text())
    for target, table in tables.items():
        now, then = table_items(table), reference(name, target)
        missing, extra = sorted(set(then) - set(now)), sorted(set(now) - set(then))
        assert not missing and not extra, (name, target, missing[:2], extra[:2])
        assert now == then and len(now) > 0
        assert {k: reports[target][k] for k in REPORTED} == before[target], (name, target)


@pytest.fixture
def loaded_from(spark: Any, tmp_path: Path) -> Iterator[Any]:
    """Load a source (the generic job, both targets) into fresh tables; dropped afterwards."""
    made: list[dict[str, str]] = []

    def load(source: Source) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        tables = make_tables(boto3.client("dynamodb"), uuid.uuid4().hex[:8])
        made.append(tables)
        return tables, run_jobs(spark, source, tables, tmp_path / uuid.uuid4().hex[:6], partitions=2)

    yield load
    for tables in made:
        drop_tables(boto3.client("dynamodb"), tables)


def test_the_generated_source_gives_the_items_it_gave(dms_loaded: Loaded) -> None:
    same_as_before("generated_seed11", dms_loaded.tables, dms_loaded.reports)


def test_the_three_day_source_gives_the_items_it_gave(loaded_from: Any, tmp_path: Path) -> None:
    with three_day_source(tmp_path / "src", "ref3", START) as source:
        same_as_before("three_days_seed4", *loaded_from(source))


def _sql_source(sql_file: Path, prefix: str, schema: str, tmp_path: Path) -> Iterator[Source]:
    with database_with(sql_file, prefix) as db:
        info = psycopg.conninfo.conninfo_to_dict(os.environ["LOCAL_SOURCE_SQL_URI"])
        (tmp_path / "pw").write_text(str(info.pop("password", "")))
        yield Source(os.environ["LOCAL_SOURCE_SQL_URI"], schema, {**info, "dbname": db}, tmp_path / "pw", {}, {})


@pytest.mark.parametrize(("name", "sql_file", "schema"), [
    ("aws_real_types", real_types.SQL_FILE, real_types.SCHEMA),
    ("other_ticketing", FIXTURES / "other_ticketing.sql", "ticketing")])
def test_the_sql_fixtures_give_the_items_they_gave(loaded_from: Any, tmp_path: Path, name: str, sql_file: Path,
                                                   schema: str) -> None:
    for source in _sql_source(sql_file, name, schema, tmp_path):
        tables, reports = loaded_from(source)
        same_as_before(name, tables, reports)
    if name == "aws_real_types":  # its one history row whose buyer is 4.5: a bad_type reject, as before
        assert reports["ticket_sales"]["rejected_rows"] == {"ticket_purchase_hist": real_types.BAD_TYPE_REJECTS}
