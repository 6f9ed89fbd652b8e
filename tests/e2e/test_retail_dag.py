"""A database nobody here designed a migration for (`generators.retail_database`: customers, orders, products
many-to-many through order lines, shipments and their tracking log), migrated by its spec alone
(`include/specs/retail_to_dynamodb.yaml`, kind `sql_to_dynamodb`): `airflow dags test` once per session
(`tests.fixtures.session_runs.retail_run`), every behaviour its own test."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

import boto3
import pytest

from tests.fixtures.dag_runs import DagRun, passed
from tests.fixtures.in_process import validate_design
from tests.fixtures.session_runs import RETAIL_DAG, RetailSource
from transforms.spec import load_spec

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


def expected_counts(t: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    """Items per type, from the generator's rows (not from the spec, nor the job)."""
    ordered = {sku for _order, sku, *_ in t["order_lines"]}
    return {"retail.CUSTOMER": len(t["customers"]), "retail.ORDER": len(t["orders"]),
            "retail.ORDER_LINE": len(t["order_lines"]), "retail.PRODUCT": len(t["products"]),
            "retail.NEVER_ORDERED": sum(1 for p in t["products"] if p[0] not in ordered),
            "retail.SHIPMENT": len(t["shipments"]), "retail.TRACKING_EVENT": len(t["shipment_events"]),
            "retail.CUSTOMER_TOTALS": len({customer for _id, customer, *_ in t["orders"]})}


