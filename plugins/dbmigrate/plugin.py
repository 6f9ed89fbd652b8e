"""The Airflow plugin of this package: run notes (a listener), the local run files app (API server) and the
migration DAGs' timetable (the scheduler deserializes it by its registered class)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dbmigrate import run_notes
from dbmigrate.local_files_app import URL_PREFIX, app
from dbmigrate.timetables import NextPeriodCronTimetable, NextPeriodTimetable


class DbMigratePlugin(AirflowPlugin):
    name = "dbmigrate"
    listeners = [run_notes]
    timetables = [NextPeriodTimetable, NextPeriodCronTimetable]
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "dbmigrate run files"}]
