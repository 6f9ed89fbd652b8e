"""Value conservation: every source value counted by path against what the target tables hold. The target side is
written by hand from the documents (the column values a correct job would leave), never by running the mapper."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import SPEC_DIR
from transforms.conservation import (
    Holder,
    PathCount,
    compare,
    failures,
    held_counts,
    holders,
    source_counts,
    summary_lines,
    target_count_from_number,
    target_counts,
    target_sql,
)
from transforms.extjson import loads
from transforms.spec import load_spec, parse_spec

HEADER = """
dag_id: x_to_dsql
kind: mongo_to_dsql
owner: data-platform
source:
  uri: mongodb://localhost
  database: shop
  collection: customers
  local_uri: file:///tmp/customers.json
target: {conn_id: dsql_default, schema: shop, ddl_dir: shop}
compute:
  staging_uri: s3://bucket/x
  quarantine_uri: s3://bucket/x/quarantine
  emr: {release_label: emr-7.5.0}
"""

CUSTOMER_SPEC = HEADER + """
unmapped: {contract: keep, ignore: [customer.photo]}
entities:
  product: {table: products, id_field: _id, id_column: product_id, columns: {}}
  customer:
    table: customers
    id_field: _id
    id_column: customer_id
    columns:
      name: {from: name, type: text}
      city: {from: address.city, type: text}
    references:
      referrer_id: {entity: customer, from: referred_by}
    children:
      orders:
        table: customer_orders
        from: orders
        parent_column: customer_id
        columns: {sku: {from: sku, type: text}, qty: {from: qty, type: int}}
      tiers:
        table: customer_tiers
        from: tiers
        parent_column: customer_id
        key_column: tier_key
        columns: {tier: {from: tier, type: text}, benefits: {from: benefits, type: json}}
      products:
        table: customer_products
        from: product_ids
        parent_column: customer_id
        element: {column: product_id, entity: product}
