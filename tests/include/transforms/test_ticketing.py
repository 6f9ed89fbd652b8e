"""transforms.ticketing: the `ticket_sales` and `config` items built from a tiny hand-made dms_sample."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal

import pytest
from pyspark import RDD
from pyspark.sql import types as T

from tests.fixtures import dms_sample_small as dms
from transforms.dynamo_items import from_item
from transforms.ticketing import (
    CONFIG_COLUMNS,
    TICKET_SALES_COLUMNS,
    config_items,
    event_date,
    expected_available_item,
    expected_config_item,
    expected_ticket_sales_item,
    history_order_key,
    ticket_sales_items,
    ticket_status_owner,
    to_dynamodb_rdd,
    transaction_ts,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def frames(spark):
    """Every source table as a DataFrame with the JDBC reader's types."""
    return {t: spark.createDataFrame(dms.tuples(t), dms.SCHEMAS[t]) for t in dms.SCHEMAS}


def build_sales(frames, **overrides):
    f = {**frames, **overrides}
    return ticket_sales_items(
        f["ticket_purchase_hist"], f["sporting_event_ticket"], f["sporting_event"], f["sport_team"],
        f["sport_location"], f["person"], f["sport_division"],
    )


@pytest.fixture(scope="module")
def sales_df(frames):
    return build_sales(frames)


@pytest.fixture(scope="module")
def sales(sales_df) -> dict[tuple[int, str], dict]:
    """(ticket id, sort key) → item, from the executors."""
    items = to_dynamodb_rdd(sales_df).collect()
    keyed = {(int(i["sporting_event_ticket_id"]["N"]), i["ticket_status_owner"]["S"]): i for i in items}
    assert len(keyed) == len(items), "duplicate primary keys"
    return keyed


@pytest.fixture(scope="module")
def config(frames) -> dict[tuple[str, str], dict]:
    df = config_items(frames["person"], frames["sport_team"], frames["sport_type"], frames["sport_location"],
                      frames["sport_league"], frames["sport_division"])
    items = to_dynamodb_rdd(df).collect()
    keyed = {(i["data_type"]["S"], i["data_id"]["S"]): i for i in items}
    assert len(keyed) == len(items), "duplicate primary keys"
    return keyed


def of_ticket(sales, ticket_id: int) -> dict[str, dict]:
    return {sk: item for (tid, sk), item in sales.items() if tid == ticket_id}


def n(value) -> dict:
    return {"N": str(value)}


def s(value: str) -> dict:
    return {"S": value}


EVENT_1_ATTRS = {
    "sporting_event_date": s("2024-04-05T19:05:00"),
    "sporting_event_id": n(dms.EVENT_1),
    "sport_type_name": s("baseball"),
    "home_team_id": n(10), "home_team_name": s("Boston Red Sox"), "home_team_abbrev": s("BOS"),
    "home_team_sport_league": s("MLB|AL East"),
    "away_team_id": n(20), "away_team_name": s("Los Angeles Dodgers"), "away_team_abbrev": s("LAD"),
    "away_team_sport_league": s("MLB|NL West"),
    "home_field_id": n(1), "home_field_name": s("Fenway Park"), "home_field_city": s("Boston"),
    "home_field_seating_capacity": n(37755),
}


