"""The SQL Server → DynamoDB validators against the embedded PostgreSQL (source) and moto (target).

The session's generated dms_sample (`dms_source`, read-only) is read through an Airflow connection, and
uniquely named tables are filled by a reference loader written here from the pure `expected_*` functions over
every source row. The validators must pass on that, then fail on a deleted item, a changed attribute and a
missing `current_owner_id`.
"""

from __future__ import annotations

import copy
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest.mock import MagicMock

import boto3
import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException
from boto3.dynamodb.types import TypeDeserializer
from psycopg.rows import dict_row

from dbmigrate import runtime
from dbmigrate.operators.validate_dsql import RESULT_KEY
from dbmigrate.operators.validate_dynamodb import (
    ValidateAccessPatternsOperator,
    ValidateDynamoDbCountsOperator,
    ValidateDynamoDbItemsOperator,
)
from generators import dms_sample
from tests.fixtures.dms_sample_load import Source
from transforms import ticketing_checks as tc
from transforms.dynamodb_tables import TableSpec, create_table_kwargs
from transforms.ticketing import (
    expected_available_item,
    expected_config_item,
    expected_ticket_sales_item,
    history_order_key,
    ticket_status_owner,
)

DAG_ID = "dms_sample_to_dynamodb"
SAMPLE_SIZE = 200


@pytest.fixture(scope="module")
def source(dms_source: Source) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """(schema, {table: rows as dicts}) of the session's generated dms_sample (read-only)."""
    with psycopg.connect(dms_source.uri, row_factory=dict_row) as conn:
        rows = {t: conn.execute(f"SELECT * FROM {dms_source.schema}.{t}").fetchall() for t in dms_sample.TABLES}
    return dms_source.schema, rows


def reference_items(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, dict]]]:
    """Every item of both tables, straight from the design's `expected_*` functions over all source rows."""
    tickets = {t["id"]: t for t in rows["sporting_event_ticket"]}
    events = {e["id"]: e for e in rows["sporting_event"]}
    teams = {t["id"]: t for t in rows["sport_team"]}
    locations = {loc["id"]: loc for loc in rows["sport_location"]}
    persons = {p["id"]: p for p in rows["person"]}
    leagues = {lg["short_name"]: lg for lg in rows["sport_league"]}
    history = defaultdict(list)
    for h in rows["ticket_purchase_hist"]:
        history[h["sporting_event_ticket_id"]].append(h)
    sales = []
    for ticket_id, hs in history.items():
        latest = max(hs, key=history_order_key)
        ticket = tickets[ticket_id]
        event = events[ticket["sporting_event_id"]]
        for h in hs:
            sales.append(expected_ticket_sales_item(
                h, ticket, event, teams[event["home_team_id"]], teams[event["away_team_id"]],
                locations[event["location_id"]], persons.get(h["purchased_by_id"]),
                persons.get(h["transferred_from_id"]), is_latest=h is latest))
    sales += [expected_available_item(t, events[t["sporting_event_id"]])
              for t in rows["sporting_event_ticket"] if t["ticketholder_id"] is None]
    config = [expected_config_item("PERSON", r) for r in rows["person"]]
    config += [expected_config_item("TEAM", r) for r in rows["sport_team"]]
    config += [expected_config_item("SPORT_TYPE", r) for r in rows["sport_type"]]
    config += [expected_config_item("LOCATION", r) for r in rows["sport_location"]]
    config += [expected_config_item("SPORT_LEAGUE_DIVISION", r, league=leagues[r["sport_league_short_name"]])
               for r in rows["sport_division"]]
    return {"ticket_sales": sales, "config": config}


@pytest.fixture(scope="module")
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


@pytest.fixture(scope="module")
def tables(client: Any, moto_endpoint: str, source: Any) -> Iterator[dict[str, str]]:
    """Uniquely named tables per spec target, filled by the reference loader (Table.batch_writer)."""
    spec = runtime.spec_for(DAG_ID)
    names = {t: f"{d['name']}_{uuid.uuid4().hex[:10]}" for t, d in spec.targets.items()}
    resource = boto3.resource("dynamodb", endpoint_url=moto_endpoint)
    plain = TypeDeserializer()
    try:
        for target, d in spec.targets.items():
            client.create_table(**create_table_kwargs(TableSpec.from_dict({**copy.deepcopy(d),
                                                                            "name": names[target]})))
        for target, items in reference_items(source[1]).items():
            with resource.Table(names[target]).batch_writer() as batch:
                for item in items:
                    batch.put_item(Item={k: plain.deserialize(v) for k, v in item.items()})
        yield names
    finally:
        for name in names.values():
            try:
                client.delete_table(TableName=name)
            except client.exceptions.ResourceNotFoundException:
                pass



