"""A seeded, deterministic AWS DMS sample ticketing database (`dms_sample`), filled the way the sample does it.

The sample's stored procedures build venues and their seats, schedule games between the teams of a league,
print one ticket per seat per game, then simulate ticket sales and transfers into `ticket_purchase_hist`.
This module reproduces those rules in Python, at a chosen scale, and loads the result into PostgreSQL (the
embedded stand-in for SQL Server) with the DDL in `include/sql/dms_sample/postgres`:

- seats: every venue gets exactly `seating_capacity` seats over its levels and sections, rows of 10-20 seats;
  seat types by position (best rows first): 5% luxury, 30% premium, 54% standard, 10% sub-standard,
  1% obstructed (the worst seats).
- tickets: one per seat per event, priced round(base × multiplier, 2) with a random base of 30.00-50.00 per
  event and multipliers luxury 3, premium 2, standard 1, sub-standard 0.8, obstructed 0.5 (so 15-150).
- sales: 1-6 adjacent unsold seats in one row go to one random person; each ticket gets a history row with
  transferred_from_id NULL and purchase_price = ticket_price, and ticketholder_id is set. Each event sells
  12-38% of its seats, except one sold-out event (sold_out = 1) - most tickets stay unsold.
- transfers (about 30% as many as sales): the whole purchase 80% of the time, one ticket of it 20%, to
  another random person; a third of them at the list price changed by up to ±20%. Each writes a history
  row (transferred_from_id = previous owner, purchased_by_id = new owner) and moves ticketholder_id.
  Timestamps have milliseconds and strictly increase along each ticket's history.

Deliberate edge cases, always present (their ids are in `Generated.edge_cases`, keys described by
`EDGE_CASES`): a transfer chain A→B→A→C, a person who re-buys a ticket they sold (A buys, A→B, B→A), event
and ticket ids above 2^31 (every fourth event, 3,000,000,000 + n), seats with a leading zero ("01") at every
other venue, persons with a NULL first_name and one venue with NULL levels.

At scale 1.0: 7 venues of 600-2000 seats, 8 teams, 24 events (each ordered team pair of a league once),
2,000 persons; 25-40k tickets and 8-13k history rows, depending on the seed (seed 42: 37,338 and 12,310).
`scale` multiplies events and persons.

    generate(seed=42, scale=1.0) -> Generated(tables, edge_cases)
        tables: {table: [row tuple, ...]} in `TABLES` order, columns in DDL order (`TABLES[table]`)
        edge_cases: {key: ids} for the keys of `EDGE_CASES`
    load(uri, schema="dms_sample", seed=42, scale=1.0, replace=True) -> Loaded(counts, edge_cases)
        creates the schema and tables (IF NOT EXISTS), truncates them (replace=True; with replace=False a
        table that already holds rows is an error), COPYs the rows; counts = {table: rows loaded}

    load("mssql://sa:…@sqlserver:1433/dms_sample", seed=42, scale=1.0) -> Loaded(counts, edge_cases)
        a real SQL Server (docker compose): database dms_sample created from include/sql/dms_sample/sqlserver
        (T-SQL, split at GO as sqlcmd does), tables in dbo emptied and filled with pymssql (`load_sqlserver`)

CLI (PYTHONPATH=include): python -m generators.dms_sample --uri URI [--schema S] [--seed N] [--scale F]
prints {"counts": ..., "edge_cases": ..., "seconds": ...} as JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

DDL_DIR = Path(__file__).resolve().parents[1] / "sql" / "dms_sample" / "postgres"
DDL_SCHEMA = "dms_sample"  # the schema name written literally in the DDL files

# table → ((column, type), ...) in DDL order; types as Spark names them (the PostgreSQL and T-SQL DDL below map them)
COLUMN_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "sport_type": (("name", "string"), ("description", "string")),
    "sport_league": (("sport_type_name", "string"), ("short_name", "string"), ("long_name", "string"),
                     ("description", "string")),
    "sport_division": (("sport_type_name", "string"), ("sport_league_short_name", "string"),
                       ("short_name", "string"), ("long_name", "string"), ("description", "string")),
    "seat_type": (("name", "string"), ("description", "string"), ("relative_quality", "int")),
    "sport_location": (("id", "int"), ("name", "string"), ("city", "string"), ("seating_capacity", "int"),
                       ("levels", "int"), ("sections", "int")),
    "seat": (("sport_location_id", "int"), ("seat_level", "decimal(1,0)"), ("seat_section", "string"),
             ("seat_row", "string"), ("seat", "string"), ("seat_type", "string")),
    "sport_team": (("id", "int"), ("name", "string"), ("abbreviated_name", "string"), ("home_field_id", "int"),
                   ("sport_type_name", "string"), ("sport_league_short_name", "string"),
                   ("sport_division_short_name", "string")),
    "player": (("id", "int"), ("sport_team_id", "int"), ("last_name", "string"), ("first_name", "string"),
               ("full_name", "string")),
    "person": (("id", "int"), ("full_name", "string"), ("last_name", "string"), ("first_name", "string")),
    "sporting_event": (("id", "bigint"), ("sport_type_name", "string"), ("home_team_id", "int"),
                       ("away_team_id", "int"), ("location_id", "int"), ("start_date_time", "timestamp"),
                       ("start_date", "date"), ("sold_out", "smallint")),
    "sporting_event_ticket": (("id", "bigint"), ("sporting_event_id", "bigint"), ("sport_location_id", "int"),
                              ("seat_level", "decimal(1,0)"), ("seat_section", "string"), ("seat_row", "string"),
                              ("seat", "string"), ("ticketholder_id", "int"), ("ticket_price", "decimal(8,2)")),
    "ticket_purchase_hist": (("sporting_event_ticket_id", "bigint"), ("purchased_by_id", "int"),
                             ("transaction_date_time", "timestamp"), ("transferred_from_id", "int"),
                             ("purchase_price", "decimal(8,2)")),
}

TABLES: dict[str, tuple[str, ...]] = {t: tuple(c for c, _ in cols) for t, cols in COLUMN_TYPES.items()}

EDGE_CASES: dict[str, str] = {
    "chain_ticket_id": "ticket sold to A, then transferred A→B, B→A, A→C (A transfers it twice)",
    "chain_owner_ids": "[A, B, A, C]: purchased_by_id of the chain ticket's history rows in time order",
    "rebuy_ticket_id": "ticket sold to A, transferred A→B, then B→A: A re-buys a ticket they sold (big-id event)",
    "rebuy_owner_ids": "[A, B, A]: purchased_by_id of the re-buy ticket's history rows in time order",
    "big_event_ids": "sporting_event ids above 2^31 (3,000,000,000 + n); all their ticket ids are too",
    "big_ticket_ids": "[a sold, an unsold] ticket id above 2^31",
    "sold_out_event_id": "the event whose every ticket is sold (sold_out = 1); None below 3 events",
    "leading_zero_location_ids": "venues whose seats are numbered with a leading zero ('01')",
    "null_first_name_person_ids": "persons with first_name NULL (full_name = last_name)",
    "null_levels_location_id": "the venue with levels NULL",
}

BIG_ID_OFFSET = 3_000_000_000
SEAT_TYPES: tuple[tuple[str, str, int, Decimal, Decimal], ...] = (
    # name, description, relative_quality, share of a venue's seats, price multiplier
    ("luxury", "Luxury seating: private boxes and club seats", 5, Decimal("0.05"), Decimal("3")),
    ("premium", "Premium seating: lower rows, best sight lines", 4, Decimal("0.30"), Decimal("2")),
    ("standard", "Standard seating", 3, Decimal("0.54"), Decimal("1")),
    ("sub-standard", "Sub-standard seating: upper rows, far from the field", 2, Decimal("0.10"), Decimal("0.8")),
    ("obstructed", "Obstructed view", 1, Decimal("0.01"), Decimal("0.5")),
)
PRICE_MULTIPLIER = {name: mult for name, _, _, _, mult in SEAT_TYPES}
_CENT = Decimal("0.01")
_DAY_MS = 86_400_000

SPORT_TYPES = (("baseball", "A sport with 9 players, bats and a ball"),
               ("football", "American football: 11 players a side, an oval ball"))
LEAGUES = (("baseball", "MLB", "Major League Baseball", "The major professional baseball league of North America"),
           ("football", "NFL", "National Football League", "The professional American football league"))
DIVISIONS = (
    ("baseball", "MLB", "AL East", "American League East"),
    ("baseball", "MLB", "AL Central", "American League Central"),
    ("baseball", "MLB", "AL West", "American League West"),
    ("baseball", "MLB", "NL East", "National League East"),
    ("baseball", "MLB", "NL Central", "National League Central"),
    ("baseball", "MLB", "NL West", "National League West"),
    ("football", "NFL", "AFC East", "AFC East"), ("football", "NFL", "AFC North", "AFC North"),
    ("football", "NFL", "AFC South", "AFC South"), ("football", "NFL", "AFC West", "AFC West"),
    ("football", "NFL", "NFC East", "NFC East"), ("football", "NFL", "NFC North", "NFC North"),
    ("football", "NFL", "NFC South", "NFC South"), ("football", "NFL", "NFC West", "NFC West"),
)
VENUES = (  # name, city; MetLife Stadium is home to two teams
    ("Yankee Stadium", "Bronx"), ("Fenway Park", "Boston"), ("Citi Field", "Queens"),
    ("Citizens Bank Park", "Philadelphia"), ("MetLife Stadium", "East Rutherford"),
    ("Gillette Stadium", "Foxborough"), ("Lincoln Financial Field", "Philadelphia"),
)
TEAMS = (  # name, abbreviation, venue index, sport, league, division
    ("New York Yankees", "NYY", 0, "baseball", "MLB", "AL East"),
    ("Boston Red Sox", "BOS", 1, "baseball", "MLB", "AL East"),
    ("New York Mets", "NYM", 2, "baseball", "MLB", "NL East"),
    ("Philadelphia Phillies", "PHI", 3, "baseball", "MLB", "NL East"),
    ("New York Jets", "NYJ", 4, "football", "NFL", "AFC East"),
    ("New England Patriots", "NE", 5, "football", "NFL", "AFC East"),
    ("New York Giants", "NYG", 4, "football", "NFL", "NFC East"),
    ("Philadelphia Eagles", "PHI", 6, "football", "NFL", "NFC East"),
)
SEASON = {"baseball": (date(2024, 4, 2), (dtime(13, 5), dtime(19, 5), dtime(19, 10))),
          "football": (date(2024, 9, 8), (dtime(13, 0), dtime(16, 25), dtime(20, 20)))}
FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "William", "Elizabeth",
    "Richard", "Barbara", "Joseph", "Susan", "Thomas", "Jessica", "Charles", "Sarah", "Daniel", "Karen",
    "Matthew", "Nancy", "Anthony", "Lisa", "Mark", "Betty", "Steven", "Sandra", "Paul", "Ashley", "Andrew",
    "Emily", "Joshua", "Michelle", "Kevin", "Amanda", "Brian", "Melissa", "José", "María", "Zoë", "Renée",
    "Jean-Luc", "Anne-Marie", "Björn", "François", "Siobhán", "Seán", "Noah", "Olivia", "Liam", "Emma",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams",
    "O'Brien", "O'Connor", "D'Angelo", "MacLeod", "van der Berg", "de la Cruz", "Müller", "Peña", "Núñez",
)


@dataclass(frozen=True)
class Generated:
    tables: dict[str, list[tuple[Any, ...]]]  # TABLES order, columns in DDL order
    edge_cases: dict[str, Any]  # keys of EDGE_CASES


@dataclass(frozen=True)
class Loaded:
    counts: dict[str, int]  # rows loaded per table
    edge_cases: dict[str, Any]


@dataclass
class _Lot:
    """Tickets of one event that changed hands together and have one holder (a purchase, or part of one)."""

    tickets: list[int]  # indices into the ticket list
    holder: int
    last_ms: int  # time of the lot's latest transaction, ms since the epoch
    reserved: bool = False  # kept out of random transfers (edge cases)


@dataclass
class _State:
    rng: random.Random
    persons: int
    tickets: list[list[Any]] = field(default_factory=list)  # mutable sporting_event_ticket rows
    history: list[tuple[Any, ...]] = field(default_factory=list)
    lots: list[_Lot] = field(default_factory=list)


_EPOCH = datetime(1970, 1, 1)


def _ms(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def _ts(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _row_name(i: int) -> str:
    """A, B, ..., Z, AA, BB, ... (rows are labelled as in a stadium)."""
    return chr(65 + i % 26) * (i // 26 + 1)


# ------------------------------------------------------------------------------------------- static tables

def _venues(rng: random.Random) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """sport_location and seat rows: exactly seating_capacity seats per venue, typed by position."""
    locations, seats = [], []
    for index, (name, city) in enumerate(VENUES):
        loc_id = index + 1
        capacity = rng.randint(600, 2000)
        levels, sections, per_row = rng.randint(2, 3), rng.randint(3, 6), rng.randint(10, 20)
        padded = index % 2 == 0
        locations.append((loc_id, name, city, capacity, None if index == 2 else levels, sections))
        n_sections = levels * sections
        venue: list[tuple[int, int, str, str, str]] = []  # (row index, level, section, row, seat)
        for k in range(n_sections):
            level, section = k // sections + 1, f"{k // sections + 1}{k % sections + 1:02d}"
            count = capacity // n_sections + (1 if k < capacity % n_sections else 0)
            for s in range(count):
                number = s % per_row + 1
                venue.append((s // per_row, level, section, _row_name(s // per_row),
                              f"{number:02d}" if padded else str(number)))
        ranked = sorted(range(len(venue)), key=lambda i: (venue[i][0], venue[i][1], i))
        kinds: list[str] = [""] * len(venue)
        start = 0
        shares = [round(capacity * share) for _, _, _, share, _ in SEAT_TYPES]
        shares[2] = capacity - sum(shares) + shares[2]  # standard takes the rounding
        for (kind, *_), n in zip(SEAT_TYPES, shares, strict=True):
            for i in ranked[start:start + n]:
                kinds[i] = kind
            start += n
        seats.extend((loc_id, level, section, row, seat, kinds[i])
                     for i, (_, level, section, row, seat) in enumerate(venue))
    return locations, seats


def _persons(rng: random.Random, n: int) -> list[tuple[Any, ...]]:
    rows = []
    for pid in range(1, n + 1):
        last = rng.choice(LAST_NAMES)
        first = None if pid % 400 == 7 else rng.choice(FIRST_NAMES)
        rows.append((pid, last if first is None else f"{first} {last}", last, first))
    return rows


def _players(rng: random.Random) -> list[tuple[Any, ...]]:
    rows = []
    for team in range(1, len(TEAMS) + 1):
        for _ in range(12):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            rows.append((len(rows) + 1, team, last, first, f"{first} {last}"[:30]))
    return rows


def _schedule(rng: random.Random, n_events: int) -> list[tuple[Any, ...]]:
    """sporting_event rows: rounds of every ordered (home, away) pair of each league, leagues interleaved."""
    pairs: dict[str, list[tuple[int, int]]] = {}
    for league in ("MLB", "NFL"):
        ids = [i + 1 for i, t in enumerate(TEAMS) if t[4] == league]
        pairs[league] = [(h, a) for h in ids for a in ids if h != a]
    order = [p for duo in zip(pairs["MLB"], pairs["NFL"], strict=True) for p in duo]
    played = {"baseball": 0, "football": 0}
    events = []
    for k in range(n_events):
        home, away = order[k % len(order)]
        sport = TEAMS[home - 1][3]
        first_day, times = SEASON[sport]
        day = first_day + timedelta(days=2 * played[sport])  # one game per league per day: no venue clash
        played[sport] += 1
        event_id = BIG_ID_OFFSET + k if k % 4 == 1 else k + 1
        events.append((event_id, sport, home, away, TEAMS[home - 1][2] + 1, datetime.combine(day, rng.choice(times)),
                       day, 0))
    return events


# ---------------------------------------------------------------------------------------------- activity

def _sell(state: _State, ticket_ids: list[int], rows: list[list[int]], share: float, start: datetime) -> None:
    """Sell about `share` of an event's seats in runs of 1-6 adjacent seats of one row."""
    rng = state.rng
    p_start = share / (3.5 - 2.5 * share)  # a run averages 3.5 seats
    end_ms, window = _ms(start) - 10 * _DAY_MS, 110 * _DAY_MS
    for row in rows:
        i = 0
        while i < len(row):
            if rng.random() >= p_start:
                i += 1
                continue
            run = [ticket_ids[s] for s in row[i:i + rng.randint(1, 6)]]
            i += len(run)
            buyer, when = rng.randint(1, state.persons), end_ms - rng.randrange(window)
            for t in run:
                ticket = state.tickets[t]
                ticket[7] = buyer
                state.history.append((ticket[0], buyer, _ts(when), None, ticket[8]))
            state.lots.append(_Lot(run, buyer, when))


