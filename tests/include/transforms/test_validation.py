"""Reconciliation rules, the deterministic sample and the report, without Airflow or a database."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from transforms.checks import compare_row
from transforms.validation import KeySample, build_report, count_checks, render_markdown, render_note

JOB = {"documents": 12, "rejects": {"bad_type": 2, "malformed_json": 1},
       "entities": {"movie": {"documents": 8, "unique": 5, "duplicates": 1, "rejected": 2},
                    "actor": {"documents": 3, "unique": 3, "duplicates": 0, "rejected": 0}}}


def test_counts_that_reconcile_pass() -> None:
    checks = count_checks({"movie": 8, "actor": 3}, JOB, {"movie": 5, "actor": 3}, 12, 3)
    assert checks and all(c.passed for c in checks)


def test_each_kind_of_mismatch_fails() -> None:
    assert not all(c.passed for c in count_checks({"movie": 9, "actor": 3}, JOB, {"movie": 5, "actor": 3}, 12, 3))
    assert not all(c.passed for c in count_checks({"movie": 8, "actor": 3}, JOB, {"movie": 4, "actor": 3}, 12, 3))
    assert not all(c.passed for c in count_checks({"movie": 8, "actor": 3}, JOB, {"movie": 5, "actor": 3}, 13, 3))
    assert not all(c.passed for c in count_checks({"movie": 8, "actor": 3}, JOB, {"movie": 5, "actor": 3}, 12, 2))


def test_sample_is_deterministic_bounded_and_keeps_the_winner() -> None:
    keys = [f"MOVIE#{i}" for i in range(1000)]
    a, b = KeySample(10), KeySample(10)
    for k in keys:
        a.offer(k, 1, (k, "old"))
    for k in reversed(keys):
        b.offer(k, 1, (k, "old"))
    assert a.values() == b.values() and len(a.values()) == 10
    picked = a.values()[0][0]
    a.offer(picked, 2, (picked, "new"))
    a.offer(picked, 0, (picked, "older"))
    assert (picked, "new") in a.values()


def test_compare_row_normalizes_driver_types() -> None:
    u = uuid.uuid4()
    expected = {"id": str(u), "rating": Decimal("8.0"), "d": date(2000, 1, 2), "g": '["A","B"]', "n": None}
    actual = {"id": u, "rating": Decimal("8"), "d": date(2000, 1, 2), "g": ["A", "B"], "n": None}
    assert compare_row(expected, actual, list(expected)) == []
    assert compare_row(expected, {**actual, "g": ["B", "A"]}, list(expected)) == [
        "g: expected ['A', 'B'], found ['B', 'A']"]
    assert compare_row(expected, None, list(expected)) == ["row is missing from the target"]


def test_report_status_and_markdown() -> None:
    checks = count_checks({"movie": 8, "actor": 3}, JOB, {"movie": 5, "actor": 3}, 12, 3)
    ok = build_report(dag_id="d", run_id="r", entities={"movie": {"source": 8}}, rejects=JOB["rejects"],
                      checks=checks, sample={"compared": 5, "mismatches": []})
    assert ok["status"] == "passed"
    bad = build_report(dag_id="d", run_id="r", entities={}, rejects={}, checks=checks,
                       sample={"compared": 5, "mismatches": [{"entity": "movie", "key": "k", "diffs": ["x"]}]})
    assert bad["status"] == "failed"
    assert "PASSED" in render_markdown(ok) and "ROW movie k: x" in render_markdown(bad)
    with_children = build_report(dag_id="d", run_id="r", entities={}, rejects={}, checks=checks, sample={},
                                 children={"items": {"source": 7, "target": 7, "written": 7}})
    assert "| items | 7 | 7 | 7 |" in render_markdown(with_children) and "child table" not in render_markdown(ok)


def test_a_table_that_does_not_reconcile_in_full_fails_the_report_and_shows_its_keys() -> None:
    from transforms.reconcile import reconcile

    cols = ["id", "title"]
    rows = [((f"k{i}",), {"id": f"k{i}", "title": f"t{i}"}) for i in range(50)]
    changed = [(k, {**r, "title": "X"}) if k == ("k9",) else (k, r) for k, r in rows]
    ok = reconcile("movies", lambda: iter(rows), lambda: iter(rows), cols).as_dict()
    bad = reconcile("actors", lambda: iter(rows), lambda: iter(changed), cols).as_dict()
    args = {"dag_id": "d", "run_id": "r", "entities": {}, "rejects": {}, "checks": [], "sample": {}}
    passed = build_report(**args, reconciliation={"movies": ok})
    failed = build_report(**args, reconciliation={"movies": ok, "actors": bad})
    assert passed["status"] == "passed" and passed["reconciliation"]["movies"]["passed"] is True
    assert failed["status"] == "failed"
    text = render_markdown(failed)
    assert "full reconciliation (every row, hash per bucket of keys): 100 target rows, 1 differing keys" in text
    assert "- movies: all 50 rows reconcile" in text
    assert "| actors | k9 | changed | title | t9 | X |" in text
    assert "1 keys differ in full reconciliation" in render_note(failed)
    assert "all 50 rows reconciled in full" in render_note(passed)


def test_the_note_says_parked_links_wait_and_the_report_prints_conservation() -> None:
    args = {"dag_id": "d", "run_id": "r", "entities": {"movie_actor": {"source": 5, "target": 3, "rejected": 2}},
            "rejects": {"orphan_reference": 2}, "checks": [], "sample": {}}
    note = render_note(build_report(**args, pending={"retried": 0, "parked": 2, "released": 0}))
    assert "- parked: 2 link(s) wait for their other end; every later run retries them" in note
    assert "parked" not in render_note(build_report(**args))
    loads = {"equal": True, "up_to": "2024-01-04T00:00:00+00:00", "up_to_text": "2024-01-04",
             "summary": "loaded: [2024-01-01, 2024-01-04); nothing missing"}
    note = render_note(build_report(**args, source="file:///data/movies.json", loads=loads,
                                    timeless={"quarantined": 0, "met_again": 4}))
    assert note.startswith("**PASSED**: d from `file:///data/movies.json`")
    assert "- target = source up to 2024-01-04; loaded: [2024-01-01, 2024-01-04); nothing missing" in note
    assert "- no time: 0 line(s) quarantined by this run, once for the source; 4 quarantined by an earlier run" in note
    rows = [{"entity": "movie", "path": "title", "source": 3, "target": 3, "quarantined": 0, "superseded": 0,
             "status": "ok"},
            {"entity": "movie", "path": "tiers.*.tier", "source": 2, "target": 0, "quarantined": 0,
             "superseded": 0, "status": "MISSING"}]
    text = render_markdown(build_report(**args, conservation=rows))
    assert "1/2 paths found" in text and text.index("tiers.*.tier") < text.index("| movie | `title`")