"""

HEX1, HEX2 = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
CUSTOMER = {
    "_id": "c1", "type": "customer", "name": "Ann", "address": {"city": "Oslo", "zip": "0150"}, "referred_by": "c0",
    "photo": {"url": "https://x/1.png", "size": 3},
    "orders": [{"sku": "A", "qty": 2, "gift_note": "hi"}, {"sku": "B", "qty": 1}],
    "tiers": {HEX1: {"tier": "gold", "benefits": ["lounge", "wifi"]},
              "legacy": {"tier": "silver", "benefits": ["wifi"], "since": 2020}},
    "product_ids": ["p1", "p2", "p1"],
}
# What the target holds of CUSTOMER, by (table, column): the values, or a count for keys and junction rows.
CUSTOMER_HELD: dict[tuple[str, str], Any] = {
    ("customers", "source_doc_id"): 1, ("customers", "customer_id"): 1, ("customers", "source_id"): 1,
    ("customers", "name"): ["Ann"], ("customers", "city"): ["Oslo"], ("customers", "referrer_id"): ["u-c0"],
    ("customers", "_extra"): ['{"address": {"zip": "0150"}}'],  # photo is ignored: not kept
    ("customer_orders", "sku"): ["A", "B"], ("customer_orders", "qty"): [2, 1],
    ("customer_orders", "_extra"): ['{"gift_note": "hi"}', None],
    ("customer_tiers", "tier"): ["gold", "silver"],
    ("customer_tiers", "benefits"): ['["lounge", "wifi"]', '["wifi"]'],
    ("customer_tiers", "_extra"): [None, '{"since": 2020}'],
    ("customer_products", "product_id"): 2,
}


def target_side(spec: Any, held: dict[tuple[str, str], Any]) -> dict[str, Counter[str]]:
    """Fold the hand-written column values (or counts) of every holder, as a run folds what it fetched."""
    out: dict[str, Counter[str]] = {}
    for h in holders(spec):
        v = held.get((h.table, h.column), 0 if h.kind in ("rows", "value", "distinct") else [])
        out.setdefault(h.entity, Counter()).update(
            target_count_from_number(h, v) if isinstance(v, int) else target_counts(h, v))
    return out


def source_side(spec: Any, docs: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Counter[str]], ...]:
    every: dict[str, Counter[str]] = {}
    distinct: dict[str, Counter[str]] = {}
    for entity, doc in docs:
        a, d = source_counts(spec, entity, doc)
        every.setdefault(entity, Counter()).update(a)
        distinct.setdefault(entity, Counter()).update(d)
    return every, distinct


def by_path(results: list[PathCount], entity: str) -> dict[str, PathCount]:
    return {r.path: r for r in results if r.entity == entity}


def test_a_movie_and_its_link_are_all_found_keys_columns_json_and_extra() -> None:
    spec = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
    movie = loads(json.dumps({
        "_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "PK": "MOVIE#m1", "SK": "METADATA", "type": "movie",
        "title": "Heat", "year": 1995, "release_date": {"$date": "1995-12-15T00:00:00Z"},
        "genres": ["Drama", "Crime"], "details": {"budget": 60000000, "language": "en", "awards": {"wins": 2}},
    }))
    link = loads(json.dumps({"_id": {"$oid": "65a1b2c3d4e5f60718293a4c"}, "PK": "MOVIE#m1", "SK": "ACTOR#a1",
                             "type": "movie_actor", "character_name": "McCauley", "billing_order": 1}))
    held = {("movies", "source_doc_id"): 1, ("movies", "movie_id"): 1, ("movies", "title"): ["Heat"],
            ("movies", "release_year"): [1995], ("movies", "release_date"): ["1995-12-15"],
            ("movies", "genres"): ['["Drama", "Crime"]'], ("movies", "budget"): [60000000],
            ("movies", "language"): ["en"], ("movies", "_extra"): ['{"details": {"awards": {"wins": 2}}}'],
            ("movie_actors", "source_doc_id"): 1, ("movie_actors", "movie_id"): 1, ("movie_actors", "actor_id"): 1,
            ("movie_actors", "character_name"): ["McCauley"], ("movie_actors", "billing_order"): [1]}
    source, distinct = source_side(spec, [("movie", movie), ("movie_actor", link)])
    results = compare(spec, source, distinct, target_side(spec, held), None, None)
    assert failures(results) == [] and all(r.ok and not r.ignored for r in results)
    movies = by_path(results, "movie")
    assert sorted(movies) == ["PK", "SK", "_id", "details.awards.wins", "details.budget", "details.language",
                              "genres[]", "release_date", "title", "type", "year"]
    assert (movies["genres[]"].source, movies["genres[]"].target) == (2, 2)
    assert sorted(by_path(results, "movie_actor")) == ["PK", "SK", "_id", "billing_order", "character_name", "type"]


def test_the_movie_spec_keys_are_held_by_rows() -> None:
    spec = load_spec(SPEC_DIR / "movie_collection_to_dsql.yaml")
    keys = [(h.entity, h.path, h.column) for h in holders(spec) if h.kind == "rows"]
    assert keys[:4] == [("movie", "_id", "source_doc_id"), ("movie", "type", "movie_id"), ("movie", "PK", "movie_id"),
                        ("movie", "SK", "movie_id")]
    assert ("movie_actor", "SK", "actor_id") in keys and ("movie_actor", "PK", "movie_id") in keys
    extras = [(h.table, h.path) for h in holders(spec) if h.kind == "extra"]
    assert extras == [(t, "") for t in ("movies", "actors", "directors", "movie_actors", "movie_directors")]


def test_children_maps_keyed_by_data_junctions_and_ignored_paths_are_all_accounted_for() -> None:
    spec = parse_spec(CUSTOMER_SPEC, Path("x_to_dsql.yaml"))
    assert [(h.table, h.column, h.path, h.kind) for h in holders(spec) if h.table != "customers"
            and h.entity == "customer"] == [
        ("customer_orders", "sku", "orders[].sku", "value"), ("customer_orders", "qty", "orders[].qty", "value"),
        ("customer_orders", "_extra", "orders[]", "extra"), ("customer_tiers", "tier", "tiers.*.tier", "value"),
        ("customer_tiers", "benefits", "tiers.*.benefits", "json"), ("customer_tiers", "_extra", "tiers.*", "extra"),
        ("customer_products", "product_id", "product_ids[]", "distinct")]
    every, distinct = source_counts(spec, "customer", CUSTOMER)
    assert every["tiers.*.tier"] == 2 and "tiers.legacy.tier" not in every  # a map's every key is data
    assert (every["product_ids[]"], distinct["product_ids[]"]) == (3, 2)
    source, dist = source_side(spec, [("customer", CUSTOMER)])
    results = compare(spec, source, dist, target_side(spec, CUSTOMER_HELD), None, None)
    assert failures(results) == [], failures(results)
    got = by_path(results, "customer")
    assert {p: (r.source, r.target) for p, r in got.items() if not r.ignored} == {
        "_id": (1, 1), "type": (1, 1), "name": (1, 1), "address.city": (1, 1), "address.zip": (1, 1),
        "referred_by": (1, 1), "orders[].sku": (2, 2), "orders[].qty": (2, 2), "orders[].gift_note": (1, 1),
        "tiers.*.tier": (2, 2), "tiers.*.benefits[]": (3, 3), "tiers.*.since": (1, 1), "product_ids[]": (2, 2)}
    assert [(p, r.source, r.target, r.ok, r.status) for p, r in got.items() if r.ignored] == [
        ("photo.size", 1, 0, True, "ignored"), ("photo.url", 1, 0, True, "ignored")]
    assert "| customer | `photo.url` | 1 | 0 | 0 | 0 | ignored |" in summary_lines(results)


def test_a_map_the_spec_maps_nowhere_and_the_target_lacks_fails_naming_its_paths() -> None:
    """The issue: nothing of `tier_and_details` mapped, no `_extra` kept: the check must say so, by path."""
    spec = parse_spec(HEADER + """
