"""A seeded, deterministic MongoDB *database* of a made-up retail bank and shop, as `mongoexport` files.

The movie export (include/generators/movie_collection.py) is one collection; a database export is several,
with references between them that a migration has to keep or report. This one writes three collections into
a directory, one `mongoexport` file each, one document per line:

    <dir>/customers.json   canonical Extended JSON ($numberInt, $numberDouble, {"$date": {"$numberLong": ms}})
    <dir>/accounts.json    relaxed Extended JSON (plain numbers, ISO-8601 `$date` strings, `$numberLong`
    <dir>/orders.json      only for values beyond int32), so a reader must handle both modes

and returns the "truth": what a reader must find in them. Every file in the directory is read as a
collection, so nothing else is written there.

What the documents exercise:
  accounts   `account_no` is the natural key: unique except for exactly one value two documents share (the
             duplicated natural key). `limit` is an int64 in micro-units (millionths of the currency, as the
             ledger keeps it), always beyond int32 so always `$numberLong`; `products` is an array of scalars
             (0–3); `balance` a `$numberDecimal` with two decimals.
  customers  `email` is the natural key (unique); `address` nests three levels (address.geo.lat); `accounts`
             holds 1–3 distinct `account_no` values (references by natural key; every one exists, the
             duplicated one is referenced); `tiers` is an object keyed by ids (32 lowercase hex, distinct over
             the collection) whose values all have one shape (the id-keyed map); a few have a `$binary` photo.
  orders     `customer_id` references customers by `_id`, `placed_by` by email; `items` is an array of
             objects; `shipping` nests an address. Exactly one order is the dangling reference: its customer
             was deleted, so neither its `customer_id` nor its `placed_by` names an existing customer.

`late_field=True` adds a string `gift_note` to every 3rd order (the 3rd, 6th, ...), a field that appears only
after discovery; everything else is byte for byte what `late_field=False` writes (the notes are drawn either way).

    build(customers, seed, late_field) -> `Shop(documents, truth)`: the documents as Python values
    write(directory, customers=, seed=, late_field=) -> writes the three files, returns the truth:

    {"collections": {"customers": n, "accounts": n, "orders": n},
     "duplicated_account_no": the account_no two accounts share,
     "duplicated_account_ids": [the two accounts' _id hex, in file order],
     "dangling_order_id": the dangling order's _id hex, "dangling_customer_id": its customer_id hex,
     "tier_keys": tier entries over all customers, "account_links": (customer, account_no) pairs,
     "order_items": items over all orders, "late_fields": gift_note fields written}

Everything comes from `random.Random(seed)`: the same arguments give byte-identical files. ObjectIds rise in
file order (accounts, then customers, then orders) with timestamps in 2024. Standard library only.

CLI (PYTHONPATH=include): python -m generators.shop_database --out DIR [--customers N] [--seed S] [--late-field]
writes the three files and prints the truth.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

COLLECTIONS = ("customers", "accounts", "orders")
MODES = {"customers": "canonical", "accounts": "relaxed", "orders": "relaxed"}
LATE_FIELD = "gift_note"
LATE_EVERY = 3  # every 3rd order (1-based 3, 6, 9, ...) gets the late field

_INT32 = range(-(2**31), 2**31)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_START = datetime(2024, 1, 2, tzinfo=UTC)  # a day in, so an order placed before its _id is still in 2024
_YEAR_END = datetime(2024, 12, 31, 23, 0, tzinfo=UTC)

FIRST_NAMES = (
    "Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Mia", "Arjun", "Priya", "Chen", "Mei", "Kwame", "Amara",
    "José", "Lucía", "Zoë", "Chloé", "Søren", "Åsa", "Björn", "Jürgen", "François", "Siobhán", "Seán", "Hiroshi",
    "Yuki", "Fatima", "Omar", "Dorota", "Zoltán", "Anne-Marie", "Ngozi",
)
LAST_NAMES = (
    "Smith", "Jones", "Taylor", "Patel", "Khan", "Nguyễn", "García", "Müller", "Okafor", "O'Brien", "MacLeod",
    "van der Berg", "Lefèvre", "Sørensen", "Kowalski", "Tanaka", "Haddad", "Dvořák", "Adeyemi", "Lindqvist",
    "D'Angelo", "Chen", "Walsh", "Szabó",
)
EMAIL_DOMAINS = ("example.com", "mail.example.org", "post.example.net", "inbox.example.co.uk")
# city, latitude, longitude, how its post codes look ("#" a digit, "@" a capital letter)
CITIES = (
    ("Boston", 42.3601, -71.0589, "021##"),
    ("Newark", 40.7357, -74.1724, "071##"),
    ("Portland", 45.5152, -122.6784, "972##"),
    ("Austin", 30.2672, -97.7431, "787##"),
    ("London", 51.5072, -0.1276, "@@# #@@"),
    ("Manchester", 53.4808, -2.2426, "M## #@@"),
    ("Dublin", 53.3498, -6.2603, "D## @###"),
    ("Montréal", 45.5019, -73.5674, "H#@ #@#"),
    ("Zürich", 47.3769, 8.5417, "80##"),
    ("København", 55.6761, 12.5683, "1###"),
    ("São Paulo", -23.5558, -46.6396, "0####-###"),
    ("Kraków", 50.0647, 19.9450, "3#-###"),
)
STREETS = ("Harbour", "Mill", "Station", "Church", "O'Connell", "Königs", "Rue Saint-Denis", "Elm", "Quay", "Maple")
STREET_KINDS = ("Street", "Road", "Lane", "Avenue", "Way")
TAGS = ("vip", "newsletter", "student", "business", "paperless", "fraud-watch", "overseas")
ACCOUNT_KINDS = ("checking", "savings", "credit", "loan")
PRODUCTS = ("debit_card", "overdraft", "online_banking", "mobile_pay", "cheque_book", "travel_insurance")
TIERS = ("bronze", "silver", "gold", "platinum")
BENEFITS = ("cashback", "lounge_access", "free_transfers", "priority_support", "fee_waiver", "bonus_rate")
ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned")
SHIPPING_METHODS = ("standard", "express", "next_day", "click_and_collect")
SKU_FAMILIES = ("MUG", "TEE", "CAP", "BAG", "PEN", "NBK", "USB", "UMB")
GIFT_NOTES = (
    "Happy birthday!", "Joyeux Noël 🎄", 'For the "best" dad', "Congratulations on the new job",
    "Thank you — really", "Alles Gute zum Geburtstag", "Back\\slash and\ttab", "お誕生日おめでとう",
)
_PHOTO_MAGIC = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"  # the start of a JPEG: a few customers have a (tiny) photo


class ObjectId(str):
    """An ObjectId (24 lowercase hex digits) in the documents; written as `{"$oid": ...}`."""

    __slots__ = ()


@dataclass
class Shop:
    """The documents of each collection, in file order, as Python values, and the truth about them."""

    documents: dict[str, list[dict[str, Any]]]
    truth: dict[str, Any]


# --------------------------------------------------------------------------------------------- Extended JSON

def _millis(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def encode(value: Any, mode: str) -> Any:
    """`value` as Extended JSON in `mode` ("canonical" or "relaxed"), ready for `json.dumps`."""
    if isinstance(value, ObjectId):
        return {"$oid": str(value)}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if mode == "relaxed" and value in _INT32:
            return value
        return {"$numberInt" if value in _INT32 else "$numberLong": str(value)}
    if isinstance(value, float):
        return value if mode == "relaxed" else {"$numberDouble": repr(value)}
    if isinstance(value, Decimal):
        return {"$numberDecimal": str(value)}
    if isinstance(value, datetime):
        if mode == "relaxed":
            return {"$date": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        return {"$date": {"$numberLong": str(_millis(value))}}
    if isinstance(value, bytes):
        return {"$binary": {"base64": base64.b64encode(value).decode("ascii"), "subType": "00"}}
    if isinstance(value, dict):
        return {key: encode(item, mode) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item, mode) for item in value]
    raise TypeError(f"no Extended JSON form for {type(value).__name__}")


def to_line(document: dict[str, Any], mode: str) -> str:
    """One document as its export line (without the newline): compact like mongoexport, UTF-8 unescaped."""
    return json.dumps(encode(document, mode), ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------- values

def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _moment(rng: random.Random, first_year: int, last_year: int) -> datetime:
    start = datetime(first_year, 1, 1, tzinfo=UTC)
    seconds = int((datetime(last_year + 1, 1, 1, tzinfo=UTC) - start).total_seconds())
    return start + timedelta(seconds=rng.randrange(seconds))


def _postcode(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else chr(65 + rng.randrange(26)) if c == "@" else c
                   for c in pattern)


def _ascii(text: str) -> str:
    """The letters of `text` an email address can hold: accents dropped, the rest of non-ASCII left out."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return "".join(c for c in plain if c.isalnum()) or "x"