def items_of(pk: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    return client.query(TableName="retail", KeyConditionExpression="PK = :p",
                        ExpressionAttributeValues={":p": {"S": pk}}, ConsistentRead=True)["Items"]


def test_the_run_passes_with_each_item_type_counted_as_the_source_has_it(retail_run: DagRun,
                                                                        retail_source: RetailSource) -> None:
    report = passed(retail_run)
    counts = {name: (e["source"], e["target"]) for name, e in report["entities"].items()}
    assert counts == {name: (n, n) for name, n in expected_counts(retail_source.tables).items()}


def test_every_declared_access_pattern_was_compared_with_its_sql(retail_run: DagRun) -> None:
    report = passed(retail_run)
    declared = [p.name for p in load_spec("include/specs/retail_to_dynamodb.yaml").access_patterns]
    names = [c["name"] for c in report["checks"]]
    for pattern in declared:
        assert f"access pattern {pattern}: has subjects" in names, pattern
        compared = [c for c in report["checks"] if c["name"].startswith(f"access pattern {pattern} {{")]
        assert len(compared) >= 2 and all(c["expected"] == c["actual"] for c in compared), (pattern, compared)


def test_sampled_items_of_every_type_equal_their_source_rows(retail_run: DagRun) -> None:
    report = passed(retail_run)
    sample = report["sample"]
    assert set(sample["entities"]) == set(expected_counts({t: [] for t in (
        "customers", "orders", "order_lines", "products", "shipments", "shipment_events")}))
    assert all(n > 0 for n in sample["entities"].values()), sample["entities"]
    assert sample["mismatched"] == 0


def test_the_tracking_log_breaks_a_tie_of_times_by_status_and_the_shipment_shows_its_latest_event(
        retail_run: DagRun, retail_source: RetailSource) -> None:
    passed(retail_run)
    events = Counter((sid, t) for sid, t, *_ in retail_source.tables["shipment_events"])
    (sid, at), n = events.most_common(1)[0]
    assert n == 2  # the generator's tie
    log = sorted(items_of(f"SHIPMENT#{sid}"), key=lambda i: i["SK"]["S"])
    same = [i for i in log if i["event_time"]["S"] == at.strftime("%Y-%m-%dT%H:%M:%S.%f")]
    assert [i["status"]["S"] for i in same] == sorted(r[2] for r in retail_source.tables["shipment_events"]
                                                      if (r[0], r[1]) == (sid, at))
    assert [i["SK"]["S"] for i in log] == [f"EVENT#{k:04d}" for k in range(1, len(log) + 1)]
    order_id = next(o for s, o, *_ in retail_source.tables["shipments"] if s == sid)
    shipment = next(i for i in items_of(f"ORDER#{order_id}") if i["SK"]["S"] == f"SHIPMENT#{sid}")
    assert shipment["current_status"] == log[-1]["status"]


def test_values_keep_their_types_and_a_null_is_no_attribute(retail_run: DagRun, retail_source: RetailSource) -> None:
    passed(retail_run)
    no_city = next(c for c in retail_source.tables["customers"] if c[3] is None)
    (profile,) = [i for i in items_of(f"CUSTOMER#{no_city[0]}") if i["SK"]["S"] == "PROFILE"]
    assert "city" not in profile and profile["customer_id"] == {"N": str(no_city[0])}
    assert profile["joined_on"] == {"S": no_city[4].isoformat()}
    order = retail_source.tables["orders"][0]
    (item,) = [i for i in items_of(f"CUSTOMER#{order[1]}") if i.get("order_id") == {"N": str(order[0])}]
    assert item["SK"]["S"] == f"ORDER#{order[2].strftime('%Y-%m-%dT%H:%M:%S.%f')}#{order[0]}"
    assert item["total"]["N"].rstrip("0").rstrip(".") == format(order[4], "f").rstrip("0").rstrip(".")
    assert item["placed_on"] == {"S": order[2].date().isoformat()}


def test_the_validators_find_a_changed_a_missing_and_a_stray_item(retail_run: DagRun,
                                                                   retail_source: RetailSource) -> None:
    """Break the migrated table three ways, run the validators again on it, then put it back."""
    from dbmigrate.operators.run_inputs import resolve

    passed(retail_run)
    client = boto3.client("dynamodb")
    customer = retail_source.tables["customers"][0][0]
    items = items_of(f"CUSTOMER#{customer}")
    profile = next(i for i in items if i["SK"]["S"] == "PROFILE")
    order = next(i for i in items if i["SK"]["S"].startswith("ORDER#"))
    stray = {"PK": {"S": "STRAY#1"}, "SK": {"S": "STRAY"}, "entity": {"S": "UNDECLARED"}}
    try:
        client.delete_item(TableName="retail", Key={k: profile[k] for k in ("PK", "SK")})
        client.put_item(TableName="retail", Item={**order, "total": {"N": "0.01"}})
        client.put_item(TableName="retail", Item=stray)
        run = resolve(RETAIL_DAG, {"validation_sample_size": 40}, "manual__validators_again")
        # what the DAG's own job reported (its rejects: none)
        run["job_report_uris"] = {t: u.replace("manual__validators_again", str(retail_run.run_id))
                                  for t, u in run["job_report_uris"].items()}
        report = validate_design(RETAIL_DAG, run)
    finally:
        client.put_item(TableName="retail", Item=profile)
        client.put_item(TableName="retail", Item=order)
        client.delete_item(TableName="retail", Key={"PK": stray["PK"], "SK": stray["SK"]})
    assert report["status"] == "failed"
    failed = {(c.get("entity"), c["name"].split(" {")[0]) for c in report["checks"] if not c["passed"]}
    assert ("retail.CUSTOMER", "source rows - rejected = target items") in failed, failed
    assert ("retail", "target items = items of declared types") in failed, failed
    assert report["sample"]["mismatched"] == 2
    diffs = {m["entity"]: m["diffs"] for m in report["sample"]["mismatches"]}
    assert any(d.startswith("total: expected") for d in diffs["retail.ORDER"]), json.dumps(diffs)[:2000]
    assert "row is missing from the target" in diffs["retail.CUSTOMER"]
    assert {("retail", "access pattern customer_by_email"), ("retail", "access pattern orders_of_customer")} & failed


def test_an_item_type_from_sql_holds_the_sources_aggregate(retail_run: DagRun, retail_source: RetailSource) -> None:
    """CUSTOMER_TOTALS is made from a SQL query (a GROUP BY no declaration says): a customer's item holds what the
    generator's own rows add up to."""
    passed(retail_run)
    t = retail_source.tables
    customer = t["orders"][0][1]
    orders = {o[0] for o in t["orders"] if o[1] == customer}
    spent = sum(qty * price for order, _sku, qty, price in t["order_lines"] if order in orders)
    (item,) = [i for i in items_of(f"CUSTOMER#{customer}") if i["SK"]["S"] == "TOTALS"]
    assert item["orders"] == {"N": str(len(orders))} and item["entity"] == {"S": "CUSTOMER_TOTALS"}
    assert Decimal(item["spent"]["N"]) == spent > 0



def test_the_first_load_into_a_new_table_is_imported_and_recorded(retail_run: DagRun,
                                                                   retail_source: RetailSource) -> None:
    """The table did not exist (the fixture drops it): the job put its items on S3 and ImportTable made the table, as
    the spec declares it (keys, both GSIs); every object's item lines count what the job built, and the load is in
    the table's load log as the job records a load it writes itself."""
    import gzip
    import os
    from pathlib import Path

    from connectors.dynamodb_load_log import read_loads

    passed(retail_run)
    job = json.loads((Path(os.environ["LOCAL_REPORTS_DIR"]) / RETAIL_DAG / str(retail_run.run_id)
                      / "job_report_retail.json").read_text())
    built = sum(expected_counts(retail_source.tables).values())
    assert job["import"]["items"] == job["items"] == built
    bucket, _, prefix = job["import"]["uri"].removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"]]
    lines = [json.loads(line) for k in keys
             for line in gzip.decompress(s3.get_object(Bucket=bucket, Key=k)["Body"].read()).splitlines()]
    assert len(lines) == built and all(set(x) == {"Item"} for x in lines)
    assert "ImportTable arn:aws:dynamodb:" in retail_run.output and f"completed: {built} items" in retail_run.output
    table = boto3.client("dynamodb").describe_table(TableName="retail")["Table"]
    assert sorted(g["IndexName"] for g in table["GlobalSecondaryIndexes"]) == ["GSI1", "GSI2"]
    loads = read_loads(boto3.client("dynamodb"), "retail", job["import"]["log_table"])
    assert (loads.loads, loads.full) == (1, True)
