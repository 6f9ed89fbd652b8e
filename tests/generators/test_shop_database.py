"""The seeded shop database (tests/fixtures/shop_database.py): deterministic, in the Extended JSON mode each file
is documented in, and truthful: every count and planted defect of its truth dict recounted from the files."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from generators import shop_database as shop
from transforms.extjson import ObjectId, loads

OID = re.compile(r"^[0-9a-f]{24}$")
TIER_KEY = re.compile(r"^[0-9a-f]{32}$")
ISO_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
INT32_MAX = 2**31 - 1
START_2024, END_2024 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n")
    lines = text[:-1].split("\n")
    assert all(lines), f"{path.name} has a blank line"
    return lines


def _read(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every collection decoded with the project's reader."""
    return {name: [loads(line) for line in _lines(directory / f"{name}.json")] for name in shop.COLLECTIONS}


def _raw(directory: Path, name: str) -> list[dict[str, Any]]:
    """One collection as plain JSON: the Extended JSON wrappers left as they are written."""
    return [json.loads(line) for line in _lines(directory / f"{name}.json")]


def _walk(value: Any) -> Any:
    """Every value nested in `value` (dicts, lists and scalars), `value` first."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _oid_time(oid: str) -> datetime:
    return datetime.fromtimestamp(int(oid[:8], 16), UTC)


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("shop")
    return directory, shop.write(directory)


# ------------------------------------------------------------------------------------------- determinism

def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert shop.write(a, customers=25, seed=3) == shop.write(b, customers=25, seed=3)
    other = shop.write(c, customers=25, seed=4)
    for name in shop.COLLECTIONS:
        assert (a / f"{name}.json").read_bytes() == (b / f"{name}.json").read_bytes()
        assert (a / f"{name}.json").read_bytes() != (c / f"{name}.json").read_bytes()
    assert other["collections"] == {"customers": 25, "accounts": 38, "orders": 63}


def test_only_the_three_collection_files_are_written(default: tuple[Path, dict[str, Any]]) -> None:
    directory, _ = default
    assert sorted(p.name for p in directory.iterdir()) == ["accounts.json", "customers.json", "orders.json"]


def test_defaults_and_sizes_scale_with_customers(default: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    _, truth = default
    assert truth["collections"] == {"customers": 40, "accounts": 60, "orders": 100}
    assert shop.write(tmp_path / "d", customers=40, seed=7) == truth
    assert shop.write(tmp_path / "big", customers=200, seed=1)["collections"] == {
        "customers": 200, "accounts": 300, "orders": 500}
    with pytest.raises(ValueError):
        shop.build(0)


# ------------------------------------------------------------------------------------------- the truth

@pytest.mark.parametrize(("customers", "seed"), [(40, 7), (1, 1), (2, 5), (3, 2), (17, 9), (120, 11)])
def test_truth_matches_what_the_files_hold(tmp_path: Path, customers: int, seed: int) -> None:
    truth = shop.write(tmp_path, customers=customers, seed=seed)
    db = _read(tmp_path)
    people, accounts, orders = db["customers"], db["accounts"], db["orders"]
    assert truth["collections"] == {name: len(docs) for name, docs in db.items()}

    ids = [d["_id"] for docs in db.values() for d in docs]
    assert all(isinstance(i, ObjectId) and OID.match(i) for i in ids)
    assert len(set(ids)) == len(ids)

    # accounts: one account_no held by exactly two documents, every other one by one
    held = Counter(a["account_no"] for a in accounts)
    assert [no for no, n in held.items() if n > 1] == [truth["duplicated_account_no"]]
    assert held[truth["duplicated_account_no"]] == 2
    assert [a["_id"] for a in accounts if a["account_no"] == truth["duplicated_account_no"]] == \
        truth["duplicated_account_ids"]

    # customers: unique emails, 1–3 distinct existing account_no references, the duplicated one referenced
    assert len({p["email"] for p in people}) == len(people)
    for person in people:
        assert 1 <= len(person["accounts"]) <= 3
        assert len(set(person["accounts"])) == len(person["accounts"])
        assert set(person["accounts"]) <= set(held)
    assert any(truth["duplicated_account_no"] in p["accounts"] for p in people)
    assert truth["account_links"] == sum(len(set(p["accounts"])) for p in people)

    tier_keys = [key for p in people for key in p["tiers"]]
    assert all(TIER_KEY.match(key) for key in tier_keys)
    assert len(set(tier_keys)) == len(tier_keys) == truth["tier_keys"]
    assert all(1 <= len(p["tiers"]) <= 3 for p in people)

    # orders: every customer_id and placed_by names a customer, except both of the one dangling order's
    by_id = {p["_id"]: p for p in people}
    emails = {p["email"] for p in people}
    dangling = [o for o in orders if o["customer_id"] not in by_id]
    assert [o["_id"] for o in dangling] == [truth["dangling_order_id"]]
    assert dangling[0]["customer_id"] == truth["dangling_customer_id"]
    assert truth["dangling_customer_id"] not in set(ids)
    assert dangling[0]["placed_by"] not in emails
    for order in orders:
        if order["_id"] != truth["dangling_order_id"]:
            assert order["placed_by"] == by_id[order["customer_id"]]["email"]
    assert truth["order_items"] == sum(len(o["items"]) for o in orders)
    assert truth["late_fields"] == 0 == sum(shop.LATE_FIELD in o for o in orders)


def test_documents_have_the_documented_shape(default: tuple[Path, dict[str, Any]]) -> None:
    directory, _ = default
    db = _read(directory)
    for docs in db.values():
        ids = [d["_id"] for d in docs]
        assert ids == sorted(ids), "ObjectIds rise in file order"
        assert all(START_2024 <= _oid_time(i) < END_2024 for i in ids)

    for a in db["accounts"]:
        assert list(a) == ["_id", "account_no", "kind", "opened", "limit", "products", "balance"]
        assert isinstance(a["account_no"], int) and a["kind"] in shop.ACCOUNT_KINDS
        assert isinstance(a["opened"], datetime) and a["opened"].tzinfo is not None
        assert isinstance(a["limit"], int) and a["limit"] > INT32_MAX
        assert 0 <= len(a["products"]) <= 3 and all(isinstance(p, str) for p in a["products"])
        assert isinstance(a["balance"], Decimal) and a["balance"].as_tuple().exponent == -2

    photos = 0
    for c in db["customers"]:
        assert list(c)[:8] == ["_id", "email", "name", "joined", "address", "tags", "accounts", "tiers"]
        assert set(c) - set(list(c)[:8]) <= {"photo"}
        assert "@" in c["email"] and isinstance(c["name"], str) and isinstance(c["joined"], datetime)
        assert set(c["address"]) == {"street", "city", "geo"}
        assert set(c["address"]["geo"]) == {"lat", "lon"}
        assert all(isinstance(c["address"]["geo"][k], float) for k in ("lat", "lon"))
        assert all(isinstance(t, str) for t in c["tags"])
        assert all(isinstance(n, int) for n in c["accounts"])
        for value in c["tiers"].values():
            assert list(value) == ["tier", "active", "since", "benefits"]
            assert isinstance(value["tier"], str) and isinstance(value["active"], bool)
            assert isinstance(value["since"], datetime)
            assert value["benefits"] and all(isinstance(b, str) for b in value["benefits"])
        if "photo" in c:
            photos += 1
            assert set(c["photo"]) == {"$binary"} and c["photo"]["$binary"]["subType"] == "00"
            assert base64.b64decode(c["photo"]["$binary"]["base64"], validate=True)
    assert 1 <= photos < len(db["customers"])

    for o in db["orders"]:
        assert list(o) == ["_id", "customer_id", "placed_by", "placed_at", "status", "items", "shipping"]
        assert isinstance(o["customer_id"], ObjectId) and isinstance(o["placed_at"], datetime)
        assert START_2024 <= o["placed_at"] < END_2024 and o["status"] in shop.ORDER_STATUSES
        assert 1 <= len(o["items"]) <= 4
        for item in o["items"]:
            assert list(item) == ["sku", "qty", "price"]
            assert isinstance(item["sku"], str) and isinstance(item["qty"], int)
            assert isinstance(item["price"], Decimal) and item["price"].as_tuple().exponent == -2
        assert set(o["shipping"]) == {"method", "address"}
        assert set(o["shipping"]["address"]) == {"city", "zip"}
        assert isinstance(o["shipping"]["address"]["zip"], str)


# ------------------------------------------------------------------------------------------- modes

def test_customers_are_canonical(default: tuple[Path, dict[str, Any]]) -> None:
    directory, _ = default
    wrappers: Counter[str] = Counter()
    for doc in _raw(directory, "customers"):
        for value in _walk(doc):
            assert not isinstance(value, int | float) or isinstance(value, bool), f"plain number {value!r}"
            if isinstance(value, dict) and len(value) == 1:
                (key, payload), = value.items()
                wrappers[key] += key.startswith("$")
                if key == "$date":
                    assert set(payload) == {"$numberLong"} and re.match(r"^-?\d+$", payload["$numberLong"])
        assert all(set(n) == {"$numberInt"} for n in doc["accounts"])
        assert all(set(v) == {"$numberDouble"} for v in doc["address"]["geo"].values())
    assert {"$oid", "$date", "$numberInt", "$numberDouble", "$binary"} <= set(+wrappers)


@pytest.mark.parametrize("name", ["accounts", "orders"])
def test_accounts_and_orders_are_relaxed(default: tuple[Path, dict[str, Any]], name: str) -> None:
    directory, _ = default
    wrappers: Counter[str] = Counter()
    for doc in _raw(directory, name):
        for value in _walk(doc):
            if isinstance(value, dict) and len(value) == 1:
                (key, payload), = value.items()
                wrappers[key] += key.startswith("$")
                if key == "$date":
                    assert isinstance(payload, str) and ISO_SECONDS.match(payload), payload
                if key == "$numberLong":
                    assert abs(int(payload)) > INT32_MAX
        if name == "accounts":
            assert isinstance(doc["account_no"], int) and set(doc["limit"]) == {"$numberLong"}
            assert set(doc["balance"]) == {"$numberDecimal"}
        else:
            assert all(isinstance(item["qty"], int) and set(item["price"]) == {"$numberDecimal"}
                       for item in doc["items"])
    assert not {"$numberInt", "$numberDouble"} & set(wrappers)
    assert {"$oid", "$date", "$numberDecimal"} <= set(+wrappers)


# ------------------------------------------------------------------------------------------- late field

def test_late_field_adds_only_gift_notes(tmp_path: Path) -> None:
    plain_dir, late_dir = tmp_path / "plain", tmp_path / "late"
    plain = shop.write(plain_dir, customers=30, seed=5)
    late = shop.write(late_dir, customers=30, seed=5, late_field=True)
    assert late == {**plain, "late_fields": late["late_fields"]}
    for name in ("customers", "accounts"):
        assert (plain_dir / f"{name}.json").read_bytes() == (late_dir / f"{name}.json").read_bytes()

    before, after = _raw(plain_dir, "orders"), _raw(late_dir, "orders")
    assert len(before) == len(after) == late["collections"]["orders"]
    noted = []
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        assert shop.LATE_FIELD not in old
        if shop.LATE_FIELD in new:
            noted.append(i)
            assert isinstance(new[shop.LATE_FIELD], str) and new[shop.LATE_FIELD]
        assert {k: v for k, v in new.items() if k != shop.LATE_FIELD} == old
    assert noted == list(range(shop.LATE_EVERY - 1, len(after), shop.LATE_EVERY))
    assert late["late_fields"] == len(noted) == len(after) // 3 > 0
    assert all(shop.LATE_FIELD in loads(line) for line in _lines(late_dir / "orders.json")[2::3])
