"""Full reconciliation of dms_sample → DynamoDB, the source side: SQL that streams every source row once, and
the (key, row) pairs every item of `ticket_sales` and `config` must reconcile to.

Every expected item comes from the same `transforms.ticketing.expected_*` functions the job's items are
checked against, assembled as `transforms.ticketing_checks.expected_items` assembles a sample, but over ALL
rows and streamed: history rows ordered by ticket (each ticket's rows arrive together, so its latest row and
its colliding sort keys are known), joined in SQL to their ticket and both persons (tickets and persons are
the big tables: never held in memory), the small dimension tables (events, teams, venues, leagues) in dicts.
Rows the job rejects (`bad_type`, `ticketing_checks.coerce_row`) are not expected.

Items of both sides become rows of one form (`item_row`): DynamoDB's typed values as tagged text,
`N:45.5` / `S:Boston` — the type stays part of the value (a number written as a string differs), numbers are
canonical ("45.50" and "45.5" agree, as DynamoDB itself trims them). Tagged text rather than `{"N": ...}`
maps because the reconciliation core hashes plain text about ten times faster than nested maps. Attributes
outside the design's columns land in `OTHER_ATTRIBUTES`, so an item carrying an unknown attribute differs.

The SQL follows `ticketing_checks`: plain SELECTs that run on SQL Server and PostgreSQL, no parameters.
Pure Python: no Airflow, no boto3, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from transforms.identifiers import check_identifier, quoted
from transforms.ticketing import (
    CONFIG_COLUMNS,
    TICKET_SALES_COLUMNS,
    expected_available_item,
    expected_config_item,
    expected_held_item,
    expected_ticket_sales_item,
    history_order_key,
    history_sort_keys,
)
from transforms.ticketing_checks import (
    CONFIG,
    CONFIG_TABLES,
    KEY_NAMES,
    SOURCE_COLUMNS,
    TICKET_SALES,
    and_before,
    coerce_row,
    held_where,
    select_sql,
)

__all__ = [
    "COLUMNS",
    "DIMENSION_TABLES",
    "OTHER_ATTRIBUTES",
    "TABLES",
    "Dimensions",
    "available_sql",
    "canonical_attribute",
    "config_sql",
    "dimension_sql",
    "expected_config_items",
    "expected_ticket_sales_items",
    "held_sql",
    "history_sql",
    "item_key",
    "item_row",
]

Key = tuple[Any, ...]
Item = Mapping[str, Mapping[str, Any]]

TABLES = (TICKET_SALES, CONFIG)  # the spec's targets, reconciled in this order
OTHER_ATTRIBUTES = "(other attributes)"  # not a DynamoDB attribute name the design uses
COLUMNS: dict[str, tuple[str, ...]] = {TICKET_SALES: (*TICKET_SALES_COLUMNS, OTHER_ATTRIBUTES),
                                       CONFIG: (*CONFIG_COLUMNS, OTHER_ATTRIBUTES)}
_KNOWN = {t: frozenset(c[:-1]) for t, c in COLUMNS.items()}

# The small tables held in dicts while the big ones stream: events, teams, venues (by id), leagues (by short name)
DIMENSION_TABLES = ("sporting_event", "sport_team", "sport_location", "sport_league")
_HIST, _TICKET, _PERSON = "ticket_purchase_hist", "sporting_event_ticket", "person"
_H, _T, _P = (len(SOURCE_COLUMNS[t]) for t in (_HIST, _TICKET, _PERSON))


# --- the typed form both sides are compared in ------------------------------------------------------------


def _number(text: str) -> str:
    """A DynamoDB number as canonical text: "45.50" → "45.5", "1E+2" → "100", "-0" → "0"."""
    if text.isdigit() and (text[0] != "0" or len(text) == 1):
        return text
    value = Decimal(text)
    return "0" if value.is_zero() else format(value.normalize(), "f")


def _plain(value: Mapping[str, Any]) -> Any:
    """A nested attribute value as JSON-able data with canonical numbers (type tags kept)."""
    (kind, v), = value.items()
    if kind == "N":
        return {"N": _number(v)}
    if kind == "NS":
        return {"NS": sorted(_number(x) for x in v)}
    if kind in ("SS", "BS"):
        return {kind: sorted(str(x) for x in v)}
    if kind == "L":
        return {"L": [_plain(x) for x in v]}
    if kind == "M":
        return {"M": {k: _plain(x) for k, x in v.items()}}
    return {kind: v if kind != "B" else bytes(v).hex()}


def canonical_attribute(value: Mapping[str, Any]) -> str:
    """One attribute value as tagged text: `S:<text>`, `N:<canonical number>`, anything else `<tag>:<JSON>`."""
    if len(value) != 1:
        raise ValueError(f"an attribute value has exactly one type key, got {dict(value)!r}")
    (kind, v), = value.items()
    if kind == "S":
        return "S:" + v
    if kind == "N":
        return "N:" + _number(v)
    return f"{kind}:" + json.dumps(_plain(value)[kind], sort_keys=True, separators=(",", ":"))


def item_key(table: str, item: Item) -> Key:
    """An item's primary key as a tuple: (ticket id as int, sort key) or (data_type, data_id)."""
    pk, sk = KEY_NAMES[table]
    return (int(item[pk]["N"]) if table == TICKET_SALES else item[pk]["S"]), item[sk]["S"]


