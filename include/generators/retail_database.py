"""A seeded retail database (customers, products, orders, order lines, shipments and their tracking events),
loaded into PostgreSQL as the stand-in for a SQL Server database nobody here designed a migration for.

Orders and products are many-to-many through `order_lines` (primary key `(order_id, sku)`); shipments belong to
orders, and `shipment_events` is a tracking log with no primary key. Deliberate cases, always present:
customers with no order, products never ordered, orders with no shipment, shipments with no event, two events of
one shipment at the same instant (the log's order needs its tie-breakers), a NULL city, names with accents and
quotes, prices with cents and a timestamp with microseconds.

    generate(seed=7, customers=120) -> {table: [row tuple, ...]}   (columns as in `DDL`)
    load(uri, schema="retail", seed=7, customers=120) -> {table: rows}   (schema dropped and made again)

    python -m generators.retail_database --uri postgresql://… [--schema retail] [--seed 7] [--customers 120]
"""

from __future__ import annotations

import argparse
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

DDL = {
    "customers": "id integer PRIMARY KEY, email varchar(120) NOT NULL, full_name varchar(120) NOT NULL, "
                 "city varchar(60), joined_on date NOT NULL",
    "products": "sku varchar(20) PRIMARY KEY, name varchar(120) NOT NULL, category varchar(40) NOT NULL, "
                "price numeric(10,2) NOT NULL",
    "orders": "id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES {schema}.customers(id), "
              "placed_at timestamp NOT NULL, status varchar(20) NOT NULL, total numeric(12,2) NOT NULL",
    "order_lines": "order_id bigint NOT NULL REFERENCES {schema}.orders(id), "
                   "sku varchar(20) NOT NULL REFERENCES {schema}.products(sku), quantity integer NOT NULL, "
                   "unit_price numeric(10,2) NOT NULL, PRIMARY KEY (order_id, sku)",
    "shipments": "id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES {schema}.orders(id), "
                 "carrier varchar(40) NOT NULL, shipped_at timestamp NOT NULL",
    "shipment_events": "shipment_id bigint NOT NULL REFERENCES {schema}.shipments(id), "
                       "event_time timestamp NOT NULL, status varchar(30) NOT NULL, location varchar(60)",
}
CATEGORIES = ("books", "garden", "kitchen", "toys", "music")
CITIES = ("Lyon", "Zürich", "Porto", "Kraków", "O'Fallon", None)
STATUSES = ("PLACED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED")
TRACKING = ("LABEL_CREATED", "PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED")
START = datetime(2024, 3, 1, 8, 0)


def generate(seed: int = 7, customers: int = 120) -> dict[str, list[tuple[Any, ...]]]:
    rnd = random.Random(seed)
    first = ("Ana", "Bruno", "Chloé", "Dara", "Émile", "Farah", "Gus", "Hélène", "Ines", "Jon")
    last = ("Martin", "O'Neil", "Nowak", "Silva", "Müller", "Rossi", "Dubois", "Khan")
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in DDL}
    for i in range(1, customers + 1):
        name = f"{rnd.choice(first)} {rnd.choice(last)}"
        out["customers"].append((i, f"customer{i}@example.com", name, rnd.choice(CITIES),
                                 date(2020, 1, 1) + timedelta(days=rnd.randrange(1500))))
    products = [(f"SKU-{n:04d}", f"Product {n} \"{rnd.choice(CATEGORIES)}\"", rnd.choice(CATEGORIES),
                 Decimal(rnd.randrange(199, 19999)) / 100) for n in range(1, max(12, customers // 3) + 1)]
    out["products"] = products
    ordered = products[: len(products) - max(3, len(products) // 8)]  # the rest are never ordered
    order_id, shipment_id = 10_000, 500_000
    for cust in range(1, customers + 1):
        if cust % 7 == 0:
            continue  # customers with no order
        for _ in range(rnd.randrange(1, 5)):
            order_id += 1
            placed = START + timedelta(days=rnd.randrange(200), seconds=rnd.randrange(86400),
                                       microseconds=rnd.randrange(1_000_000))
            lines = rnd.sample(ordered, rnd.randrange(1, 4))
            total = Decimal(0)
            for sku, _name, _cat, price in lines:
                qty = rnd.randrange(1, 4)
                out["order_lines"].append((order_id, sku, qty, price))
                total += price * qty
            status = rnd.choice(STATUSES)
            out["orders"].append((order_id, cust, placed, status, total))
            if status in ("PLACED", "CANCELLED"):
                continue  # orders with no shipment
            for _ in range(1 if rnd.random() < 0.8 else 2):
                shipment_id += 1
                shipped = placed + timedelta(hours=rnd.randrange(2, 72))
                out["shipments"].append((shipment_id, order_id, rnd.choice(("UPS", "DHL", "La Poste")), shipped))
                if shipment_id % 9 == 0:
                    continue  # shipments with no event yet
                t = shipped
                for step in TRACKING[: rnd.randrange(1, len(TRACKING) + 1)]:
                    out["shipment_events"].append((shipment_id, t, step, rnd.choice(CITIES)))
                    t += timedelta(hours=rnd.randrange(1, 30))
    # two events of one shipment at the same instant: the log's order needs its tie-breakers
    sid, t, _, _ = out["shipment_events"][0]
    out["shipment_events"].append((sid, t, "SCANNED", "Lyon"))
    return out


def load(uri: str, schema: str = "retail", seed: int = 7, customers: int = 120) -> dict[str, int]:
    """(Re)create `schema` at the PostgreSQL `uri` and fill it; rows loaded per table."""
    import psycopg
    from psycopg import sql

    tables = generate(seed, customers)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for table, columns in DDL.items():
            conn.execute(f'CREATE TABLE "{schema}"."{table}" ({columns.format(schema=f"{chr(34)}{schema}{chr(34)}")})')
            with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(schema, table))) as copy:
                for row in tables[table]:
                    copy.write_row(row)
    return {t: len(rows) for t, rows in tables.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generators.retail_database", description=__doc__.splitlines()[0])
    p.add_argument("--uri", required=True, help="postgresql://… of the database to load into")
    p.add_argument("--schema", default="retail")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--customers", type=int, default=120)
    args = p.parse_args(argv)
    for table, n in load(args.uri, args.schema, args.seed, args.customers).items():
        print(f"{table}: {n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["DDL", "generate", "load"]
