"""connectors.dynamodb_load_log against the moto server: the log item of a table, `until` only growing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from connectors.dynamodb_load_log import Loads, read_loads, record_load
from transforms.intervals import FULL, Window


@pytest.fixture
def ddb(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint)


def day(n: int) -> datetime:
    return datetime(2024, 1, n, tzinfo=UTC)


def make(ddb: Any, name: str) -> None:
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])


def test_the_log_keeps_the_latest_end_and_a_full_load(ddb: Any) -> None:
    log, table = f"log_{uuid.uuid4().hex[:8]}", f"ticket_sales_{uuid.uuid4().hex[:8]}"
    make(ddb, table)
    try:
        assert read_loads(ddb, table, log).loads == 0  # no log table yet: nothing loaded
        assert read_loads(ddb, table, log).holds(Window(day(1), day(2))) == Window(None, day(2))
        record_load(ddb, table, Window(day(2), day(3)), "r2", log)  # creates the log table
        record_load(ddb, table, Window(day(1), day(2)), "r1", log)  # an earlier day, later: the end stays
        loads = read_loads(ddb, table, log)
        assert (loads.loads, loads.full, loads.until) == (2, False, day(3))
        assert loads.holds() == Window(None, day(3))
        assert loads.holds(Window(day(3), day(4))) == Window(None, day(4))
        assert read_loads(ddb, "other_table", log).loads == 0
        record_load(ddb, table, FULL, "full", log)
        assert read_loads(ddb, table, log).holds(Window(day(1), day(2))) == FULL

        ddb.delete_table(TableName=table)  # a new, empty table of the same name: the old log does not count
        time.sleep(1.1)  # moto's table identity is its creation time
        make(ddb, table)
        assert read_loads(ddb, table, log).loads == 0
        record_load(ddb, table, Window(day(1), day(2)), "r", log)  # the old table's windows are gone too
        assert read_loads(ddb, table, log) == Loads(loads=1, full=False, until=day(2),
                                                    windows=(Window(day(1), day(2)),))
        record_load(ddb, table, Window(day(2), day(3)), "r2", log, source="db:5432/dms schema dbo")
        loads = read_loads(ddb, table, log)
        assert loads.windows == (Window(day(1), day(2)), Window(day(2), day(3)))
        assert loads.source == "db:5432/dms schema dbo"
    finally:
        for name in (log, table):
            try:
                ddb.delete_table(TableName=name)
            except ddb.exceptions.ResourceNotFoundException:
                pass
