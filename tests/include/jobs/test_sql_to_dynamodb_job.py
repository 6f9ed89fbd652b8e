"""jobs.sql_to_dynamodb on the session's Spark, against the embedded PostgreSQL and moto: every item it writes is
the item the validators' SQL and Python rendering expect (`transforms.design_checks`), for the retail spec and for
a spec of edge cases (keys with a missing part, text that is no number, two rows with one key, an item over 400 KB,
a conditional attribute, a padded sequence, a forced text type); what it rejects is counted, reasoned and
quarantined."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import psycopg
import pytest

from connectors.dynamodb_scan import scan_items
from generators.retail_database import load
from jobs.sql_to_dynamodb import parse_args, run
from transforms import design_checks as dc
from transforms.dynamodb_tables import TableSpec, create_table_kwargs
from transforms.spec import load_spec

pytestmark = pytest.mark.spark
REPO = Path(__file__).resolve().parents[3]
SCHEMA = "design_parity"

EDGE_SPEC = """
dag_id: edge_to_dynamodb
kind: sql_to_dynamodb
owner: tests
source: {conn_id: retail_source, schema: dbo, local_schema: design_parity, glue_connection: x, crawler_path: x/dbo/%}
glue: {crawler_name: x, catalog_database: x, role: arn:aws:iam::111122223333:role/x}
compute: {staging_uri: s3://x/edge}
targets:
  edge: {name: edge, partition_key: {name: PK, type: S}, sort_key: {name: SK, type: S}}
items:
  by_city:                        # city is NULL for some customers: their key has a missing part
    target: edge
    from: customers
    keys: {PK: "CITY#${city}", SK: "C#${id:05}"}
    attributes:
      id_text: {from: "${id}", type: S}
      name_number: {from: "${full_name}", type: N}      # no number at all: every such row is a reject
  first_order:                    # two item types, one key: the second one's rows are duplicates
    target: edge
    from: orders
    derive:
      is_first: {latest_of: [customer_id], order_by: [placed_at DESC, id DESC]}
      n: {number_within: [customer_id], order_by: [placed_at, id]}
    keys: {PK: "CUSTOMER#${customer_id}", SK: "N#${n:03}"}
    attributes:
      first_total: {from: "${total}", when: is_first}
      day: {from: "${placed_at}", format: "yyyyMMdd"}
  order_year:                     # keys made unique in their group; a flag derived over rows `where` then drops
    target: edge
    from: orders
    where: "orders.status <> 'CANCELLED'"
    derive:
      is_last: {latest_of: [customer_id], order_by: [placed_at, id]}
    keys:
      PK: "YEAR#${customer_id}"
      SK: {from: "Y#${placed_at}", format: "yyyy", unique_within: [customer_id], suffixes: ["#${status}"],
           number_by: [total DESC, id]}
    attributes:
      last_of_all: {from: "${id}", when: is_last}
  note:                           # one note's item is over DynamoDB's 400 KB
    target: edge
    from: notes
    keys: {PK: "NOTE#${id}", SK: NOTE}
    attributes: {body: "${body}"}
  clash:
    target: edge
    from: orders
    where: "orders.status = 'PAID'"
    keys: {PK: "CUSTOMER#${customer_id}", SK: "N#001"}
"""


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    uri = os.environ["LOCAL_SOURCE_SQL_URI"]
    load(uri, SCHEMA, seed=3, customers=60)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {SCHEMA}.notes (id integer PRIMARY KEY, body text)")
        conn.execute(f"INSERT INTO {SCHEMA}.notes VALUES (1, 'short'), (2, repeat('x', 410 * 1024))")
    u = urlparse(uri)
    return {"uri": uri, "password": u.password or "",
            "json": {"host": u.hostname, "port": u.port, "user": u.username, "dbname": u.path.lstrip("/")}}


def migrate(spark: Any, spec_path: Path, target: str, source: dict[str, Any], tmp: Path) -> tuple[dict, list[dict]]:
    """The job into a fresh table; its report and every item the table holds."""
    spec = load_spec(spec_path)
    table = f"{target}_{uuid.uuid4().hex[:10]}"
    client = boto3.client("dynamodb")
    client.create_table(**create_table_kwargs(TableSpec.from_dict({**spec.targets[target], "name": table})))
    password = tmp / "pw"
    password.write_text(source["password"])
    report = run(parse_args([
        "--spec", str(spec_path), "--item-set", target, "--run-id", "parity", "--table", table,
        "--report-uri", str(tmp / "report.json"), "--quarantine-uri", str(tmp / "q"),
        "--source-json", json.dumps(source["json"]), "--source-schema", SCHEMA,
        "--source-password-file", str(password), "--partitions", "2"]), spark)
    return report, list(scan_items(table, client=client))


def expected(spec_path: Path, target: str, uri: str) -> tuple[list[dict], int]:
    """Every item the validators' SQL and rendering say the source makes, and how many rows make none."""
    spec = load_spec(spec_path)
    keys = [a.name for a in TableSpec.from_dict(spec.targets[target]).key_attrs]
    out, missing = [], 0
    with psycopg.connect(uri) as conn:
        for item in spec.items_of(target):
            columns = {t: [d.name for d in conn.execute(dc.columns_sql(SCHEMA, t)).description] for t in item.tables}
            cur = conn.execute(dc.rows_sql(item, SCHEMA, columns))
            names = [d.name for d in cur.description]
            rows = dc.declared(item, [dict(zip(names, r, strict=True)) for r in cur.fetchall()], spec.column_types)
            for row in dc.derive(item, rows):
                e = dc.expected_item(item, row, spec.type_attribute[target], keys)
                if e is None:
                    missing += 1
                else:
                    out.append(e)
    return out, missing


def by_key(items: list[dict]) -> dict[str, dict]:
    return {json.dumps([i["PK"], i["SK"]], sort_keys=True): i for i in items}


def test_every_retail_item_is_the_one_the_validators_expect(spark: Any, source: dict[str, Any],
                                                            tmp_path: Path) -> None:
    spec_path = REPO / "include" / "specs" / "retail_to_dynamodb.yaml"
    report, items = migrate(spark, spec_path, "retail", source, tmp_path)
    want, missing = expected(spec_path, "retail", source["uri"])
    assert missing == 0 and report["rejects"] == {}
    assert len(items) == len(want) == report["items"]
    got = by_key(items)
    diffs = {k: dc.item_diffs(e, got.get(k)) for k, e in by_key(want).items()}
    assert not {k: d for k, d in diffs.items() if d}


def test_edge_cases_are_written_as_expected_and_every_reject_is_counted_and_quarantined(
        spark: Any, source: dict[str, Any], tmp_path: Path) -> None:
    spec_path = tmp_path / "edge_to_dynamodb.yaml"
    spec_path.write_text(EDGE_SPEC)
    report, items = migrate(spark, spec_path, "edge", source, tmp_path)
    with psycopg.connect(source["uri"]) as conn:
        customers = conn.execute(f"SELECT count(*), count(city) FROM {SCHEMA}.customers").fetchone()
        paid = conn.execute(f"SELECT count(*) FROM {SCHEMA}.orders WHERE status = 'PAID'").fetchone()[0]
        orders = conn.execute(f"SELECT count(*) FROM {SCHEMA}.orders").fetchone()[0]
        kept = conn.execute(f"SELECT count(*) FROM {SCHEMA}.orders WHERE status <> 'CANCELLED'").fetchone()[0]
        last_kept = conn.execute(  # customers whose latest order of all is one the item type keeps
            f"SELECT count(*) FROM {SCHEMA}.orders o WHERE status <> 'CANCELLED' AND NOT EXISTS (SELECT 1 FROM "
            f"{SCHEMA}.orders later WHERE later.customer_id = o.customer_id AND (later.placed_at, later.id) > "
            "(o.placed_at, o.id))").fetchone()[0]
    no_city = customers[0] - customers[1]
    assert no_city > 0 and paid > 0
    # every customer is a reject: no key for those with no city, no number in a name for the others
    assert report["rejected_items"]["by_city"] == {"missing_key": no_city, "bad_number": customers[1]}
    assert report["rejected_items"]["clash"] == {"duplicate_key": paid}  # the first item type keeps the key
    assert report["rejected_items"]["note"] == {"item_too_large": 1}
    assert report["by_type"] == {"first_order": orders, "note": 1, "order_year": kept}
    lines = (tmp_path / "q" / "edge" / "rejected_items.jsonl").read_text().splitlines()
    assert len(lines) == customers[0] + paid + 1
    assert {json.loads(x)["reason"] for x in lines} == {"missing_key", "bad_number", "duplicate_key", "item_too_large"}
    assert any(json.loads(x)["key"] == {"PK": "NOTE#2", "SK": "NOTE"} for x in lines)
    want, missing = expected(spec_path, "edge", source["uri"])
    assert missing == customers[0] + 1
    got = by_key(items)
    written = [e for e in want if e["item_type"]["S"] in ("first_order", "note", "order_year")]
    assert {k: d for k, e in by_key(written).items() if (d := dc.item_diffs(e, got.get(k)))} == {}
    years = [i for i in items if i["item_type"]["S"] == "order_year"]
    assert any(i["SK"]["S"].count("#") == 2 and "|" not in i["SK"]["S"] for i in years)  # the suffix made it unique
    assert any(i["SK"]["S"].endswith("|2") for i in years)  # still shared: numbered
    # the flag is the latest of all a customer's orders, cancelled ones too: customers whose latest is cancelled have
    # items but no flag
    assert sum("last_of_all" in i for i in years) == last_kept < len({i["PK"]["S"] for i in years})
    orders_items = [i for i in items if i["item_type"]["S"] == "first_order"]
    firsts = [i for i in orders_items if "first_total" in i]
    assert len(firsts) == len({i["PK"]["S"] for i in orders_items}) and all(i["SK"]["S"] == "N#001" for i in firsts)
    assert all(len(i["day"]["S"]) == 8 and i["day"]["S"].isdigit() for i in orders_items)
