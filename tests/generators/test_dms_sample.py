"""The seeded `dms_sample` generator: the sample's fill rules, its edge cases, and loading the PostgreSQL port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from generators import dms_sample as ds

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "include" / "sql" / "dms_sample"
INT32_MAX = 2**31 - 1


@pytest.fixture(scope="module")
def gen() -> ds.Generated:
    return ds.generate()


def _rows(gen: ds.Generated, table: str) -> list[dict[str, Any]]:
    return [dict(zip(ds.TABLES[table], row, strict=True)) for row in gen.tables[table]]


def _history_by_ticket(gen: ds.Generated) -> dict[int, list[dict[str, Any]]]:
    by_ticket: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for h in _rows(gen, "ticket_purchase_hist"):
        by_ticket[h["sporting_event_ticket_id"]].append(h)
    for rows in by_ticket.values():
        rows.sort(key=lambda h: h["transaction_date_time"])
    return by_ticket


@pytest.fixture
def source_schema() -> Iterator[str]:
    """A uuid-named schema in the SQL Server stand-in, dropped afterwards."""
    import psycopg

    name = f"t_dms_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(os.environ["LOCAL_SOURCE_SQL_URI"], autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


# ------------------------------------------------------------------------------------------- determinism

def test_same_seed_same_rows_other_seed_other_rows(gen: ds.Generated) -> None:
    again = ds.generate(seed=42)
    assert again.tables == gen.tables and again.edge_cases == gen.edge_cases
    other = ds.generate(seed=43)
    assert other.tables["sporting_event_ticket"] != gen.tables["sporting_event_ticket"]
    assert other.tables["ticket_purchase_hist"] != gen.tables["ticket_purchase_hist"]


def test_rows_match_the_declared_columns(gen: ds.Generated) -> None:
    assert list(gen.tables) == list(ds.TABLES)
    for table, rows in gen.tables.items():
        assert rows, table
        assert {len(row) for row in rows} == {len(ds.TABLES[table])}, table
    assert set(gen.edge_cases) == set(ds.EDGE_CASES)


def test_default_scale_is_demo_sized_and_scale_multiplies(gen: ds.Generated) -> None:
    counts = {t: len(rows) for t, rows in gen.tables.items()}
    assert 15_000 <= counts["sporting_event_ticket"] <= 40_000
    assert 5_000 <= counts["ticket_purchase_hist"] <= 15_000
    assert counts["sport_type"] == 2 and counts["sport_team"] == 8 and counts["person"] == 2000
    bigger = ds.generate(scale=2.0)
    assert len(bigger.tables["sporting_event"]) == 2 * counts["sporting_event"]
    assert len(bigger.tables["person"]) == 2 * counts["person"]
    with pytest.raises(ValueError):
        ds.generate(scale=0)


def test_primary_keys_are_unique(gen: ds.Generated) -> None:
    keys = {"sport_type": (0,), "sport_league": (1,), "sport_division": (0, 1, 2), "seat_type": (0,),
            "sport_location": (0,), "seat": (0, 1, 2, 3, 4), "sport_team": (0,), "player": (0,), "person": (0,),
            "sporting_event": (0,), "sporting_event_ticket": (0,), "ticket_purchase_hist": (0, 1, 2)}
    assert set(keys) == set(ds.TABLES)
    for table, cols in keys.items():
        pks = Counter(tuple(row[c] for c in cols) for row in gen.tables[table])
        assert max(pks.values()) == 1, table


# ----------------------------------------------------------------------------------------- venues, seats

def test_every_venue_has_exactly_its_capacity_in_seats(gen: ds.Generated) -> None:
    per_venue = Counter(s["sport_location_id"] for s in _rows(gen, "seat"))
    for loc in _rows(gen, "sport_location"):
        assert 600 <= loc["seating_capacity"] <= 2000
        assert per_venue[loc["id"]] == loc["seating_capacity"]


def test_seat_type_mix(gen: ds.Generated) -> None:
    seats = _rows(gen, "seat")
    mix = Counter(s["seat_type"] for s in seats)
    want = {"luxury": 0.05, "premium": 0.30, "standard": 0.54, "sub-standard": 0.10, "obstructed": 0.01}
    assert set(mix) == set(want) == {row[0] for row in gen.tables["seat_type"]}
    for kind, share in want.items():
        assert mix[kind] / len(seats) == pytest.approx(share, abs=0.005), kind


def test_team_and_event_references(gen: ds.Generated) -> None:
    locations = {loc["id"] for loc in _rows(gen, "sport_location")}
    teams = {t["id"]: t for t in _rows(gen, "sport_team")}
    divisions = {(d["sport_league_short_name"], d["short_name"]) for d in _rows(gen, "sport_division")}
    for t in teams.values():
        assert t["home_field_id"] in locations
        assert (t["sport_league_short_name"], t["sport_division_short_name"]) in divisions
    venue_days = Counter()
    for e in _rows(gen, "sporting_event"):
        home, away = teams[e["home_team_id"]], teams[e["away_team_id"]]
        assert home["id"] != away["id"] and home["sport_league_short_name"] == away["sport_league_short_name"]
        assert e["location_id"] == home["home_field_id"] and e["sport_type_name"] == home["sport_type_name"]
        assert e["start_date"] == e["start_date_time"].date()
        venue_days[(e["location_id"], e["start_date"])] += 1
    assert max(venue_days.values()) == 1  # <location>|<date> names one event


# ------------------------------------------------------------------------------------------------ tickets

def test_one_ticket_per_seat_per_event(gen: ds.Generated) -> None:
    seats = defaultdict(set)
    for s in _rows(gen, "seat"):
        seats[s["sport_location_id"]].add((s["seat_level"], s["seat_section"], s["seat_row"], s["seat"]))
    events = {e["id"]: e for e in _rows(gen, "sporting_event")}
    per_event = defaultdict(list)
    for t in _rows(gen, "sporting_event_ticket"):
        assert t["sport_location_id"] == events[t["sporting_event_id"]]["location_id"]
        per_event[t["sporting_event_id"]].append((t["seat_level"], t["seat_section"], t["seat_row"], t["seat"]))
    assert set(per_event) == set(events)
    for event_id, event_seats in per_event.items():
        assert sorted(event_seats) == sorted(seats[events[event_id]["location_id"]])


def test_prices_are_an_event_base_times_the_seat_type_multiplier(gen: ds.Generated) -> None:
    seat_type = {s[:5]: s[5] for s in gen.tables["seat"]}
    tickets = _rows(gen, "sporting_event_ticket")
    base = {t["sporting_event_id"]: t["ticket_price"] for t in tickets
            if seat_type[(t["sport_location_id"], t["seat_level"], t["seat_section"], t["seat_row"], t["seat"])]
            == "standard"}
    assert len(set(base.values())) > 1  # a base per event, not one for all
    for t in tickets:
        price = t["ticket_price"]
        assert isinstance(price, Decimal) and price == price.quantize(Decimal("0.01"))
        assert Decimal(15) <= price <= Decimal(150)
        b = base[t["sporting_event_id"]]
        assert Decimal(30) <= b <= Decimal(50)
        kind = seat_type[(t["sport_location_id"], t["seat_level"], t["seat_section"], t["seat_row"], t["seat"])]
        assert price == (b * ds.PRICE_MULTIPLIER[kind]).quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_most_tickets_stay_unsold(gen: ds.Generated) -> None:
    tickets = _rows(gen, "sporting_event_ticket")
    unsold = sum(1 for t in tickets if t["ticketholder_id"] is None)
    assert 0.5 <= unsold / len(tickets) <= 0.9


# ------------------------------------------------------------------------------------------------ history

def test_history_references_existing_tickets_and_persons(gen: ds.Generated) -> None:
    tickets = {t[0] for t in gen.tables["sporting_event_ticket"]}
    persons = {p[0] for p in gen.tables["person"]}
    for h in _rows(gen, "ticket_purchase_hist"):
        assert h["sporting_event_ticket_id"] in tickets
        assert h["purchased_by_id"] in persons
        assert h["transferred_from_id"] is None or h["transferred_from_id"] in persons


def test_ticketholder_is_the_latest_buyer(gen: ds.Generated) -> None:
    history = _history_by_ticket(gen)
    for t in _rows(gen, "sporting_event_ticket"):
        rows = history.get(t["id"])
        if t["ticketholder_id"] is None:
            assert rows is None
        else:
            assert rows[-1]["purchased_by_id"] == t["ticketholder_id"]


def test_each_history_is_one_sale_then_transfers_from_the_previous_owner(gen: ds.Generated) -> None:
    price = {t[0]: t[8] for t in gen.tables["sporting_event_ticket"]}
    changed = unchanged = 0
    for ticket_id, rows in _history_by_ticket(gen).items():
        times = [h["transaction_date_time"] for h in rows]
        assert times == sorted(set(times))  # strictly increasing
        sale, *transfers = rows
        assert sale["transferred_from_id"] is None and sale["purchase_price"] == price[ticket_id]
        for before, h in zip(rows, transfers, strict=False):
            assert h["transferred_from_id"] == before["purchased_by_id"] != h["purchased_by_id"]
            assert abs(h["purchase_price"] - price[ticket_id]) <= price[ticket_id] * Decimal("0.2") + Decimal("0.01")
            changed += h["purchase_price"] != price[ticket_id]
            unchanged += h["purchase_price"] == price[ticket_id]
    assert changed and unchanged > changed  # about a third of transfers change the price


def test_sales_are_runs_of_adjacent_seats_in_one_row(gen: ds.Generated) -> None:
    tickets = {t[0]: t for t in gen.tables["sporting_event_ticket"]}
    runs = defaultdict(list)
    for h in _rows(gen, "ticket_purchase_hist"):
        if h["transferred_from_id"] is None:
            runs[(h["purchased_by_id"], h["transaction_date_time"])].append(h["sporting_event_ticket_id"])
    sizes = Counter()
    for ids in runs.values():
        ids.sort()
        assert 1 <= len(ids) <= 6
        assert len({tickets[i][1:6] for i in ids}) == 1  # event, venue, level, section, row
        assert ids == list(range(ids[0], ids[0] + len(ids)))  # ticket ids run along the row
        sizes[len(ids)] += 1
    assert set(sizes) == set(range(1, 7))


def test_transfers_move_whole_purchases_and_single_tickets(gen: ds.Generated) -> None:
    groups = Counter((h["transferred_from_id"], h["purchased_by_id"], h["transaction_date_time"])
                     for h in _rows(gen, "ticket_purchase_hist") if h["transferred_from_id"] is not None)
    sizes = Counter(groups.values())
    assert sizes[1] and sum(n for size, n in sizes.items() if size > 1)
    purchases = {(h[1], h[2]) for h in gen.tables["ticket_purchase_hist"] if h[3] is None}
    assert 0.2 <= len(groups) / len(purchases) <= 0.4  # about 30% as many transfers as sales


def test_timestamps_have_milliseconds(gen: ds.Generated) -> None:
    stamps = [h[2] for h in gen.tables["ticket_purchase_hist"]]
    assert all(ts.microsecond % 1000 == 0 for ts in stamps)
    assert sum(1 for ts in stamps if ts.microsecond) > len(stamps) * 0.9


# --------------------------------------------------------------------------------------------- edge cases

def test_transfer_chain_a_b_a_c(gen: ds.Generated) -> None:
    e = gen.edge_cases
    rows = _history_by_ticket(gen)[e["chain_ticket_id"]]
    a, b, a2, c = e["chain_owner_ids"]
    assert a == a2 and len({a, b, c}) == 3
    assert [h["purchased_by_id"] for h in rows] == [a, b, a, c]
    assert [h["transferred_from_id"] for h in rows] == [None, a, b, a]
    assert len({h["transaction_date_time"] for h in rows}) == 4
    holder = next(t[7] for t in gen.tables["sporting_event_ticket"] if t[0] == e["chain_ticket_id"])
    assert holder == c


def test_rebuy_a_b_a(gen: ds.Generated) -> None:
    e = gen.edge_cases
    rows = _history_by_ticket(gen)[e["rebuy_ticket_id"]]
    a, b, a2 = e["rebuy_owner_ids"]
    assert a == a2 != b
    assert [(h["purchased_by_id"], h["transferred_from_id"]) for h in rows] == [(a, None), (b, a), (a, b)]
    assert e["rebuy_ticket_id"] > INT32_MAX


def test_ids_above_int32(gen: ds.Generated) -> None:
    e = gen.edge_cases
    events = {row[0] for row in gen.tables["sporting_event"]}
    big_events = {i for i in events if i > INT32_MAX}
    assert big_events == set(e["big_event_ids"]) and len(big_events) >= 2 and events - big_events
    tickets = {t[0]: t for t in gen.tables["sporting_event_ticket"]}
    assert all((i > INT32_MAX) == (t[1] > INT32_MAX) for i, t in tickets.items())
    sold, unsold = e["big_ticket_ids"]
    assert sold > INT32_MAX and tickets[sold][7] is not None
    assert unsold > INT32_MAX and tickets[unsold][7] is None
    assert any(h[0] > INT32_MAX for h in gen.tables["ticket_purchase_hist"])


def test_sold_out_event(gen: ds.Generated) -> None:
    sold_out = gen.edge_cases["sold_out_event_id"]
    flags = {e[0]: e[7] for e in gen.tables["sporting_event"]}
    assert flags.pop(sold_out) == 1 and set(flags.values()) == {0}
    assert all(t[7] is not None for t in gen.tables["sporting_event_ticket"] if t[1] == sold_out)


def test_leading_zeros_and_nulls(gen: ds.Generated) -> None:
    e = gen.edge_cases
    seats = _rows(gen, "seat")
    padded = {s["sport_location_id"] for s in seats if s["seat"] == "01"}
    assert padded == set(e["leading_zero_location_ids"])
    assert {s["sport_location_id"] for s in seats if s["seat"] == "1"}  # other venues don't pad
    assert any(t[6] == "01" for t in gen.tables["sporting_event_ticket"])
    persons = {p["id"]: p for p in _rows(gen, "person")}
    assert e["null_first_name_person_ids"]
    assert [i for i, p in persons.items() if p["first_name"] is None] == e["null_first_name_person_ids"]
    assert all(persons[i]["full_name"] == persons[i]["last_name"] for i in e["null_first_name_person_ids"])
    assert [loc[0] for loc in gen.tables["sport_location"] if loc[4] is None] == [e["null_levels_location_id"]]


def test_a_tiny_scale_still_has_the_edge_cases() -> None:
    tiny = ds.generate(seed=5, scale=0.05)
    assert len(tiny.tables["sporting_event"]) == 2
    e = tiny.edge_cases
    assert e["sold_out_event_id"] is None and e["big_event_ids"] and e["null_first_name_person_ids"]
    history = _history_by_ticket(tiny)
    assert [h["purchased_by_id"] for h in history[e["chain_ticket_id"]]] == e["chain_owner_ids"]
    assert [h["purchased_by_id"] for h in history[e["rebuy_ticket_id"]]] == e["rebuy_owner_ids"]


# --------------------------------------------------------------------------------------------------- DDL

def test_ddl_files_exist_for_both_engines_and_name_every_table() -> None:
    tsql = sorted(p.name for p in (SQL_DIR / "sqlserver").glob("*.sql"))
    pg = sorted(p.name for p in (SQL_DIR / "postgres").glob("*.sql"))
    assert tsql and tsql[0] == "001_schema.sql" and tsql == pg
    tsql_text = "\n".join((SQL_DIR / "sqlserver" / name).read_text(encoding="utf-8") for name in tsql)
    pg_text = "\n".join((SQL_DIR / "postgres" / name).read_text(encoding="utf-8") for name in pg)
    for table, columns in ds.TABLES.items():
        assert re.search(rf"CREATE TABLE dbo\.{table} \(", tsql_text), table
        assert re.search(rf"CREATE TABLE IF NOT EXISTS dms_sample\.{table} \(", pg_text), table
        for column in columns:
            assert re.search(rf"^\s+{column}\s", tsql_text, re.M), (table, column)
    assert "datetime2(3)" in tsql_text and " bit " in tsql_text
    assert re.search(r"^\s+id\s+bigint\s", tsql_text, re.M)


def test_ddl_statements_rewrite_the_schema_name() -> None:
    assert "dms_sample.person" in "".join(ds.ddl_statements())
    text = "".join(ds.ddl_statements("other_schema"))
    assert "dms_sample" not in text and "CREATE TABLE IF NOT EXISTS other_schema.person" in text
    assert 'CREATE SCHEMA IF NOT EXISTS "Odd ""Name"""' in "".join(ds.ddl_statements('Odd "Name"'))


