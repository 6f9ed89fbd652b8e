"""A run whose source does not exist, triggered through the REST API of the session's UI (`ui_missing_source`): it
fails at its first check, before any lock or Spark job, and its report and its note name the cause and what did
not run."""

from __future__ import annotations

import pytest

from tests.fixtures.session_runs import UiRun

pytestmark = pytest.mark.e2e
NOT_RUN = ["validate.validate_counts", "validate.validate_rows", "validate.validate_reconcile",
           "validate.validate_values"]
AFTER_THE_CHECK = ("prepare.deploy_ddl", "prepare.acquire_lock", "load.run_spark_job")


def test_a_missing_source_fails_fast_and_the_report_names_the_cause(ui_missing_source: UiRun) -> None:
    run, report, states = ui_missing_source.wait()
    assert run["state"] == "failed" and report is not None, ui_missing_source.world.diagnostics(
        ui_missing_source.dag_id, ui_missing_source.run_id)
    assert states["prepare.check_source"] == "failed"
    # nothing after it ran: no lock taken, no DDL deployed, no Spark job started
    assert {t: states[t] for t in AFTER_THE_CHECK} == dict.fromkeys(AFTER_THE_CHECK, "upstream_failed")
    assert report["status"] == "failed"
    assert report["failure"]["task_id"] == "prepare.check_source"
    assert "nowhere.json does not exist" in report["failure"]["error"]
    assert report["not_run"] == [f"{t}: prepare.check_source failed" for t in NOT_RUN]


def test_a_missing_sources_note_names_the_cause(ui_missing_source: UiRun) -> None:
    run, _, _ = ui_missing_source.wait()
    assert "nowhere.json does not exist" in (run.get("note") or "")
