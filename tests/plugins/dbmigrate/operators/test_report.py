"""The report task: first failure named, validators that did not run listed, note pushed, links set; publishing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from dbmigrate import failures
from dbmigrate.links import QuarantineLink, ReportLink
from dbmigrate.operators.report import NOTE_KEY, MigrationReportOperator, PublishAssetsOperator
from dbmigrate.run_files import console_url

RUN_ID = "manual__1"
TASKS = ["prepare.resolve_run", "prepare.check_source", "load.run_spark_job", "validate.validate_counts",
         "validate.validate_rows", "validate.report"]


class FakeTI:
    """XComs and task states of one run, as the Task SDK would answer them."""

    def __init__(self, xcoms: dict[tuple[str, str], Any], states: dict[str, str]) -> None:
        self.xcoms, self.states, self.pushed = xcoms, states, {}

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def get_task_states(self, dag_id: str, run_ids: list[str]) -> dict[str, dict[str, str]]:
        return {run_ids[0]: self.states}


def report_op() -> MigrationReportOperator:
    return MigrationReportOperator(task_id="report", spec_dag_id="movie_collection_to_dsql",
                                   resolve_task_id=TASKS[0], count_task_id=TASKS[3], sample_task_id=TASKS[4],
                                   watched_task_ids=TASKS)


def run_inputs(tmp_path: Path) -> dict[str, Any]:
    return {"report_uri": str(tmp_path / "report.json"), "quarantine_uri": str(tmp_path / "q"), "dry_run": False}


def test_missing_source_names_the_cause_and_what_did_not_run(tmp_path: Path) -> None:
    ti = FakeTI({(TASKS[0], "return_value"): run_inputs(tmp_path),
                 (TASKS[1], failures.ERROR_KEY): "AirflowFailException: source file /x.json does not exist"},
                {TASKS[0]: "success", TASKS[1]: "failed", TASKS[2]: "upstream_failed",
                 TASKS[3]: "upstream_failed", TASKS[4]: "upstream_failed"})
    op = report_op()
    with pytest.raises(AirflowFailException, match="check_source: AirflowFailException: source file /x.json"):
        op.execute({"ti": ti, "run_id": RUN_ID})
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "failed"
    assert report["failure"] == {"task_id": TASKS[1], "state": "failed",
                                 "error": "AirflowFailException: source file /x.json does not exist"}
    assert report["not_run"] == [f"{TASKS[3]}: {TASKS[1]} failed", f"{TASKS[4]}: {TASKS[1]} failed"]
    assert "source file /x.json does not exist" in ti.pushed[NOTE_KEY]
    assert ReportLink().get_link(op, ti_key=None) == f"file://{tmp_path}/report.json"
    assert QuarantineLink().get_link(op, ti_key=None) == f"file://{tmp_path}/q"


def test_passed_run_leaves_a_short_note(tmp_path: Path) -> None:
    counts = {"entities": {"movie": {"source": 40, "target": 39, "rejected": 1}}, "rejects": {"bad_type": 1},
              "checks": [{"name": "x", "expected": 1, "actual": 1, "entity": None, "passed": True}]}
    ti = FakeTI({(TASKS[0], "return_value"): run_inputs(tmp_path), (TASKS[3], "result"): counts,
                 (TASKS[4], "result"): {"compared": 2, "mismatches": []}}, dict.fromkeys(TASKS[:5], "success"))
    result = report_op().execute({"ti": ti, "run_id": RUN_ID})
    assert result["status"] == "passed"
    note = ti.pushed[NOTE_KEY]
    assert note.startswith("**PASSED**") and "| movie | 40 | 39 | 1 |" in note and "- rejects: bad_type 1" in note
    assert len(note) <= 1000


@pytest.mark.parametrize(("source", "rejected", "failed"), [
    (100, 6, "rejected share <= max_reject_ratio (5.00%): 6 of 100 is 6.00%"),
    (0, 0, "source records >= min_documents (1)"),
    (3, 3, "rejected share <= max_reject_ratio (5.00%): 3 of 3 is 100.00%"),  # wrote nothing: never passed
])
def test_a_run_beyond_the_spec_thresholds_fails(tmp_path: Path, source: int, rejected: int, failed: str) -> None:
    counts = {"entities": {"movie": {"source": source, "target": source - rejected, "rejected": rejected}},
              "rejects": {"bad_type": rejected}, "documents": source, "checks": []}
    ti = FakeTI({(TASKS[0], "return_value"): run_inputs(tmp_path), (TASKS[3], "result"): counts,
                 (TASKS[4], "result"): {"compared": 0, "mismatches": []}}, dict.fromkeys(TASKS[:5], "success"))
    with pytest.raises(AirflowFailException, match="did not reconcile"):
        report_op().execute({"ti": ti, "run_id": RUN_ID})
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["status"] == "failed"
    assert [c["name"] for c in report["checks"] if not c["passed"]] == [failed]
    assert f"FAILED all: {failed}" in ti.pushed[NOTE_KEY] or f"failed: all {failed}" in ti.pushed[NOTE_KEY]


def test_full_reconciliation_lands_in_the_report_and_fails_it_naming_the_key(tmp_path: Path) -> None:
    from transforms.reconcile import reconcile

    rows = [((f"k{i}",), {"id": f"k{i}", "title": f"t{i}"}) for i in range(30)]
    rec = reconcile("movie", lambda: iter(rows), lambda: iter(rows[1:]), ["id", "title"])
    full = {"checks": [c.as_dict() for c in rec.checks()], "reconciliation": {"movie": rec.as_dict()},
            "notes": {"actor: target rows outside this source": {"count": 2, "examples": []}}}
    counts = {"entities": {"movie": {"source": 30, "target": 30}}, "rejects": {}, "documents": 30, "checks": []}
    ti = FakeTI({(TASKS[0], "return_value"): run_inputs(tmp_path), (TASKS[3], "result"): counts,
                 (TASKS[4], "result"): {"compared": 2, "mismatches": []},
                 ("validate.validate_reconcile", "result"): full},
                dict.fromkeys(TASKS[:5], "success"))
    op = MigrationReportOperator(task_id="report", spec_dag_id="movie_collection_to_dsql",
                                 resolve_task_id=TASKS[0], count_task_id=TASKS[3], sample_task_id=TASKS[4],
                                 check_task_ids=["validate.validate_reconcile"], watched_task_ids=TASKS)
    with pytest.raises(AirflowFailException, match="did not reconcile"):
        op.execute({"ti": ti, "run_id": RUN_ID})
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["reconciliation"]["movie"]["diffs"] == [
        {"key": ["k0"], "kind": "missing", "columns": {"id": ["k0", None], "title": ["t0", None]}}]
    assert report["notes"] == full["notes"]
    assert "every row reconciles (hash per bucket): differing keys" in [c["name"] for c in report["checks"]
                                                                         if not c["passed"]]
    assert "1 keys differ in full reconciliation" in ti.pushed[NOTE_KEY]


def test_unresolved_run_still_reports_the_cause() -> None:
    ti = FakeTI({(TASKS[0], failures.ERROR_KEY): "AirflowFailException: source_schema: bad"},
                {TASKS[0]: "failed"})
    with pytest.raises(AirflowFailException, match="resolve_run"):
        report_op().execute({"ti": ti, "run_id": RUN_ID})
    assert "source_schema: bad" in ti.pushed[NOTE_KEY]


def test_record_failure_keeps_the_error() -> None:
    ti = MagicMock()
    failures.record_failure({"ti": ti, "exception": ValueError("boom")})
    ti.xcom_push.assert_called_once_with(key=failures.ERROR_KEY, value="ValueError: boom")


def test_console_urls() -> None:
    assert console_url("s3://b/runs/r/report.json") == "https://s3.console.aws.amazon.com/s3/object/b?prefix=runs/r/report.json"
    assert console_url("s3://b/q/dag/run") == "https://s3.console.aws.amazon.com/s3/buckets/b?prefix=q/dag/run/"
    assert console_url("/tmp/r.json") == "file:///tmp/r.json"


class TestPublishAssetsOperator:
    def op(self, dry_run: bool) -> PublishAssetsOperator:
        movies = Asset(name="movie_db.movies", uri="dsql://dsql_default/movie_db/movies")
        return PublishAssetsOperator(
            task_id="publish", run={"dry_run": dry_run, "dag_id": "d", "run_id": RUN_ID},
            report={"status": "passed", "report_uri": "/r.json", "entities": {"movie": {"target": 5}}},
            tables={"movie_db.movies": ["movie"]}, outlets=[movies])

    def test_counts_go_into_the_event_extra(self) -> None:
        op = self.op(dry_run=False)
        events: dict[Any, Any] = {op.outlets[0]: MagicMock()}
        op.execute({"outlet_events": events})
        assert events[op.outlets[0]].extra == {"dag_id": "d", "run_id": RUN_ID, "report_uri": "/r.json",
                                               "entities": {"movie": {"target": 5}}, "rows_written": 5}

    def test_dry_run_publishes_nothing(self) -> None:
        with pytest.raises(AirflowSkipException):
            self.op(dry_run=True).execute({"outlet_events": {}})


class TestLocalFilesApp:
    """The API server's read-only `/dbmigrate` app behind the local report and quarantine links."""

    @pytest.fixture
    def client(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
        from fastapi.testclient import TestClient

        from dbmigrate.local_files_app import app

        reports, quarantine = tmp_path / "reports", tmp_path / "quarantine"
        (reports / "d" / "r").mkdir(parents=True)
        (reports / "d" / "r" / "report.json").write_text('{"status": "passed"}')
        (quarantine / "d" / "r").mkdir(parents=True)
        (quarantine / "d" / "r" / "part-00000.json").write_text('{"reason": "bad_type"}\n')
        (tmp_path / "secret.txt").write_text("password")
        monkeypatch.setenv("DBMIGRATE_PROFILE", "local")
        monkeypatch.setenv("LOCAL_REPORTS_DIR", str(reports))
        monkeypatch.setenv("DBMIGRATE_QUARANTINE_URI", f"file://{quarantine}")
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:9999")
        from dbmigrate.local_files_app import signed_in

        assert TestClient(app).get("/reports/d/r/report.json").status_code == 401  # no login: nothing
        monkeypatch.setitem(app.dependency_overrides, signed_in, lambda: None)  # a signed-in user
        return TestClient(app)

    def test_serves_reports_and_quarantine(self, client: Any, tmp_path: Path) -> None:
        assert client.get("/reports/d/r/report.json").json() == {"status": "passed"}
        served = client.get("/quarantine/d/r")
        assert served.text == '{"reason": "bad_type"}\n' and 'filename="d-r.jsonl"' in served.headers[
            "content-disposition"]
        (tmp_path / "quarantine" / "d" / "items" / "ticket_sales").mkdir(parents=True)  # the Glue jobs' layout
        (tmp_path / "quarantine" / "d" / "items" / "ticket_sales" / "bad_type.jsonl").write_text('{"id": 1}\n')
        assert client.get("/quarantine/d/items").text == '{"id": 1}\n'
        nothing = client.get("/quarantine/d/clean-run")  # rejected nothing, wrote no folder: an empty quarantine
        assert (nothing.status_code, nothing.text) == (200, "")
        assert console_url(str(tmp_path / "reports/d/r/report.json")) == \
            "http://127.0.0.1:9999/dbmigrate/reports/d/r/report.json"

    def test_nothing_outside_its_folders_nor_off_the_local_profile(self, client: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        assert client.get("/reports/../secret.txt").status_code == 404
        assert client.get("/reports/%2e%2e/secret.txt").status_code == 404
        assert client.get("/other/secret.txt").status_code == 404
        monkeypatch.setenv("DBMIGRATE_PROFILE", "aws")
        assert client.get("/reports/d/r/report.json").status_code == 404