def _transfer(state: _State, lot: _Lot, to: int, when: int, price_factor: Decimal | None = None) -> None:
    for t in lot.tickets:
        ticket = state.tickets[t]
        price = ticket[8] if price_factor is None else (ticket[8] * price_factor).quantize(_CENT, ROUND_HALF_UP)
        state.history.append((ticket[0], to, _ts(when), lot.holder, price))
        ticket[7] = to
    lot.holder, lot.last_ms = to, when


def _someone_else(rng: random.Random, persons: int, *not_these: int) -> int:
    while True:
        pid = rng.randint(1, persons)
        if pid not in not_these:
            return pid


def _random_transfers(state: _State, count: int) -> None:
    rng = state.rng
    done = 0
    while done < count:
        lot = state.lots[rng.randrange(len(state.lots))]
        if lot.reserved:
            continue
        if rng.random() >= 0.8 and len(lot.tickets) > 1:  # one ticket of the purchase: split it off
            one = lot.tickets.pop(rng.randrange(len(lot.tickets)))
            lot = _Lot([one], lot.holder, lot.last_ms)
            state.lots.append(lot)
        factor = None
        if rng.random() < 1 / 3:
            factor = 1 + Decimal(rng.randint(-2000, 2000)) / 10_000
        when = lot.last_ms + rng.randint(60_000, 3 * _DAY_MS)
        _transfer(state, lot, _someone_else(rng, state.persons, lot.holder), when, factor)
        done += 1