def item_row(table: str, item: Item) -> tuple[Key, dict[str, str]]:
    """(key, row) of an item of either side: every attribute as `canonical_attribute` text under its name, those
    the design does not know as one JSON object under `OTHER_ATTRIBUTES`; an absent attribute is absent."""
    known = _KNOWN[table]
    row: dict[str, str] = {}
    other: dict[str, str] = {}
    for name, value in item.items():
        if name in known:
            row[name] = canonical_attribute(value)
        else:
            other[name] = canonical_attribute(value)
    if other:
        row[OTHER_ATTRIBUTES] = json.dumps(other, sort_keys=True, ensure_ascii=False)
    return item_key(table, item), row


# --- SQL --------------------------------------------------------------------------------------------------


def _columns(alias: str, table: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in SOURCE_COLUMNS[table])


def history_sql(schema: str, as_of: datetime | None = None) -> str:
    """Every history row with its ticket and both persons (`SOURCE_COLUMNS` of ticket_purchase_hist, of
    sporting_event_ticket, of person for the buyer, of person for the transferor), ordered by ticket.

    Plain equi-joins, so the database plans them as it plans any join: a joined ticket or person row the job
    rejects (`bad_type`) is dropped in Python (`expected_ticket_sales_items`), as the job drops it before its
    joins. Rows without a ticket id are left out: they cannot become an item (the key would be missing).
    """
    s = check_identifier(schema)
    return (f"SELECT {_columns('h', _HIST)}, {_columns('t', _TICKET)}, {_columns('o', _PERSON)}, "
            f"{_columns('f', _PERSON)} FROM {quoted(s, _HIST)} h "
            f"LEFT JOIN {quoted(s, _TICKET)} t ON t.id = h.sporting_event_ticket_id "
            f"LEFT JOIN {quoted(s, _PERSON)} o ON o.id = h.purchased_by_id "
            f"LEFT JOIN {quoted(s, _PERSON)} f ON f.id = h.transferred_from_id "
            f"WHERE h.sporting_event_ticket_id IS NOT NULL{and_before(as_of, 'h')} "
            f"ORDER BY h.sporting_event_ticket_id")


def available_sql(schema: str) -> str:
    """The unsold tickets: one `Available` item each."""
    return select_sql(schema, _TICKET, "ticketholder_id IS NULL AND id IS NOT NULL")


def held_sql(schema: str, as_of: datetime | None = None) -> str:
    """Sold tickets without a migrated history row (before `as_of`): one `Held` item each."""
    return select_sql(schema, _TICKET, f"{held_where(schema, as_of)} AND id IS NOT NULL")


def dimension_sql(schema: str) -> dict[str, str]:
    """Table → SQL of each of `DIMENSION_TABLES`, read whole."""
    return {t: select_sql(schema, t) for t in DIMENSION_TABLES}


def config_sql(schema: str) -> dict[str, str]:
    """data_type → SQL reading every source row of that config type."""
    return {data_type: select_sql(schema, table) for data_type, table in CONFIG_TABLES.items()}


# --- expected items ---------------------------------------------------------------------------------------


