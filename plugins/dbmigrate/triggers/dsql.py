"""Trigger that waits, in the triggerer, until DSQL's async index jobs (`CREATE INDEX ASYNC`, `sys.jobs`) are done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from dbmigrate.hooks.dsql import DsqlHook, index_jobs_state


class DsqlIndexJobsTrigger(BaseTrigger):
    """Poll `sys.jobs` every `waiter_delay` seconds until no async index job is left (success), one failed, or
    `waiter_max_attempts` polls found some still running (error). psycopg is synchronous: each poll runs in a
    thread, so the triggerer's event loop never blocks.

    :param dsql_conn_id: Airflow connection of the DSQL cluster
    :param aws_conn_id: AWS connection that signs IAM tokens
    :param job_ids: only these jobs (None: every job not completed)
    :param waiter_delay: seconds between polls. Default 15.
    :param waiter_max_attempts: polls before giving up. Default 120.
    """

    def __init__(self, *, dsql_conn_id: str, aws_conn_id: str | None = "aws_default",
                 job_ids: list[str] | None = None, waiter_delay: float = 15, waiter_max_attempts: int = 120) -> None:
        super().__init__()
        self.dsql_conn_id = dsql_conn_id
        self.aws_conn_id = aws_conn_id
        self.job_ids = job_ids
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"dsql_conn_id": self.dsql_conn_id, "aws_conn_id": self.aws_conn_id, "job_ids": self.job_ids,
                 "waiter_delay": self.waiter_delay, "waiter_max_attempts": self.waiter_max_attempts})

    def hook(self) -> DsqlHook:
        return DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self.hook()
        message = ""
        for _ in range(self.waiter_max_attempts):
            state, message = index_jobs_state(await asyncio.to_thread(hook.pending_index_jobs, self.job_ids))
            if state != "running":
                yield TriggerEvent({"status": "success" if state == "done" else "error", "message": message})
                return
            self.log.info("Waiting for %s", message)
            await asyncio.sleep(self.waiter_delay)
        yield TriggerEvent({"status": "error", "message": f"{message}, not done after {self.waiter_max_attempts} "
                                                          f"polls {self.waiter_delay}s apart"})