# -------------------------------------------------------------------------------------------------- load

def test_load_into_a_throwaway_schema(source_schema: str, gen: ds.Generated) -> None:
    import psycopg

    uri = os.environ["LOCAL_SOURCE_SQL_URI"]
    loaded = ds.load(uri, schema=source_schema)
    assert loaded.counts == {t: len(rows) for t, rows in gen.tables.items()}
    assert loaded.edge_cases == gen.edge_cases
    assert ds.load(uri, schema=source_schema, replace=True).counts == loaded.counts  # a re-load replaces
    with pytest.raises(ValueError, match="replace=True"):
        ds.load(uri, schema=source_schema, replace=False)
    with psycopg.connect(uri) as conn:
        for table, columns in ds.TABLES.items():
            n = conn.execute(f"SELECT count(*) FROM {source_schema}.{table}").fetchone()[0]
            assert n == loaded.counts[table], table
            cols = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
                "ORDER BY ordinal_position", (source_schema, table)).fetchall()
            assert tuple(c for (c,) in cols) == columns, table
        chain = gen.edge_cases["chain_ticket_id"]
        stored = conn.execute(
            f"SELECT sporting_event_ticket_id, purchased_by_id, transaction_date_time, transferred_from_id, "
            f"purchase_price FROM {source_schema}.ticket_purchase_hist WHERE sporting_event_ticket_id = %s "
            f"ORDER BY transaction_date_time", (chain,)).fetchall()
        assert stored == sorted((h for h in gen.tables["ticket_purchase_hist"] if h[0] == chain), key=lambda h: h[2])
        big = gen.edge_cases["big_ticket_ids"][1]
        row = conn.execute(f"SELECT * FROM {source_schema}.sporting_event_ticket WHERE id = %s", (big,)).fetchone()
        assert row == next(t for t in gen.tables["sporting_event_ticket"] if t[0] == big)
        assert conn.execute(f"SELECT count(*) FROM {source_schema}.seat WHERE seat = '01'").fetchone()[0] > 0