def _rows(table: str, rows: Iterable[Sequence[Any]]) -> Iterator[dict[str, Any]]:
    """Source tuples as dicts keyed by `SOURCE_COLUMNS[table]`, integer columns as ints; rejected rows left out."""
    columns = SOURCE_COLUMNS[table]
    for r in rows:
        row = coerce_row(table, dict(zip(columns, r, strict=True)))
        if row is not None:
            yield row


@dataclass
class Dimensions:
    """The small source tables by key: what each streamed row is joined to in memory."""

    events: dict[Any, dict[str, Any]] = field(default_factory=dict)
    teams: dict[Any, dict[str, Any]] = field(default_factory=dict)
    locations: dict[Any, dict[str, Any]] = field(default_factory=dict)
    leagues: dict[Any, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Mapping[str, Iterable[Sequence[Any]]]) -> Dimensions:
        """From the tuples `dimension_sql` returns, table by table."""
        by_id = {t: {r["id"]: r for r in _rows(t, rows[t])} for t in DIMENSION_TABLES if t != "sport_league"}
        return cls(events=by_id["sporting_event"], teams=by_id["sport_team"], locations=by_id["sport_location"],
                   leagues={r["short_name"]: r for r in _rows("sport_league", rows["sport_league"])})


def _history_row(r: Sequence[Any]) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None,
                                               dict[str, Any] | None] | None:
    """A `history_sql` tuple as (history row, ticket, buyer, transferor); None when the job rejects the row."""
    hist = coerce_row(_HIST, dict(zip(SOURCE_COLUMNS[_HIST], r[:_H], strict=True)))
    if hist is None:
        return None
    parts: list[dict[str, Any] | None] = []
    for table, start, width in ((_TICKET, _H, _T), (_PERSON, _H + _T, _P), (_PERSON, _H + _T + _P, _P)):
        values = r[start:start + width]
        parts.append(None if values[0] is None else coerce_row(table, dict(zip(SOURCE_COLUMNS[table], values,
                                                                               strict=True))))
    return hist, parts[0], parts[1], parts[2]


def expected_ticket_sales_items(history: Iterable[Sequence[Any]], available: Iterable[Sequence[Any]],
                                held: Iterable[Sequence[Any]], dims: Dimensions) -> Iterator[dict[str, dict]]:
    """Every `ticket_sales` item: one per history row (tuples of `history_sql`, ordered by ticket), one
    `Available` per unsold ticket (`available_sql`), one `Held` per sold ticket without history (`held_sql`).

    Raises ValueError when the history is not grouped by ticket: a ticket's latest row and its sort keys
    need all its rows at once.
    """
    rows = (x for x in map(_history_row, history) if x is not None)
    previous: Any = None
    for ticket_id, group in groupby(rows, key=lambda x: x[0]["sporting_event_ticket_id"]):
        if previous is not None and ticket_id <= previous:
            raise ValueError(f"history rows are not ordered by ticket: {ticket_id} after {previous}")
        previous = ticket_id
        joined = list(group)
        hist = [x[0] for x in joined]
        latest = max(hist, key=history_order_key)
        ticket = joined[0][1]
        event = dims.events.get(ticket["sporting_event_id"]) if ticket else None
        ev = event or {}
        home, away = dims.teams.get(ev.get("home_team_id")), dims.teams.get(ev.get("away_team_id"))
        location = dims.locations.get(ev.get("location_id"))
        for (h, _, owner, transferor), sort_key in zip(joined, history_sort_keys(hist), strict=True):
            yield expected_ticket_sales_item(h, ticket, event, home, away, location, owner, transferor,
                                             is_latest=h is latest, sort_key=sort_key)
    for t in _rows(_TICKET, available):
        yield expected_available_item(t, dims.events.get(t["sporting_event_id"]))
    for t in _rows(_TICKET, held):
        yield expected_held_item(t, dims.events.get(t["sporting_event_id"]))


def expected_config_items(rows: Mapping[str, Iterable[Sequence[Any]]], leagues: Mapping[Any, Mapping[str, Any]]
                          ) -> Iterator[dict[str, dict]]:
    """Every `config` item, from the tuples `config_sql` returns by data_type (`leagues` by short name)."""
    for data_type, table in CONFIG_TABLES.items():
        for row in _rows(table, rows[data_type]):
            league = leagues.get(row.get("sport_league_short_name")) if data_type == "SPORT_LEAGUE_DIVISION" \
                else None
            yield expected_config_item(data_type, row, league=league)