def _single(state: _State, lot: _Lot) -> _Lot:
    """A reserved one-ticket lot split off `lot` (which is reserved too, so its other tickets stay put)."""
    lot.reserved = True
    if len(lot.tickets) == 1:
        return lot
    single = _Lot([lot.tickets.pop(0)], lot.holder, lot.last_ms, reserved=True)
    state.lots.append(single)
    return single


def _walk(state: _State, lot: _Lot, owners: list[int]) -> list[int]:
    """Transfer `lot` along `owners`, a day and some ms apart; returns the full owner sequence."""
    seq = [lot.holder]
    for k, owner in enumerate(owners):
        _transfer(state, lot, owner, lot.last_ms + _DAY_MS + 123 * (k + 1))
        seq.append(owner)
    return seq


# ----------------------------------------------------------------------------------------------- generate

def squeeze_history(rows: list[tuple[Any, ...]], start: datetime, span: timedelta) -> list[tuple[Any, ...]]:
    """History rows with their times mapped linearly (order kept, ties only where there were) into
    `[start, start + span)`: a source whose interval loads (backfills) take a few days, not a season."""
    times = [r[2] for r in rows]
    first, width = min(times), (max(times) - min(times)) or timedelta(milliseconds=1)
    scale = (span - timedelta(milliseconds=1)) / width

    def moved(ts: datetime) -> datetime:
        offset_ms = ((ts - first) * scale) // timedelta(milliseconds=1)
        return start.replace(tzinfo=None) + timedelta(milliseconds=offset_ms)

    return [(*r[:2], moved(r[2]), *r[3:]) for r in rows]


