"""Several collections, one migration: `bin/dbmigrate discover` over a made-up shop database (customers, accounts,
orders: `tests/fixtures/shop_database.py`), its spec and DDL dropped into a copy of the include folder, its DAG
built as the DAG file builds it and its tasks run in this process on the discovered default source (no conf).

What the run must show: references by `_id` (an order's customer) and by natural key (an order's `placed_by`
email, a customer's `accounts[]` account numbers) as uuid columns and link tables that join; the map keyed by ids
(`tiers`) as a child table; a field that appears only after discovery (`gift_note`) kept in `_extra`; every source
value found, path by path (value conservation); the duplicated account number and the dangling customer reference
in the run's note. Then the contract: a mapped field removed from the spec lands in `_extra`, and with
`unmapped: fail` the run fails naming it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from cli.discover import run as discover

from connectors.storage import safe_segment
from dbmigrate.dag_factory import build_dags
from generators.shop_database import write
from tests.fixtures.in_process import migrate
from tests.fixtures.mapping_reference import check, outcome, quarantine_records, schema_rows
from transforms.adjacency import entity_uuid
from transforms.validation import render_note

pytestmark = [pytest.mark.e2e, pytest.mark.spark]
REPO = Path(__file__).resolve().parents[2]
DAG_ID = "shop_to_dsql"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, spark: Any, dsql_uri: str) -> dict[str, Any]:
    """Discover the shop database, add a field to the source afterwards, copy the output in and run the DAG."""
    tmp = tmp_path_factory.mktemp("shop")
    source = Path(os.environ["LOCAL_DATA_DIR"]) / "shop"
    shutil.rmtree(source, ignore_errors=True)
    write(source)
    out = tmp / "out"
    assert discover([str(source / f"{c}.json") for c in ("customers", "accounts", "orders")]
                    + ["--name", DAG_ID, "--out", str(out), "--sample", "1000"]) == 0
    truth = write(source, late_field=True)  # a field discovery never saw: `orders.gift_note`
    # an order exported twice, edited in between: one `_id`, the greater text (its new field first) wins
    orders = source / "orders.json"
    first = json.loads(orders.read_text().splitlines()[0])
    edited = {"_id": first.pop("_id"), "zz_note": "re-exported", **first}
    orders.write_text(orders.read_text() + json.dumps(edited, separators=(",", ":")) + "\n")
    include = tmp / "include"
    shutil.copytree(REPO / "include", include, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(out / "include", include, dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBMIGRATE_INCLUDE_DIR", str(include))
        dag = build_dags(include / "specs")[DAG_ID]
        assert {"prepare.check_source", "load.run_spark_job", "validate.validate_values"} <= set(dag.task_dict)
        report = migrate(spark, DAG_ID, {}, tmp / "run")
    quarantine = Path(os.environ["DBMIGRATE_QUARANTINE_URI"].removeprefix("file://")) / DAG_ID / safe_segment(
        report["run_id"])
    reference = outcome(schema_rows(dsql_uri, "shop"), quarantine_records(quarantine), report)
    return {"out": out, "include": include, "truth": truth, "report": report, "tmp": tmp, "source": source,
            "reference": reference}


def test_discover_writes_one_spec_for_every_collection(shop: dict[str, Any]) -> None:
    spec = yaml.safe_load((shop["out"] / "include" / "specs" / f"{DAG_ID}.yaml").read_text())
    assert spec["source"]["collections"] == ["accounts", "customers", "orders"]
    assert spec["source"]["local_uri"] == f"file://{shop['source']}/"
    entities = spec["entities"]
    assert {e: v["collection"] for e, v in entities.items()} == {
        "account": "accounts", "customer": "customers", "order": "orders"}
    assert entities["order"]["references"] == {
        "customer_id": {"entity": "customer", "from": "customer_id"},
        "placed_by_customer_id": {"entity": "customer", "from": "placed_by", "by": "email"}}
    children = entities["customer"]["children"]
    assert children["accounts"]["element"] == {"column": "account_id", "entity": "account", "by": "account_no"}
    assert children["tiers"]["key_column"] == "tiers_key"  # the map keyed by ids: a child table, not rare fields
    assert set(children["tiers"]["columns"]) == {"tier", "active", "since", "benefits"}
    assert "address_geo_lat" in entities["customer"]["columns"]  # three levels deep, flattened
    report = (shop["out"] / "docs" / "discovery" / f"{DAG_ID}.md").read_text()
    assert "is a map keyed by data" in report and "is held by 2 documents" in report
    assert "rare" not in report  # no field per id key
    ddl = "".join(p.read_text() for p in sorted((shop["out"] / "include" / "sql" / "shop").glob("*.sql")))
    assert ddl.count("_extra json") == 5  # three entities, items, tiers; not the junction


def test_the_run_passes_and_proves_every_value_arrived(shop: dict[str, Any]) -> None:
    report = shop["report"]
    assert report["status"] == "passed", json.dumps(
        {"failure": report["failure"], "checks": [c for c in report["checks"] if not c["passed"]],
         "mismatches": report["sample"].get("mismatches"), "paths": [r for r in report["conservation"]
                                                                    if r["status"] != "ok"],
         "reconciliation": {k: v for k, v in report["reconciliation"].items() if not v.get("passed")}}, indent=1,
        default=str)[:6000]
    conservation = report["conservation"]
    assert conservation and all(r["status"] == "ok" for r in conservation), conservation
    paths = {(r["entity"], r["path"]): r for r in conservation}
    assert paths[("customer", "tiers.*.benefits[]")]["target"] > 0
    assert paths[("order", "gift_note")]["target"] == shop["truth"]["late_fields"]
    assert paths[("customer", "accounts[]")]["target"] == shop["truth"]["account_links"]
    assert report["entities"]["order"]["duplicates"] == 1
    assert (paths[("order", "zz_note")]["target"], paths[("order", "status")]["superseded"]) == (1, 1)


def test_the_rows_are_those_the_engine_wrote_before_issue_26(shop: dict[str, Any]) -> None:
    """Every row of every table and every count, as the frozen reference holds them
    (tests.fixtures.mapping_reference): several collections, references by `_id` and natural key, a map as a child
    table, `_extra`."""
    check("shop", shop["reference"])


def test_the_note_names_the_duplicated_key_the_dangling_reference_and_the_new_field(shop: dict[str, Any]) -> None:
    notes = shop["report"]["notes"]
    truth = shop["truth"]
    assert any(f"account.account_no '{truth['duplicated_account_no']}'" in n and "held by 2" in n for n in notes)
    assert any(n.startswith("orders.customer_id: names no customer") for n in notes), notes
    assert any(n.startswith("order: gift_note kept in _extra") for n in notes), notes
    note = render_note(shop["report"])
    assert "account_no" in note and "names no customer" in note and "gift_note" in note


def test_references_are_uuid_columns_and_link_tables_that_join(shop: dict[str, Any], dsql_uri: str) -> None:
    truth = shop["truth"]
    with psycopg.connect(dsql_uri) as conn:
        orders = conn.execute("SELECT count(*), count(c.customer_id), count(p.customer_id) FROM shop.orders o "
                              "LEFT JOIN shop.customers c ON c.customer_id = o.customer_id "
                              "LEFT JOIN shop.customers p ON p.customer_id = o.placed_by_customer_id").fetchone()
        assert orders == (truth["collections"]["orders"],) + (truth["collections"]["orders"] - 1,) * 2
        links = conn.execute("SELECT count(*), count(a.account_id) FROM shop.customer_accounts l "
                             "LEFT JOIN shop.accounts a ON a.account_id = l.account_id").fetchone()
        assert links == (truth["account_links"], truth["account_links"])
        first = min(truth["duplicated_account_ids"])  # the deterministic one: the smallest `_id`
        linked = {r[0] for r in conn.execute(
            "SELECT DISTINCT a.source_id FROM shop.customer_accounts l JOIN shop.accounts a USING (account_id) "
            "WHERE a.account_no = %s", [truth["duplicated_account_no"]])}
        assert linked == {first}
        assert conn.execute("SELECT count(*) FROM shop.customer_tiers").fetchone() == (truth["tier_keys"],)
        gift = conn.execute("SELECT count(*) FROM shop.orders WHERE _extra->>'gift_note' IS NOT NULL").fetchone()
        assert gift == (truth["late_fields"],)
        dangling = conn.execute("SELECT customer_id FROM shop.orders WHERE source_id = %s",
                                [truth["dangling_order_id"]]).fetchone()
        assert str(dangling[0]) == entity_uuid(f"customer#{truth['dangling_customer_id']}")  # kept, names no row


def test_a_field_the_spec_stops_mapping_is_kept_and_unmapped_fail_names_it(shop: dict[str, Any], spark: Any,
                                                                           dsql_uri: str) -> None:
    """Last in the file: it changes the spec (and so the rows' `_extra`) of the shared run's schema."""
    spec_path = shop["include"] / "specs" / f"{DAG_ID}.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    del spec["entities"]["customer"]["columns"]["photo"]  # nullable: the table's column simply stays empty
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBMIGRATE_INCLUDE_DIR", str(shop["include"]))
        report = migrate(spark, DAG_ID, {}, shop["tmp"] / "run-kept")
        assert report["status"] == "passed", report["failure"]
        photo = next(r for r in report["conservation"] if (r["entity"], r["path"]) == ("customer", "photo"))
        assert photo["source"] == photo["target"] > 0
        with psycopg.connect(dsql_uri) as conn:
            kept = conn.execute("SELECT count(*) FROM shop.customers WHERE _extra->'photo' IS NOT NULL").fetchone()
        assert kept == (photo["source"],)
        assert any(n.startswith("customer: photo kept in _extra") for n in report["notes"]), report["notes"]

        spec["unmapped"] = {"contract": "fail", "ignore": ["order.gift_note"]}
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        with pytest.raises(SystemExit, match=rf"customer\.photo ×{photo['source']}") as failed:
            migrate(spark, DAG_ID, {}, shop["tmp"] / "run-fail")
        assert "gift_note" not in str(failed.value)  # ignored on purpose: neither kept nor failed


def test_reports_are_owner_only_and_a_run_without_rejects_writes_no_quarantine(shop: dict[str, Any]) -> None:
    """Reports name sources: no other user of the machine reads them. Nothing was rejected, so the job wrote no
    quarantine at all (no Spark write of an empty one); the movie DAG's run, which rejects, checks its quarantine's
    modes (tests/e2e/test_movie_dag.py)."""
    reports = Path(os.environ["LOCAL_REPORTS_DIR"]) / DAG_ID / shop["report"]["run_id"]
    job = json.loads((reports / "job_report.json").read_text())
    files = list(reports.rglob("*"))
    assert any(p.name == "job_report.json" for p in files)
    assert {oct(p.stat().st_mode & 0o777) for p in files} <= {"0o600", "0o700"}, files
    assert not any(job["rejects"].values()), job["rejects"]
    assert not Path(job["quarantine_uri"].removeprefix("file://")).exists()
