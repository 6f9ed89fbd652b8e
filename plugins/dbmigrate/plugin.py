"""The Airflow plugin of this package: run notes (a listener) and the local run files app (API server)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from dbmigrate import run_notes
from dbmigrate.local_files_app import URL_PREFIX, app


class DbMigratePlugin(AirflowPlugin):
    name = "dbmigrate"
    listeners = [run_notes]
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "dbmigrate run files"}]
