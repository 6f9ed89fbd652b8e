"""transforms.intervals: windows, record times, and `_id` versions that sort in the target as MongoDB sorts."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from transforms.extjson import ObjectId, bson_order, loads
from transforms.intervals import (
    FULL,
    Window,
    WindowError,
    coverage,
    covered,
    gaps,
    merged,
    objectid_at,
    objectid_time,
    record_time,
    sql_timestamp,
    version_text,
)


def test_window_bounds_are_half_open_and_utc() -> None:
    w = Window.parse("2024-01-01", "2024-01-02T00:00:00+02:00")
    assert w.start == datetime(2024, 1, 1, tzinfo=UTC) and w.end == datetime(2024, 1, 1, 22, tzinfo=UTC)
    assert w.contains(datetime(2024, 1, 1, tzinfo=UTC))
    assert not w.contains(datetime(2024, 1, 1, 22, tzinfo=UTC))
    assert Window.parse(None, "").is_full and Window().contains(datetime(1970, 1, 1, tzinfo=UTC))
    assert w.as_dict() == {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-01T22:00:00+00:00"}


@pytest.mark.parametrize(("start", "end", "match"), [
    ("2024-01-02", "2024-01-01", "is not before its end"),
    ("2024-01-01", "2024-01-01", "is not before its end"),
    ("yesterday", None, "window start: 'yesterday' is not an ISO 8601"),
])
def test_unusable_windows_are_refused(start: str, end: str | None, match: str) -> None:
    with pytest.raises(WindowError, match=match):
        Window.parse(start, end)


def test_objectid_time_round_trip() -> None:
    at = datetime(2023, 5, 17, 8, 30, 12, tzinfo=UTC)
    oid = objectid_at(at)
    assert len(oid) == 24 and objectid_time(oid) == at
    assert objectid_time("65a1b2c3d4e5f60718293a4b") == datetime.fromtimestamp(0x65A1B2C3, UTC)


def test_record_time_of_each_kind_of_field() -> None:
    doc = loads('{"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "at": {"$date": "2024-02-03T04:05:06Z"},'
                ' "iso": "2024-02-03", "n": 5, "bad": {"$date": "1999-13-45"}, "meta": {"t": "2024-03-01T00:00Z"}}')
    assert record_time(doc) == datetime.fromtimestamp(0x65A1B2C3, UTC)
    assert record_time(doc, "at") == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert record_time(doc, "iso") == datetime(2024, 2, 3, tzinfo=UTC)
    assert record_time(doc, "meta.t") == datetime(2024, 3, 1, tzinfo=UTC)
    for unreadable in ("n", "bad", "missing", "meta.t.x"):
        assert record_time(doc, unreadable) is None
    assert record_time({"_id": "plain-string-id"}) is None  # a string `_id` has no creation time
    assert record_time({"_id": ObjectId("zz" * 12)}) is None
    assert record_time({"d": date(2024, 1, 5)}, "d") == datetime(2024, 1, 5, tzinfo=UTC)


def _ids(rng: random.Random) -> list[object]:
    numbers = [rng.choice([0, 1, -1, 7, 10, -10, 100, 12345678901234567890]) for _ in range(5)]
    numbers += [Decimal(str(round(rng.uniform(-1e6, 1e6), rng.randint(0, 6)))) for _ in range(40)]
    numbers += [rng.uniform(-10, 10) for _ in range(20)] + [Decimal("1.50"), Decimal("1.5"), Decimal("-0.001")]
    texts = ["", "a", "ab", "b", "Z", "é", "日本", "a\u00ff"] + [
        "".join(rng.choice("aZ09~é") for _ in range(rng.randint(1, 5))) for _ in range(20)]
    oids = [ObjectId(f"{rng.getrandbits(96):024x}") for _ in range(20)]
    return [*numbers, *texts, *oids, True, False, datetime(2024, 1, 1, tzinfo=UTC), {"a": 1}]


def test_version_text_sorts_as_bson_order() -> None:
    ids = _ids(random.Random(7))
    by_bson = sorted(ids, key=lambda v: (bson_order(v), repr(v)))
    # Python compares str by code point, as PostgreSQL compares text under COLLATE "C" (UTF-8 byte order)
    for a, b in zip(by_bson, by_bson[1:], strict=False):
        ta, tb = version_text(bson_order(a)), version_text(bson_order(b))
        if bson_order(a) == bson_order(b):
            assert ta == tb, (a, b)
        else:
            assert ta < tb, (a, b, ta, tb)


def test_what_loads_cover_together() -> None:
    day = datetime(2024, 1, 2, tzinfo=UTC)
    assert covered([]) == FULL and covered([day, None]) == FULL  # nothing logged, or a full load ran
    assert covered([day, datetime(2024, 1, 1, tzinfo=UTC)]) == Window(None, day)  # the latest end


def test_gaps_before_and_between_loads() -> None:
    d = [datetime(2024, 1, n, tzinfo=UTC) for n in range(1, 6)]
    assert gaps([Window(d[2], d[3])]) == [Window(None, d[2])]  # the newest day loaded first
    assert gaps([Window(d[2], d[3]), Window(d[0], d[1])]) == [Window(None, d[0]), Window(d[1], d[2])]
    assert gaps([Window(d[2], d[3]), Window(d[1], d[2]), Window(None, d[1])]) == []  # then the rest
    assert gaps([Window(d[3], d[4]), Window(None, d[1]), Window(d[0], d[1])]) == [Window(d[1], d[3])]
    assert gaps([Window(d[3], d[4]), Window(None, None)]) == [] and gaps([Window(None, d[1]), Window(d[0], None)]) == []
    assert gaps([]) == []


def test_coverage_says_what_is_loaded_before_and_after_a_run() -> None:
    d = [datetime(2024, 1, n, tzinfo=UTC) for n in range(1, 7)]
    days = [Window(d[i], d[i + 1]) for i in range(5)]
    assert merged([days[2], days[0], days[1], days[4]]) == [Window(d[0], d[3]), days[4]]
    assert merged([days[0], FULL]) == [FULL] and merged([Window(None, d[2]), days[1]]) == [Window(None, d[2])]
    # the middle day run again after the first, third and fifth: the fourth is missing, after it
    out = coverage([days[0], days[2], days[4]], days[1])
    assert out["before_complete"] is True and out["after"] == [days[2].as_dict(), days[4].as_dict()]
    assert out["gaps"] == [days[3].as_dict()]  # before the first start: only the reconciliation's pass can tell
    assert out["up_to"] == d[5].isoformat() and out["up_to_text"] == "2024-01-06"
    assert out["summary"] == ("loaded: [2024-01-01, 2024-01-04), [2024-01-05, 2024-01-06); "
                              "missing: [2024-01-04, 2024-01-05)")
    late = coverage([days[0]], days[4])  # the newest day after the first: what comes between is missing
    assert late["before_complete"] is False and late["after"] == [] and late["gaps"] == [Window(d[1], d[4]).as_dict()]
    full = coverage([], FULL)
    assert full["summary"] == "loaded: everything (a load without a window)" and full["up_to"] is None


def test_sql_timestamps_are_naive_utc_iso() -> None:
    at = Window.parse("2024-01-02T01:00:00+02:00").start
    assert sql_timestamp(at) == "2024-01-01T23:00:00.000000"
