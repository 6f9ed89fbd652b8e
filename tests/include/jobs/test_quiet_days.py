"""Interval loads of an export with a quiet day and lines that carry no time, through the real job (local Spark, the
DSQL stand-in).

The export's documents fall on the first and third of three days; the second has none. Four lines carry no time
(a document whose `_id` is no ObjectId, a line of invalid UTF-8, and one line of broken JSON twice): no interval holds
them, so the first interval run quarantines them and records them by content (`connectors.timeless`), and the runs
after it skip them and say so. The quiet day passes with zero counts; the reject ratio is of what an interval could
place; the three runs end equal to one load of the three days; an interval run of another source into the same
target is refused before it writes.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures.backfills import quiet_middle_day
from tests.include.jobs.test_bad_input_corpus import quarantine, snapshot
from tests.include.jobs.test_interval_loads import fresh, load, pending
from transforms.intervals import Window
from transforms.validation import report_of_run

pytestmark = pytest.mark.spark
START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = [Window(START + timedelta(days=d), START + timedelta(days=d + 1)) for d in range(3)]
LIMITS = {"max_reject_ratio": 0.05, "min_documents": 1}


@pytest.fixture(scope="module")
def days(spark: Any, dsql_uri: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("quiet")
    export = quiet_middle_day(tmp / "movie_collection.json", START, movies=80, seed=31)
    schema = fresh(dsql_uri, "t_quiet_days")
    reports = [load(spark, tmp / f"day{i}", dsql_uri, schema, export, w, f"day-{i}") for i, w in enumerate(DAYS)]
    once = fresh(dsql_uri, "t_quiet_once")
    whole = load(spark, tmp / "once", dsql_uri, once, export, Window(DAYS[0].start, DAYS[-1].end), "once")
    yield {"tmp": tmp, "export": export, "schema": schema, "reports": reports, "whole": whole,
           "after": (snapshot(dsql_uri, schema), pending(dsql_uri, schema)),
           "once": (snapshot(dsql_uri, once), pending(dsql_uri, once))}
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        for name in (schema, once):
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def recorded(dsql_uri: str, schema: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsql_uri) as conn:
        return conn.execute(f"SELECT reason, first_run FROM {schema}.dbmigrate_timeless ORDER BY 1").fetchall()  # noqa: S608


def test_each_line_with_no_time_is_quarantined_once(days: dict[str, Any], dsql_uri: str) -> None:
    first, quiet, third = days["reports"]
    assert first["timeless"] == {"quarantined": 4, "met_again": 0}
    assert {r: n for r, n in first["rejects"].items() if r in ("malformed_json", "bad_encoding", "no_interval_time")
            } == {"malformed_json": 2, "bad_encoding": 1, "no_interval_time": 1}
    held = [r for r in quarantine(days["tmp"] / "day0") if r["reason"] != "orphan_reference"]
    assert sorted(r["reason"] for r in held) == ["bad_encoding", "malformed_json", "malformed_json",
                                                 "no_interval_time"]
    for later, i in ((quiet, 1), (third, 2)):
        assert later["timeless"] == {"quarantined": 0, "met_again": 4}
        assert not any(later["rejects"][r] for r in ("malformed_json", "bad_encoding", "no_interval_time"))
        assert not [r for r in quarantine(days["tmp"] / f"day{i}") if r["reason"] != "orphan_reference"]
    assert recorded(dsql_uri, days["schema"]) == [("bad_encoding", "day-0"), ("malformed_json", "day-0"),
                                                  ("no_interval_time", "day-0")]


def test_a_quiet_day_passes_with_zero_counts(days: dict[str, Any]) -> None:
    quiet = days["reports"][1]
    assert quiet["documents"] == 0 and all(c["documents"] == 0 for c in quiet["entities"].values())
    for job in days["reports"]:  # held to what the interval could place: the first day's lines with no time aside
        counts = {"documents": job["documents"], "rejects": job["rejects"], "pending": job["pending"],
                  "timeless": job["timeless"], "entities": {}}
        report = report_of_run(dag_id="d", run_id=job["run_id"], run={"window": {"source": "data_interval"},
                                                                      "dry_run": False},
                               counts=counts, sample={}, checked=[], limits=LIMITS)
        assert report["status"] == "passed", report["checks"]


def test_the_days_equal_one_load_of_them(days: dict[str, Any]) -> None:
    """Rows and pending links: a link parked on the first day for its movie and actor, whose actor came on the third,
    waits for its movie now, as in one load."""
    assert days["after"] == days["once"]
    assert days["whole"]["timeless"] == {"quarantined": 4, "met_again": 0}


def test_a_retry_of_the_first_run_quarantines_them_again(days: dict[str, Any], spark: Any, dsql_uri: str,
                                                         tmp_path: Path) -> None:
    """A retry keeps its run id and rewrites its quarantine: the lines it recorded are its own again. Another run
    of the same day skips them."""
    retry = load(spark, tmp_path / "retry", dsql_uri, days["schema"], days["export"], DAYS[0], "day-0")
    assert retry["timeless"] == {"quarantined": 4, "met_again": 0}
    again = load(spark, tmp_path / "again", dsql_uri, days["schema"], days["export"], DAYS[0], "day-0-again")
    assert again["timeless"] == {"quarantined": 0, "met_again": 4}
    assert (snapshot(dsql_uri, days["schema"]), pending(dsql_uri, days["schema"])) == days["after"]


def test_an_interval_run_of_another_source_is_refused(days: dict[str, Any], spark: Any, dsql_uri: str,
                                                      tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    shutil.copy(days["export"], other)
    with pytest.raises(SystemExit, match=r"refused \(nothing was written\).*latest load of t_quiet_days"):
        load(spark, tmp_path / "other", dsql_uri, days["schema"], other, DAYS[2], "other-source")
    assert (snapshot(dsql_uri, days["schema"]), pending(dsql_uri, days["schema"])) == days["after"]