class Run:
    """Build and execute one validator; `result` is what it pushed under the XCom key `result`."""

    def __init__(self, conn_id: str, schema: str, tables: dict[str, str]) -> None:
        self.common = {"spec_dag_id": DAG_ID, "source_conn_id": conn_id, "source_schema": schema,
                       "aws_conn_id": "aws_default", "table_names": tables}
        self.ti = MagicMock()

    def __call__(self, cls: type, **kwargs: Any) -> dict[str, Any]:
        self.ti.reset_mock()
        op = cls(task_id=cls.__name__, **self.common, **kwargs)
        try:
            op.execute(context={"ti": self.ti, "run_id": "manual__test"})
        finally:
            pushed = {c.kwargs["key"]: c.kwargs["value"] for c in self.ti.xcom_push.call_args_list}
            self.result = pushed.get(RESULT_KEY)
        return self.result


@pytest.fixture
def run(conn_id: str, source: Any, tables: dict[str, str]) -> Run:
    return Run(conn_id, source[0], tables)


def counts(rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    hist = rows["ticket_purchase_hist"]
    with_history = {h["sporting_event_ticket_id"] for h in hist}
    return {
        "ticket_sales.PURCHASED": sum(h["transferred_from_id"] is None for h in hist),
        "ticket_sales.TRANSFERRED": sum(h["transferred_from_id"] is not None for h in hist),
        "ticket_sales.AVAILABLE": sum(t["ticketholder_id"] is None for t in rows["sporting_event_ticket"]),
        "ticket_sales.HELD": sum(t["ticketholder_id"] is not None and t["id"] not in with_history
                                 for t in rows["sporting_event_ticket"]),
        "config.PERSON": len(rows["person"]), "config.TEAM": len(rows["sport_team"]),
        "config.SPORT_TYPE": len(rows["sport_type"]), "config.LOCATION": len(rows["sport_location"]),
        "config.SPORT_LEAGUE_DIVISION": len(rows["sport_division"]),
    }


def ticket_key(ticket_id: int, sort: str) -> dict[str, dict]:
    return {"sporting_event_ticket_id": {"N": str(ticket_id)}, "ticket_status_owner": {"S": sort}}


class TestTemplateFields:
    def test_template_fields(self) -> None:
        base = ("spec_dag_id", "source_conn_id", "source_schema", "dry_run", "table_names", "window", "spec_uri")
        assert ValidateDynamoDbCountsOperator.template_fields == (*base, "job_report_uris")
        assert ValidateDynamoDbItemsOperator.template_fields == (*base, "sample_size")
        assert ValidateAccessPatternsOperator.template_fields == (*base, "sample_size")

    def test_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            ValidateDynamoDbCountsOperator("x", task_id="t")  # type: ignore[misc]


class TestOnACorrectLoad:
    def test_counts(self, run: Run, source: Any) -> None:
        result = run(ValidateDynamoDbCountsOperator)
        expected = counts(source[1])
        assert result["entities"] == {e: {"source": n, "target": n, "rejected": 0, "duplicates": 0}
                                      for e, n in expected.items()}
        assert result["rejects"] == {}
        assert all(c["passed"] for c in result["checks"])
        assert {(c["entity"], c["name"]) for c in result["checks"]} == {
            *((e, "source rows = target items") for e in expected),
            ("ticket_sales", "target items = items of known types"), ("config", "target items = items of known types")}
        assert sum(expected.values()) > 3_000

    def test_items(self, run: Run) -> None:
        result = run(ValidateDynamoDbItemsOperator, sample_size=SAMPLE_SIZE)
        assert result["mismatches"] == [] and result["mismatched"] == 0
        assert result["requested"] == SAMPLE_SIZE
        entities = result["entities"]
        assert set(entities) == {"ticket_sales.PURCHASED", "ticket_sales.TRANSFERRED", "ticket_sales.AVAILABLE",
                                 "config.PERSON", "config.TEAM", "config.SPORT_TYPE", "config.LOCATION",
                                 "config.SPORT_LEAGUE_DIVISION"}
        assert result["compared"] == sum(entities.values())
        # about sample_size rows per sampled table, all rows of the small reference tables
        assert 100 <= entities["ticket_sales.PURCHASED"] + entities["ticket_sales.TRANSFERRED"] <= SAMPLE_SIZE
        assert 100 <= entities["ticket_sales.AVAILABLE"] <= SAMPLE_SIZE
        assert 100 <= entities["config.PERSON"] <= SAMPLE_SIZE
        assert (entities["config.TEAM"], entities["config.SPORT_LEAGUE_DIVISION"]) == (8, 14)
        # the same rows on every run
        assert run(ValidateDynamoDbItemsOperator, sample_size=SAMPLE_SIZE) == result

    def test_access_patterns(self, run: Run, source: Any) -> None:
        result = run(ValidateAccessPatternsOperator, sample_size=SAMPLE_SIZE)
        checks = result["checks"]
        assert all(c["passed"] for c in checks), [c for c in checks if not c["passed"]]
        # several subjects a pattern (the available tickets' subjects are the source's events: two at its scale)
        assert all(n >= 2 for n in result["subjects"].values()), result["subjects"]
        per_pattern = defaultdict(list)
        for c in checks:
            for pattern in tc.ACCESS_PATTERNS:
                if c["name"].startswith(f"access pattern: {pattern} ") and "has subjects" not in c["name"]:
                    per_pattern[pattern].append(c)
        assert {p: len(cs) for p, cs in per_pattern.items()} == result["subjects"]
        for pattern, cs in per_pattern.items():
            assert any(c["expected"] > 0 for c in cs), f"{pattern}: every subject has an empty answer"
        assert {c["entity"] for c in checks if c["entity"]} == {
            "ticket_sales.owner_index", "ticket_sales.available_index", "ticket_sales.transferred_from_index",
            "ticket_sales.transferred_to_index", "config.descriptive_name_index"}
        # persons of transfer chains are among the subjects: they received a ticket by transfer and passed it on
        hist = source[1]["ticket_purchase_hist"]
        received = {h["purchased_by_id"] for h in hist if h["transferred_from_id"] is not None}
        senders = {int(c["name"].rsplit(" ", 1)[1]) for c in per_pattern["tickets transferred from"]}
        assert senders & received
        assert run(ValidateAccessPatternsOperator, sample_size=SAMPLE_SIZE) == result

    def test_dry_run_compares_nothing(self, run: Run) -> None:
        result = run(ValidateDynamoDbCountsOperator, dry_run="true")
        assert result["checks"] == [] and result["dry_run"] is True
        assert {e["target"] for e in result["entities"].values()} == {None}
        assert run(ValidateDynamoDbItemsOperator, dry_run=True)["compared"] == 0
        assert run(ValidateAccessPatternsOperator, dry_run=True)["checks"] == []

    def test_bad_schema_fails_before_any_sql(self, run: Run) -> None:
        run.common["source_schema"] = "x; DROP TABLE person"
        with pytest.raises(AirflowFailException, match="not a plain SQL identifier"):
            run(ValidateDynamoDbCountsOperator)


@pytest.fixture
def restore(client: Any, tables: dict[str, str]) -> Iterator[Any]:
    """`restore(table, key)` saves an item; it is put back as it was after the test."""
    saved: list[tuple[str, dict[str, dict]]] = []

    def save(target: str, key: dict[str, dict]) -> dict[str, dict]:
        item = client.get_item(TableName=tables[target], Key=key, ConsistentRead=True)["Item"]
        saved.append((tables[target], item))
        return item

    yield save
    for table, item in saved:
        client.put_item(TableName=table, Item=item)


class TestFailures:
    def test_deleted_item_fails_the_counts(self, run: Run, client: Any, tables: dict[str, str], source: Any,
                                           restore: Any) -> None:
        h = next(h for h in source[1]["ticket_purchase_hist"] if h["transferred_from_id"] is not None)
        key = ticket_key(h["sporting_event_ticket_id"], ticket_status_owner(
            h["transferred_from_id"], h["purchased_by_id"], h["transaction_date_time"]))
        restore("ticket_sales", key)
        client.delete_item(TableName=tables["ticket_sales"], Key=key)
        with pytest.raises(AirflowFailException, match=r"ticket_sales\.TRANSFERRED source rows = target items"):
            run(ValidateDynamoDbCountsOperator)
        entity = run.result["entities"]["ticket_sales.TRANSFERRED"]
        assert entity["target"] == entity["source"] - 1
        failed = {(c["entity"], c["name"]) for c in run.result["checks"] if not c["passed"]}
        assert failed == {("ticket_sales.TRANSFERRED", "source rows = target items"),
                          ("ticket_sales", "target items = items of known types")}

    def test_changed_attribute_fails_the_items(self, run: Run, client: Any, tables: dict[str, str],
                                               source: Any, restore: Any) -> None:
        hist = source[1]["ticket_purchase_hist"]
        sample = tc.sample_for(len(hist), SAMPLE_SIZE)
        h = next(h for h in hist if sample.holds(h["sporting_event_ticket_id"]))
        key = ticket_key(h["sporting_event_ticket_id"], ticket_status_owner(
            h["transferred_from_id"], h["purchased_by_id"], h["transaction_date_time"]))
        original = restore("ticket_sales", key)
        client.put_item(TableName=tables["ticket_sales"],
                        Item={**original, "home_field_city": {"S": "Atlantis"}})
        with pytest.raises(AirflowFailException, match="1 of [0-9]+ sampled items differ from the source"):
            run(ValidateDynamoDbItemsOperator, sample_size=SAMPLE_SIZE)
        (m,) = run.result["mismatches"]
        assert m["key"] == f"{h['sporting_event_ticket_id']} / {key['ticket_status_owner']['S']}"
        assert m["entity"] == "ticket_sales." + ("PURCHASED" if h["transferred_from_id"] is None else "TRANSFERRED")
        assert m["diffs"] == [f"home_field_city: expected {original['home_field_city']['S']!r}, found 'Atlantis'"]

    def test_price_written_as_string_fails_the_items(self, run: Run, client: Any, tables: dict[str, str],
                                                      source: Any, restore: Any) -> None:
        rows = source[1]["sporting_event_ticket"]
        sample = tc.sample_for(sum(t["ticketholder_id"] is None for t in rows), SAMPLE_SIZE)
        t = next(t for t in rows if t["ticketholder_id"] is None and sample.holds(t["id"])
                 and str(t["ticket_price"]).endswith("0"))
        original = restore("ticket_sales", ticket_key(t["id"], "Available"))
        price = original["ticket_price"]["N"]
        # DynamoDB itself trims trailing zeros of numbers ("45.50" reads back as "45.5"): not a difference
        client.put_item(TableName=tables["ticket_sales"], Item={**original, "ticket_price": {"N": price[:-1]}})
        assert run(ValidateDynamoDbItemsOperator, sample_size=SAMPLE_SIZE)["mismatches"] == []
        # a decimal written as a string is
        client.put_item(TableName=tables["ticket_sales"], Item={**original, "ticket_price": {"S": price}})
        with pytest.raises(AirflowFailException):
            run(ValidateDynamoDbItemsOperator, sample_size=SAMPLE_SIZE)
        (m,) = run.result["mismatches"]
        assert m["entity"] == "ticket_sales.AVAILABLE"
        assert m["key"] == f"{t['id']} / Available"
        assert m["diffs"] == [f"ticket_price: expected {Decimal(price).normalize()!r}, found {price!r}"]

    def test_missing_current_owner_fails_the_owner_pattern(self, run: Run, client: Any, tables: dict[str, str],
                                                           restore: Any) -> None:
        result = run(ValidateAccessPatternsOperator, sample_size=SAMPLE_SIZE)
        check = next(c for c in result["checks"]
                     if c["name"].startswith("access pattern: tickets owned person ") and c["expected"] > 0)
        person = check["name"].rsplit(" ", 1)[1]
        (item, *_) = client.query(TableName=tables["ticket_sales"], IndexName="owner_index",
                                  KeyConditionExpression="current_owner_id = :p",
                                  ExpressionAttributeValues={":p": {"N": person}})["Items"]
        key = {k: item[k] for k in ("sporting_event_ticket_id", "ticket_status_owner")}
        restore("ticket_sales", key)
        client.update_item(TableName=tables["ticket_sales"], Key=key, UpdateExpression="REMOVE current_owner_id")
        with pytest.raises(AirflowFailException, match="access pattern: tickets owned person " + person):
            run(ValidateAccessPatternsOperator, sample_size=SAMPLE_SIZE)
        (failed,) = [c for c in run.result["checks"] if not c["passed"]]
        assert failed["name"] == check["name"]
        assert failed["entity"] == "ticket_sales.owner_index"
        ticket = int(key["sporting_event_ticket_id"]["N"])
        assert failed["actual"] == {"found": check["expected"] - 1, "missing": [ticket], "unexpected": []}
