"""Identifiers one way: checked once, quoted everywhere, resolved to the catalog's spelling; a mixed-case schema
reads the same in the validators' SQL as in the job's psycopg reader."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from generators import dms_sample
from tests.fixtures import SPEC_DIR
from transforms import design_checks as dc
from transforms.identifiers import SCHEMA_LOOKUP_SQL, check_identifier, pick_schema, quoted
from transforms.spec import load_spec


@pytest.mark.parametrize("name", ["dms_sample", "DMS_SAMPLE", "_x1", "a" * 63])
def test_plain_identifiers_pass(name: str) -> None:
    assert check_identifier(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", 'a"b', "x; drop table y", "a" * 64, None, "é"])
def test_anything_else_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        check_identifier(name)  # type: ignore[arg-type]


def test_quoted_keeps_case_as_psycopg_does() -> None:
    assert quoted("DMS_Sample", "person") == '"DMS_Sample"."person"'
    with psycopg.connect(os.environ["LOCAL_SOURCE_SQL_URI"]) as conn:
        assert sql.Identifier("DMS_Sample", "person").as_string(conn) == quoted("DMS_Sample", "person")
    with pytest.raises(ValueError):
        quoted("ok", 'bad"name')


def test_pick_schema() -> None:
    assert pick_schema("DMS_SAMPLE", ["dms_sample"]) == "dms_sample"
    assert pick_schema("Sales", ["sales", "Sales"]) == "Sales"
    with pytest.raises(ValueError, match="ambiguous"):
        pick_schema("SALES", ["sales", "Sales"])
    with pytest.raises(ValueError, match="does not exist"):
        pick_schema("sales", [])


@pytest.fixture(scope="module")
def mixed_case_source() -> Iterator[tuple[str, dms_sample.Loaded]]:
    uri, schema = os.environ["LOCAL_SOURCE_SQL_URI"], "Ids_Mixed_Case"
    loaded = dms_sample.load(uri, schema=schema, scale=0.02)
    yield schema, loaded
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_a_mixed_case_schema_reads_the_same_in_validators_and_job(mixed_case_source) -> None:  # noqa: ANN001
    schema, loaded = mixed_case_source
    with psycopg.connect(os.environ["LOCAL_SOURCE_SQL_URI"]) as conn:
        found = [r[0] for r in conn.execute(SCHEMA_LOOKUP_SQL, ["IDS_MIXED_CASE"]).fetchall()]
        assert pick_schema("ids_mixed_case", found) == schema
        # the validators' dialect-neutral SQL, quoted: the schema's own tables, not a folded name
        spec = load_spec(SPEC_DIR / "dms_sample_to_dynamodb.yaml")
        counts = {i.type_value: conn.execute(dc.count_sql(i, schema, spec.column_types)).fetchone()[0]
                  for i in spec.items}
        assert counts["PERSON"] == loaded.counts["person"]
        assert counts["PURCHASED"] + counts["TRANSFERRED"] == loaded.counts["ticket_purchase_hist"]
        # the job's reader (psycopg sql.Identifier) names the same table
        job_count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(schema, "person"))).fetchone()[0]
        assert job_count == counts["PERSON"]