def generate(seed: int = 42, scale: float = 1.0, history_span: tuple[datetime, timedelta] | None = None
             ) -> Generated:
    """Build every table of dms_sample, deterministically for a given seed and scale; `history_span`
    (start, length) squeezes the purchase history's times into that period (`squeeze_history`)."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale!r}")
    rng = random.Random(seed)
    n_events, n_persons = max(2, round(24 * scale)), max(50, round(2000 * scale))
    locations, seats = _venues(rng)
    teams = [(i + 1, name, abbrev, venue + 1, sport, league, division)
             for i, (name, abbrev, venue, sport, league, division) in enumerate(TEAMS)]
    events = _schedule(rng, n_events)
    state = _State(rng, n_persons)
    sold_out_index = 2 if n_events >= 3 else None

    by_location: dict[int, list[tuple[Any, ...]]] = {}
    for seat in seats:
        by_location.setdefault(seat[0], []).append(seat)
    event_lots: list[int] = []  # index of each event's first lot in state.lots
    sequence = 0
    for k, event in enumerate(events):
        event_id, location = event[0], event[4]
        base = Decimal(rng.randint(3000, 5000)) / 100
        ticket_ids, rows, row_key = [], [], None
        for seat in by_location[location]:
            sequence += 1
            price = (base * PRICE_MULTIPLIER[seat[5]]).quantize(_CENT, ROUND_HALF_UP)
            ticket_id = sequence + (BIG_ID_OFFSET if event_id > BIG_ID_OFFSET else 0)
            state.tickets.append([ticket_id, event_id, location, seat[1], seat[2], seat[3], seat[4], None, price])
            if (seat[1], seat[2], seat[3]) != row_key:
                row_key = (seat[1], seat[2], seat[3])
                rows.append([])
            rows[-1].append(len(ticket_ids))
            ticket_ids.append(len(state.tickets) - 1)
        event_lots.append(len(state.lots))
        share = 1.0 if k == sold_out_index else rng.uniform(0.12, 0.38)
        _sell(state, ticket_ids, rows, share, event[5])
        if len(state.lots) == event_lots[-1]:  # nothing sold (tiny scales): sell the first seat
            _sell(state, ticket_ids[:1], [[0]], 1.0, event[5])
        if k == sold_out_index:
            events[k] = (*event[:7], 1)

    chain = _single(state, state.lots[event_lots[0]])
    rebuy = _single(state, state.lots[event_lots[1]])
    _random_transfers(state, round(0.3 * sum(1 for lot in state.lots if not lot.reserved)))
    a = chain.holder
    b = _someone_else(rng, n_persons, a)
    c = _someone_else(rng, n_persons, a, b)
    chain_owners = _walk(state, chain, [b, a, c])
    rebuy_owners = _walk(state, rebuy, [_someone_else(rng, n_persons, rebuy.holder), rebuy.holder])

    big_tickets = [t for t in state.tickets if t[0] > BIG_ID_OFFSET]
    edge_cases = {
        "chain_ticket_id": state.tickets[chain.tickets[0]][0],
        "chain_owner_ids": chain_owners,
        "rebuy_ticket_id": state.tickets[rebuy.tickets[0]][0],
        "rebuy_owner_ids": rebuy_owners,
        "big_event_ids": [e[0] for e in events if e[0] > BIG_ID_OFFSET],
        "big_ticket_ids": [next(t[0] for t in big_tickets if t[7] is not None),
                           next(t[0] for t in big_tickets if t[7] is None)],
        "sold_out_event_id": None if sold_out_index is None else events[sold_out_index][0],
        "leading_zero_location_ids": sorted({s[0] for s in seats if s[4].startswith("0")}),
        "null_first_name_person_ids": [pid for pid in range(1, n_persons + 1) if pid % 400 == 7],
        "null_levels_location_id": next(loc[0] for loc in locations if loc[4] is None),
    }
    tables: dict[str, list[tuple[Any, ...]]] = {
        "sport_type": list(SPORT_TYPES),
        "sport_league": list(LEAGUES),
        "sport_division": [(sport, league, short, long_name, None if short.endswith("West") else
                            f"The {long_name} division of the {league}")
                           for sport, league, short, long_name in DIVISIONS],
        "seat_type": [(name, description, quality) for name, description, quality, _, _ in SEAT_TYPES],
        "sport_location": locations,
        "seat": seats,
        "sport_team": teams,
        "player": _players(rng),
        "person": _persons(rng, n_persons),
        "sporting_event": events,
        "sporting_event_ticket": [tuple(t) for t in state.tickets],
        "ticket_purchase_hist": sorted(state.history if history_span is None else
                                       squeeze_history(state.history, *history_span), key=lambda h: (h[2], h[0], h[1])),
    }
    assert set(tables) == set(TABLES)
    return Generated(tables, edge_cases)


# --------------------------------------------------------------------------------------------------- load

def ddl_statements(schema: str = DDL_SCHEMA) -> list[str]:
    """The PostgreSQL DDL files' text in order, with `dms_sample` rewritten to `schema` (quoted if needed)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_$]*", schema):
        quoted = '"' + schema.replace('"', '""') + '"'
    else:
        quoted = schema
    return [re.sub(rf"\b{DDL_SCHEMA}\b", lambda _: quoted, path.read_text(encoding="utf-8"))
            for path in sorted(DDL_DIR.glob("*.sql"))]


