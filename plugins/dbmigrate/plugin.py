"""The Airflow plugin of this package: the listener that turns a run's summary into its note."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dbmigrate import run_notes


class DbMigratePlugin(AirflowPlugin):
    name = "dbmigrate"
    listeners = [run_notes]
