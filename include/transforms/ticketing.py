"""dms_sample (SQL Server) → DynamoDB: the `ticket_sales` and `config` items, as Spark DataFrames.

Follows the shared design (`ticket_sales` keyed by ticket id and `ticket_status_owner`, the overloaded
`config` table). The DataFrame functions take the source tables as DataFrames named like the tables and
return DataFrames of plain columns whose names are the DynamoDB attribute names; `to_dynamodb_rdd` turns
rows into attribute-value items on the executors. No I/O, no session: the job script reads and writes.

The `expected_*` functions re-map single source rows (dicts keyed by source column names, as a DB cursor
returns them) in plain Python, so validation can compare sampled source rows with the items written.
pyspark is imported lazily so those work where pyspark is not installed (the Airflow workers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from transforms.dynamo_items import to_item

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import Column, DataFrame, Row

__all__ = [
    "CONFIG_COLUMNS",
    "TICKET_SALES_COLUMNS",
    "config_items",
    "event_date",
    "expected_available_item",
    "expected_config_item",
    "expected_held_item",
    "history_anomalies",
    "history_sort_keys",
    "expected_ticket_sales_item",
    "history_order_key",
    "interval_deletes",
    "league_key",
    "ticket_sales_items",
    "ticket_status_owner",
    "to_dynamodb_rdd",
    "touched_config_keys",
    "transaction_ts",
]

# Spark datetime patterns for the two timestamp formats of the design
TRANSACTION_TS_PATTERN = "yyyy-MM-dd'T'HH:mm:ss.SSS"  # sort key part and transaction_date
EVENT_TS_PATTERN = "yyyy-MM-dd'T'HH:mm:ss"  # sporting_event_date
DATE_PATTERN = "yyyy-MM-dd"  # available_key date part

# Output columns (= DynamoDB attribute names), in order. Keys first.
TICKET_SALES_COLUMNS = (
    "sporting_event_ticket_id", "ticket_status_owner", "item_type",
    "owner_id", "owner_first_name", "owner_last_name", "owner_full_name",
    "transferred_from_id", "transferred_first_name", "transferred_last_name", "transferred_full_name",
    "transaction_date", "sporting_event_date", "sporting_event_id", "sport_type_name",
    "home_team_id", "home_team_name", "home_team_abbrev", "home_team_sport_league",
    "away_team_id", "away_team_name", "away_team_abbrev", "away_team_sport_league",
    "home_field_id", "home_field_name", "home_field_city", "home_field_seating_capacity",
    "seat_level", "seat_section", "seat_row", "seat", "ticket_price",
    "current_owner_id", "transferred_to_id", "available_key", "seat_key",
)
AVAILABLE_COLUMNS = (
    "sporting_event_ticket_id", "ticket_status_owner", "item_type", "sporting_event_id", "sporting_event_date",
    "home_field_id", "seat_level", "seat_section", "seat_row", "seat", "ticket_price", "available_key", "seat_key",
)
CONFIG_COLUMNS = (
    "data_type", "data_id", "descriptive_name",
    "first_name", "last_name",  # PERSON
    "team_name_abbrev", "team_home_field_id", "team_sport_type_name", "team_sport_league",  # TEAM
    "city", "seating_capacity", "levels", "sections",  # LOCATION
)

PURCHASED, TRANSFERRED, AVAILABLE, HELD = "PURCHASED", "TRANSFERRED", "AVAILABLE", "HELD"
# Source anomalies the ticket_sales job reports (never failures: the history is a log, not a chain).
ANOMALIES = ("history_rows_sharing_a_time", "transfers_not_chaining", "holder_not_last_buyer",
             "sold_without_history")
PRICE_PRECISION, PRICE_SCALE = 8, 2  # numeric(8,2)
_CENT = Decimal("0.01")


# --- pure Python: formats and single-row re-mapping (validation) ---------------------------------------


def transaction_ts(ts: datetime | str) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmm`, milliseconds truncated like Spark's `SSS`; a string is taken as formatted."""
    if isinstance(ts, str):
        return ts
    return f"{ts:%Y-%m-%dT%H:%M:%S}.{ts.microsecond // 1000:03d}"


