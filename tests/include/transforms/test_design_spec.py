"""The `sql_to_dynamodb` design format: templates rendered in Python, and a spec refused naming the field at fault."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from transforms.item_templates import check_format, format_instant, parse_template
from transforms.spec import SpecError, parse_spec

SPEC = Path(__file__).resolve().parents[3] / "include" / "specs" / "retail_to_dynamodb.yaml"


def test_a_template_renders_text_and_a_lone_reference_keeps_its_type() -> None:
    row = {"id": 7, "at": datetime(2024, 3, 1, 8, 5, 9, 120), "price": Decimal("12.50"), "ok": True, "none": None,
           "day": date(2024, 3, 1), "order.n": 3}
    assert parse_template("ORDER#${at}#${id}", "t").render(row) == "ORDER#2024-03-01T08:05:09.000120#7"
    assert parse_template("${id}", "t").render(row) == 7
    assert parse_template("${price}", "t").render(row) == Decimal("12.50")
    assert parse_template("P#${price}|${ok}|${day}", "t").render(row) == "P#12.50|true|2024-03-01"
    assert parse_template("E#${order.n:04}", "t").render(row) == "E#0003"
    assert parse_template("X#${none}", "t").render(row) is None
    assert parse_template("PROFILE", "t").render(row) == "PROFILE"
    assert parse_template("${at}", "t").render(row, {"at": "yyyy-MM-dd"}) == "2024-03-01"
    with pytest.raises(KeyError):
        parse_template("${missing}", "t").render(row)


@pytest.mark.parametrize("text", ["${}", "a${b", "${1x}", "${a.b.c}", ""])
def test_a_bad_template_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="t:"):
        parse_template(text, "t")


def test_timestamp_formats_are_spark_patterns_rendered_alike() -> None:
    at = datetime(2024, 12, 31, 23, 59, 58, 987654)
    assert format_instant(at, "yyyy-MM-dd'T'HH:mm:ss.SSS") == "2024-12-31T23:59:58.987"
    assert format_instant(at, "yyyyMMdd HHmmss") == "20241231 235958"
    assert check_format("yyyy-MM-dd", "f") == "yyyy-MM-dd"
    for bad in ("yyyy-MM-dd EEE", "YYYY", "hh:mm a"):
        with pytest.raises(ValueError, match="may use only"):
            check_format(bad, "f")


def _spec(change: Any) -> Any:
    raw = yaml.safe_load(SPEC.read_text())
    change(raw)
    return parse_spec(yaml.safe_dump(raw, sort_keys=False), SPEC)


def test_the_retail_spec_loads_every_item_type_and_pattern() -> None:
    spec = _spec(lambda raw: None)
    assert spec.kind == "sql_to_dynamodb" and spec.jobs == ("retail",)
    assert [i.type_value for i in spec.items] == ["CUSTOMER", "ORDER", "ORDER_LINE", "PRODUCT", "NEVER_ORDERED",
                                                  "SHIPMENT", "CUSTOMER_TOTALS", "TRACKING_EVENT"]
    shipment = next(i for i in spec.items if i.name == "shipment")
    assert shipment.keep == "is_latest" and shipment.joins[0].on == "event.shipment_id = shipments.id"
    assert len(spec.access_patterns) == 9


def _set(path: str, value: Any) -> Any:
    def change(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = raw
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return change


@pytest.mark.parametrize(("path", "value", "error"), [
    ("items.order.keys", {"SK": "X", "PK": "Y"}, r"items.order.keys: must give the table's key \['PK', 'SK'\]"),
    ("items.order.target", "nowhere", r"items.order.target: must be one of the targets"),
    ("items.order.attributes.customer_name", "${client.full_name}", r"`client.full_name` names no joined alias"),
    ("items.never_ordered.attributes.line_qty", "${line.quantity}", r"an anti join's columns are not in the row"),
    ("items.shipment.keep", "seq", r"items.shipment.keep: must name a latest_of flag"),
    ("items.shipment.where", "shipments.carrier = 'UPS'", r"items.shipment.keep: cannot go with where yet"),
    ("items.order.keys.SK", {"from": "X", "suffixes": ["|${id}"]}, r"suffixes, number_by and number_prefix need "
                                                                   "unique_within"),
    ("type_attribute", {"nowhere": "x"}, r"type_attribute: must name one attribute per target"),
    ("items.order.attributes.entity", "OTHER", r"entity is the type attribute: it must be 'ORDER'"),
    ("items.shipment.derive.is_latest", {"latest_of": ["id"]}, r"needs order_by"),
    ("items.tracking_event.derive.seq.order_by", ["event_time sideways"], r"is not `column \[ASC\|DESC\]"),
    ("items.product.type", "CUSTOMER", r"'CUSTOMER' is the type of customer too"),
    ("items.order.attributes.placed_on", {"from": "${placed_at}", "format": "dd/MM/yyyy hh"},
     r"placed_on.format: format .* may use only"),
    ("access_patterns.order_by_id.index", "GSI9", r"'GSI9' is no GSI of retail"),
    ("access_patterns.order_by_id.key", {"PK": "ORDER#${id}"}, r"must give GSI1PK"),
    ("access_patterns.orders_of_customer.key", {"PK": "CUSTOMER#${id}", "SK": "X"},
     r"needs a sort key that the key condition does not fix"),
    ("schedule", "@daily", r"schedule: needs incremental: \{table, field\}"),
    ("incremental", {"table": "orders", "field": "placed_at"}, r"items.customer.touched_by: is required with "
                                                                 "incremental"),
    ("incremental", {"table": "returns", "field": "at"}, r"incremental.table: must be the `from` of an item type"),
    ("items.customer.touched_by", "SELECT 1 AS id", r"items.customer.touched_by: needs incremental"),
    ("items.customer_totals.from", "orders", r"items.customer_totals.sql: takes the place of from, join and where"),
    ("items.customer_totals.sql", "SELECT 1 AS customer_id", r"must name the source's tables as \{schema\}.<table>"),
    ("items.customer_totals.sql", 'SELECT * FROM {schema}."orders"', r"unquoted: the job runs it in Spark SQL"),
])
def test_a_design_mistake_is_refused_naming_the_field(path: str, value: Any, error: str) -> None:
    with pytest.raises(SpecError, match=error):
        _spec(_set(path, value))


def test_a_bare_on_key_is_read_as_the_join_condition_though_yaml_makes_it_true() -> None:
    text = SPEC.read_text()
    assert "on: \"customer.id = orders.customer_id\"" in text  # written as a user writes it, unquoted key
    spec = parse_spec(text, SPEC)
    assert next(i for i in spec.items if i.name == "order").joins[0].on == "customer.id = orders.customer_id"


def test_the_readme_example_is_a_spec_the_loader_takes() -> None:
    readme = (SPEC.parents[2] / "README.md").read_text()
    block = readme.split("```yaml\nkind: sql_to_dynamodb\n", 1)[1].split("```", 1)[0]
    example = yaml.safe_load("kind: sql_to_dynamodb\n" + block)
    raw = yaml.safe_load(SPEC.read_text())
    raw.update({k: v for k, v in example.items() if k != "kind"})
    spec = parse_spec(yaml.safe_dump(raw, sort_keys=False), SPEC)
    (order,) = spec.items
    assert order.where and [d.kind for d in order.derived] == ["latest", "number"]
    assert spec.access_patterns[0].sort_key_begins_with is not None
