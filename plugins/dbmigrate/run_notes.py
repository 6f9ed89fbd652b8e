"""Listener: when a migration run ends, its summary becomes the DAG run's note in the UI.

Tasks cannot write a DAG run's note (the Task SDK has no call for it), so the report task leaves the
summary as an XCom (`dbmigrate_note`) and this listener, which Airflow calls in the scheduler (and in
`airflow dags test`) when a run succeeds or fails, copies it onto the run in the same database session.
Runs of other DAGs have no such XCom and are left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

NOTE_KEY = "dbmigrate_note"
log = logging.getLogger(__name__)


def _note_of(session: Any, dag_run: Any) -> str | None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.scalars(select(XComModel).where(
        XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id, XComModel.key == NOTE_KEY,
    ).limit(1)).first()
    return None if row is None else str(XComModel.deserialize_value(row))


def set_note(dag_run: Any) -> None:
    """Copy the run's summary onto the run; never let a note break the scheduler."""
    from sqlalchemy.orm import object_session

    try:
        session = object_session(dag_run)
        if session is not None:  # the scheduler's session: it commits with the run's new state
            note = _note_of(session, dag_run)
            if note is not None:
                dag_run.note = note
            return
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session

        with create_session() as own:
            note = _note_of(own, dag_run)
            if note is not None:
                own.get(DagRun, dag_run.id).note = note
    except Exception:
        log.exception("could not set the note of %s %s", dag_run.dag_id, dag_run.run_id)


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    set_note(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    set_note(dag_run)