def event_date(start: datetime | str | None) -> str | None:
    """`sporting_event_date`: the event start as `YYYY-MM-DDTHH:MM:SS`."""
    if start is None or isinstance(start, str):
        return start
    return f"{start:%Y-%m-%dT%H:%M:%S}"


def ticket_status_owner(transferred_from_id: int | None, purchased_by_id: int, ts: datetime | str) -> str:
    """The sort key of a history item: `Purchased|<buyer>|<ts>` or `Transferred|<previous owner>|<ts>`."""
    if transferred_from_id is None:
        return f"Purchased|{purchased_by_id}|{transaction_ts(ts)}"
    return f"Transferred|{transferred_from_id}|{transaction_ts(ts)}"


def league_key(league_short_name: str | None, division_short_name: str | None) -> str | None:
    """`<league>|<division>`; None (attribute omitted) when either part is missing."""
    if league_short_name is None or division_short_name is None:
        return None
    return f"{league_short_name}|{division_short_name}"


def history_order_key(hist: Mapping[str, Any]) -> tuple:
    """Sort key of a ticket's history rows: time, buyer, then the transferor (none before any). The greatest is
    the latest; it carries the ticket's `current_owner_id`. Rows of one ticket often share a time, so the
    order needs the other columns to be total (and the same as the job's window order)."""
    from_id = hist["transferred_from_id"]
    return hist["transaction_date_time"], hist["purchased_by_id"], from_id is not None, from_id or 0