class TestTicketSalesFrame:
    def test_columns(self, sales_df):
        assert tuple(sales_df.columns) == TICKET_SALES_COLUMNS

    def test_types_follow_the_source(self, sales_df):
        types = dict((f.name, f.dataType) for f in sales_df.schema.fields)
        assert types["sporting_event_ticket_id"] == T.LongType()
        assert types["sporting_event_id"] == T.LongType()
        assert types["ticket_price"] == T.DecimalType(8, 2)
        assert types["seat_level"] == T.DecimalType(1, 0)
        assert types["owner_id"] == types["current_owner_id"] == types["transferred_to_id"] == T.IntegerType()
        for name in ("ticket_status_owner", "transaction_date", "sporting_event_date", "seat", "seat_key",
                     "available_key", "home_team_sport_league"):
            assert types[name] == T.StringType(), name

    def test_one_item_per_history_row_plus_one_per_unsold_ticket(self, sales):
        unsold = [t for t in dms.ROWS["sporting_event_ticket"] if t["ticketholder_id"] is None]
        assert len(sales) == len(dms.ROWS["ticket_purchase_hist"]) + len(unsold)
        assert Counter(i["item_type"]["S"] for i in sales.values()) == {"PURCHASED": 6, "TRANSFERRED": 9,
                                                                      "AVAILABLE": 2}

    def test_idempotent(self, frames, sales):
        again = to_dynamodb_rdd(build_sales(frames)).collect()
        assert sorted(map(repr, again)) == sorted(map(repr, sales.values()))

    def test_to_dynamodb_rdd_is_a_lazy_rdd(self, sales_df):
        assert isinstance(to_dynamodb_rdd(sales_df), RDD)


