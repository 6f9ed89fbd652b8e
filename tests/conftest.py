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
from tests.fixtures import spark_jvm
from tests.fixtures.spark_jvm import SPARK_TEST_CONF

# the whole runs many tests assert on, once per session (and the xdist group of the tests that use each)
pytest_plugins = ["tests.fixtures.session_runs"]

# how every Spark of the tests runs, the session SparkSession below and every spark-submit (tests/fixtures/spark_jvm.py)
CLASS_ARCHIVE: spark_jvm.ClassArchive | None = None


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("DBMIGRATE_PROFILE") != "local" or "LOCAL_DSQL_URI" not in os.environ:
        stack.up()
        os.environ.update(stack.env_vars(stack._state()))
    global CLASS_ARCHIVE
    CLASS_ARCHIVE = spark_jvm.configure()


def pytest_unconfigure(config: pytest.Config) -> None:
    if CLASS_ARCHIVE is not None:
        CLASS_ARCHIVE.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the tests of one shared whole run (or of the UI stack) on one xdist worker, where its session fixture
    is made once (tests.fixtures.session_runs.GROUPS), and the other tests of a file together; order the tests as
    the workers should take them: the longest groups first (`ORDER`; bin/run-tests keeps this order,
    `--no-loadscope-reorder`), and in a group the tests that start work the others wait for (a stable sort:
    otherwise in collection order).

    `--dist loadgroup` sends the tests whose node id ends in `@<group>` to one worker. pytest-xdist 3.8 appends
    it to `item._nodeid`, which pytest 9.2 no longer reads (node ids are `item._id`, a structured `NodeId`), so
    it is appended here."""
    from _pytest.nodeid import NodeId

    from tests.fixtures.session_runs import FIRST, GROUPS, ORDER

    group_of: dict[str, str | None] = {}
    for item in items:
        groups = {GROUPS[name] for name in getattr(item, "fixturenames", ()) if name in GROUPS}
        assert len(groups) <= 1, f"{item.nodeid} uses the shared runs of several groups: {groups}"
        # no shared run: the test's file, so a module-scoped fixture is made once and its schema has one writer
        group_of[item.nodeid] = group = groups.pop() if groups else item.nodeid.split("::")[0]
        if getattr(config.option, "loadgroup", False) and not item.nodeid.endswith(f"@{group}"):
            item._id = NodeId.parse(f"{item.nodeid}@{group}")

    def rank(item: pytest.Item) -> tuple[int, bool]:
        group = group_of.get(item.nodeid) or group_of.get(item.nodeid.rsplit("@", 1)[0])
        return (ORDER.index(group) if group in ORDER else len(ORDER),
                not any(name in FIRST for name in getattr(item, "fixturenames", ())))

    items.sort(key=rank)


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
        # Adaptive execution re-plans each query at every shuffle: on a test's few hundred rows that planning is
        # most of the JVM's CPU (about a quarter less without it, measured on the interval loads). Results are the
        # same; the whole DAG runs (their spark-submits) keep Spark's default, as EMR and Glue run.
        .config("spark.sql.adaptive.enabled", "false")
        .config(map=SPARK_TEST_CONF)
        .getOrCreate()
    )
    yield session
    session.stop()
