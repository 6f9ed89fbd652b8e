"""Validation of dms_sample (SQL Server) → DynamoDB: source SQL, sampling, expected items and access patterns.

Pure Python (no Airflow, no boto3): the validators in `dbmigrate.operators.validate_dynamodb` run the SQL
these functions write through the source connection's DbApiHook, and the DynamoDB requests these
functions describe, and hand the results back here to be compared.

The SQL must run unchanged on SQL Server (pymssql, production) and PostgreSQL (psycopg, the local
stand-in): plain SELECTs, `"schema"."table"` quoted (`transforms.identifiers`: checked once, case kept), `%s`
placeholders, no LIMIT/TOP and no dialect functions. Samples are chosen by key sets instead of LIMIT:
`<key> % m = r` with a prime `m` derived from the row count, so the same rows are read on every run.
A query that contains the modulo operator never has parameters (both drivers would otherwise read
`%` as a placeholder); the DbApiHook executes a query without parameters verbatim.

Item re-mapping reuses `transforms.ticketing.expected_*`, exactly what the Glue job is checked against.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from transforms.design_checks import compare_keys, item_diffs
from transforms.dms_sample_schema import COLUMN_TYPES, TABLES, coerce_integral, integer_columns
from transforms.dynamo_items import from_item
from transforms.identifiers import check_identifier, quoted
from transforms.intervals import Window, sql_timestamp
from transforms.ticketing import (
    AVAILABLE,
    HELD,
    PURCHASED,
    TRANSFERRED,
    expected_available_item,
    expected_config_item,
    expected_held_item,
    expected_ticket_sales_item,
    history_order_key,
    history_sort_keys,
    transaction_ts,
)

__all__ = [
    "ACCESS_PATTERNS",
    "CONFIG_TABLES",
    "IN_CHUNK",
    "SOURCE_COLUMNS",
    "TICKET_SALES_TYPES",
    "AccessPattern",
    "ExpectedItem",
    "Sample",
    "SourceQuery",
    "SourceSample",
    "available_sample_sql",
    "available_tickets",
    "check_identifier",
    "chunks",
    "compare_keys",
    "config_by_name",
    "config_sample_sql",
    "count_sql",
    "entity_name",
    "expected_items",
    "bad_type_count_sql",
    "coerce_row",
    "held_sample_sql",
    "history_sample_sql",
    "integral_sql",
    "in_list_sql",
    "item_diffs",
    "key_text",
    "name_subjects",
    "owned_tickets",
    "person_subjects",
    "sample_for",
    "select_sql",
    "source_count_queries",
    "transferred_from",
    "transferred_to",
    "type_attribute",
    "venue_subjects",
]

IN_CHUNK = 500  # ids per IN-list: far below SQL Server's 2,100 parameters per statement

# The source columns the validators read: the one column list (transforms.dms_sample_schema) the job reads too.
SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {t: TABLES[t] for t in (
    "sport_type", "sport_league", "sport_division", "sport_location", "sport_team", "person", "sporting_event",
    "sporting_event_ticket", "ticket_purchase_hist")}

TICKET_SALES, CONFIG = "ticket_sales", "config"  # the spec's target (job) names
TICKET_SALES_TYPES = (PURCHASED, TRANSFERRED, AVAILABLE, HELD)
# config data_type → its source table; the sampled ones have an integer `id`
CONFIG_TABLES: dict[str, str] = {
    "PERSON": "person", "TEAM": "sport_team", "SPORT_TYPE": "sport_type", "LOCATION": "sport_location",
    "SPORT_LEAGUE_DIVISION": "sport_division",
}
_SAMPLED_CONFIG = ("PERSON", "TEAM", "LOCATION")  # reference tables (sport_type, sport_division) are read whole

# target key attribute names
KEY_NAMES: dict[str, tuple[str, str]] = {
    TICKET_SALES: ("sporting_event_ticket_id", "ticket_status_owner"),
    CONFIG: ("data_type", "data_id"),
}

# --- SQL -------------------------------------------------------------------------------------------------


def _table(schema: str, table: str) -> str:
    return quoted(schema, table)


def select_sql(schema: str, table: str, where: str | None = None) -> str:
    """`SELECT <SOURCE_COLUMNS[table]> FROM schema.table [WHERE ...]`; rows zip with `SOURCE_COLUMNS[table]`."""
    sql = f"SELECT {', '.join(SOURCE_COLUMNS[table])} FROM {_table(schema, table)}"
    return f"{sql} WHERE {where}" if where else sql


def _checked_columns(table: str) -> tuple[str, ...]:
    """Integer columns whose values decide whether a row is migrated (smallint is SQL Server's `bit` here)."""
    return tuple(c for c in integer_columns(table) if dict(COLUMN_TYPES[table])[c] != "smallint")


def integral_sql(table: str, alias: str | None = None) -> str:
    """SQL: every integer column of the row holds an integral value or NULL, the rows the job does not reject
    (`bad_type`). Judged by the source itself (`FLOOR`, on SQL Server and PostgreSQL alike), whatever type it
    declares."""
    prefix = f"{alias}." if alias else ""
    parts = [f"({prefix}{c} IS NULL OR {prefix}{c} = FLOOR({prefix}{c}))" for c in _checked_columns(table)]
    return "(" + " AND ".join(parts) + ")" if parts else "1 = 1"


def bad_type_count_sql(schema: str, table: str) -> str:
    """The rows of `table` the job must reject as `bad_type`."""
    return count_sql(schema, table, f"NOT {integral_sql(table)}")


def coerce_row(table: str, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """`row` with its integer columns as exact ints (a source may declare them DOUBLE PRECISION or NUMERIC);
    None when one holds a non-integral value: the job rejected that row, no item was built from it."""
    out = dict(row)
    for c in integer_columns(table):
        if out.get(c) is not None:
            try:
                out[c] = coerce_integral(out[c])
            except ValueError:
                return None
    return out


def count_sql(schema: str, table: str, where: str | None = None) -> str:
    sql = f"SELECT COUNT(*) FROM {_table(schema, table)}"
    return f"{sql} WHERE {where}" if where else sql


def in_list_sql(schema: str, table: str, column: str, n: int) -> str:
    """Rows of `table` whose `column` is one of `n` `%s` parameters."""
    if n < 1:
        raise ValueError("an IN-list needs at least one value")
    return select_sql(schema, table, f"{check_identifier(column)} IN ({', '.join(['%s'] * n)})")


def chunks(values: Iterable[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    """Distinct non-null values, sorted, in lists of at most `size` (one IN-list query each)."""
    distinct = sorted({v for v in values if v is not None})
    for i in range(0, len(distinct), size):
        yield distinct[i:i + size]


def entity_name(table: str, item_type: str) -> str:
    """`ticket_sales.PURCHASED`, `config.PERSON`: the name an item type goes by in results and reports."""
    return f"{table}.{item_type}"


def in_window(window: Window, alias: str | None = None) -> str:
    """`transaction_date_time` in `window` (literal bounds: `intervals.sql_timestamp`, both dialects), or a
    true predicate for a full window."""
    column = f"{alias}.transaction_date_time" if alias else "transaction_date_time"
    parts = [f"{column} >= '{sql_timestamp(window.start)}'"] if window.start else []
    parts += [f"{column} < '{sql_timestamp(window.end)}'"] if window.end else []
    return " AND ".join(parts) or "1 = 1"


def and_before(as_of: datetime | None, alias: str | None = None) -> str:
    """` AND <history row before as_of>`: the rows a target holds when it reflects the source up to `as_of`;
    nothing for None (every row)."""
    return "" if as_of is None else f" AND {in_window(Window(None, as_of), alias)}"


def source_count_queries(schema: str, as_of: datetime | None = None) -> dict[tuple[str, str], str]:
    """(target, item type) → the SQL counting the source rows that become items of that type, for a target
    that reflects the source up to `as_of` (the latest end an interval load reached; None: everything)."""
    hist, ticket = "ticket_purchase_hist", "sporting_event_ticket"
    good_hist, good_ticket = f"{integral_sql(hist)}{and_before(as_of)}", integral_sql(ticket)
    queries = {
        (TICKET_SALES, PURCHASED): count_sql(schema, hist, f"transferred_from_id IS NULL AND {good_hist}"),
        (TICKET_SALES, TRANSFERRED): count_sql(schema, hist, f"transferred_from_id IS NOT NULL AND {good_hist}"),
        (TICKET_SALES, AVAILABLE): count_sql(schema, ticket, f"ticketholder_id IS NULL AND {good_ticket}"),
        (TICKET_SALES, HELD): count_sql(schema, ticket, f"{held_where(schema, as_of)} AND {good_ticket}"),
    }
    for data_type, table in CONFIG_TABLES.items():
        queries[(CONFIG, data_type)] = count_sql(schema, table, integral_sql(table))
    return queries


def held_where(schema: str, as_of: datetime | None = None) -> str:
    """Sold tickets (`ticketholder_id` set) with no migrated history row (none before `as_of`): each becomes one
    `Held` item."""
    return (f"ticketholder_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {_table(schema, 'ticket_purchase_hist')} h "
            f"WHERE h.sporting_event_ticket_id = {_table(schema, 'sporting_event_ticket')}.id "
            f"AND {integral_sql('ticket_purchase_hist', 'h')}{and_before(as_of, 'h')})")


def interval_count_sql(schema: str, window: Window) -> str:
    """The history rows of one interval: the history items an interval load writes as its own."""
    hist = "ticket_purchase_hist"
    return count_sql(schema, hist, f"{integral_sql(hist)} AND {in_window(window)}")


def type_attribute(table: str) -> str:
    """The attribute that tells the item types of `table` apart."""
    return "item_type" if table == TICKET_SALES else "data_type"


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


@dataclass(frozen=True)
class Sample:
    """Rows whose integer key `% modulus == remainder`: about count / modulus rows, the same on every run."""

    modulus: int
    remainder: int = 0

    def __post_init__(self) -> None:
        if self.modulus < 1 or not 0 <= self.remainder < self.modulus:
            raise ValueError(f"bad sample {self.modulus=}, {self.remainder=}")

    def where(self, column: str) -> str:
        """The predicate (no parameters: `%` here is the modulo operator)."""
        if self.modulus == 1:
            return "1 = 1"
        # FLOOR and the cast: ids declared DOUBLE PRECISION or NUMERIC sample the same way as integers
        return f"CAST(FLOOR({check_identifier(column)}) AS BIGINT) % {int(self.modulus)} = {int(self.remainder)}"

    def holds(self, key: int) -> bool:
        return int(key) % self.modulus == self.remainder


def sample_for(count: int, sample_size: int) -> Sample:
    """The smallest prime modulus ≥ count / sample_size (1 when everything fits), so about `sample_size` rows.

    A prime keeps regularly spaced ids (every 10th, every even one) from aliasing into an empty sample.
    """
    if sample_size <= 0 or count <= sample_size:
        return Sample(1)
    m = max(2, math.ceil(count / sample_size))
    while not _is_prime(m):
        m += 1
    return Sample(m)


def history_sample_sql(schema: str, sample: Sample, as_of: datetime | None = None) -> str:
    """Every history row (before `as_of`) of the sampled tickets (all of a ticket's, so its latest is known)."""
    return select_sql(schema, "ticket_purchase_hist", f"{sample.where('sporting_event_ticket_id')}{and_before(as_of)}")


def available_sample_sql(schema: str, sample: Sample) -> str:
    """The sampled unsold tickets."""
    return select_sql(schema, "sporting_event_ticket", f"ticketholder_id IS NULL AND {sample.where('id')}")


def held_sample_sql(schema: str, sample: Sample, as_of: datetime | None = None) -> str:
    """The sampled sold tickets without history before `as_of` (their `Held` items)."""
    return select_sql(schema, "sporting_event_ticket", f"{held_where(schema, as_of)} AND {sample.where('id')}")


def config_sample_sql(schema: str, data_type: str, sample: Sample) -> str:
    """The sampled source rows of one config type; sport_type and sport_division are read whole."""
    table = CONFIG_TABLES[data_type]
    if data_type in _SAMPLED_CONFIG:
        return select_sql(schema, table, None if sample.modulus == 1 else sample.where("id"))
    return select_sql(schema, table)


# --- expected items --------------------------------------------------------------------------------------


@dataclass
class SourceSample:
    """Sampled source rows and the rows they refer to (dicts keyed by column name; related rows by id)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    available: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    tickets: dict[Any, dict[str, Any]] = field(default_factory=dict)
    events: dict[Any, dict[str, Any]] = field(default_factory=dict)
    teams: dict[Any, dict[str, Any]] = field(default_factory=dict)
    locations: dict[Any, dict[str, Any]] = field(default_factory=dict)
    persons: dict[Any, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # data_type → sampled rows
    leagues: dict[Any, dict[str, Any]] = field(default_factory=dict)  # by short_name

    def ticket_ids(self) -> set[Any]:
        return {h["sporting_event_ticket_id"] for h in self.history}

    def event_ids(self) -> set[Any]:
        return {t["sporting_event_id"] for t in [*self.tickets.values(), *self.available, *self.held]}

    def team_ids(self) -> set[Any]:
        return {e[k] for e in self.events.values() for k in ("home_team_id", "away_team_id")}

    def location_ids(self) -> set[Any]:
        return {e["location_id"] for e in self.events.values()}

    def person_ids(self) -> set[Any]:
        return {h[k] for h in self.history for k in ("purchased_by_id", "transferred_from_id")} - {None}


@dataclass(frozen=True)
class ExpectedItem:
    """The item one sampled source row should have become."""

    table: str  # the spec target name: ticket_sales or config
    entity: str  # e.g. ticket_sales.TRANSFERRED
    item: dict[str, dict]

    @property
    def key(self) -> dict[str, dict]:
        return {k: self.item[k] for k in KEY_NAMES[self.table]}


def key_text(table: str, key: Mapping[str, Mapping[str, Any]]) -> str:
    """`3000001916 / Transferred|25|2023-12-05T01:10:23.155`, `PERSON / 17`: a key as people read it."""
    return " / ".join(str(from_item({k: key[k]})[k]) for k in KEY_NAMES[table])


def expected_items(s: SourceSample) -> list[ExpectedItem]:
    """Every item the sampled rows should have become, by the same `expected_*` functions as the job's tests.

    `s.history` holds every migrated history row of the sampled tickets, so each ticket's latest row (it
    carries the ticket's holder) and the sort keys of rows that collide are known.
    """
    out: list[ExpectedItem] = []
    by_ticket: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for h in s.history:
        by_ticket[h["sporting_event_ticket_id"]].append(h)
    for ticket_id, rows in by_ticket.items():
        latest = max(rows, key=history_order_key)
        ticket = s.tickets.get(ticket_id)
        event = s.events.get(ticket["sporting_event_id"]) if ticket else None
        ev = event or {}
        for h, sort_key in zip(rows, history_sort_keys(rows), strict=True):
            item = expected_ticket_sales_item(
                h, ticket, event, s.teams.get(ev.get("home_team_id")), s.teams.get(ev.get("away_team_id")),
                s.locations.get(ev.get("location_id")), s.persons.get(h["purchased_by_id"]),
                s.persons.get(h["transferred_from_id"]), is_latest=h is latest, sort_key=sort_key)
            out.append(ExpectedItem(TICKET_SALES, entity_name(TICKET_SALES, item["item_type"]["S"]), item))
    for t in s.held:
        out.append(ExpectedItem(TICKET_SALES, entity_name(TICKET_SALES, HELD),
                                expected_held_item(t, s.events.get(t["sporting_event_id"]))))
    for t in s.available:
        out.append(ExpectedItem(TICKET_SALES, entity_name(TICKET_SALES, AVAILABLE),
                                expected_available_item(t, s.events.get(t["sporting_event_id"]))))
    for data_type, rows in s.config.items():
        for row in rows:
            league = s.leagues.get(row.get("sport_league_short_name")) if data_type == "SPORT_LEAGUE_DIVISION" \
                else None
            out.append(ExpectedItem(CONFIG, entity_name(CONFIG, data_type),
                                    expected_config_item(data_type, row, league=league)))
    return out


# --- access patterns -------------------------------------------------------------------------------------

OWNER_INDEX, AVAILABLE_INDEX = "owner_index", "available_index"
TRANSFERRED_FROM_INDEX, TRANSFERRED_TO_INDEX = "transferred_from_index", "transferred_to_index"
DESCRIPTIVE_NAME_INDEX = "descriptive_name_index"
ACCESS_PATTERNS = ("tickets owned", "tickets available", "tickets transferred from", "tickets transferred to",
                   "config by name")


@dataclass(frozen=True)
class SourceQuery:
    """SQL (with `params`) and how one of its rows becomes an item key; a key of None drops the row."""

    sql: str
    params: tuple[Any, ...]
    key: Callable[[tuple[Any, ...]], Any]


@dataclass(frozen=True)
class AccessPattern:
    """One access pattern for one subject: the source's answer (SQL) and the DynamoDB Query that must match."""

    pattern: str  # one of ACCESS_PATTERNS
    subject: str
    table: str  # spec target name
    query: dict[str, Any]  # Query kwargs without TableName (IndexName, KeyConditionExpression, ...)
    item_key: Callable[[Mapping[str, Mapping[str, Any]]], Any]
    source: tuple[SourceQuery, ...]

    @property
    def name(self) -> str:
        return f"access pattern: {self.pattern} {self.subject}"

    @property
    def entity(self) -> str:
        return f"{self.table}.{self.query['IndexName']}"

    def expected_keys(self, rows_per_query: Sequence[Iterable[tuple[Any, ...]]]) -> list[Any]:
        keys = [q.key(tuple(r)) for q, rows in zip(self.source, rows_per_query, strict=True) for r in rows]
        return [k for k in keys if k is not None]

    def actual_keys(self, items: Iterable[Mapping[str, Mapping[str, Any]]]) -> list[Any]:
        return [self.item_key(i) for i in items]


def _index_query(index: str, key_name: str, value: dict[str, str], table: str, *also: str) -> dict[str, Any]:
    """Query `index` for `key_name` = `value`, projecting the table's keys (and the attributes `also`)."""
    k, s = KEY_NAMES[table]
    names = {"#p": key_name, "#k": k, "#s": s, **{f"#a{i}": a for i, a in enumerate(also)}}
    return {"IndexName": index, "KeyConditionExpression": "#p = :p", "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":p": value},
            "ProjectionExpression": ", ".join(["#k", "#s", *(f"#a{i}" for i in range(len(also)))])}


def _ticket_id(item: Mapping[str, Mapping[str, Any]]) -> int:
    return int(item["sporting_event_ticket_id"]["N"])


def _ticket_key(item: Mapping[str, Mapping[str, Any]]) -> tuple[int, str]:
    return int(item["sporting_event_ticket_id"]["N"]), item["ticket_status_owner"]["S"]


def _config_key(item: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    return item["data_type"]["S"], item["data_id"]["S"]


def _hist_time(row: tuple[Any, ...]) -> tuple[int, str]:
    ticket, _buyer, ts, _from_id = row
    return coerce_integral(ticket), transaction_ts(ts)


def _ticket_time(item: Mapping[str, Mapping[str, Any]]) -> tuple[int, str]:
    """A history item as (ticket, transaction time): how the source names a transfer, with no assumption about
    how sort keys are made unique or whether transfers chain (compared as multisets)."""
    return int(item["sporting_event_ticket_id"]["N"]), item["transaction_date"]["S"]


_HIST_KEY_COLUMNS = "sporting_event_ticket_id, purchased_by_id, transaction_date_time, transferred_from_id"


def owned_tickets(schema: str, person_id: int) -> AccessPattern:
    """Tickets a person owns now: sporting_event_ticket.ticketholder_id vs owner_index current_owner_id."""
    p = int(person_id)
    sql = (f"SELECT id FROM {_table(schema, 'sporting_event_ticket')} WHERE ticketholder_id = %s "
           f"AND {integral_sql('sporting_event_ticket')}")
    return AccessPattern("tickets owned", f"person {p}", TICKET_SALES,
                         _index_query(OWNER_INDEX, "current_owner_id", {"N": str(p)}, TICKET_SALES),
                         _ticket_id, (SourceQuery(sql, (p,), lambda r: coerce_integral(r[0])),))


def _iso(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()[:10]


def available_tickets(schema: str, location_id: int, start_date: date | str) -> AccessPattern:
    """Unsold tickets at a venue on a date vs available_index available_key = "<location>|<date>"."""
    loc, day = int(location_id), _iso(start_date)
    sql = (f"SELECT t.id FROM {_table(schema, 'sporting_event_ticket')} t "
           f"JOIN {_table(schema, 'sporting_event')} e ON e.id = t.sporting_event_id "
           f"WHERE t.ticketholder_id IS NULL AND t.sport_location_id = %s AND e.start_date = %s "
           f"AND {integral_sql('sporting_event_ticket', 't')}")
    return AccessPattern("tickets available", f"venue {loc} on {day}", TICKET_SALES,
                         _index_query(AVAILABLE_INDEX, "available_key", {"S": f"{loc}|{day}"}, TICKET_SALES),
                         _ticket_key,
                         (SourceQuery(sql, (loc, start_date), lambda r: (coerce_integral(r[0]), "Available")),))


def transferred_from(schema: str, person_id: int, as_of: datetime | None = None) -> AccessPattern:
    """Tickets a person transferred: history rows transferred_from_id = p vs transferred_from_index."""
    p = int(person_id)
    sql = (f"SELECT {_HIST_KEY_COLUMNS} FROM {_table(schema, 'ticket_purchase_hist')} "
           f"WHERE transferred_from_id = %s AND {integral_sql('ticket_purchase_hist')}{and_before(as_of)}")
    return AccessPattern("tickets transferred from", f"person {p}", TICKET_SALES,
                         _index_query(TRANSFERRED_FROM_INDEX, "transferred_from_id", {"N": str(p)}, TICKET_SALES,
                                      "transaction_date"),
                         _ticket_time, (SourceQuery(sql, (p,), _hist_time),))


def transferred_to(schema: str, person_id: int, as_of: datetime | None = None) -> AccessPattern:
    """Tickets transferred to a person: transfer rows purchased_by_id = p vs transferred_to_index."""
    p = int(person_id)
    sql = (f"SELECT {_HIST_KEY_COLUMNS} FROM {_table(schema, 'ticket_purchase_hist')} "
           f"WHERE transferred_from_id IS NOT NULL AND purchased_by_id = %s AND {integral_sql('ticket_purchase_hist')} "
           f"{and_before(as_of)}")
    return AccessPattern("tickets transferred to", f"person {p}", TICKET_SALES,
                         _index_query(TRANSFERRED_TO_INDEX, "transferred_to_id", {"N": str(p)}, TICKET_SALES,
                                      "transaction_date"),
                         _ticket_time, (SourceQuery(sql, (p,), _hist_time),))


def config_by_name(schema: str, name: str) -> AccessPattern:
    """Config items whose descriptive_name equals `name` vs descriptive_name_index.

    Each query also selects the name and rows are kept only on exact equality: SQL Server's usual
    collations compare case-insensitively and ignore trailing spaces, DynamoDB keys do neither. League +
    division names are `<league long name> <division long name>`; string concatenation differs between
    the dialects, so every division is read (a small reference table) and matched here.
    """
    def exact(data_type: str) -> Callable[[tuple[Any, ...]], tuple[str, str] | None]:
        def key(r: tuple[Any, ...]) -> tuple[str, str] | None:
            if r[1] != name:
                return None
            if data_type == "SPORT_TYPE":
                return data_type, str(r[0])
            try:  # an id declared DOUBLE PRECISION reads as 101.0; a non-integral one was rejected, no item
                return data_type, str(coerce_integral(r[0]))
            except ValueError:
                return None
        return key

    def division(r: tuple[Any, ...]) -> tuple[str, str] | None:
        league, short, league_long, long_name = r
        if league_long is None or long_name is None or f"{league_long} {long_name}" != name:
            return None
        return "SPORT_LEAGUE_DIVISION", f"{league}|{short}"

    def by(data_type: str, table: str, key: str, column: str) -> SourceQuery:
        return SourceQuery(f"SELECT {key}, {column} FROM {_table(schema, table)} WHERE {column} = %s", (name,),
                           exact(data_type))

    source = (
        by("PERSON", "person", "id", "full_name"),
        by("TEAM", "sport_team", "id", "name"),
        by("SPORT_TYPE", "sport_type", "name", "description"),
        by("LOCATION", "sport_location", "id", "name"),
        SourceQuery(f"SELECT d.sport_league_short_name, d.short_name, l.long_name, d.long_name "
                    f"FROM {_table(schema, 'sport_division')} d "
                    f"LEFT JOIN {_table(schema, 'sport_league')} l ON l.short_name = d.sport_league_short_name",
                    (), division),
    )
    return AccessPattern("config by name", f"{name!r}", CONFIG,
                         _index_query(DESCRIPTIVE_NAME_INDEX, "descriptive_name", {"S": name}, CONFIG),
                         _config_key, source)


# --- subjects --------------------------------------------------------------------------------------------


def _first(n: int, *groups: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for group in groups:
        for v in group:
            if len(out) >= n:
                return out
            if v not in out:
                out.append(v)
    return out


def person_subjects(history: Sequence[Mapping[str, Any]], n: int) -> dict[str, list[int]]:
    """Persons to check the three person patterns for, from the sampled history rows; deterministic.

    Up to half of each list are persons of transfer chains (who received a ticket by transfer and passed
    it on, or got back a ticket they had sold), then persons who own a sampled ticket now / transferred /
    received one; the rest in ascending id order.
    """
    by_ticket: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for h in history:
        by_ticket[h["sporting_event_ticket_id"]].append(h)
    chain: set[int] = set()
    owners_now: set[int] = set()
    senders: set[int] = set()
    receivers: set[int] = set()
    for rows in by_ticket.values():
        rows = sorted(rows, key=history_order_key)
        owners = [r["purchased_by_id"] for r in rows]
        owners_now.add(owners[-1])
        for i, r in enumerate(rows):
            if r["transferred_from_id"] is None:
                continue
            senders.add(r["transferred_from_id"])
            receivers.add(r["purchased_by_id"])
            if i >= 1 and rows[i - 1]["transferred_from_id"] is not None:
                chain.add(r["transferred_from_id"])  # got it by transfer, passed it on
            if r["purchased_by_id"] in owners[:i]:
                chain.add(r["purchased_by_id"])  # got back a ticket they had
    half = max(1, n // 2)
    chain_list = sorted(chain)
    return {
        "tickets owned": _first(n, [p for p in chain_list if p in owners_now][:half], sorted(owners_now)),
        "tickets transferred from": _first(n, [p for p in chain_list if p in senders][:half], sorted(senders)),
        "tickets transferred to": _first(n, [p for p in chain_list if p in receivers][:half], sorted(receivers)),
    }


def venue_subjects(s: SourceSample, n: int) -> list[tuple[int, Any]]:
    """(sport_location_id, event start_date) of sampled tickets' events: unsold ones first, then sold ones."""
    def pairs(tickets: Iterable[Mapping[str, Any]]) -> list[tuple[int, Any]]:
        out = set()
        for t in tickets:
            e = s.events.get(t["sporting_event_id"])
            if e is not None and e.get("start_date") is not None:
                out.add((t["sport_location_id"], e["start_date"]))
        return sorted(out, key=lambda p: (p[0], _iso(p[1])))

    return _first(n, pairs(s.available)[:max(1, n // 2)], pairs(s.tickets.values()))


def name_subjects(s: SourceSample, n: int) -> list[str]:
    """Descriptive names of sampled config rows, one type after the other; shared person names first."""
    persons = s.config.get("PERSON", [])
    shared = Counter(p["full_name"] for p in persons)
    groups: list[list[str]] = [
        [p["full_name"] for p in sorted(persons, key=lambda p: (-shared[p["full_name"]], p["id"]))],
        [t["name"] for t in sorted(s.config.get("TEAM", []), key=lambda t: t["id"])],
        [loc["name"] for loc in sorted(s.config.get("LOCATION", []), key=lambda r: r["id"])],
        [t["description"] for t in sorted(s.config.get("SPORT_TYPE", []), key=lambda t: t["name"])],
        [f"{s.leagues[d['sport_league_short_name']]['long_name']} {d['long_name']}"
         for d in sorted(s.config.get("SPORT_LEAGUE_DIVISION", []),
                         key=lambda d: (d["sport_league_short_name"], d["short_name"]))
         if d.get("long_name") is not None and (s.leagues.get(d["sport_league_short_name"]) or {}).get("long_name")],
    ]
    groups = [[g for g in group if g] for group in groups]
    out: list[str] = []
    while len(out) < n and any(groups):
        for group in groups:
            while group and group[0] in out:
                group.pop(0)
            if group and len(out) < n:
                out.append(group.pop(0))
    return out