class TestHistoryItems:
    def test_purchase_item(self, sales):
        assert sales[(dms.T_SIMPLE, "Purchased|1|2024-03-01T10:15:30.123")] == {
            "sporting_event_ticket_id": n(dms.T_SIMPLE),
            "ticket_status_owner": s("Purchased|1|2024-03-01T10:15:30.123"),
            "item_type": s("PURCHASED"),
            "owner_id": n(1), "owner_first_name": s("Alice"), "owner_last_name": s("Adams"),
            "owner_full_name": s("Alice Adams"),
            "transaction_date": s("2024-03-01T10:15:30.123"),
            **EVENT_1_ATTRS,
            "seat_level": n(1), "seat_section": s("A"), "seat_row": s("1"), "seat": s("01"),
            "ticket_price": n("45.50"),
            "current_owner_id": n(1),
        }

    def test_transfer_item(self, sales):
        assert sales[(dms.T_CHAIN, "Transferred|2|2024-03-03T09:30:59.999")] == {
            "sporting_event_ticket_id": n(dms.T_CHAIN),
            "ticket_status_owner": s("Transferred|2|2024-03-03T09:30:59.999"),
            "item_type": s("TRANSFERRED"),
            "owner_id": n(3), "owner_first_name": s("Carol"), "owner_last_name": s("Clark"),
            "owner_full_name": s("Carol Clark"),
            "transferred_from_id": n(2), "transferred_first_name": s("Bob"), "transferred_last_name": s("Brown"),
            "transferred_full_name": s("Bob Brown"),
            "transaction_date": s("2024-03-03T09:30:59.999"),
            **EVENT_1_ATTRS,
            "seat_level": n(1), "seat_section": s("A"), "seat_row": s("1"), "seat": s("02"),
            "ticket_price": n("55.25"),  # this row's purchase_price, not the list price
            "current_owner_id": n(3),
            "transferred_to_id": n(3),
        }

    def test_transfer_chain_current_owner_only_on_latest(self, sales):
        items = of_ticket(sales, dms.T_CHAIN)
        assert sorted(items) == ["Purchased|1|2024-03-01T09:00:00.000", "Transferred|1|2024-03-02T09:00:00.005",
                                 "Transferred|2|2024-03-03T09:30:59.999"]
        assert {sk for sk, i in items.items() if "current_owner_id" in i} == {"Transferred|2|2024-03-03T09:30:59.999"}

    def test_same_person_transfers_twice_gives_two_items(self, sales):
        items = of_ticket(sales, dms.T_TWICE)
        assert sorted(items) == ["Purchased|1|2024-03-01T08:00:00.000", "Transferred|1|2024-03-02T08:00:00.000",
                                 "Transferred|1|2024-03-04T08:00:00.000", "Transferred|2|2024-03-03T08:00:00.000"]
        assert items["Transferred|1|2024-03-02T08:00:00.000"]["transferred_to_id"] == n(2)
        assert items["Transferred|1|2024-03-04T08:00:00.000"]["transferred_to_id"] == n(3)
        assert [sk for sk, i in items.items() if "current_owner_id" in i] == ["Transferred|1|2024-03-04T08:00:00.000"]
        assert items["Transferred|1|2024-03-04T08:00:00.000"]["current_owner_id"] == n(3)

    def test_rebuy_of_a_sold_ticket(self, sales):
        items = of_ticket(sales, dms.T_REBUY)
        assert sorted(items) == ["Purchased|1|2024-03-05T12:00:00.000", "Transferred|1|2024-03-06T12:00:00.000",
                                 "Transferred|2|2024-03-07T12:00:00.000"]
        current = {sk: i["current_owner_id"] for sk, i in items.items() if "current_owner_id" in i}
        assert current == {"Transferred|2|2024-03-07T12:00:00.000": n(1)}
        assert [i["owner_id"] for i in items.values()].count(n(1)) == 2

    def test_exactly_one_current_owner_per_sold_ticket(self, sales):
        per_ticket = defaultdict(list)
        for (tid, _), item in sales.items():
            if "current_owner_id" in item:
                per_ticket[tid].append(item["current_owner_id"])
        sold = {h["sporting_event_ticket_id"] for h in dms.ROWS["ticket_purchase_hist"]}
        assert set(per_ticket) == sold
        assert all(len(v) == 1 for v in per_ticket.values())

    def test_same_millisecond_tie_is_deterministic(self, sales):
        items = of_ticket(sales, dms.T_TIE)
        assert {sk: i.get("current_owner_id") for sk, i in items.items()} == {
            "Purchased|6|2024-03-10T07:00:00.001": None, "Transferred|6|2024-03-10T07:00:00.001": n(7)}

    def test_transferred_to_id_only_on_transfers(self, sales):
        for item in sales.values():
            if item["item_type"] == s("TRANSFERRED"):
                assert item["transferred_to_id"] == item["owner_id"]
                assert "transferred_from_id" in item
            else:
                assert "transferred_to_id" not in item
                assert "transferred_from_id" not in item

    def test_ids_above_2_pow_31_stay_exact(self, sales):
        item = sales[(dms.T_SIMPLE, "Purchased|1|2024-03-01T10:15:30.123")]
        assert item["sporting_event_ticket_id"] == {"N": "7147483649"}
        assert item["sporting_event_id"] == {"N": "3147483649"}
        assert from_item(item)["sporting_event_ticket_id"] == dms.T_SIMPLE

    def test_sporting_event_id_not_clobbered_by_sport_type_name(self, sales):
        for item in sales.values():
            assert item["sporting_event_id"]["N"] in {str(dms.EVENT_1), str(dms.EVENT_2)}
        assert all(i["sport_type_name"] == s("baseball") for i in sales.values() if "owner_id" in i)

    def test_nulls_are_omitted(self, sales):
        items = of_ticket(sales, dms.T_NULLS)
        bought = items["Purchased|4|2024-03-08T07:00:00.000"]
        assert "owner_first_name" not in bought
        assert bought["owner_last_name"] == s("Smith")
        moved = items["Transferred|4|2024-03-09T07:00:00.000"]  # to person 99, who does not exist
        assert moved["owner_id"] == n(99)
        assert not {"owner_first_name", "owner_last_name", "owner_full_name"} & set(moved)
        assert "transferred_first_name" not in moved
        assert moved["transferred_full_name"] == s("Smith")
        # the away team has no division: no league attribute rather than "MLB|" or NULL
        assert "away_team_sport_league" not in moved
        assert moved["home_team_sport_league"] == s("MLB|NL West")
        for item in sales.values():
            assert all(set(v) <= {"S", "N"} for v in item.values())
            assert all(v.get("S") != "" for v in item.values())

    def test_seat_and_price_keep_their_text(self, sales):
        item = sales[(dms.T_SIMPLE, "Purchased|1|2024-03-01T10:15:30.123")]
        assert item["seat"] == {"S": "01"}
        assert item["ticket_price"] == {"N": "45.50"}
        assert from_item(item)["ticket_price"] == Decimal("45.50")

    def test_history_items_have_no_available_keys(self, sales):
        assert not any("available_key" in i or "seat_key" in i for i in sales.values() if "owner_id" in i)

    def test_timestamp_ntz_source_gives_the_same_keys(self, spark, frames, sales):
        schema = dms.SCHEMAS["ticket_purchase_hist"].replace("TIMESTAMP", "TIMESTAMP_NTZ")
        rows = [tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in r)
                for r in dms.tuples("ticket_purchase_hist")]
        hist = spark.createDataFrame(rows, schema)
        keys = {(int(i["sporting_event_ticket_id"]["N"]), i["ticket_status_owner"]["S"])
                for i in to_dynamodb_rdd(build_sales(frames, ticket_purchase_hist=hist)).collect()}
        assert keys == set(sales)