def load(uri: str, schema: str = DDL_SCHEMA, seed: int = 42, scale: float = 1.0, replace: bool = True,
         history_span: tuple[datetime, timedelta] | None = None) -> Loaded:
    """Create `schema` and its tables in the database at `uri` and fill them with `generate(seed, scale)`.

    One transaction: on error nothing changes. With replace=False, a table that already holds rows raises
    ValueError (the generated keys would collide).

    `mssql://user:password@host:port[/dms_sample]` loads a real SQL Server instead (`load_sqlserver`): the
    T-SQL DDL creates database `dms_sample` and its tables in schema `dbo`, so `schema` must be left at its
    default or be `dbo`.
    """
    if uri.startswith("mssql://"):
        if schema not in (DDL_SCHEMA, "dbo"):
            raise ValueError(f"schema {schema!r}: on SQL Server the T-SQL DDL creates dms_sample.dbo")
        return load_sqlserver(_mssql_connect(uri), seed, scale, replace)
    import psycopg
    from psycopg import sql

    generated = generate(seed, scale, history_span)
    with psycopg.connect(uri) as conn, conn.cursor() as cur:
        for statement in ddl_statements(schema):
            cur.execute(statement)
        names = {table: sql.Identifier(schema, table) for table in TABLES}
        if replace:
            cur.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(names.values())))
        else:
            for table, name in names.items():
                if cur.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(name)).fetchone()[0]:
                    raise ValueError(f"{schema}.{table} already holds rows; load with replace=True")
        counts = {}
        for table, rows in generated.tables.items():
            copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                names[table], sql.SQL(", ").join(map(sql.Identifier, TABLES[table])))
            with cur.copy(copy) as out:
                for row in rows:
                    out.write_row(row)
            counts[table] = len(rows)
        for name in names.values():
            cur.execute(sql.SQL("ANALYZE {}").format(name))
    return Loaded(counts, generated.edge_cases)


