"""The reconciliation core: canonical values, digests, buckets, the two passes and the report, without I/O."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from transforms.reconcile import (
    BucketTotals,
    KeyDiff,
    Reconciliation,
    bucket_of,
    canonical,
    differing_buckets,
    reconcile,
    render_diffs,
    row_digest,
    totals,
)

COLUMNS = ["id", "title", "year", "rating", "tags"]


def rows(n: int) -> list[tuple[tuple[str], dict]]:
    return [((f"k{i}",), {"id": f"k{i}", "title": f"title {i}", "year": 1900 + i % 100,
                          "rating": Decimal(f"{i % 10}.50"), "tags": json.dumps(["a", i % 3])}) for i in range(n)]


def test_canonical_equates_what_the_driver_and_the_mapping_spell_differently() -> None:
    u = uuid.uuid4()
    assert canonical(u) == canonical(str(u)) == str(u)
    assert canonical(Decimal("1.50")) == canonical(Decimal("1.5")) == canonical(1.5) == 1.5
    assert canonical(Decimal("2.00")) == canonical(2) == canonical(2.0) == 2
    assert canonical('{"b": [1, 2.50], "a": "x"}') == canonical({"a": "x", "b": [Decimal("1"), Decimal("2.5")]})
    assert canonical(date(2020, 1, 2)) == "2020-01-02"
    cet = timezone(timedelta(hours=1))
    assert canonical(datetime(2020, 1, 1, 1, tzinfo=cet)) == canonical(datetime(2020, 1, 1, tzinfo=UTC))
    assert canonical(Decimal("0.1000000000000000000001")) == "0.1000000000000000000001"  # no float rounding
    assert canonical("[not json") == "[not json"
    assert canonical(b"\x00\xff") == "00ff"
    json.dumps([canonical(v) for v in (u, Decimal("1.5"), date.today(), datetime.now(UTC), b"x", {1, 2})])


def test_canonical_keeps_values_that_differ_apart() -> None:
    assert canonical("1") != canonical(1)
    assert canonical(True) != canonical(1) or type(canonical(True)) is not type(canonical(1))
    assert canonical(Decimal("1.5")) != canonical(Decimal("1.05"))
    assert row_digest({"a": True}, ["a"]) != row_digest({"a": 1}, ["a"])
    assert row_digest({"a": "1"}, ["a"]) != row_digest({"a": 1}, ["a"])


def test_row_digest_is_64_bit_and_ignores_spelling_but_not_content() -> None:
    a = {"id": "k", "title": "t", "year": 2000, "rating": Decimal("7.50"), "tags": '["x"]'}
    b = {"id": "k", "title": "t", "year": 2000, "rating": 7.5, "tags": ["x"], "migrated_at": "now"}
    assert row_digest(a, COLUMNS) == row_digest(b, COLUMNS) < 2**64
    assert row_digest(a, COLUMNS) != row_digest({**a, "year": 2001}, COLUMNS)
    assert row_digest(a, COLUMNS) != row_digest({**a, "title": None}, COLUMNS)
    assert row_digest({"a": "x", "b": "y"}, ["a", "b"]) != row_digest({"a": "y", "b": "x"}, ["a", "b"])


def test_bucket_of_is_deterministic_across_processes_and_spreads_keys() -> None:
    code = ("import sys; sys.path.insert(0, 'include'); from transforms.reconcile import bucket_of; "
            "print([bucket_of((f'k{i}', i), 1024) for i in range(50)])")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert runs == {str([bucket_of((f"k{i}", i), 1024) for i in range(50)]) + "\n"}
    u = uuid.uuid4()
    assert bucket_of((u,), 64) == bucket_of((str(u),), 64)
    used = {bucket_of((f"k{i}",), 64) for i in range(2000)}
    assert len(used) == 64


def test_totals_are_order_independent_and_memory_is_per_bucket() -> None:
    data = rows(500)
    a, b = totals(data, COLUMNS, 32), totals(reversed(data), COLUMNS, 32)
    assert a == b and len(a.counts) == len(a.sums) == 32 and a.rows == 500
    manual = BucketTotals(32)
    for key, row in data:
        manual.add(key, row_digest(row, COLUMNS))
    assert manual == a
    half = totals(data[:200], COLUMNS, 32).merge(totals(data[200:], COLUMNS, 32))
    assert half == a and differing_buckets(a, half) == []


def test_differing_buckets_names_the_bucket_of_a_changed_row() -> None:
    data = rows(300)
    changed = [(k, {**r, "title": "tampered"}) if k == ("k7",) else (k, r) for k, r in data]
    diff = differing_buckets(totals(data, COLUMNS, 16), totals(changed, COLUMNS, 16))
    assert diff == [bucket_of(("k7",), 16)]


def test_identical_sides_pass_in_one_scan_each() -> None:
    calls = {"expected": 0, "actual": 0}

    def side(name: str):
        def scan():
            calls[name] += 1
            return iter(rows(1000))
        return scan

    rec = reconcile("movies", side("expected"), side("actual"), COLUMNS)
    assert rec.passed and rec.diff_count == 0 and rec.diffs == [] and rec.rows_expected == rec.rows_actual == 1000
    assert calls == {"expected": 1, "actual": 1}
    assert all(c.passed for c in rec.checks())


def test_changed_missing_extra_and_duplicate_keys_are_named() -> None:
    data = rows(5000)
    target = dict(data)
    target[("k42",)] = {**target[("k42",)], "rating": Decimal("9.99")}
    del target[("k4000",)]
    target[("new",)] = {"id": "new", "title": "x", "year": 1, "rating": None, "tags": None}
    actual = [*target.items(), (("k7",), target[("k7",)])]  # k7 twice in the target
    rec = reconcile("movies", lambda: iter(data), lambda: iter(actual), COLUMNS)
    assert not rec.passed and not rec.truncated
    by_key = {d.key: d for d in rec.diffs}
    assert set(by_key) == {("k42",), ("k4000",), ("new",), ("k7",)} and rec.diff_count == 4
    assert by_key[("k42",)] == KeyDiff(("k42",), "changed", {"rating": (2.5, 9.99)})
    assert by_key[("k4000",)].kind == "missing" and by_key[("k4000",)].columns["title"] == ("title 4000", None)
    assert by_key[("new",)].kind == "extra" and by_key[("new",)].columns["title"] == (None, "x")
    assert by_key[("k7",)] == KeyDiff(("k7",), "duplicate", {"(rows)": (1, 2)})
    assert rec.rows_expected == 5000 and rec.rows_actual == 5001
    failed = [c for c in rec.checks() if not c.passed]
    assert {c.name for c in failed} >= {"every row reconciles (hash per bucket): differing keys"}
    assert all(c.entity == "movies" for c in rec.checks())


def test_drill_down_is_bounded_and_counts_what_it_did_not_drill() -> None:
    data = rows(2000)
    tampered = [(k, {**r, "year": -1}) for k, r in data]  # every row differs
    rec = reconcile("m", lambda: iter(data), lambda: iter(tampered), COLUMNS, buckets=256, max_diffs=5,
                    max_drill_buckets=4)
    used = {bucket_of(k, 256) for k, _ in data}
    assert rec.truncated and len(rec.diffs) == 5 and rec.differing_buckets == sorted(used)
    drilled = sum(1 for k, _ in data if bucket_of(k, 256) in set(rec.differing_buckets[:4]))
    assert rec.diff_count == drilled + len(used) - 4


def test_as_dict_is_json_and_round_trips() -> None:
    data = rows(100)
    rec = reconcile("m", lambda: iter(data), lambda: iter(data[1:]), COLUMNS)
    d = json.loads(json.dumps(rec.as_dict()))
    assert d["passed"] is False and d["diffs"][0]["kind"] == "missing" and d["diffs"][0]["key"] == ["k0"]
    assert Reconciliation.from_dict(d) == rec


def test_render_diffs_shows_keys_kinds_and_columns_side_by_side() -> None:
    data = rows(100)
    changed = [(k, {**r, "title": "a|b"}) if k == ("k3",) else (k, r) for k, r in data]
    rec = reconcile("movies", lambda: iter(data), lambda: iter(changed), COLUMNS)
    text = "\n".join(render_diffs(rec))
    assert "1 differing keys" in text
    assert "| movies | k3 | changed | title | title 3 | a\\|b |" in text
    ok = reconcile("movies", lambda: iter(data), lambda: iter(data), COLUMNS)
    assert render_diffs(ok) == ["- movies: all 100 rows reconcile (1024 buckets)"]


@pytest.mark.parametrize("buckets", [1, 7, 1024])
def test_any_bucket_count_finds_the_same_diffs(buckets: int) -> None:
    data = rows(300)
    rec = reconcile("m", lambda: iter(data), lambda: iter(data[:-1]), COLUMNS, buckets=buckets)
    assert [(d.key, d.kind) for d in rec.diffs] == [(("k299",), "missing")]


def test_the_fast_row_path_agrees_with_canonical() -> None:
    from transforms.reconcile import canonical_row, values_digest

    values = ["x", "[1, 2.50]", '{"a": 1}', "[broken", 3, None, True, False, 1.0, 2.5, Decimal("7.10"),
              date(1999, 12, 31), datetime(2020, 1, 1, 12, tzinfo=UTC), datetime(2020, 1, 1), uuid.uuid4(),
              b"\x01", [Decimal("1.0")], {"k": Decimal("2.50")}, float("inf")]
    assert canonical_row(values) == [canonical(v) for v in values]
    assert values_digest(values) == row_digest(dict(enumerate(values)), list(range(len(values))))
    json.dumps(canonical_row(values))
