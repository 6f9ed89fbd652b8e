"""transforms.ticketing_reconcile: the typed form both sides compare in, the SQL, and every expected item.

The expected items are checked against `ticketing_checks.expected_items`, the sample validator's assembly,
given every row of the hand-built data set as its "sample": streaming over all rows must give exactly the
items the sample assembly gives for the same rows.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from tests.fixtures import dms_sample_small as dms
from transforms import ticketing_checks as tc
from transforms import ticketing_reconcile as tr
from transforms.reconcile import reconcile
from transforms.ticketing import expected_ticket_sales_item
from transforms.ticketing_checks import SOURCE_COLUMNS

NOT_PORTABLE = re.compile(r"\bLIMIT\b|\bTOP\b|\bOFFSET\b|\[|::|\|\||\bCONCAT\b|\bILIKE\b|\bNOW\(|%", re.IGNORECASE)
HELD_TICKET = dms.BIG + 5_000_000_099  # sold, no history: a Held item


def rows_with_held() -> dict[str, list[dict[str, Any]]]:
    rows = copy.deepcopy(dms.ROWS)
    rows["sporting_event_ticket"].append({
        "id": HELD_TICKET, "sporting_event_id": dms.EVENT_2, "sport_location_id": 2, "seat_level": Decimal(1),
        "seat_section": "C", "seat_row": "3", "seat": "4", "ticketholder_id": 2, "ticket_price": Decimal("31.40")})
    return rows


def as_tuple(table: str, row: dict[str, Any] | None) -> tuple:
    return tuple(None if row is None else row[c] for c in SOURCE_COLUMNS[table])


def history_tuples(rows: dict[str, list[dict[str, Any]]]) -> list[tuple]:
    """What `history_sql` returns: history, ticket, buyer, transferor columns, ordered by ticket."""
    tickets = {t["id"]: t for t in rows["sporting_event_ticket"]}
    persons = {p["id"]: p for p in rows["person"]}
    out = []
    for h in sorted(rows["ticket_purchase_hist"], key=lambda h: h["sporting_event_ticket_id"]):
        out.append(as_tuple("ticket_purchase_hist", h)
                   + as_tuple("sporting_event_ticket", tickets.get(h["sporting_event_ticket_id"]))
                   + as_tuple("person", persons.get(h["purchased_by_id"]))
                   + as_tuple("person", persons.get(h["transferred_from_id"])))
    return out


def dimensions(rows: dict[str, list[dict[str, Any]]]) -> tr.Dimensions:
    return tr.Dimensions.from_rows({t: [as_tuple(t, r) for r in rows[t]] for t in tr.DIMENSION_TABLES})


def ticket_sales(rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, dict]]:
    with_history = {h["sporting_event_ticket_id"] for h in rows["ticket_purchase_hist"]}
    tickets = rows["sporting_event_ticket"]
    return list(tr.expected_ticket_sales_items(
        history_tuples(rows),
        [as_tuple("sporting_event_ticket", t) for t in tickets if t["ticketholder_id"] is None],
        [as_tuple("sporting_event_ticket", t) for t in tickets
         if t["ticketholder_id"] is not None and t["id"] not in with_history],
        dimensions(rows)))


def config(rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, dict]]:
    by_type = {dt: [as_tuple(t, r) for r in rows[t]] for dt, t in tc.CONFIG_TABLES.items()}
    return list(tr.expected_config_items(by_type, dimensions(rows).leagues))


def whole_sample(rows: dict[str, list[dict[str, Any]]]) -> tc.SourceSample:
    """Every row as the sample validator's `SourceSample`."""
    with_history = {h["sporting_event_ticket_id"] for h in rows["ticket_purchase_hist"]}
    tickets = rows["sporting_event_ticket"]
    by_id = {t: {r["id"]: r for r in rows[t]} for t in ("sporting_event_ticket", "sporting_event", "sport_team",
                                                          "sport_location", "person")}
    return tc.SourceSample(
        history=rows["ticket_purchase_hist"], available=[t for t in tickets if t["ticketholder_id"] is None],
        held=[t for t in tickets if t["ticketholder_id"] is not None and t["id"] not in with_history],
        tickets=by_id["sporting_event_ticket"], events=by_id["sporting_event"], teams=by_id["sport_team"],
        locations=by_id["sport_location"], persons=by_id["person"],
        config={dt: rows[t] for dt, t in tc.CONFIG_TABLES.items()},
        leagues={r["short_name"]: r for r in rows["sport_league"]})