TSQL_DIR = DDL_DIR.parent / "sqlserver"
INSERT_BATCH_ROWS = 1000


def tsql_batches() -> list[str]:
    """The SQL Server DDL files as sqlcmd would send them: each file split into batches at its `GO` lines."""
    batches = []
    for path in sorted(TSQL_DIR.glob("*.sql")):
        batches += [b.strip() for b in re.split(r"(?im)^\s*GO\s*$", path.read_text(encoding="utf-8")) if b.strip()]
    return batches


def load_sqlserver(connect: Any, seed: int = 42, scale: float = 1.0, replace: bool = True) -> Loaded:
    """Create `dms_sample` on SQL Server from the T-SQL DDL (idempotent) and fill it with `generate(seed, scale)`.

    `connect()` returns a DB-API connection to the server's `master` database (pymssql: `%s` parameters,
    `autocommit(bool)`). The DDL batches (`tsql_batches`, as sqlcmd would send them) run in autocommit, since
    CREATE DATABASE cannot run in a transaction; their `USE dms_sample` makes it the connection's database.
    Then, in one transaction: each table's rows are deleted (replace=True; with replace=False a table that
    already holds rows raises ValueError) and the generated rows inserted with `executemany`, in batches of
    INSERT_BATCH_ROWS. On error nothing of the rows changes, and a re-run leaves exactly the generated data.
    """
    generated = generate(seed, scale)
    conn = connect()
    try:
        conn.autocommit(True)  # CREATE DATABASE cannot run inside a transaction
        cur = conn.cursor()
        for batch in tsql_batches():  # CREATE DATABASE, USE dms_sample, CREATE TABLE ...
            cur.execute(batch)
        conn.autocommit(False)  # the rows: one transaction
        for table in TABLES:
            if replace:
                cur.execute(f"DELETE FROM dbo.{table}")
            else:
                cur.execute(f"SELECT COUNT_BIG(*) FROM dbo.{table}")
                if cur.fetchone()[0]:
                    raise ValueError(f"dms_sample.dbo.{table} already holds rows; load with replace=True")
        counts = {}
        for table, rows in generated.tables.items():
            columns = TABLES[table]
            insert = f"INSERT INTO dbo.{table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            for i in range(0, len(rows), INSERT_BATCH_ROWS):
                cur.executemany(insert, rows[i:i + INSERT_BATCH_ROWS])
            counts[table] = len(rows)
        conn.commit()
    finally:
        conn.close()
    return Loaded(counts, generated.edge_cases)


