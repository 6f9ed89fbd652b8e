"""The end of every migration run: one report, the run's note, and the migrated tables as Airflow Assets.

`MigrationReportOperator` runs whatever happened before it (trigger rule ALL_DONE): it collects what the
validators found (checks, full reconciliations with their first differing keys, notes), names the first failed
task and its error, writes `report.json`, logs the summary once,
leaves a short version for the DAG run's note (`dbmigrate.run_notes` sets it when the run ends) and fails
unless everything reconciled. `PublishAssetsOperator` then records an asset event per target table, with
the run's counts, so downstream DAGs can be scheduled on a migrated table; dry runs publish nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from dbmigrate import failures, run_files, runtime
from dbmigrate.links import QuarantineLink, ReportLink
from dbmigrate.operators.validate_dsql import RESULT_KEY
from dbmigrate.run_notes import NOTE_KEY
from transforms.validation import render_markdown, render_note, report_of_run


class MigrationReportOperator(BaseOperator):
    """Write `report.json` for the run, log it as Markdown, and fail unless everything reconciled.

    :param spec_dag_id: the migration spec (templated)
    :param resolve_task_id: the task that resolved the run's inputs (its output may be missing: it can fail)
    :param count_task_id: task whose XCom `result` holds the count checks, entities and rejects
    :param sample_task_id: task whose XCom `result` holds the sampled comparison
    :param check_task_ids: further tasks whose XCom `result` holds `checks` (e.g. access patterns), and may hold
        `reconciliation` (table → `transforms.reconcile.Reconciliation.as_dict()`) and `notes`
    :param watched_task_ids: every task of the run, in DAG order, to find the first failure
    :param aws_conn_id: AWS connection for S3 reports
    """

    template_fields: Sequence[str] = ("spec_dag_id",)
    operator_extra_links = (ReportLink(), QuarantineLink())
    ui_color = "#fff3cd"

    def __init__(self, *, spec_dag_id: str, resolve_task_id: str, count_task_id: str, sample_task_id: str,
                 check_task_ids: Sequence[str] = (), watched_task_ids: Sequence[str] = (),
                 aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.resolve_task_id = resolve_task_id
        self.count_task_id = count_task_id
        self.sample_task_id = sample_task_id
        self.check_task_ids = check_task_ids
        self.watched_task_ids = watched_task_ids
        self.aws_conn_id = aws_conn_id
        self.report_uri: str | None = None
        self.quarantine_uri: str | None = None

    def _report(self, context: Any, run: dict[str, Any] | None) -> dict[str, Any]:
        ti, run_id = context["ti"], context["run_id"]
        failure = failures.first_failure(ti, self.spec_dag_id, run_id, self.watched_task_ids)
        cause = f"{failure['task_id']} failed" if failure else "its upstream did not succeed"
        validators = [self.count_task_id, self.sample_task_id, *self.check_task_ids]
        results = {task_id: ti.xcom_pull(task_ids=task_id, key=RESULT_KEY) or {} for task_id in validators}
        limits = None
        if results[self.count_task_id]:  # the spec is read once there is something to hold to its limits
            spec = runtime.run_spec(run, self.spec_dag_id, self.aws_conn_id)
            limits = {"max_reject_ratio": spec.max_reject_ratio, "min_documents": spec.min_documents}
        return report_of_run(dag_id=self.spec_dag_id, run_id=run_id, run=run, counts=results[self.count_task_id],
                             sample=results[self.sample_task_id],
                             checked=[results[task_id] for task_id in self.check_task_ids], limits=limits,
                             failure=failure,
                             not_run=[f"{task_id}: {cause}" for task_id, result in results.items() if not result])

    def execute(self, context: Any) -> dict[str, Any]:
        ti = context["ti"]
        run = ti.xcom_pull(task_ids=self.resolve_task_id)  # None when the run's inputs could not be resolved
        report = self._report(context, run)
        summary = render_markdown(report)
        ti.xcom_push(key=NOTE_KEY, value=render_note(report))
        if run is not None:
            self.report_uri, self.quarantine_uri = run["report_uri"], run.get("quarantine_uri")
            run_files.write_text(self.report_uri, json.dumps(report, indent=2, sort_keys=True, default=str),
                                 self.aws_conn_id)
        self.log.info("Report written to %s\n%s", self.report_uri or "(nowhere: the run was not resolved)", summary)
        if report["status"] != "passed":
            cause = f": {report['failure']['task_id']}: {report['failure']['error']}" if report["failure"] else ""
            raise AirflowFailException(f"migration {self.spec_dag_id} did not reconcile{cause}")
        # child tables beside the entities (their names are distinct: the spec loader sees to it), for the assets
        return {"status": report["status"], "report_uri": self.report_uri,
                "entities": {**report["entities"], **report.get("children", {})}}


class PublishAssetsOperator(BaseOperator):
    """Record an asset event for every target table of a run that passed, with its counts in the event's extra.

    The tables are the task's `outlets`; `tables` maps each asset's name to the report entities stored in it.
    A dry run wrote nothing: the task skips, and no event is recorded.

    :param run: the run's inputs (templated)
    :param report: what the report task returned: status, report URI, entities (templated)
    :param tables: asset name → report entity names that table holds
    """

    template_fields: Sequence[str] = ("run", "report")

    def __init__(self, *, run: Any, report: Any, tables: dict[str, Sequence[str]], **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.run = run
        self.report = report
        self.tables = tables

    def execute(self, context: Any) -> None:
        if self.run["dry_run"]:
            raise AirflowSkipException("dry run: nothing was written, no asset is updated")
        if self.report["status"] != "passed":
            raise AirflowFailException("the report did not pass; no asset is updated")
        events = context["outlet_events"]
        for asset in self.outlets:
            entities = {e: self.report["entities"].get(e, {}) for e in self.tables[asset.name]}
            events[asset].extra = {"dag_id": self.run["dag_id"], "run_id": self.run["run_id"],
                                   "report_uri": self.report["report_uri"], "entities": entities,
                                   "rows_written": sum(int(c.get("target") or 0) for c in entities.values())}
            self.log.info("Asset %s updated: %s", asset.name, entities)