def keyed(table: str, items: list[dict[str, dict]]) -> dict[Any, dict[str, str]]:
    out = dict(tr.item_row(table, i) for i in items)
    assert len(out) == len(items), "duplicate keys"
    return out


class TestTypedForm:
    @pytest.mark.parametrize("a,b", [("45.50", "45.5"), ("100", "1E+2"), ("0", "-0.00"), ("007", "7"),
                                     ("3147483649", "3147483649.0"), ("-1.10", "-1.1")])
    def test_numbers_compare_by_value(self, a: str, b: str) -> None:
        assert tr.canonical_attribute({"N": a}) == tr.canonical_attribute({"N": b})

    def test_forms(self) -> None:
        assert tr.canonical_attribute({"N": "45.50"}) == "N:45.5"
        assert tr.canonical_attribute({"N": "1E+2"}) == "N:100"
        assert tr.canonical_attribute({"S": "01"}) == "S:01"
        assert tr.canonical_attribute({"S": "[1]"}) == "S:[1]"  # text stays text, never parsed
        assert tr.canonical_attribute({"BOOL": True}) == "BOOL:true"
        assert tr.canonical_attribute({"NULL": True}) == "NULL:true"
        assert tr.canonical_attribute({"NS": ["2.0", "10"]}) == tr.canonical_attribute({"NS": ["10", "2"]})
        assert tr.canonical_attribute({"L": [{"N": "1.0"}, {"S": "a"}]}) == 'L:[{"N":"1"},{"S":"a"}]'
        assert tr.canonical_attribute({"M": {"b": {"N": "2.50"}, "a": {"S": "x"}}}) == \
            'M:{"a":{"S":"x"},"b":{"N":"2.5"}}'

    def test_type_is_part_of_the_value(self) -> None:
        assert tr.canonical_attribute({"N": "45.5"}) != tr.canonical_attribute({"S": "45.5"})
        assert tr.canonical_attribute({"N": "1"}) != tr.canonical_attribute({"BOOL": True})

    def test_bad_attribute_value(self) -> None:
        with pytest.raises(ValueError, match="exactly one type key"):
            tr.canonical_attribute({"N": "1", "S": "1"})

    def test_item_row(self) -> None:
        item = {"sporting_event_ticket_id": {"N": "3147483649"}, "ticket_status_owner": {"S": "Available"},
                "ticket_price": {"N": "12.00"}, "note": {"S": "?"}}
        key, row = tr.item_row("ticket_sales", item)
        assert key == (3147483649, "Available")
        assert row == {"sporting_event_ticket_id": "N:3147483649", "ticket_status_owner": "S:Available",
                       "ticket_price": "N:12", tr.OTHER_ATTRIBUTES: '{"note": "S:?"}'}
        assert tr.item_row("config", {"data_type": {"S": "PERSON"}, "data_id": {"S": "7"}})[0] == ("PERSON", "7")

    def test_unknown_attribute_fails_reconciliation(self) -> None:
        item = {"data_type": {"S": "PERSON"}, "data_id": {"S": "7"}, "descriptive_name": {"S": "G G"}}
        rec = reconcile("config", lambda: [tr.item_row("config", item)],
                        lambda: [tr.item_row("config", {**item, "extra": {"N": "1"}})], tr.COLUMNS["config"])
        assert not rec.passed
        (diff,) = rec.diffs
        assert (diff.kind, diff.columns) == ("changed", {tr.OTHER_ATTRIBUTES: (None, {"extra": "N:1"})})


class TestSql:
    def all_sql(self) -> list[str]:
        return [tr.history_sql("dbo"), tr.available_sql("dbo"), tr.held_sql("dbo"),
                *tr.dimension_sql("dbo").values(), *tr.config_sql("dbo").values()]

    def test_portable(self) -> None:
        for sql in self.all_sql():
            assert not NOT_PORTABLE.search(sql), sql
            assert sql.startswith("SELECT ")

    def test_history_is_ordered_by_ticket(self) -> None:
        sql = tr.history_sql("dbo")
        assert sql.endswith("ORDER BY h.sporting_event_ticket_id")
        assert 'LEFT JOIN "dbo"."sporting_event_ticket" t ON t.id = h.sporting_event_ticket_id LEFT JOIN' in sql

    def test_bad_schema_never_reaches_sql(self) -> None:
        for make in (tr.history_sql, tr.available_sql, tr.held_sql, tr.dimension_sql, tr.config_sql):
            with pytest.raises(ValueError, match="not a plain SQL identifier"):
                make("dbo; DROP TABLE person")


