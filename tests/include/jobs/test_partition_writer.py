"""connectors.dynamodb_job.item_writer called in the test process (it runs per partition in Spark's Python workers,
which coverage does not measure): what it counts, and what it writes to and deletes from moto DynamoDB."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.dynamodb_job import item_writer
from tests.fixtures import SPEC_DIR
from transforms.spec import load_spec

SPEC = load_spec(SPEC_DIR / "dms_sample_to_dynamodb.yaml")
KEYS = ("sporting_event_ticket_id", "ticket_status_owner")  # the ticket_sales table's key, as run() passes it
PURCHASED, TRANSFERRED, AVAILABLE, HELD = "PURCHASED", "TRANSFERRED", "AVAILABLE", "HELD"


def sale(ticket: int, sort_key: str, item_type: str, transaction_date: str | None = None) -> dict[str, Any]:
    """A ticket_sales item in attribute-value form (history items carry their `transaction_date`)."""
    item = {"sporting_event_ticket_id": {"N": str(ticket)}, "ticket_status_owner": {"S": sort_key},
            "item_type": {"S": item_type}}
    if transaction_date is not None:
        item["transaction_date"] = {"S": transaction_date}
    return item


def history(ticket: int, item_type: str, transaction_date: str) -> dict[str, Any]:
    return sale(ticket, f"{item_type.title()}|7|{transaction_date}", item_type, transaction_date)


def writer(**kwargs: Any) -> Callable[[Iterator[dict]], Iterator[tuple[str, int]]]:
    """As the job makes it: items counted by their type attribute (`kind`)."""
    options = {"table": "no_such_table", "key_names": KEYS, "kind": lambda item: item["item_type"]["S"],
               "dry_run": True, "write_units_per_s": 1_000_000.0, "share": 1.0, "region": None}
    return item_writer(**{**options, **kwargs})


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (int(i[KEYS[0]]["N"]), i[KEYS[1]]["S"]))


def test_dry_run_counts_items_by_type_and_writes_nothing(ddb: Any, make_table: Any) -> None:
    """A dry run counts each item by its `item_type` and sends nothing to the table."""
    table = make_table(SPEC.targets["ticket_sales"])
    items = [history(1, PURCHASED, "2021-01-02T00:00:00.000"), history(1, TRANSFERRED, "2021-01-03T00:00:00.000"),
             history(2, PURCHASED, "2019-05-05T00:00:00.000"), sale(3, "Available", AVAILABLE),
             sale(4, "Held", HELD)]
    counts = dict(writer(table=table)(iter(items)))
    assert counts == {PURCHASED: 2, TRANSFERRED: 1, AVAILABLE: 1, HELD: 1}
    assert scan(ddb, table) == []


def test_a_kind_of_its_own_counts_what_the_caller_says() -> None:
    """The job counts the items of rows outside an interval's window as rewritten, and deleted keys by the item type
    they belonged to: whatever `kind` says."""
    keys = [{"sporting_event_ticket_id": {"N": "1"}, "ticket_status_owner": {"S": "Held"}},
            {"sporting_event_ticket_id": {"N": "3"}, "ticket_status_owner": {"S": "Held"}}]
    assert dict(writer(kind=lambda _: HELD, delete=True)(iter(keys))) == {HELD: 2}
    config = [{"data_type": {"S": "PERSON"}, "data_id": {"S": "1"}},
              {"data_type": {"S": "TEAM"}, "data_id": {"S": "2"}}]
    counted = writer(key_names=("data_type", "data_id"), kind=lambda i: i["data_type"]["S"])(iter(config))
    assert dict(counted) == {"PERSON": 1, "TEAM": 1}
    assert dict(writer(kind=lambda _: "_rewritten")(iter(config))) == {"_rewritten": 2}
    # without `kind`, the partition holds (item, kind) pairs: what the job sends
    pairs = [(config[0], "_rewritten"), (config[1], "TEAM")]
    assert dict(writer(key_names=("data_type", "data_id"), kind=None)(iter(pairs))) == {"_rewritten": 1, "TEAM": 1}


def test_writes_the_items_then_deletes_keys(ddb: Any, make_table: Any) -> None:
    """Not a dry run: the items land in the table as built; a delete writer removes the keys it is given."""
    table = make_table(SPEC.targets["ticket_sales"])
    items = [history(1, PURCHASED, "2021-01-02T00:00:00.000"), history(1, TRANSFERRED, "2021-01-03T00:00:00.000"),
             sale(1, "Held", HELD), sale(2, "Available", AVAILABLE)]
    items += [sale(100 + n, "Available", AVAILABLE) for n in range(30)]  # more than one BatchWriteItem (25)
    counts = dict(writer(table=table, dry_run=False)(iter(items)))
    assert counts == {PURCHASED: 1, TRANSFERRED: 1, HELD: 1, AVAILABLE: 31}
    assert scan(ddb, table) == scan_order(items)

    keys = [{k: item[k] for k in KEYS} for item in items[2:]]
    keys.append({"sporting_event_ticket_id": {"N": "999"}, "ticket_status_owner": {"S": "Held"}})  # never written
    deleted = dict(writer(table=table, dry_run=False, delete=True,
                          kind=lambda key: key["ticket_status_owner"]["S"])(iter(keys)))
    assert deleted == {"Held": 2, "Available": 31}
    assert scan(ddb, table) == scan_order(items[:2])


def scan_order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda i: (int(i[KEYS[0]]["N"]), i[KEYS[1]]["S"]))


def test_a_write_short_of_the_items_built_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """If fewer items are written than were built, the partition fails instead of reporting a short load."""
    import connectors.dynamodb_writer as dynamodb_writer

    def short_write(items: Any, **_: Any) -> int:
        return sum(1 for _ in items) - 1

    monkeypatch.setattr(dynamodb_writer, "write_items", short_write)
    with pytest.raises(RuntimeError, match="wrote 1 items to no_such_table but built 2"):
        writer(dry_run=False)(iter([sale(1, "Held", HELD), sale(2, "Held", HELD)]))
