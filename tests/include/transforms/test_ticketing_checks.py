"""transforms.ticketing_checks: dialect-neutral SQL, deterministic samples, expected items, access patterns."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest

from tests.fixtures import dms_sample_small as dms
from transforms import ticketing_checks as tc
from transforms.dynamo_items import to_item
from transforms.ticketing import expected_ticket_sales_item

SCHEMA = "dbo"
# what must never appear in SQL that has to run on SQL Server and PostgreSQL alike
# ANSI-quoted identifiers ("schema"."table") are portable: pymssql sets QUOTED_IDENTIFIER ON, as SQL Server drivers do.
NOT_PORTABLE = re.compile(r"\bLIMIT\b|\bTOP\b|\bOFFSET\b|\[|::|\|\||\bCONCAT\b|\bILIKE\b|\bNOW\(", re.IGNORECASE)


def all_sql() -> list[tuple[str, tuple]]:
    """Every statement the validators can send, with its parameters."""
    sample = tc.Sample(29)
    out = [(sql, ()) for sql in tc.source_count_queries(SCHEMA).values()]
    out += [(tc.history_sample_sql(SCHEMA, sample), ()), (tc.available_sample_sql(SCHEMA, sample), ())]
    out += [(tc.config_sample_sql(SCHEMA, t, sample), ()) for t in tc.CONFIG_TABLES]
    out += [(tc.in_list_sql(SCHEMA, t, "id", 3), (1, 2, 3)) for t in ("person", "sporting_event")]
    out += [(tc.select_sql(SCHEMA, "sport_league"), ())]
    patterns = [tc.owned_tickets(SCHEMA, 1), tc.available_tickets(SCHEMA, 2, date(2024, 4, 2)),
                tc.transferred_from(SCHEMA, 3), tc.transferred_to(SCHEMA, 4), tc.config_by_name(SCHEMA, "x")]
    out += [(q.sql, q.params) for p in patterns for q in p.source]
    return out


class TestSql:
    @pytest.mark.parametrize("name", ["dbo", "dms_sample", "t_0a1b2c", "_x"])
    def test_identifier_ok(self, name: str) -> None:
        assert tc.check_identifier(name) == name

    @pytest.mark.parametrize("name", ["", "1abc", "dbo.x", 'a"b', "a;drop table x", "a b", "[dbo]", None])
    def test_identifier_rejected(self, name: str) -> None:
        with pytest.raises(ValueError, match="not a plain SQL identifier"):
            tc.check_identifier(name)

    def test_bad_schema_never_reaches_sql(self) -> None:
        with pytest.raises(ValueError):
            tc.source_count_queries("dbo; DROP TABLE person")
        with pytest.raises(ValueError):
            tc.owned_tickets("x--", 1)

    def test_count_queries(self) -> None:
        q = tc.source_count_queries("dbo")
        hist = ("(sporting_event_ticket_id IS NULL OR sporting_event_ticket_id = FLOOR(sporting_event_ticket_id)) AND "
                "(purchased_by_id IS NULL OR purchased_by_id = FLOOR(purchased_by_id)) AND "
                "(transferred_from_id IS NULL OR transferred_from_id = FLOOR(transferred_from_id))")
        assert q[("ticket_sales", "PURCHASED")] == (
            f'SELECT COUNT(*) FROM "dbo"."ticket_purchase_hist" WHERE transferred_from_id IS NULL AND ({hist})')
        assert q[("ticket_sales", "TRANSFERRED")] == (
            f'SELECT COUNT(*) FROM "dbo"."ticket_purchase_hist" WHERE transferred_from_id IS NOT NULL AND ({hist})')
        assert q[("ticket_sales", "AVAILABLE")].startswith(
            'SELECT COUNT(*) FROM "dbo"."sporting_event_ticket" WHERE ticketholder_id IS NULL AND ((id IS NULL OR ')
        assert q[("ticket_sales", "HELD")].startswith(
            'SELECT COUNT(*) FROM "dbo"."sporting_event_ticket" WHERE ticketholder_id IS NOT NULL AND NOT EXISTS '
            '(SELECT 1 FROM "dbo"."ticket_purchase_hist" h WHERE h.sporting_event_ticket_id = '
            '"dbo"."sporting_event_ticket".id AND ((h.sporting_event_ticket_id IS NULL OR ')
        assert q[("config", "SPORT_TYPE")] == 'SELECT COUNT(*) FROM "dbo"."sport_type" WHERE 1 = 1'  # no integers
        assert q[("config", "PERSON")] == 'SELECT COUNT(*) FROM "dbo"."person" WHERE ((id IS NULL OR id = FLOOR(id)))'
        assert set(q) == {*(("ticket_sales", t) for t in ("PURCHASED", "TRANSFERRED", "AVAILABLE", "HELD")),
                          *(("config", t) for t in ("PERSON", "TEAM", "SPORT_TYPE", "LOCATION",
                                                    "SPORT_LEAGUE_DIVISION"))}

    def test_type_attribute(self) -> None:
        assert (tc.type_attribute("ticket_sales"), tc.type_attribute("config")) == ("item_type", "data_type")

    @pytest.mark.parametrize("sql,params", all_sql())
    def test_portable(self, sql: str, params: tuple) -> None:
        assert not NOT_PORTABLE.search(sql), sql
        assert sql.startswith("SELECT ")
        placeholders = sql.count("%s")
        assert placeholders == len(params)
        if params:  # with parameters both drivers read every % as a placeholder: no modulo then
            assert sql.count("%") == placeholders, sql
        else:
            assert "%s" not in sql

    def test_in_list_and_chunks(self) -> None:
        assert tc.in_list_sql("dbo", "person", "id", 2) == (
            'SELECT id, full_name, last_name, first_name FROM "dbo"."person" WHERE id IN (%s, %s)')
        with pytest.raises(ValueError):
            tc.in_list_sql("dbo", "person", "id", 0)
        assert list(tc.chunks([5, 3, None, 3, 1, 4], size=2)) == [[1, 3], [4, 5]]
        assert max(len(c) for c in tc.chunks(range(2000))) == tc.IN_CHUNK < 2100


class TestSample:
    def test_everything_when_it_fits(self) -> None:
        assert tc.sample_for(150, 200) == tc.Sample(1)
        assert tc.sample_for(5, 0) == tc.Sample(1)
        assert tc.Sample(1).where("id") == "1 = 1"

    @pytest.mark.parametrize("count,size,modulus", [(5083, 200, 29), (4906, 200, 29), (1000, 100, 11),
                                                    (400, 200, 2), (10**7, 200, 50021)])
    def test_prime_modulus(self, count: int, size: int, modulus: int) -> None:
        s = tc.sample_for(count, size)
        assert s == tc.Sample(modulus, 0)
        assert all(modulus % d for d in range(2, modulus))
        assert count / s.modulus <= size

    def test_predicate_and_holds(self) -> None:
        s = tc.Sample(29)
        # FLOOR and the cast: ids declared DOUBLE PRECISION or NUMERIC (no % on them) sample like integers
        assert s.where("sporting_event_ticket_id") == "CAST(FLOOR(sporting_event_ticket_id) AS BIGINT) % 29 = 0"
        assert tc.history_sample_sql("dbo", s) == (
            "SELECT sporting_event_ticket_id, purchased_by_id, transaction_date_time, transferred_from_id, "
            'purchase_price FROM "dbo"."ticket_purchase_hist" WHERE CAST(FLOOR(sporting_event_ticket_id) AS BIGINT) '
            "% 29 = 0")
        assert tc.available_sample_sql("dbo", s).endswith(
            "WHERE ticketholder_id IS NULL AND CAST(FLOOR(id) AS BIGINT) % 29 = 0")
        assert tc.config_sample_sql("dbo", "PERSON", s).endswith(
            'FROM "dbo"."person" WHERE CAST(FLOOR(id) AS BIGINT) % 29 = 0')
        assert tc.config_sample_sql("dbo", "SPORT_TYPE", s) == 'SELECT name, description FROM "dbo"."sport_type"'
        assert s.holds(58) and s.holds(3_000_000_036 - 3_000_000_036 % 29) and not s.holds(59)
        # about count / modulus of regularly spaced ids: a prime does not alias
        assert sum(s.holds(i) for i in range(10, 10_000, 10)) == pytest.approx(999 / 29, abs=1)

    def test_bad_sample(self) -> None:
        with pytest.raises(ValueError):
            tc.Sample(0)
        with pytest.raises(ValueError):
            tc.Sample(5, 5)


def small_sample() -> tc.SourceSample:
    rows = dms.ROWS
    return tc.SourceSample(
        history=[dict(h) for h in rows["ticket_purchase_hist"]],
        available=[t for t in rows["sporting_event_ticket"] if t["ticketholder_id"] is None],
        tickets={t["id"]: t for t in rows["sporting_event_ticket"]},
        events={e["id"]: e for e in rows["sporting_event"]},
        teams={t["id"]: t for t in rows["sport_team"]},
        locations={r["id"]: r for r in rows["sport_location"]},
        persons={p["id"]: p for p in rows["person"]},
        config={"PERSON": rows["person"], "TEAM": rows["sport_team"], "SPORT_TYPE": rows["sport_type"],
                "LOCATION": rows["sport_location"], "SPORT_LEAGUE_DIVISION": rows["sport_division"]},
        leagues={r["short_name"]: r for r in rows["sport_league"]},
    )


class TestExpectedItems:
    def test_related_ids(self) -> None:
        s = small_sample()
        assert s.ticket_ids() == {dms.T_SIMPLE, dms.T_CHAIN, dms.T_TWICE, dms.T_REBUY, dms.T_NULLS, dms.T_TIE}
        assert s.event_ids() == {dms.EVENT_1, dms.EVENT_2}
        assert s.team_ids() == {10, 20, 30}
        assert s.location_ids() == {1, 2}
        assert s.person_ids() == {1, 2, 3, 4, 6, 7, 99}

    def test_items_and_entities(self) -> None:
        s = small_sample()
        items = tc.expected_items(s)
        by_entity: dict[str, int] = {}
        for e in items:
            by_entity[e.entity] = by_entity.get(e.entity, 0) + 1
        assert by_entity == {"ticket_sales.PURCHASED": 6, "ticket_sales.TRANSFERRED": 9,
                             "ticket_sales.AVAILABLE": 2, "config.PERSON": 6, "config.TEAM": 3,
                             "config.SPORT_TYPE": 2, "config.LOCATION": 2, "config.SPORT_LEAGUE_DIVISION": 3}
        owners = {}
        for e in items:
            if "current_owner_id" in e.item:
                ticket = int(e.item["sporting_event_ticket_id"]["N"])
                assert ticket not in owners, "one current owner per ticket"
                owners[ticket] = int(e.item["current_owner_id"]["N"])
        assert owners == {dms.T_SIMPLE: 1, dms.T_CHAIN: 3, dms.T_TWICE: 3, dms.T_REBUY: 1, dms.T_NULLS: 99,
                          dms.T_TIE: 7}
        division = next(e for e in items if e.entity == "config.SPORT_LEAGUE_DIVISION")
        assert division.key == {"data_type": {"S": "SPORT_LEAGUE_DIVISION"}, "data_id": {"S": "MLB|AL East"}}
        assert division.item["descriptive_name"] == {"S": "Major League Baseball AL East"}

    def test_same_as_expected_ticket_sales_item(self) -> None:
        s = small_sample()
        chain_last = s.history[3]
        expected = next(e for e in tc.expected_items(s)
                        if e.item["ticket_status_owner"]["S"].startswith("Transferred|2|2024-03-03"))
        ticket, event = s.tickets[dms.T_CHAIN], s.events[dms.EVENT_1]
        assert expected.item == expected_ticket_sales_item(
            chain_last, ticket, event, s.teams[10], s.teams[20], s.locations[1], s.persons[3], s.persons[2],
            is_latest=True)

    def test_key_text(self) -> None:
        key = {"sporting_event_ticket_id": {"N": "3000001916"}, "ticket_status_owner": {"S": "Available"}}
        assert tc.key_text("ticket_sales", key) == "3000001916 / Available"
        assert tc.key_text("config", {"data_type": {"S": "PERSON"}, "data_id": {"S": "7"}, "x": {"S": "y"}}) == (
            "PERSON / 7")


class TestItemDiffs:
    item = to_item({"sporting_event_ticket_id": 5, "ticket_status_owner": "Available", "seat": "01",
                    "ticket_price": Decimal("45.50"), "seat_level": Decimal(1)})

    def test_equal(self) -> None:
        assert tc.item_diffs(self.item, dict(self.item)) == []

    def test_missing_item(self) -> None:
        assert tc.item_diffs(self.item, None) == ["row is missing from the target"]

    def test_changed_missing_and_extra_attributes(self) -> None:
        actual = {**self.item, "seat": {"S": "1"}, "current_owner_id": {"N": "3"}}
        del actual["seat_level"]
        diffs = tc.item_diffs(self.item, actual)
        assert diffs == ["current_owner_id: expected None, found 3", "seat: expected '01', found '1'",
                         "seat_level: expected 1, found None"]

    def test_numbers_compare_by_value(self) -> None:
        # DynamoDB trims trailing zeros: "45.50" is read back as "45.5"
        assert tc.item_diffs(self.item, {**self.item, "ticket_price": {"N": "45.5"}}) == []

    def test_type_tags(self) -> None:
        diffs = tc.item_diffs(self.item, {**self.item, "ticket_price": {"S": "45.50"}})
        assert diffs == ["ticket_price: expected Decimal('45.5'), found '45.50'"]
        expected = to_item({"id": 1, "flag": True})
        diffs = tc.item_diffs(expected, {"id": {"N": "1"}, "flag": {"N": "1"}})
        assert diffs == ["flag: expected {'BOOL': True}, found {'N': '1'}"]


class TestAccessPatterns:
    def test_owned(self) -> None:
        p = tc.owned_tickets("dbo", 184)
        assert p.name == "access pattern: tickets owned person 184"
        assert p.entity == "ticket_sales.owner_index"
        assert p.table == "ticket_sales"
        assert p.query == {
            "IndexName": "owner_index", "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": "current_owner_id", "#k": "sporting_event_ticket_id",
                                         "#s": "ticket_status_owner"},
            "ExpressionAttributeValues": {":p": {"N": "184"}}, "ProjectionExpression": "#k, #s"}
        (q,) = p.source
        assert q.sql.startswith('SELECT id FROM "dbo"."sporting_event_ticket" WHERE ticketholder_id = %s AND '
                                "((id IS NULL OR id = FLOOR(id)) AND ")  # a row the job rejected holds nothing
        assert q.params == (184,)
        assert p.expected_keys([[(3_000_000_001,), (2,)]]) == [3_000_000_001, 2]
        assert p.actual_keys([{"sporting_event_ticket_id": {"N": "2"}, "ticket_status_owner": {"S": "x"}}]) == [2]

    def test_available(self) -> None:
        p = tc.available_tickets("dbo", 3, date(2024, 4, 2))
        assert p.subject == "venue 3 on 2024-04-02"
        assert p.query["IndexName"] == "available_index"
        assert p.query["ExpressionAttributeValues"] == {":p": {"S": "3|2024-04-02"}}
        (q,) = p.source
        assert q.params == (3, date(2024, 4, 2))
        assert "t.ticketholder_id IS NULL AND t.sport_location_id = %s AND e.start_date = %s" in q.sql
        assert p.expected_keys([[(7,)]]) == [(7, "Available")]

    def test_transfers(self) -> None:
        sent, got = tc.transferred_from("dbo", 5), tc.transferred_to("dbo", 6)
        assert sent.query["IndexName"] == "transferred_from_index"
        assert sent.query["ExpressionAttributeNames"]["#p"] == "transferred_from_id"
        assert got.query["IndexName"] == "transferred_to_index"
        assert got.query["ExpressionAttributeNames"]["#p"] == "transferred_to_id"
        assert "WHERE transferred_from_id = %s" in sent.source[0].sql
        assert "WHERE transferred_from_id IS NOT NULL AND purchased_by_id = %s" in got.source[0].sql
        assert sent.query["ProjectionExpression"] == "#k, #s, #a0"
        assert sent.query["ExpressionAttributeNames"]["#a0"] == "transaction_date"
        # (ticket, time), compared as multisets: nothing assumed about sort keys or about transfers chaining
        row = (9.0, 6, datetime(2024, 3, 2, 9, 0, 0, 5000), 5)  # an id declared DOUBLE PRECISION
        assert sent.expected_keys([[row, row]]) == [(9, "2024-03-02T09:00:00.005")] * 2
        item = {"sporting_event_ticket_id": {"N": "9"}, "transaction_date": {"S": "2024-03-02T09:00:00.005"},
                "ticket_status_owner": {"S": "Transferred|5|2024-03-02T09:00:00.005|6"}}
        assert sent.actual_keys([item, item]) == sent.expected_keys([[row, row]])

    def test_config_by_name(self) -> None:
        p = tc.config_by_name("dbo", "Major League Baseball AL East")
        assert p.subject == "'Major League Baseball AL East'"
        assert p.query["IndexName"] == "descriptive_name_index"
        assert p.query["ExpressionAttributeNames"] == {"#p": "descriptive_name", "#k": "data_type", "#s": "data_id"}
        assert p.source[0].sql == 'SELECT id, full_name FROM "dbo"."person" WHERE full_name = %s'
        assert p.source[2].sql == 'SELECT name, description FROM "dbo"."sport_type" WHERE description = %s'
        name = "Major League Baseball AL East"
        # a case-insensitive collation (SQL Server's usual) also returns rows DynamoDB keys would not match
        rows = [[(7, name), (8, name), (9, name.lower()), (10, name + " ")], [], [], [(1, name)],
                [("MLB", "AL East", "Major League Baseball", "AL East"), ("MLB", "AL West", "Major League Baseball",
                                                                         "AL West"), ("X", "Y", None, "AL East")]]
        assert p.expected_keys(rows) == [("PERSON", "7"), ("PERSON", "8"), ("LOCATION", "1"),
                                         ("SPORT_LEAGUE_DIVISION", "MLB|AL East")]
        assert p.actual_keys([{"data_type": {"S": "TEAM"}, "data_id": {"S": "3"}}]) == [("TEAM", "3")]

    def test_compare_keys(self) -> None:
        assert tc.compare_keys([1, 2, 3], [3, 2, 1]) == (3, 3)
        assert tc.compare_keys([], []) == (0, 0)
        expected, actual = tc.compare_keys([1, 2], [2, 2, 5])
        assert expected == 2
        assert actual == {"found": 3, "missing": [1], "unexpected": [2, 5]}
        _, actual = tc.compare_keys([(1, "a")], [])
        assert actual == {"found": 0, "missing": [[1, "a"]], "unexpected": []}


class TestSubjects:
    def test_persons_chain_first(self) -> None:
        s = small_sample()
        subjects = tc.person_subjects(s.history, 4)
        # persons 1 and 2 are in transfer chains (1→2→1→3, 1→2→3): they come first where they fit
        assert subjects == {"tickets owned": [1, 3, 7, 99], "tickets transferred from": [1, 2, 4, 6],
                            "tickets transferred to": [1, 2, 3, 7]}
        assert tc.person_subjects(list(reversed(s.history)), 4) == subjects  # order of rows does not matter
        assert tc.person_subjects([], 3) == {"tickets owned": [], "tickets transferred from": [],
                                             "tickets transferred to": []}

    def test_venues(self) -> None:
        s = small_sample()
        assert tc.venue_subjects(s, 3) == [(1, date(2024, 4, 5)), (2, date(2024, 4, 6))]
        assert tc.venue_subjects(s, 1) == [(1, date(2024, 4, 5))]

    def test_names(self) -> None:
        s = small_sample()
        names = tc.name_subjects(s, 6)
        assert names == ["Alice Adams", "Boston Red Sox", "Fenway Park", "Baseball",
                         "Major League Baseball AL East", "Bob Brown"]
        s.config["PERSON"] = [*s.config["PERSON"], {"id": 50, "full_name": "Frank Fox"}]
        assert tc.name_subjects(s, 1) == ["Frank Fox"]  # a name several persons share comes first
