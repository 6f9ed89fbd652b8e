"""Why a run failed, in words the report can repeat: each failed task leaves its error behind.

`record_failure` is every migration task's `on_failure_callback` (the DAG's default_args): it runs in the
worker after the last try and pushes the error under the XCom key `error`. `first_failure` finds, in task
order, the first failed task of the run and that error, so the report names the cause, not a symptom.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ERROR_KEY = "error"
MAX_ERROR_CHARS = 2000


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "failed (no error recorded)"
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + " …"


def record_failure(context: Any) -> None:
    """`on_failure_callback`: keep the task's error where the report task can read it."""
    context["ti"].xcom_push(key=ERROR_KEY, value=describe(context.get("exception")))


def first_failure(ti: Any, dag_id: str, run_id: str, task_ids: Sequence[str]) -> dict[str, str] | None:
    """{"task_id", "state", "error"} of the first of `task_ids` (in DAG order) that failed in this run."""
    states = (ti.get_task_states(dag_id=dag_id, run_ids=[run_id]) or {}).get(run_id, {})
    for task_id in task_ids:
        if states.get(task_id) == "failed":
            error = ti.xcom_pull(task_ids=task_id, key=ERROR_KEY) or "failed (no error recorded)"
            return {"task_id": task_id, "state": "failed", "error": str(error)}
    return None