class TestAvailableItems:
    def test_unsold_ticket(self, sales):
        assert sales[(dms.T_UNSOLD_1, "Available")] == {
            "sporting_event_ticket_id": n(dms.T_UNSOLD_1),
            "ticket_status_owner": s("Available"),
            "item_type": s("AVAILABLE"),
            "sporting_event_id": n(dms.EVENT_1),
            "sporting_event_date": s("2024-04-05T19:05:00"),
            "home_field_id": n(1),
            "seat_level": n(3), "seat_section": s("BLEACH"), "seat_row": s("05"), "seat": s("012"),
            "ticket_price": n("12.00"),
            "available_key": s("1|2024-04-05"),
            "seat_key": s("3|BLEACH|05|012"),
        }

    def test_missing_seat_part_omits_seat_key(self, sales):
        item = sales[(dms.T_UNSOLD_2, "Available")]
        assert "seat_key" not in item and "seat_row" not in item
        assert item["available_key"] == s("2|2024-04-06")
        assert item["ticket_price"] == n("25.10")

    def test_only_unsold_tickets(self, sales):
        assert {tid for tid, sk in sales if sk == "Available"} == {dms.T_UNSOLD_1, dms.T_UNSOLD_2}


class TestMatchesPythonRemapping:
    """The Spark items equal the pure-Python re-mapping used by validation, row by row."""

    def test_history_and_available(self, sales):
        by_id = {t: {r.get("id"): r for r in dms.ROWS[t]}
                 for t in ("sporting_event_ticket", "sporting_event", "sport_team", "sport_location", "person")}
        latest = {}
        for h in dms.ROWS["ticket_purchase_hist"]:
            tid = h["sporting_event_ticket_id"]
            if tid not in latest or history_order_key(h) > history_order_key(latest[tid]):
                latest[tid] = h
        expected = {}
        for h in dms.ROWS["ticket_purchase_hist"]:
            ticket = by_id["sporting_event_ticket"].get(h["sporting_event_ticket_id"])
            event = by_id["sporting_event"].get(ticket["sporting_event_id"])
            item = expected_ticket_sales_item(
                h, ticket, event, by_id["sport_team"].get(event["home_team_id"]),
                by_id["sport_team"].get(event["away_team_id"]), by_id["sport_location"].get(event["location_id"]),
                by_id["person"].get(h["purchased_by_id"]), by_id["person"].get(h["transferred_from_id"]),
                is_latest=latest[h["sporting_event_ticket_id"]] is h,
            )
            expected[(h["sporting_event_ticket_id"], item["ticket_status_owner"]["S"])] = item
        for t in dms.ROWS["sporting_event_ticket"]:
            if t["ticketholder_id"] is None:
                expected[(t["id"], "Available")] = expected_available_item(
                    t, by_id["sporting_event"][t["sporting_event_id"]])
        assert sales == expected

    def test_config(self, config):
        leagues = {r["short_name"]: r for r in dms.ROWS["sport_league"]}
        expected = {}
        for data_type, table in (("PERSON", "person"), ("TEAM", "sport_team"), ("SPORT_TYPE", "sport_type"),
                                 ("LOCATION", "sport_location"), ("SPORT_LEAGUE_DIVISION", "sport_division")):
            for row in dms.ROWS[table]:
                item = expected_config_item(data_type, row, league=leagues.get(row.get("sport_league_short_name")))
                expected[(data_type, item["data_id"]["S"])] = item
        assert config == expected