def _object_ids(rng: random.Random, count: int) -> list[ObjectId]:
    """`count` increasing ObjectIds (4-byte timestamp, 5-byte "process", 3-byte counter) over 2024."""
    start, span = int(_YEAR_START.timestamp()), int((_YEAR_END - _YEAR_START).total_seconds())
    step = max(1, span // max(count, 1))
    ts, process, counter = start + rng.randrange(3600), rng.randrange(1 << 40), rng.randrange(1 << 23)
    ids = []
    for _ in range(count):
        ids.append(ObjectId(f"{ts:08x}{process:010x}{counter % (1 << 24):06x}"))
        ts += rng.randint(1, step)
        counter += 1
    return ids


def _account(rng: random.Random, oid: ObjectId, account_no: int) -> dict[str, Any]:
    kind = rng.choice(ACCOUNT_KINDS)
    cents = rng.randrange(-500_000, 0) if kind in ("credit", "loan") else rng.randrange(0, 2_500_000)
    return {
        "_id": oid,
        "account_no": account_no,
        "kind": kind,
        "opened": _moment(rng, 2010, 2023),
        "limit": rng.randrange(250, 5_001) * 10 * 1_000_000,  # 2,500–50,000 in micro-units: beyond int32
        "products": rng.sample(PRODUCTS, rng.randint(0, 3)),
        "balance": _money(cents),
    }


def _customer(rng: random.Random, oid: ObjectId, emails: set[str], tier_keys: set[str],
              account_nos: list[int]) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    stem, domain = f"{_ascii(first)}.{_ascii(last)}", rng.choice(EMAIL_DOMAINS)
    email, n = f"{stem}@{domain}", 1
    while email in emails:
        n += 1
        email = f"{stem}{n}@{domain}"
    emails.add(email)
    city, lat, lon, _ = rng.choice(CITIES)
    tiers = {}
    for _ in range(rng.randint(1, 3)):
        key = f"{rng.getrandbits(128):032x}"
        while key in tier_keys:
            key = f"{rng.getrandbits(128):032x}"
        tier_keys.add(key)
        tiers[key] = {"tier": rng.choice(TIERS), "active": rng.random() < 0.7, "since": _moment(rng, 2016, 2024),
                      "benefits": rng.sample(BENEFITS, rng.randint(1, 3))}
    return {
        "_id": oid,
        "email": email,
        "name": f"{first} {last}",
        "joined": _moment(rng, 2015, 2023),
        "address": {
            "street": f"{rng.randint(1, 240)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}",
            "city": city,
            "geo": {"lat": round(lat + rng.uniform(-0.05, 0.05), 6), "lon": round(lon + rng.uniform(-0.05, 0.05), 6)},
        },
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "accounts": rng.sample(account_nos, min(rng.randint(1, 3), len(account_nos))),
        "tiers": tiers,
    }


def _order(rng: random.Random, oid: ObjectId, customer: dict[str, Any]) -> dict[str, Any]:
    created = datetime.fromtimestamp(int(str(oid)[:8], 16), UTC)
    home = next(c for c in CITIES if c[0] == customer["address"]["city"])
    city, _, _, pattern = home if rng.random() < 0.8 else rng.choice(CITIES)  # sometimes sent elsewhere: a gift
    return {
        "_id": oid,
        "customer_id": customer["_id"],
        "placed_by": customer["email"],
        "placed_at": created - timedelta(seconds=rng.randint(0, 900)),
        "status": rng.choice(ORDER_STATUSES),
        "items": [{"sku": f"{rng.choice(SKU_FAMILIES)}-{rng.randrange(10_000):04d}-{rng.choice('SMLX')}",
                   "qty": rng.randint(1, 5), "price": _money(rng.randrange(199, 20_000))}
                  for _ in range(rng.randint(1, 4))],
        "shipping": {"method": rng.choice(SHIPPING_METHODS), "address": {"city": city, "zip": _postcode(rng, pattern)}},
    }


# --------------------------------------------------------------------------------------------- API

def build(customers: int = 40, seed: int = 7, late_field: bool = False) -> Shop:
    """The three collections' documents in file order and the truth about them (see the module docstring)."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    rng = random.Random(seed)
    n_accounts, n_orders = max(2, (3 * customers + 1) // 2), max(2, (5 * customers + 1) // 2)
    # one more customer than asked for: the deleted one, whom the dangling order still names
    oids = _object_ids(rng, n_accounts + customers + 1 + n_orders)
    account_ids, customer_ids, order_ids = (oids[:n_accounts], oids[n_accounts:n_accounts + customers + 1],
                                            oids[n_accounts + customers + 1:])

    # accounts: n_accounts - 1 distinct numbers, the copy of one given to a later account
    numbers = rng.sample(range(10_000_000, 100_000_000), n_accounts - 1)
    first, second = sorted(rng.sample(range(n_accounts), 2))
    numbers.insert(second, numbers[first])
    accounts = [_account(rng, oid, number) for oid, number in zip(account_ids, numbers, strict=True)]
    duplicated = numbers[first]

    emails: set[str] = set()
    tier_keys: set[str] = set()
    distinct = sorted(set(numbers))
    people = [_customer(rng, oid, emails, tier_keys, distinct) for oid in customer_ids]
    deleted = people.pop(rng.randrange(len(people)))
    if not any(duplicated in person["accounts"] for person in people):
        rng.choice(people)["accounts"][0] = duplicated
    for i in sorted(rng.sample(range(customers), max(1, customers // 8))):
        people[i]["photo"] = _PHOTO_MAGIC + rng.randbytes(rng.randint(16, 40))

    dangling_at = rng.randrange(n_orders)
    orders = [_order(rng, oid, deleted if i == dangling_at else rng.choice(people)) for i, oid in enumerate(order_ids)]
    notes = [rng.choice(GIFT_NOTES) for _ in orders]  # drawn either way: late_field changes nothing else
    late = 0
    if late_field:
        for i in range(LATE_EVERY - 1, n_orders, LATE_EVERY):
            orders[i][LATE_FIELD] = notes[i]
            late += 1

    truth = {
        "collections": {"customers": len(people), "accounts": len(accounts), "orders": len(orders)},
        "duplicated_account_no": duplicated,
        "duplicated_account_ids": [str(accounts[first]["_id"]), str(accounts[second]["_id"])],
        "dangling_order_id": str(orders[dangling_at]["_id"]),
        "dangling_customer_id": str(deleted["_id"]),
        "tier_keys": sum(len(person["tiers"]) for person in people),
        "account_links": sum(len(set(person["accounts"])) for person in people),
        "order_items": sum(len(order["items"]) for order in orders),
        "late_fields": late,
    }
    return Shop({"customers": people, "accounts": accounts, "orders": orders}, truth)


def write(directory: Path, *, customers: int = 40, seed: int = 7, late_field: bool = False) -> dict[str, Any]:
    """Write `<directory>/{customers,accounts,orders}.json` (made if missing) and return the truth."""
    shop = build(customers, seed, late_field)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in COLLECTIONS:
        with (directory / f"{name}.json").open("w", encoding="utf-8", newline="\n") as f:
            f.writelines(to_line(document, MODES[name]) + "\n" for document in shop.documents[name])
    return shop.truth


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="the directory to write the three exports into")
    p.add_argument("--customers", type=int, default=40)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--late-field", action="store_true", help="add `gift_note` to every 3rd order")
    args = p.parse_args(argv)
    truth = write(args.out, customers=args.customers, seed=args.seed, late_field=args.late_field)
    print(json.dumps(truth, sort_keys=True))


if __name__ == "__main__":
    main()