def mssql_params(uri: str) -> dict[str, Any]:
    """pymssql.connect keywords for `mssql://user:password@host[:port][/dms_sample]` (database `master`:
    the DDL creates `dms_sample` and switches to it). Another database in the path is an error."""
    from urllib.parse import unquote, urlsplit

    u = urlsplit(uri)
    if u.scheme != "mssql" or not u.hostname:
        raise ValueError("expected mssql://user:password@host:port[/dms_sample]")
    database = u.path.strip("/")
    if database not in ("", "dms_sample"):
        raise ValueError(f"database {database!r}: the T-SQL DDL creates and fills dms_sample")
    return {"server": u.hostname, "port": u.port or 1433, "user": unquote(u.username or ""),
            "password": unquote(u.password or ""), "database": "master", "login_timeout": 30}


def _mssql_connect(uri: str) -> Any:
    """A pymssql connection factory for `mssql_params(uri)`."""
    params = mssql_params(uri)

    def connect() -> Any:
        import pymssql

        return pymssql.connect(**params)

    return connect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generators.dms_sample", description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True, help="postgresql://… (the PostgreSQL port), or "
                        "mssql://user:pw@host:1433[/dms_sample] (SQL Server: database dms_sample, schema dbo)")
    parser.add_argument("--schema", default=DDL_SCHEMA)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--history-start", type=date.fromisoformat, default=None,
                        help="squeeze the purchase history's times into --history-days days from this date")
    parser.add_argument("--history-days", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.scale > 0:
        parser.error("--scale must be positive")
    if args.history_start and args.uri.startswith("mssql://"):
        parser.error("--history-start: PostgreSQL only")
    span = (datetime.combine(args.history_start, dtime()), timedelta(days=args.history_days)) \
        if args.history_start else None
    started = time.perf_counter()
    loaded = load(args.uri, args.schema, args.seed, args.scale, history_span=span)  # mssql://: SQL Server
    json.dump({"counts": loaded.counts, "edge_cases": loaded.edge_cases,
               "seconds": round(time.perf_counter() - started, 2)}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