class TestPureHelpers:
    def test_ticket_status_owner(self):
        ts = datetime(2024, 3, 1, 10, 15, 30, 123456)
        assert ticket_status_owner(None, 5, ts) == "Purchased|5|2024-03-01T10:15:30.123"
        assert ticket_status_owner(4, 5, ts) == "Transferred|4|2024-03-01T10:15:30.123"
        assert ticket_status_owner(4, 5, "2024-03-01T10:15:30.000") == "Transferred|4|2024-03-01T10:15:30.000"

    def test_timestamp_formats(self):
        assert transaction_ts(datetime(2024, 3, 1, 0, 0)) == "2024-03-01T00:00:00.000"
        assert transaction_ts(datetime(2024, 3, 1, 0, 0, 0, 999999)) == "2024-03-01T00:00:00.999"  # truncated
        assert event_date(datetime(2024, 4, 5, 19, 5, 0, 500000)) == "2024-04-05T19:05:00"
        assert event_date(None) is None

    def test_unknown_config_type(self):
        with pytest.raises(ValueError, match="FOO"):
            expected_config_item("FOO", {})


class TestConfigItems:
    def test_columns(self, frames):
        df = config_items(frames["person"], frames["sport_team"], frames["sport_type"], frames["sport_location"],
                          frames["sport_league"], frames["sport_division"])
        assert tuple(df.columns) == CONFIG_COLUMNS

    def test_counts_per_type(self, config):
        assert Counter(t for t, _ in config) == {"PERSON": 6, "TEAM": 3, "SPORT_TYPE": 2, "LOCATION": 2,
                                                 "SPORT_LEAGUE_DIVISION": 3}

    def test_person(self, config):
        assert config[("PERSON", "1")] == {"data_type": s("PERSON"), "data_id": s("1"),
                                           "descriptive_name": s("Alice Adams"), "first_name": s("Alice"),
                                           "last_name": s("Adams")}
        assert config[("PERSON", "4")] == {"data_type": s("PERSON"), "data_id": s("4"),
                                           "descriptive_name": s("Smith"), "last_name": s("Smith")}

    def test_team(self, config):
        assert config[("TEAM", "10")] == {"data_type": s("TEAM"), "data_id": s("10"),
                                          "descriptive_name": s("Boston Red Sox"), "team_name_abbrev": s("BOS"),
                                          "team_home_field_id": n(1), "team_sport_type_name": s("baseball"),
                                          "team_sport_league": s("MLB|AL East")}
        assert config[("TEAM", "30")] == {"data_type": s("TEAM"), "data_id": s("30"),
                                          "descriptive_name": s("Expansion Team"),
                                          "team_sport_type_name": s("baseball")}

    def test_sport_type(self, config):
        assert config[("SPORT_TYPE", "baseball")] == {"data_type": s("SPORT_TYPE"), "data_id": s("baseball"),
                                                      "descriptive_name": s("Baseball")}

    def test_location(self, config):
        assert config[("LOCATION", "1")] == {"data_type": s("LOCATION"), "data_id": s("1"),
                                             "descriptive_name": s("Fenway Park"), "city": s("Boston"),
                                             "seating_capacity": n(37755), "levels": n(3), "sections": n(15)}

    def test_sport_league_division(self, config):
        assert config[("SPORT_LEAGUE_DIVISION", "MLB|AL East")] == {
            "data_type": s("SPORT_LEAGUE_DIVISION"), "data_id": s("MLB|AL East"),
            "descriptive_name": s("Major League Baseball AL East")}
        assert config[("SPORT_LEAGUE_DIVISION", "NFL|AFC East")]["descriptive_name"] == s(
            "National Football League American Football Conference East")