def history_sort_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The `ticket_status_owner` of each history row of ONE ticket, unique and deterministic.

    `Purchased|<buyer>|<ts>` or `Transferred|<transferor>|<ts>`; when that collides within the ticket (two
    transfers from one person at one time, to different buyers), `|<buyer>` is added; rows still alike (a
    source without a primary key) get `|<n>`, numbered by price in the order `history_order_key` gives.
    """
    base = [ticket_status_owner(r["transferred_from_id"], r["purchased_by_id"], r["transaction_date_time"])
            for r in rows]
    keys = [f"{b}|{r['purchased_by_id']}" if base.count(b) > 1 else b for b, r in zip(base, rows, strict=True)]
    out = list(keys)
    for k in set(keys):
        same = sorted((i for i, x in enumerate(keys) if x == k),
                      key=lambda i: (_price(rows[i]["purchase_price"]) is None, _price(rows[i]["purchase_price"])
                                     or 0, history_order_key(rows[i])))
        if len(same) > 1:
            for n, i in enumerate(same, 1):
                out[i] = f"{k}|{n}"
    return out


def _price(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(_CENT)


def _seat_level(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal(1))


def _iso_date(value: date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()[:10]


def _joined(*parts: Any, sep: str = "|") -> str | None:
    if any(p is None for p in parts):
        return None
    return sep.join(str(p) for p in parts)


def expected_ticket_sales_item(
    hist: Mapping[str, Any],
    ticket: Mapping[str, Any] | None,
    event: Mapping[str, Any] | None,
    home_team: Mapping[str, Any] | None,
    away_team: Mapping[str, Any] | None,
    location: Mapping[str, Any] | None,
    owner: Mapping[str, Any] | None,
    transferred_from: Mapping[str, Any] | None,
    *,
    is_latest: bool,
    sort_key: str | None = None,
) -> dict[str, dict]:
    """The `ticket_sales` item one `ticket_purchase_hist` row should become (DynamoDB attribute values).

    Related rows are source rows (None when missing); `is_latest` says whether `hist` is the greatest
    of its ticket by `history_order_key`: that item carries `current_owner_id`, the ticket's
    `ticketholder_id` (the source's own answer to who holds it now, whatever the history says).
    `sort_key`: the row's `history_sort_keys` entry (default: without collisions).
    """
    tk, ev, home, away = ticket or {}, event or {}, home_team or {}, away_team or {}
    loc, own, prev = location or {}, owner or {}, transferred_from or {}
    from_id, buyer = hist["transferred_from_id"], hist["purchased_by_id"]
    row = {
        "sporting_event_ticket_id": hist["sporting_event_ticket_id"],
        "ticket_status_owner": sort_key or ticket_status_owner(from_id, buyer, hist["transaction_date_time"]),
        "item_type": PURCHASED if from_id is None else TRANSFERRED,
        "owner_id": buyer,
        "owner_first_name": own.get("first_name"),
        "owner_last_name": own.get("last_name"),
        "owner_full_name": own.get("full_name"),
        "transferred_from_id": from_id,
        "transferred_first_name": prev.get("first_name") if from_id is not None else None,
        "transferred_last_name": prev.get("last_name") if from_id is not None else None,
        "transferred_full_name": prev.get("full_name") if from_id is not None else None,
        "transaction_date": transaction_ts(hist["transaction_date_time"]),
        "sporting_event_date": event_date(ev.get("start_date_time")),
        "sporting_event_id": tk.get("sporting_event_id"),
        "sport_type_name": ev.get("sport_type_name"),
        "home_team_id": ev.get("home_team_id"),
        "home_team_name": home.get("name"),
        "home_team_abbrev": home.get("abbreviated_name"),
        "home_team_sport_league": league_key(home.get("sport_league_short_name"),
                                             home.get("sport_division_short_name")),
        "away_team_id": ev.get("away_team_id"),
        "away_team_name": away.get("name"),
        "away_team_abbrev": away.get("abbreviated_name"),
        "away_team_sport_league": league_key(away.get("sport_league_short_name"),
                                             away.get("sport_division_short_name")),
        "home_field_id": ev.get("location_id"),
        "home_field_name": loc.get("name"),
        "home_field_city": loc.get("city"),
        "home_field_seating_capacity": loc.get("seating_capacity"),
        "seat_level": _seat_level(tk.get("seat_level")),
        "seat_section": tk.get("seat_section"),
        "seat_row": tk.get("seat_row"),
        "seat": tk.get("seat"),
        "ticket_price": _price(hist["purchase_price"]),
        "current_owner_id": tk.get("ticketholder_id") if is_latest else None,
        "transferred_to_id": buyer if from_id is not None else None,
    }
    return to_item(row)


def _ticket_item(ticket: Mapping[str, Any], event: Mapping[str, Any] | None, status: str, item_type: str,
                 **extra: Any) -> dict[str, dict]:
    """The item of a ticket itself (not of a history row): its seat, price and event, plus `extra`."""
    ev = event or {}
    row = {
        "sporting_event_ticket_id": ticket["id"],
        "ticket_status_owner": status,
        "item_type": item_type,
        "sporting_event_id": ticket.get("sporting_event_id"),
        "sporting_event_date": event_date(ev.get("start_date_time")),
        "home_field_id": ev.get("location_id"),
        "seat_level": _seat_level(ticket.get("seat_level")),
        "seat_section": ticket.get("seat_section"),
        "seat_row": ticket.get("seat_row"),
        "seat": ticket.get("seat"),
        "ticket_price": _price(ticket.get("ticket_price")),
        **extra,
    }
    return to_item(row)


def expected_available_item(ticket: Mapping[str, Any], event: Mapping[str, Any] | None) -> dict[str, dict]:
    """The `Available` item of an unsold ticket (`ticketholder_id` IS NULL)."""
    seat_level = _seat_level(ticket.get("seat_level"))
    return _ticket_item(
        ticket, event, "Available", AVAILABLE,
        available_key=_joined(ticket.get("sport_location_id"), _iso_date((event or {}).get("start_date"))),
        seat_key=_joined(seat_level, ticket.get("seat_section"), ticket.get("seat_row"), ticket.get("seat")))


def expected_held_item(ticket: Mapping[str, Any], event: Mapping[str, Any] | None) -> dict[str, dict]:
    """The `Held` item of a sold ticket with no history row: it alone carries the holder (`current_owner_id`)."""
    return _ticket_item(ticket, event, "Held", HELD, current_owner_id=ticket.get("ticketholder_id"))


def expected_config_item(
    data_type: str, row: Mapping[str, Any], *, league: Mapping[str, Any] | None = None
) -> dict[str, dict]:
    """The `config` item of one source row; `data_type` is PERSON, TEAM, SPORT_TYPE, LOCATION or
    SPORT_LEAGUE_DIVISION (then `row` is a sport_division row and `league` its sport_league row)."""
    if data_type == "PERSON":
        out = {"data_id": str(row["id"]), "descriptive_name": row.get("full_name"),
               "first_name": row.get("first_name"), "last_name": row.get("last_name")}
    elif data_type == "TEAM":
        out = {"data_id": str(row["id"]), "descriptive_name": row.get("name"),
               "team_name_abbrev": row.get("abbreviated_name"), "team_home_field_id": row.get("home_field_id"),
               "team_sport_type_name": row.get("sport_type_name"),
               "team_sport_league": league_key(row.get("sport_league_short_name"),
                                               row.get("sport_division_short_name"))}
    elif data_type == "SPORT_TYPE":
        out = {"data_id": row["name"], "descriptive_name": row.get("description")}
    elif data_type == "LOCATION":
        out = {"data_id": str(row["id"]), "descriptive_name": row.get("name"), "city": row.get("city"),
               "seating_capacity": row.get("seating_capacity"), "levels": row.get("levels"),
               "sections": row.get("sections")}
    elif data_type == "SPORT_LEAGUE_DIVISION":
        out = {"data_id": league_key(row["sport_league_short_name"], row["short_name"]),
               "descriptive_name": _joined((league or {}).get("long_name"), row.get("long_name"), sep=" ")}
    else:
        raise ValueError(f"unknown config data_type {data_type!r}")
    return to_item({"data_type": data_type, **out})


# --- Spark --------------------------------------------------------------------------------------------


def _interleave(columns: list[Column], sep: Column) -> list[Column]:
    """[a, b, c] → [a, sep, b, sep, c], for `concat` (null as soon as one part is null, unlike `concat_ws`)."""
    out = [columns[0]]
    for c in columns[1:]:
        out += [sep, c]
    return out


def _league_col() -> Column:
    """`<league>|<division>` of a sport_team row."""
    from pyspark.sql import functions as F

    return F.concat(F.col("sport_league_short_name"), F.lit("|"), F.col("sport_division_short_name"))


def _events(event: DataFrame, team: DataFrame, location: DataFrame) -> DataFrame:
    """One row per event with the home/away team and location attributes, under their item names."""
    from pyspark.sql import functions as F

    def side(name: str) -> DataFrame:
        return team.select(
            F.col("id").alias(f"{name}_team_id"),
            F.col("name").alias(f"{name}_team_name"),
            F.col("abbreviated_name").alias(f"{name}_team_abbrev"),
            _league_col().alias(f"{name}_team_sport_league"),
        )

    loc = location.select(
        F.col("id").alias("home_field_id"),
        F.col("name").alias("home_field_name"),
        F.col("city").alias("home_field_city"),
        F.col("seating_capacity").alias("home_field_seating_capacity"),
    )
    ev = event.select(
        F.col("id").cast("long").alias("sporting_event_id"),
        "sport_type_name",
        "home_team_id",
        "away_team_id",
        F.col("location_id").alias("home_field_id"),
        F.date_format("start_date_time", EVENT_TS_PATTERN).alias("sporting_event_date"),
        F.date_format("start_date", DATE_PATTERN).alias("_event_start_date"),
    )
    return (ev.join(side("home"), "home_team_id", "left")
            .join(side("away"), "away_team_id", "left")
            .join(loc, "home_field_id", "left"))


def _person(person: DataFrame, id_name: str, prefix: str) -> DataFrame:
    from pyspark.sql import functions as F

    return person.select(
        F.col("id").alias(id_name),
        F.col("first_name").alias(f"{prefix}_first_name"),
        F.col("last_name").alias(f"{prefix}_last_name"),
        F.col("full_name").alias(f"{prefix}_full_name"),
    )


def ticket_sales_items(
    hist: DataFrame,
    ticket: DataFrame,
    event: DataFrame,
    team: DataFrame,
    location: DataFrame,
    person: DataFrame,
    division: DataFrame | None = None,
    *,
    window: tuple[str | None, str | None] | None = None,
    snapshot: bool = True,
) -> DataFrame:
    """All `ticket_sales` items: one per `ticket_purchase_hist` row plus one `Available` per unsold ticket
    and one `Held` per sold ticket without history.

    Columns are `TICKET_SALES_COLUMNS` (null = attribute omitted). Every join is a left join, so a
    missing person, ticket, event, team or location never drops a history row: its attributes are
    just absent. `division` is accepted for symmetry with the source set but not needed: a team row
    carries both short names of `<league>|<division>`.

    An interval load: `hist` holds the rows up to the point the target will reflect (the latest end loaded),
    and `window` = (start, end) (`intervals.sql_timestamp` text, None unbounded) the rows this run writes.
    Their tickets' previous latest row (the latest before start) is written again, without the
    `current_owner_id` it carried: the attribute moves to the new latest row. `snapshot` False leaves out the
    `Available` and `Held` items, which the first load of a table writes; later ones only delete what their
    interval ended (`interval_deletes`).
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    del division  # see docstring
    price = DecimalType(PRICE_PRECISION, PRICE_SCALE)
    events = _events(event, team, location)
    tickets = ticket.select(
        F.col("id").cast("long").alias("sporting_event_ticket_id"),
        F.col("sporting_event_id").cast("long").alias("sporting_event_id"),
        "sport_location_id",
        F.col("seat_level").cast(DecimalType(1, 0)).alias("seat_level"),
        "seat_section",
        "seat_row",
        "seat",
        "ticketholder_id",
        F.col("ticket_price").cast(price).alias("ticket_price"),
    ).join(events, "sporting_event_id", "left")

    history = _history_rows(hist, price)
    if window is not None:
        history = _interval_rows(history, *window)
    holders = tickets.select("sporting_event_ticket_id", F.col("ticketholder_id").alias("_holder"))
    history = (
        history
        .join(holders, "sporting_event_ticket_id", "left")
        .withColumn("current_owner_id", F.when(F.col("_is_latest"), F.col("_holder")))
        .drop("_holder")
        .join(tickets.drop("ticket_price", "ticketholder_id"), "sporting_event_ticket_id", "left")
        .join(_person(person, "owner_id", "owner"), "owner_id", "left")
        .join(_person(person, "transferred_from_id", "transferred"), "transferred_from_id", "left")
    )
    held = (tickets.where(F.col("ticketholder_id").isNotNull())
            .join(hist.select(F.col("sporting_event_ticket_id").cast("long").alias("sporting_event_ticket_id")),
                  "sporting_event_ticket_id", "left_anti")
            .select("sporting_event_ticket_id", F.lit("Held").alias("ticket_status_owner"),
                    F.lit(HELD).alias("item_type"), "sporting_event_id", "sporting_event_date", "home_field_id",
                    "seat_level", "seat_section", "seat_row", "seat", "ticket_price",
                    F.col("ticketholder_id").alias("current_owner_id")))

    available = tickets.where(F.col("ticketholder_id").isNull()).select(
        "sporting_event_ticket_id",
        F.lit("Available").alias("ticket_status_owner"),
        F.lit(AVAILABLE).alias("item_type"),
        "sporting_event_id",
        "sporting_event_date",
        "home_field_id",
        "seat_level",
        "seat_section",
        "seat_row",
        "seat",
        "ticket_price",
        F.concat(F.col("sport_location_id").cast("string"), F.lit("|"), F.col("_event_start_date"))
        .alias("available_key"),
        F.concat(*_interleave([F.col(c).cast("string") for c in ("seat_level", "seat_section", "seat_row", "seat")],
                              F.lit("|"))).alias("seat_key"),
    )

    history = history.select(*[c for c in TICKET_SALES_COLUMNS if c not in ("available_key", "seat_key")])
    if not snapshot:
        return history.withColumn("available_key", F.lit(None).cast("string")) \
            .withColumn("seat_key", F.lit(None).cast("string")).select(*TICKET_SALES_COLUMNS)
    return (history.unionByName(available, allowMissingColumns=True)
            .unionByName(held, allowMissingColumns=True)
            .select(*TICKET_SALES_COLUMNS))


def _in_window(ts: Column, start: str | None, end: str | None) -> Column:
    """`start <= ts < end` (bounds as `intervals.sql_timestamp` text, read in the session's UTC)."""
    from pyspark.sql import functions as F

    cond = F.lit(True)
    if start is not None:
        cond = cond & (ts >= F.to_timestamp(F.lit(start)))
    if end is not None:
        cond = cond & (ts < F.to_timestamp(F.lit(end)))
    return cond


def _interval_rows(history: DataFrame, start: str | None, end: str | None) -> DataFrame:
    """The history rows of the window, plus the previous latest row (before `start`) of each ticket the window
    touches: rewritten because `current_owner_id` leaves it."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ticket_id, ts = "sporting_event_ticket_id", F.col("transaction_date_time")
    before = ts < F.to_timestamp(F.lit(start)) if start is not None else F.lit(False)
    latest_first = Window.partitionBy(ticket_id, "_before").orderBy(*_history_order("owner_id", latest_first=True))
    return (history.withColumn("_inside", _in_window(ts, start, end)).withColumn("_before", before)
            .withColumn("_touched", F.max(F.col("_inside").cast("int")).over(Window.partitionBy(ticket_id)) == 1)
            .withColumn("_n", F.row_number().over(latest_first))
            .where(F.col("_inside") | (F.col("_touched") & F.col("_before") & (F.col("_n") == 1)))
            .drop("_inside", "_before", "_touched", "_n"))


def interval_deletes(hist: DataFrame, ticket: DataFrame, start: str | None, end: str | None) -> DataFrame:
    """Keys (`sporting_event_ticket_id`, `ticket_status_owner`) an interval load deletes: the `Held` item of
    every ticket whose history the window brings, and the `Available` item of those that are sold."""
    from pyspark.sql import functions as F

    ticket_id = "sporting_event_ticket_id"
    touched = (hist.where(_in_window(F.col("transaction_date_time"), start, end))
               .select(F.col(ticket_id).cast("long").alias(ticket_id)).distinct())
    sold = ticket.where(F.col("ticketholder_id").isNotNull()).select(F.col("id").cast("long").alias(ticket_id))
    sort_key = "ticket_status_owner"
    return (touched.select(ticket_id, F.lit("Held").alias(sort_key))
            .unionByName(touched.join(sold, ticket_id).select(ticket_id, F.lit("Available").alias(sort_key))))


def touched_config_keys(hist: DataFrame, ticket: DataFrame, event: DataFrame, team: DataFrame,
                        start: str | None, end: str | None) -> DataFrame:
    """(`data_type`, `data_id`) of the config items an interval touches: the persons of its history rows, and
    the teams, venues, sport types and league divisions of their tickets' events."""
    from pyspark.sql import functions as F

    rows = hist.where(_in_window(F.col("transaction_date_time"), start, end))
    events = (rows.select(F.col("sporting_event_ticket_id").cast("long").alias("id")).distinct()
              .join(ticket.select(F.col("id").cast("long").alias("id"), "sporting_event_id"), "id")
              .join(event.select(F.col("id").alias("sporting_event_id"), "home_team_id", "away_team_id",
                                 "location_id", "sport_type_name"), "sporting_event_id"))
    teams = events.select(F.col("home_team_id").alias("id")).union(events.select("away_team_id")).distinct()

    def keys(data_type: str, ids: DataFrame) -> DataFrame:
        return ids.select(F.lit(data_type).alias("data_type"), F.col(ids.columns[0]).cast("string").alias("data_id"))

    return (keys("PERSON", rows.select("purchased_by_id").union(rows.select("transferred_from_id")))
            .union(keys("TEAM", teams))
            .union(keys("LOCATION", events.select("location_id")))
            .union(keys("SPORT_TYPE", events.select("sport_type_name")))
            .union(keys("SPORT_LEAGUE_DIVISION", teams.join(team, "id").select(_league_col())))
            .where(F.col("data_id").isNotNull()).distinct())


def _history_order(buyer: str, *, latest_first: bool = False) -> list[Column]:
    """`history_order_key` as Spark sort columns (`buyer`: the name the buyer column has in the frame)."""
    from pyspark.sql import functions as F

    ts, by, from_id = F.col("transaction_date_time"), F.col(buyer), F.col("transferred_from_id")
    if latest_first:
        return [ts.desc(), by.desc(), from_id.desc_nulls_last()]
    return [ts.asc(), by.asc(), from_id.asc_nulls_first()]


def _history_rows(hist: DataFrame, price: Any) -> DataFrame:
    """History rows under their item names, with `ticket_status_owner` (`history_sort_keys`), `item_type`,
    `transferred_to_id` and `_is_latest` (the greatest row of its ticket by `history_order_key`)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ticket_id = "sporting_event_ticket_id"
    order = _history_order("owner_id")
    latest_first = Window.partitionBy(ticket_id).orderBy(*_history_order("owner_id", latest_first=True))
    ts = F.date_format("transaction_date_time", TRANSACTION_TS_PATTERN)
    is_transfer = F.col("transferred_from_id").isNotNull()
    base = F.when(is_transfer, F.concat(F.lit("Transferred|"), F.col("transferred_from_id").cast("string"),
                                        F.lit("|"), ts)
                  ).otherwise(F.concat(F.lit("Purchased|"), F.col("owner_id").cast("string"), F.lit("|"), ts))
    rows = (
        hist.select(
            F.col(ticket_id).cast("long").alias(ticket_id),
            F.col("purchased_by_id").alias("owner_id"),
            "transferred_from_id",
            "transaction_date_time",
            F.col("purchase_price").cast(price).alias("ticket_price"),
        )
        .withColumn("transaction_date", ts)
        .withColumn("item_type", F.when(is_transfer, F.lit(TRANSFERRED)).otherwise(F.lit(PURCHASED)))
        .withColumn("_base", base)
        .withColumn("_key", F.when(F.count(F.lit(1)).over(Window.partitionBy(ticket_id, "_base")) > 1,
                                   F.concat(F.col("_base"), F.lit("|"), F.col("owner_id").cast("string")))
                    .otherwise(F.col("_base")))
    )
    alike = Window.partitionBy(ticket_id, "_key")
    return (
        rows.withColumn("ticket_status_owner", F.when(
            F.count(F.lit(1)).over(alike) > 1,
            F.concat(F.col("_key"), F.lit("|"), F.row_number().over(
                alike.orderBy(F.col("ticket_price").asc_nulls_last(), *order)).cast("string")),
        ).otherwise(F.col("_key")))
        .withColumn("_is_latest", F.row_number().over(latest_first) == 1)
        .withColumn("transferred_to_id", F.when(is_transfer, F.col("owner_id")))
        .drop("_base", "_key")
    )


def history_anomalies(hist: DataFrame, ticket: DataFrame) -> dict[str, DataFrame]:
    """Per `ANOMALIES` name, the example keys (one string column `key`) of the source rows showing it.

    The history is a log of what happened, so none of these fails a run; the job reports their counts.
    `history_rows_sharing_a_time`: rows whose ticket and `transaction_date_time` occur more than once.
    `transfers_not_chaining`: transfers whose `transferred_from_id` is not the buyer of the ticket's previous
    row (`history_order_key` order; the first row of a ticket has none). `holder_not_last_buyer`: sold tickets
    whose `ticketholder_id` is not the buyer of their latest row. `sold_without_history`: sold tickets with no
    history row.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ticket_id = "sporting_event_ticket_id"
    h = hist.select(F.col(ticket_id).cast("long").alias(ticket_id), "purchased_by_id", "transferred_from_id",
                    "transaction_date_time")
    order = Window.partitionBy(ticket_id).orderBy(*_history_order("purchased_by_id"))
    latest_first = Window.partitionBy(ticket_id).orderBy(*_history_order("purchased_by_id", latest_first=True))
    row_key = F.concat_ws("|", F.col(ticket_id).cast("string"), F.col("purchased_by_id").cast("string"),
                          F.date_format("transaction_date_time", TRANSACTION_TS_PATTERN))
    sold = ticket.where(F.col("ticketholder_id").isNotNull()).select(
        F.col("id").cast("long").alias(ticket_id), F.col("ticketholder_id"))
    latest = h.withColumn("_n", F.row_number().over(latest_first)).where(F.col("_n") == 1)
    return {
        "history_rows_sharing_a_time": h.withColumn(
            "_same", F.count(F.lit(1)).over(Window.partitionBy(ticket_id, "transaction_date_time")))
        .where(F.col("_same") > 1).select(row_key.alias("key")),
        "transfers_not_chaining": h.withColumn("_previous", F.lag("purchased_by_id").over(order))
        .where(F.col("transferred_from_id").isNotNull()
               & (F.col("_previous").isNull() | (F.col("_previous") != F.col("transferred_from_id"))))
        .select(row_key.alias("key")),
        "holder_not_last_buyer": latest.join(sold, ticket_id)
        .where(F.col("ticketholder_id") != F.col("purchased_by_id"))
        .select(F.col(ticket_id).cast("string").alias("key")),
        "sold_without_history": sold.join(h.select(ticket_id), ticket_id, "left_anti")
        .select(F.col(ticket_id).cast("string").alias("key")),
    }


def config_items(
    person: DataFrame,
    team: DataFrame,
    sport_type: DataFrame,
    location: DataFrame,
    league: DataFrame,
    division: DataFrame,
) -> DataFrame:
    """All `config` items (PERSON, TEAM, SPORT_TYPE, LOCATION, SPORT_LEAGUE_DIVISION) as `CONFIG_COLUMNS`.

    Type-specific columns are null on the other types' rows (attribute omitted).
    """
    from pyspark.sql import functions as F

    def typed(name: str) -> Column:
        return F.lit(name).alias("data_type")

    persons = person.select(
        typed("PERSON"), F.col("id").cast("string").alias("data_id"), F.col("full_name").alias("descriptive_name"),
        "first_name", "last_name",
    )
    teams = team.select(
        typed("TEAM"), F.col("id").cast("string").alias("data_id"), F.col("name").alias("descriptive_name"),
        F.col("abbreviated_name").alias("team_name_abbrev"),
        F.col("home_field_id").alias("team_home_field_id"),
        F.col("sport_type_name").alias("team_sport_type_name"),
        _league_col().alias("team_sport_league"),
    )
    sport_types = sport_type.select(
        typed("SPORT_TYPE"), F.col("name").alias("data_id"), F.col("description").alias("descriptive_name"))
    locations = location.select(
        typed("LOCATION"), F.col("id").cast("string").alias("data_id"), F.col("name").alias("descriptive_name"),
        "city", "seating_capacity", "levels", "sections",
    )
    leagues = league.select(F.col("short_name").alias("sport_league_short_name"),
                            F.col("long_name").alias("_league_long_name"))
    divisions = division.join(leagues, "sport_league_short_name", "left").select(
        typed("SPORT_LEAGUE_DIVISION"),
        F.concat(F.col("sport_league_short_name"), F.lit("|"), F.col("short_name")).alias("data_id"),
        F.concat(F.col("_league_long_name"), F.lit(" "), F.col("long_name")).alias("descriptive_name"),
    )
    out = persons
    for part in (teams, sport_types, locations, divisions):
        out = out.unionByName(part, allowMissingColumns=True)
    return out.select(*CONFIG_COLUMNS)


def _row_to_item(row: Row) -> dict[str, dict]:
    return to_item(row.asDict())


def to_dynamodb_rdd(df: DataFrame) -> RDD:
    """Rows → DynamoDB items (attribute-value dicts, nulls omitted), mapped lazily on the executors."""
    return df.rdd.map(_row_to_item)
