"""connectors.dynamodb_reconcile on the embedded stack: a generated dms_sample (PostgreSQL) loaded into moto by
the real job, then every item reconciled; after tampering with the tables (UpdateItem, DeleteItem, PutItem) the
one changed attribute, the missing item and the extra item are named by key.

Scale: `RECONCILE_TEST_SCALE` (default 2.5: about 105,000 items, 99,804 of them in ticket_sales: one changed value
in 100k). It takes about 12 minutes here, nearly all of it in the moto server (each Scan page walks the table
from its start, and each item is deep-copied and serialized); `RECONCILE_TEST_SCALE=0.25` (about 12,500 items)
runs the same assertions in about 1.5 minutes while developing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from connectors.dynamodb_reconcile import Timings, reconcile_dynamodb, stream_rows
from tests.fixtures.dms_sample_load import Loaded, loaded_dms_sample
from transforms.reconcile import render_diffs
from transforms.ticketing_reconcile import OTHER_ATTRIBUTES

pytestmark = pytest.mark.spark
SCALE = float(os.environ.get("RECONCILE_TEST_SCALE", "2.5"))


@pytest.fixture(scope="module")
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture(scope="module")
def loaded(spark: Any, client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    with loaded_dms_sample(spark, client, tmp_path_factory.mktemp("load"), scale=SCALE) as out:
        yield out


def key_of(item: dict[str, dict]) -> dict[str, dict]:
    return {k: item[k] for k in ("sporting_event_ticket_id", "ticket_status_owner")}


def items_of_type(client: Any, table: str, item_type: str, n: int) -> list[dict[str, dict]]:
    """`n` items of one type, from the middle of the table's scan order."""
    out: list[dict[str, dict]] = []
    for page in client.get_paginator("scan").paginate(
            TableName=table, FilterExpression="item_type = :t", ExpressionAttributeValues={":t": {"S": item_type}}):
        out += page["Items"]
        if len(out) >= 3 * n:
            break
    return out[n:2 * n]


def test_a_clean_load_reconciles(loaded: Loaded, client: Any) -> None:
    timings = Timings()
    with psycopg.connect(loaded.uri, autocommit=True) as conn:  # named cursors WITH HOLD
        recs = reconcile_dynamodb(conn, loaded.schema, client, loaded.tables, timings=timings)
    assert set(recs) == {"ticket_sales", "config"}
    for name, rec in recs.items():
        assert rec.passed, "\n".join(render_diffs(rec))
        assert rec.rows_expected == rec.rows_actual == loaded.reports[name]["items"]
        assert [c.passed for c in rec.checks()] == [True, True]
    assert recs["ticket_sales"].rows_expected >= 30_000 * SCALE  # about 40,000 items per unit of scale
    assert set(timings.seconds) == {"dimensions", "ticket_sales", "config"}
    assert timings.seconds["ticket_sales"]["drill_down"] < timings.seconds["ticket_sales"]["pass_1"]


def test_tampered_items_are_named(loaded: Loaded, client: Any) -> None:
    sales, config = loaded.tables["ticket_sales"], loaded.tables["config"]
    changed, same_value = items_of_type(client, sales, "TRANSFERRED", 2)
    (missing,) = items_of_type(client, sales, "AVAILABLE", 1)
    price = Decimal(changed["ticket_price"]["N"])
    client.update_item(TableName=sales, Key=key_of(changed), UpdateExpression="SET ticket_price = :p",
                       ExpressionAttributeValues={":p": {"N": str(price + Decimal("0.01"))}})
    # the same number in another notation is not a difference
    client.update_item(TableName=sales, Key=key_of(same_value), UpdateExpression="SET ticket_price = :p",
                       ExpressionAttributeValues={":p": {"N": f"{Decimal(same_value['ticket_price']['N']):.4f}"}})
    client.delete_item(TableName=sales, Key=key_of(missing))
    extra = {**missing, "ticket_status_owner": {"S": "Transferred|999999|2030-01-01T00:00:00.000"}}
    client.put_item(TableName=sales, Item=extra)
    person = {"data_type": {"S": "PERSON"}, "data_id": {"S": str(loaded.edge_cases["null_first_name_person_ids"][0])}}
    client.update_item(TableName=config, Key=person, UpdateExpression="SET legacy_flag = :f",
                       ExpressionAttributeValues={":f": {"BOOL": True}})

    with psycopg.connect(loaded.uri) as conn:
        recs = reconcile_dynamodb(conn, loaded.schema, client, loaded.tables)
    rec = recs["ticket_sales"]
    assert not rec.passed
    assert rec.rows_expected == rec.rows_actual == loaded.reports["ticket_sales"]["items"]  # one gone, one more
    assert rec.diff_count == 3 and not rec.truncated
    ticket = int(changed["sporting_event_ticket_id"]["N"])
    by_kind = {d.kind: d for d in rec.diffs}
    assert set(by_kind) == {"changed", "missing", "extra"}
    assert by_kind["changed"].key == (ticket, changed["ticket_status_owner"]["S"])
    assert by_kind["changed"].columns == {
        "ticket_price": (f"N:{price.normalize():f}", f"N:{(price + Decimal('0.01')).normalize():f}")}
    assert by_kind["missing"].key == (int(missing["sporting_event_ticket_id"]["N"]), "Available")
    assert by_kind["missing"].columns["seat"] == (f"S:{missing['seat']['S']}", None)
    assert by_kind["extra"].key == (int(missing["sporting_event_ticket_id"]["N"]),
                                    "Transferred|999999|2030-01-01T00:00:00.000")
    assert by_kind["extra"].columns["item_type"] == (None, "S:AVAILABLE")
    assert rec.checks()[1].actual == 3 and not rec.checks()[1].passed

    (diff,) = recs["config"].diffs
    assert (diff.kind, diff.key) == ("changed", ("PERSON", person["data_id"]["S"]))
    assert diff.columns == {OTHER_ATTRIBUTES: (None, {"legacy_flag": "BOOL:true"})}
    lines = "\n".join(render_diffs(rec))
    assert f"| ticket_sales | {ticket}, {changed['ticket_status_owner']['S']} | changed | ticket_price |" in lines


def test_stream_rows_reads_in_batches(loaded: Loaded) -> None:
    with psycopg.connect(loaded.uri) as conn:
        rows = list(stream_rows(conn, f'SELECT id FROM "{loaded.schema}"."person" ORDER BY id', itersize=7))
        total = conn.execute(f'SELECT count(*) FROM "{loaded.schema}"."person"').fetchone()[0]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows) and len(rows) == total > 7


def test_unknown_table(loaded: Loaded, client: Any, tmp_path: Path) -> None:
    with psycopg.connect(loaded.uri) as conn, pytest.raises(ValueError, match="no reconciliation for"):
        reconcile_dynamodb(conn, loaded.schema, client, {"tickets": "x"})
