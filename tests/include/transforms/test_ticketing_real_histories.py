"""Histories as real dms_sample databases hold them: ties, transfers that do not chain, holders who are not the
last buyer, sold tickets with no history (issue 8). The source's own answer to "who holds this ticket now" is
`sporting_event_ticket.ticketholder_id`; the history is a log, and each row is one item with a unique key."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from tests.fixtures import dms_sample_small as dms
from transforms import ticketing_checks as tc
from transforms.ticketing import history_anomalies, history_sort_keys, ticket_sales_items, to_dynamodb_rdd

pytestmark = pytest.mark.spark

EVENT = dms.ROWS["sporting_event"][0]["id"]
T_TIE, T_HOLDER, T_NO_HISTORY, T_LOOSE, T_UNSOLD = 9001, 9002, 9003, 9004, 9005
TICKET = {"sporting_event_id": EVENT, "sport_location_id": 1, "seat_level": Decimal(1), "seat_section": "A",
          "seat_row": "1", "ticket_price": Decimal("10.00")}
TICKETS = [
    {**TICKET, "id": T_TIE, "seat": "01", "ticketholder_id": 3},
    {**TICKET, "id": T_HOLDER, "seat": "02", "ticketholder_id": 5},  # the history's last buyer is 2
    {**TICKET, "id": T_NO_HISTORY, "seat": "03", "ticketholder_id": 4},  # sold, no history row at all
    {**TICKET, "id": T_LOOSE, "seat": "04", "ticketholder_id": 6},
    {**TICKET, "id": T_UNSOLD, "seat": "05", "ticketholder_id": None},
]


def hist(ticket: int, buyer: int, day: int, hour: int, from_id: int | None = None, price: str = "10.00") -> dict:
    return {"sporting_event_ticket_id": ticket, "purchased_by_id": buyer, "transaction_date_time": dms.ts(day, hour),
            "transferred_from_id": from_id, "purchase_price": Decimal(price)}


HISTORY = [
    hist(T_TIE, 1, 1, 9),
    hist(T_TIE, 2, 2, 9, from_id=1),  # two transfers from 1 at the same time, to 2 and to 3
    hist(T_TIE, 3, 2, 9, from_id=1),
    hist(T_HOLDER, 1, 1, 10),
    hist(T_HOLDER, 2, 3, 10, from_id=1),
    hist(T_LOOSE, 1, 1, 11),
    hist(T_LOOSE, 6, 4, 11, from_id=5),  # 5 never bought this ticket
]


@pytest.fixture(scope="module")
def frames(spark):
    rows = {**dms.ROWS, "sporting_event_ticket": TICKETS, "ticket_purchase_hist": HISTORY}
    return {t: spark.createDataFrame([tuple(r.get(c) for c in dms.columns(t)) for r in rows[t]], dms.SCHEMAS[t])
            for t in dms.SCHEMAS}


@pytest.fixture(scope="module")
def items(frames) -> list[dict]:
    f = frames
    return to_dynamodb_rdd(ticket_sales_items(
        f["ticket_purchase_hist"], f["sporting_event_ticket"], f["sporting_event"], f["sport_team"],
        f["sport_location"], f["person"])).collect()


def test_every_history_row_is_one_item_with_a_unique_key(items):
    keys = Counter((i["sporting_event_ticket_id"]["N"], i["ticket_status_owner"]["S"]) for i in items)
    assert max(keys.values()) == 1
    history = [i for i in items if i["item_type"]["S"] in ("PURCHASED", "TRANSFERRED")]
    assert len(history) == len(HISTORY)
    tie = sorted(i["ticket_status_owner"]["S"] for i in history if i["sporting_event_ticket_id"]["N"] == str(T_TIE))
    assert tie == ["Purchased|1|2024-03-01T09:00:00.000", "Transferred|1|2024-03-02T09:00:00.000|2",
                   "Transferred|1|2024-03-02T09:00:00.000|3"]


def test_tickets_i_own_follow_the_ticketholder_whatever_the_history_says(items):
    owned = Counter((int(i["current_owner_id"]["N"]), int(i["sporting_event_ticket_id"]["N"]))
                    for i in items if "current_owner_id" in i)
    holders = Counter((t["ticketholder_id"], t["id"]) for t in TICKETS if t["ticketholder_id"] is not None)
    assert owned == holders  # each sold ticket exactly once, for its holder; 5 holds T_HOLDER though 2 bought last
    held = [i for i in items if i["item_type"]["S"] == "HELD"]
    assert [(i["sporting_event_ticket_id"]["N"], i["ticket_status_owner"]["S"]) for i in held] == [
        (str(T_NO_HISTORY), "Held")]
    assert [i["sporting_event_ticket_id"]["N"] for i in items if i["item_type"]["S"] == "AVAILABLE"] == [str(T_UNSOLD)]


def test_the_validators_remapping_gives_the_same_items(items):
    by_id = {t: {r.get("id"): r for r in dms.ROWS[t]} for t in ("sporting_event", "sport_team", "sport_location",
                                                                 "person")}
    sample = tc.SourceSample(history=HISTORY, available=[t for t in TICKETS if t["ticketholder_id"] is None],
                             held=[t for t in TICKETS if t["id"] == T_NO_HISTORY],
                             tickets={t["id"]: t for t in TICKETS}, events=by_id["sporting_event"],
                             teams=by_id["sport_team"], locations=by_id["sport_location"], persons=by_id["person"])
    expected = {(e.item["sporting_event_ticket_id"]["N"], e.item["ticket_status_owner"]["S"]): e.item
                for e in tc.expected_items(sample)}
    assert {(i["sporting_event_ticket_id"]["N"], i["ticket_status_owner"]["S"]): i for i in items} == expected


def test_sort_keys_number_rows_that_stay_alike():
    row = {"purchased_by_id": 2, "transferred_from_id": 1, "transaction_date_time": dms.ts(2, 9)}
    rows = [{**row, "purchase_price": Decimal("12.00")}, {**row, "purchase_price": Decimal("11.00")}]
    assert history_sort_keys(rows) == ["Transferred|1|2024-03-02T09:00:00.000|2|2",
                                       "Transferred|1|2024-03-02T09:00:00.000|2|1"]


def test_anomalies_are_found_with_example_keys(frames):
    found = history_anomalies(frames["ticket_purchase_hist"], frames["sporting_event_ticket"])
    keys = {name: sorted(r["key"] for r in df.collect()) for name, df in found.items()}
    assert keys == {
        "history_rows_sharing_a_time": [f"{T_TIE}|2|2024-03-02T09:00:00.000", f"{T_TIE}|3|2024-03-02T09:00:00.000"],
        # the transfer to 3 follows the one to 2 in (time, buyer) order, but is from 1
        "transfers_not_chaining": [f"{T_TIE}|3|2024-03-02T09:00:00.000", f"{T_LOOSE}|6|2024-03-04T11:00:00.000"],
        "holder_not_last_buyer": [str(T_HOLDER)],
        "sold_without_history": [str(T_NO_HISTORY)],
    }