entities:
  customer: {table: customers, id_field: _id, id_column: customer_id, columns: {name: {from: name, type: text}}}
""", Path("x_to_dsql.yaml"))
    doc = {"_id": "c1", "type": "customer", "name": "Ann",
           "tier_and_details": {HEX1: {"tier": "gold", "benefits": ["a", "b"]}, HEX2: {"tier": "silver"}}}
    source, distinct = source_side(spec, [("customer", doc)])
    held = {("customers", "source_doc_id"): 1, ("customers", "customer_id"): 1, ("customers", "source_id"): 1,
            ("customers", "name"): ["Ann"], ("customers", "_extra"): [None]}
    results = compare(spec, source, distinct, target_side(spec, held), None, None)
    assert failures(results) == ["customer.tier_and_details.*.benefits[]: 0 of 2 values found in the target",
                                 "customer.tier_and_details.*.tier: 0 of 2 values found in the target"]
    tier = by_path(results, "customer")["tier_and_details.*.tier"]
    assert (tier.source, tier.found, tier.ok, tier.status) == (2, 0, False, "MISSING")
    lines = summary_lines(results)
    assert lines[2:4] == ["| customer | `tier_and_details.*.benefits[]` | 2 | 0 | 0 | 0 | MISSING |",
                          "| customer | `tier_and_details.*.tier` | 2 | 0 | 0 | 0 | MISSING |"]
    assert all(line.endswith("| ok |") for line in lines[4:])


def test_quarantined_and_superseded_values_are_found_and_extra_target_values_fail() -> None:
    spec = parse_spec(CUSTOMER_SPEC, Path("x_to_dsql.yaml"))
    every, distinct = source_counts(spec, "customer", CUSTOMER)
    older = {**CUSTOMER, "name": "Anne", "product_ids": ["p1", "p1"]}  # an older version the target replaced
    old_every, old_distinct = source_counts(spec, "customer", older)
    source = {"customer": every + old_every}
    distincts = {"customer": distinct + old_distinct}
    superseded = {"customer": held_counts(spec, "customer", old_every, old_distinct)}
    results = compare(spec, source, distincts, target_side(spec, CUSTOMER_HELD), None, superseded)
    assert failures(results) == []
    ids = by_path(results, "customer")["product_ids[]"]
    assert (ids.source, ids.target, ids.superseded) == (3, 2, 1)  # distinct per document: 2 + 1
    # the whole document quarantined: nothing in the target, all found
    rejected = {"customer": held_counts(spec, "customer", every, distinct)}
    results = compare(spec, {"customer": every}, {"customer": distinct}, {}, rejected, None)
    assert failures(results) == [] and by_path(results, "customer")["name"].quarantined == 1
    # more in the target than the source had: a path the source lacks, and a short count
    target = target_side(spec, {**CUSTOMER_HELD, ("customers", "_extra"): ['{"address": {"zip": "0150"}, "x": 1}'],
                                ("customer_orders", "sku"): ["A"]})
    results = compare(spec, {"customer": every}, {"customer": distinct}, target, None, None)
    assert failures(results) == ["customer.orders[].sku: 1 of 2 values found in the target",
                                 "customer.x: 1 values found in the target, the source has 0"]
    assert by_path(results, "customer")["x"].status == "EXTRA"


def test_target_sql_quotes_identifiers_and_takes_the_callers_condition() -> None:
    value = Holder("customer", "customers", "name", "name", "value")
    extra = Holder("customer", "customers", "_extra", "", "extra")
    rows = Holder("customer", "customers", "source_doc_id", "_id", "rows")
    assert target_sql("shop", value) == 'SELECT count("name") FROM "shop"."customers"'
    assert target_sql("shop", rows, "source_doc_id = ANY(%s)") == \
        'SELECT count(*) FROM "shop"."customers" WHERE (source_doc_id = ANY(%s))'
    assert target_sql("shop", extra, "run = %s") == \
        'SELECT "_extra"::text FROM "shop"."customers" WHERE "_extra" IS NOT NULL AND (run = %s)'
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        target_sql("shop; drop", value)


def test_counts_come_as_numbers_only_for_counted_holders() -> None:
    json_holder = Holder("movie", "movies", "genres", "genres", "json")
    with pytest.raises(ValueError, match="pass them to target_counts"):
        target_count_from_number(json_holder, 3)
    assert target_counts(json_holder, ['["a", "b"]', None, '["c"]']) == Counter({"genres[]": 3})
    assert target_counts(Holder("m", "t", "c", "p", "value"), ["x", None, 0]) == Counter({"p": 2})
    assert target_count_from_number(Holder("m", "t", "c", "p", "rows"), 0) == Counter()
