"""DsqlIndexJobsTrigger: serialization, and its async run() against `sys.jobs` faked as a table in a throwaway
database of the stand-in (the real query, polled in a thread)."""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

import pytest

from dbmigrate.hooks.dsql import DsqlHook
from dbmigrate.triggers.dsql import DsqlIndexJobsTrigger
from tests.plugins.dbmigrate.hooks.test_dsql import scratch_db  # noqa: F401 - the fixture, shared


@pytest.fixture
def jobs(scratch_db: str) -> DsqlHook:  # noqa: F811 - the fixture above
    hook = DsqlHook(dsql_conn_id="dsql_scratch")
    hook.execute_ddl("CREATE SCHEMA sys")
    hook.execute_ddl("CREATE TABLE sys.jobs (job_id text, status text, details text)")
    hook.run("INSERT INTO sys.jobs VALUES ('done1', 'completed', NULL), ('run1', 'processing', NULL)")
    return hook


def events(trigger: DsqlIndexJobsTrigger, meanwhile: Any = None) -> list[dict[str, Any]]:
    """Every event the trigger yields; `meanwhile()` runs in a thread after its first poll."""
    async def collect() -> list[dict[str, Any]]:
        later = None
        if meanwhile is not None:
            later = asyncio.create_task(asyncio.to_thread(lambda: (time.sleep(0.3), meanwhile())))
        out = [e.payload async for e in trigger.run()]
        if later is not None:
            await later
        return out
    return asyncio.run(collect())


def trigger(**kwargs: Any) -> DsqlIndexJobsTrigger:
    return DsqlIndexJobsTrigger(dsql_conn_id="dsql_scratch", **{"waiter_delay": 0.1, "waiter_max_attempts": 100,
                                                                 **kwargs})


def test_serialization() -> None:
    t = DsqlIndexJobsTrigger(dsql_conn_id="dsql_prod", aws_conn_id="aws_x", job_ids=["j1"], waiter_delay=5,
                             waiter_max_attempts=7)
    path, kwargs = t.serialize()
    module, name = path.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (path, kwargs)
    assert kwargs == {"dsql_conn_id": "dsql_prod", "aws_conn_id": "aws_x", "job_ids": ["j1"], "waiter_delay": 5,
                      "waiter_max_attempts": 7}


def test_success_once_the_jobs_complete(jobs: DsqlHook) -> None:
    out = events(trigger(), meanwhile=lambda: jobs.run("UPDATE sys.jobs SET status = 'completed'"))
    assert out == [{"status": "success", "message": "no async index job left"}]


def test_a_failed_job_is_an_error_naming_it(jobs: DsqlHook) -> None:
    jobs.run("UPDATE sys.jobs SET status = 'failed', details = 'duplicate key' WHERE job_id = 'run1'")
    assert events(trigger()) == [{"status": "error",
                                  "message": "async index job(s) failed: run1 failed: duplicate key"}]


def test_gives_up_after_its_attempts(jobs: DsqlHook) -> None:
    (event,) = events(trigger(waiter_delay=0, waiter_max_attempts=2))
    assert event["status"] == "error" and "1 async index job(s): run1 (processing), not done after 2 polls" in (
        event["message"])