def test_cli(source_schema: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    run = subprocess.run(
        [sys.executable, "-m", "generators.dms_sample", "--uri", os.environ["LOCAL_SOURCE_SQL_URI"], "--schema",
         source_schema, "--seed", "3", "--scale", "0.1"], env=env, capture_output=True, text=True, check=True)
    out = json.loads(run.stdout)
    small = ds.generate(seed=3, scale=0.1)
    assert out["counts"] == {t: len(rows) for t, rows in small.tables.items()}
    assert out["edge_cases"] == json.loads(json.dumps(small.edge_cases))


class FakeMssql:
    """A DB-API connection that records what `load_sqlserver` sends (no SQL Server can run here)."""

    def __init__(self) -> None:
        self.autocommits: list[bool] = []
        self.statements: list[str] = []
        self.rows: dict[str, int] = {}
        self.committed = self.closed = False

    def autocommit(self, on: bool) -> None:
        self.autocommits.append(on)

    def cursor(self) -> FakeMssql:
        return self

    def execute(self, statement: str) -> None:
        self.statements.append(statement)

    def executemany(self, statement: str, rows: list[tuple]) -> None:
        table = statement.split()[2]
        assert statement.count("%s") == len(rows[0])
        self.rows[table] = self.rows.get(table, 0) + len(rows)

    def commit(self) -> None:
        self.committed = True

    def close(self) -> None:
        self.closed = True


def test_sqlserver_load_sends_the_tsql_ddl_then_every_generated_row() -> None:
    from generators.dms_sample import TABLES, generate, load_sqlserver, tsql_batches

    conn = FakeMssql()
    loaded = load_sqlserver(lambda: conn, seed=3, scale=0.05)
    batches = tsql_batches()
    assert batches[0].endswith("CREATE DATABASE dms_sample;") and batches[1] == "USE dms_sample;"
    assert not any(b.strip().upper() == "GO" or "\nGO\n" in b for b in batches)
    assert conn.statements[:len(batches)] == batches
    assert conn.statements[len(batches):] == [f"DELETE FROM dbo.{t}" for t in TABLES]
    expected = {t: len(rows) for t, rows in generate(seed=3, scale=0.05).tables.items()}
    assert loaded.counts == expected
    assert conn.rows == {f"dbo.{t}": n for t, n in expected.items() if n}
    assert conn.autocommits == [True, False] and conn.committed and conn.closed


class RecordingMssql(FakeMssql):
    """FakeMssql that keeps every row sent and answers COUNT_BIG(*) with `existing` rows."""

    def __init__(self, existing: int = 0) -> None:
        super().__init__()
        self.sent: dict[str, list[tuple]] = {}
        self.inserts: dict[str, str] = {}
        self.existing = existing

    def executemany(self, statement: str, rows: list[tuple]) -> None:
        super().executemany(statement, rows)
        table = statement.split()[2]
        self.inserts[table] = statement
        self.sent.setdefault(table, []).extend(rows)

    def fetchone(self) -> tuple[int]:
        return (self.existing,)


def test_sqlserver_load_sends_exactly_the_generated_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through `load("mssql://…")`, as the compose seed calls it: every generated row, as pymssql parameters."""
    from datetime import date, datetime
    from decimal import Decimal

    from generators import dms_sample as gen

    conn = RecordingMssql()
    uris: list[str] = []
    monkeypatch.setattr(gen, "_mssql_connect", lambda uri: uris.append(uri) or (lambda: conn))
    loaded = gen.load("mssql://sa:pw@sqlserver:1433/dms_sample", seed=5, scale=0.05)
    generated = gen.generate(seed=5, scale=0.05)
    assert uris == ["mssql://sa:pw@sqlserver:1433/dms_sample"] and loaded.counts == {
        t: len(r) for t, r in generated.tables.items()}
    for table, rows in generated.tables.items():
        if not rows:
            continue
        assert conn.sent[f"dbo.{table}"] == rows, table
        columns = gen.TABLES[table]
        assert conn.inserts[f"dbo.{table}"] == (f"INSERT INTO dbo.{table} ({', '.join(columns)}) "
                                                f"VALUES ({', '.join(['%s'] * len(columns))})")
    kinds = {type(v) for rows in conn.sent.values() for row in rows for v in row}
    assert kinds <= {int, str, Decimal, datetime, date, type(None)}  # what pymssql turns into T-SQL literals
    assert any(v > 2**31 for row in conn.sent["dbo.sporting_event_ticket"] for v in row if isinstance(v, int))


def test_sqlserver_load_without_replace_refuses_a_filled_table() -> None:
    from generators.dms_sample import load_sqlserver

    conn = RecordingMssql(existing=3)
    with pytest.raises(ValueError, match="already holds rows"):
        load_sqlserver(lambda: conn, seed=3, scale=0.05, replace=False)
    assert not conn.committed and conn.closed and not conn.sent


def test_mssql_uris() -> None:
    from generators.dms_sample import load, mssql_params

    assert mssql_params("mssql://sa:Example%40Pw@sqlserver:1433/dms_sample") == {
        "server": "sqlserver", "port": 1433, "user": "sa", "password": "Example@Pw", "database": "master",
        "login_timeout": 30}
    assert mssql_params("mssql://sa:pw@localhost")["port"] == 1433
    with pytest.raises(ValueError, match="creates and fills dms_sample"):
        mssql_params("mssql://sa:pw@localhost/other")
    with pytest.raises(ValueError, match="creates dms_sample.dbo"):
        load("mssql://sa:pw@localhost", schema="sales")


def test_tsql_batches_are_whole_statements() -> None:
    """Each T-SQL file splits at its GO lines only; every CREATE TABLE is guarded, every table is created."""
    from generators.dms_sample import TABLES, tsql_batches

    batches = tsql_batches()
    created = {m.group(1).lower() for b in batches for m in re.finditer(r"CREATE TABLE dbo\.(\w+)", b)}
    assert created == set(TABLES)
    for batch in batches:
        if "CREATE TABLE" in batch:
            assert "IS NULL" in batch, batch[:200]  # idempotent: IF OBJECT_ID(...) IS NULL


TSQL_COLUMN = re.compile(r"^\s+(\w+)\s+(bigint|int|smallint|tinyint|bit|date|datetime2|numeric|n?varchar|n?char)"
                         r"\s*(?:\(([\d,\s]+)\))?\s+(NOT NULL|NULL)", re.M)


def tsql_columns() -> dict[str, list[tuple[str, str, str | None, bool]]]:
    """table → [(column, type, size, nullable)] from the CREATE TABLE batches of the T-SQL DDL."""
    from generators.dms_sample import tsql_batches

    out = {}
    for batch in tsql_batches():
        m = re.search(r"CREATE TABLE dbo\.(\w+)\s*\((.*)\)\s*;", batch, re.S)
        if m:
            out[m.group(1)] = [(c, t, size, null == "NULL") for c, t, size, null in TSQL_COLUMN.findall(m.group(2))]
    return out


def test_every_generated_row_fits_the_tsql_columns() -> None:
    """What SQL Server would refuse (or silently change) without a server to say so: the generator's columns in
    DDL order, NULLs only where allowed, strings within varchar lengths and code page 1252, integers within their
    type, decimals within precision and scale."""
    from decimal import Decimal

    from generators.dms_sample import TABLES, generate

    columns = tsql_columns()
    assert {t: tuple(c[0] for c in cols) for t, cols in columns.items()} == dict(TABLES)
    int_range = {"bigint": 63, "int": 31, "smallint": 15}
    for table, rows in generate(seed=42, scale=0.5).tables.items():
        for i, (name, sql_type, size, nullable) in enumerate(columns[table]):
            values = [row[i] for row in rows]
            where = f"{table}.{name} ({sql_type}{f'({size})' if size else ''})"
            if not nullable:
                assert None not in values, where
            values = [v for v in values if v is not None]
            if sql_type in int_range:
                assert all(isinstance(v, int) and -(2 ** int_range[sql_type]) <= v < 2 ** int_range[sql_type]
                           for v in values), where
            elif sql_type == "bit":
                assert set(values) <= {0, 1}, where
            elif sql_type.endswith(("varchar", "char")):
                assert all(isinstance(v, str) and len(v) <= int(size) for v in values), where
                if not sql_type.startswith("n"):
                    assert all(v.encode("cp1252", errors="strict") for v in values), where  # varchar's code page
            elif sql_type == "numeric":
                precision, scale = (int(x) for x in (size.split(",") + ["0"])[:2])
                for v in values:
                    d = Decimal(v)
                    assert d == d.quantize(Decimal(1).scaleb(-scale)), (where, v)  # no digits SQL Server rounds
                    assert abs(d) < Decimal(10) ** (precision - scale), (where, v)
