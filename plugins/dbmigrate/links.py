"""Operator extra links of the report task: the run's report and its quarantine (S3 console on AWS).

Airflow 3 computes extra links in the worker when the task ends and keeps them as XComs, so they may read
what the task set on itself while it ran (`report_uri`, `quarantine_uri`); a link it did not set is empty.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

from dbmigrate.run_files import console_url


class ReportLink(BaseOperatorLink):
    """The run's `report.json`."""

    name = "Migration report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        uri = getattr(operator, "report_uri", None)
        return console_url(uri) if uri else ""


class QuarantineLink(BaseOperatorLink):
    """The run's quarantine: every rejected document with its reason and original text."""

    name = "Quarantine"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        uri = getattr(operator, "quarantine_uri", None)
        return console_url(uri) if uri else ""
