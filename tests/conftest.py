"""Shared fixtures: the embedded stack (PostgreSQL, moto, Airflow home) and one local SparkSession.

`make test` sources `bin/local-stack env` first; a bare `pytest` brings the stack up itself, so the same
tests run either way and never against anything but this machine.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devstack import stack


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("DBMIGRATE_PROFILE") != "local" or "LOCAL_DSQL_URI" not in os.environ:
        stack.up()
        os.environ.update(stack.env_vars(stack._state()))


@pytest.fixture(scope="session")
def dsql_uri() -> str:
    """psql-usable URI of the embedded PostgreSQL standing in for Aurora DSQL."""
    return os.environ["LOCAL_DSQL_URI"]


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    return os.environ["AWS_ENDPOINT_URL"]


@pytest.fixture
def empty_movie_db(dsql_uri: str) -> None:
    """The movie DAG's target schema dropped (its deploy_ddl task makes it again): only this test's export in it.
    Generated exports share keys, and a row is only replaced by a document with a greater `_id`
    (`source_version`), so another test's load would otherwise decide which rows this one finds."""
    import psycopg

    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS movie_db CASCADE")


@pytest.fixture
def pg_schema(dsql_uri: str) -> Iterator[str]:
    """A fresh, uniquely named schema in the DSQL stand-in, dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    yield name
    with psycopg.connect(dsql_uri, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole run: starting a JVM costs seconds."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]").appName("dbmigrate-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()