class TestExpectedItems:
    def test_ticket_sales_equal_the_sample_assembly_over_every_row(self) -> None:
        rows = rows_with_held()
        want = [e.item for e in tc.expected_items(whole_sample(rows)) if e.table == "ticket_sales"]
        got = ticket_sales(rows)
        assert keyed("ticket_sales", got) == keyed("ticket_sales", want)
        kinds = defaultdict(int)
        for item in got:
            kinds[item["item_type"]["S"]] += 1
        history = len(rows["ticket_purchase_hist"])
        assert dict(kinds) == {"PURCHASED": 6, "TRANSFERRED": history - 6, "AVAILABLE": 2, "HELD": 1}
        assert ("Held" in {i["ticket_status_owner"]["S"] for i in got
                           if i["sporting_event_ticket_id"]["N"] == str(HELD_TICKET)})

    def test_config_equal_the_sample_assembly(self) -> None:
        rows = rows_with_held()
        want = [e.item for e in tc.expected_items(whole_sample(rows)) if e.table == "config"]
        assert keyed("config", config(rows)) == keyed("config", want)
        assert len(want) == sum(len(rows[t]) for t in tc.CONFIG_TABLES.values())

    def test_one_current_owner_per_sold_ticket(self) -> None:
        owners = defaultdict(list)
        for item in ticket_sales(rows_with_held()):
            if "current_owner_id" in item:
                owners[item["sporting_event_ticket_id"]["N"]].append(item["current_owner_id"]["N"])
        assert owners[str(dms.T_CHAIN)] == ["3"] and owners[str(dms.T_TWICE)] == ["3"]
        assert all(len(v) == 1 for v in owners.values())

    def test_rows_the_job_rejects_are_not_expected(self) -> None:
        rows = rows_with_held()
        good = keyed("ticket_sales", ticket_sales(rows))
        bad_hist = {**rows["ticket_purchase_hist"][2], "purchased_by_id": 2.5}  # T_CHAIN's 1→2 transfer
        rows["ticket_purchase_hist"][2] = bad_hist
        rows["sporting_event_ticket"][-1] = {**rows["sporting_event_ticket"][-1], "sporting_event_id": 1.5}
        rows["person"].append({"id": 8.5, "full_name": "Half Person", "last_name": "P", "first_name": "H"})
        got = keyed("ticket_sales", ticket_sales(rows))
        gone = {k for k in good if k not in got}
        assert gone == {(dms.T_CHAIN, "Transferred|1|2024-03-02T09:00:00.005"), (HELD_TICKET, "Held")}
        assert got == {k: v for k, v in good.items() if k not in gone}
        assert "Half Person" not in str(config(rows))

    def test_a_rejected_ticket_joined_to_history_counts_as_absent(self) -> None:
        rows = rows_with_held()
        simple = next(t for t in rows["sporting_event_ticket"] if t["id"] == dms.T_SIMPLE)
        simple["sporting_event_id"] = 1.5  # the job rejects the ticket; its history item keeps no ticket attributes
        (item,) = [i for i in ticket_sales(rows) if i["sporting_event_ticket_id"]["N"] == str(dms.T_SIMPLE)]
        hist = next(h for h in rows["ticket_purchase_hist"] if h["sporting_event_ticket_id"] == dms.T_SIMPLE)
        persons = {p["id"]: p for p in rows["person"]}
        assert item == expected_ticket_sales_item(hist, None, None, None, None, None, persons[1], None,
                                                  is_latest=True)
        assert "seat" not in item and "current_owner_id" not in item

    def test_integral_floats_are_integers(self) -> None:
        rows = rows_with_held()
        good = keyed("ticket_sales", ticket_sales(rows))
        for h in rows["ticket_purchase_hist"]:
            h["purchased_by_id"] = float(h["purchased_by_id"])  # a DOUBLE PRECISION column
        assert keyed("ticket_sales", ticket_sales(rows)) == good

    def test_history_must_be_grouped_by_ticket(self) -> None:
        history = history_tuples(rows_with_held())
        with pytest.raises(ValueError, match="not ordered by ticket"):
            list(tr.expected_ticket_sales_items([*history, history[0]], [], [], dimensions(dms.ROWS)))
