"""connectors.dynamodb_reconcile on the embedded stack: the session's generated dms_sample (PostgreSQL) loaded into
moto by the real job (`dms_loaded`), then every item reconciled by the declared design; after tampering with the
tables (UpdateItem, DeleteItem, PutItem) the one changed attribute, the missing item and the extra item are named by
key, and the tables are put back as the load left them.

The load is small (a few thousand items); the Scans read pages of `PAGE` items, so every segment crosses page
boundaries as a large table's 1 MB pages would. The 100k-item reconciliation is measured by `make bench`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import psycopg
import pytest

from connectors.dynamodb_reconcile import Timings, reconcile_dynamodb, stream_rows
from tests.fixtures.dms_sample_load import SPEC_PATH, Loaded
from transforms.design_reconcile import OTHER_ATTRIBUTES
from transforms.reconcile import render_diffs
from transforms.spec import load_spec

pytestmark = pytest.mark.spark
PAGE = 200  # items per Scan request: ticket_sales is read in many pages over its 4 segments (moto reads the
# whole table for each page: a smaller page costs the test time, not coverage)
SPEC = load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture(scope="module")
def loaded(dms_loaded: Loaded) -> Loaded:
    return dms_loaded


@pytest.fixture
def tamper(client: Any) -> Iterator[Any]:
    """`tamper(table, key)` saves the item at `key` (None if there is none); afterwards every saved key is put
    back as it was: rewritten, or deleted if it did not exist."""
    saved: list[tuple[str, dict[str, dict], dict[str, dict] | None]] = []

    def save(table: str, key: dict[str, dict]) -> dict[str, dict] | None:
        item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        saved.append((table, key, item))
        return item

    yield save
    for table, key, item in reversed(saved):
        if item is None:
            client.delete_item(TableName=table, Key=key)
        else:
            client.put_item(TableName=table, Item=item)


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
        recs = reconcile_dynamodb(conn, loaded.schema, client, SPEC, loaded.tables, timings=timings,
                                  page_size=PAGE)
    assert set(recs) == {"ticket_sales", "config"}
    for name, rec in recs.items():
        assert rec.passed, "\n".join(render_diffs(rec))
        assert rec.rows_expected == rec.rows_actual == loaded.reports[name]["items"]
        assert [c.passed for c in rec.checks()] == [True, True]
    assert recs["ticket_sales"].rows_expected > 12 * PAGE  # many pages, several per segment
    assert set(timings.seconds) == {"ticket_sales", "config"}
    assert timings.seconds["ticket_sales"]["drill_down"] < timings.seconds["ticket_sales"]["pass_1"]


def test_tampered_items_are_named(loaded: Loaded, client: Any, tamper: Any) -> None:
    sales, config = loaded.tables["ticket_sales"], loaded.tables["config"]
    changed, same_value = items_of_type(client, sales, "TRANSFERRED", 2)
    (missing,) = items_of_type(client, sales, "AVAILABLE", 1)
    extra = {**missing, "ticket_status_owner": {"S": "Transferred|999999|2030-01-01T00:00:00.000"}}
    person = {"data_type": {"S": "PERSON"}, "data_id": {"S": str(loaded.edge_cases["null_first_name_person_ids"][0])}}
    for table, item in ((sales, changed), (sales, same_value), (sales, missing), (sales, extra)):
        tamper(table, key_of(item))
    tamper(config, person)
    price = Decimal(changed["ticket_price"]["N"])
    client.update_item(TableName=sales, Key=key_of(changed), UpdateExpression="SET ticket_price = :p",
                       ExpressionAttributeValues={":p": {"N": str(price + Decimal("0.01"))}})
    # the same number in another notation is not a difference
    client.update_item(TableName=sales, Key=key_of(same_value), UpdateExpression="SET ticket_price = :p",
                       ExpressionAttributeValues={":p": {"N": f"{Decimal(same_value['ticket_price']['N']):.4f}"}})
    client.delete_item(TableName=sales, Key=key_of(missing))
    client.put_item(TableName=sales, Item=extra)
    client.update_item(TableName=config, Key=person, UpdateExpression="SET legacy_flag = :f",
                       ExpressionAttributeValues={":f": {"BOOL": True}})

    with psycopg.connect(loaded.uri) as conn:
        recs = reconcile_dynamodb(conn, loaded.schema, client, SPEC, loaded.tables, page_size=PAGE)
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


def test_unknown_table(loaded: Loaded, client: Any) -> None:
    with psycopg.connect(loaded.uri) as conn, pytest.raises(ValueError, match="no reconciliation for"):
        reconcile_dynamodb(conn, loaded.schema, client, SPEC, {"tickets": "x"})
