"""connectors.sql_source.read_table_jdbc (the path a real SQL Server takes) against the psycopg reader.

No SQL Server runs here, so Spark's JDBC source is exercised with PostgreSQL's driver
(/usr/share/java/postgresql.jar, Debian's libpostgresql-jdbc-java) against the embedded PostgreSQL (the session's
generated dms_sample): every table read through JDBC and `conform` must equal, schema and rows, what `read_table`
reads, and the SQL Server → DynamoDB job given a JDBC source must build the same items as from the psycopg one
(a dry run of each item set, counted by type). It all runs in one spark-submit of its own (the jar must be on
the classpath when the JVM starts), in a JVM whose default zone is not UTC, so a timestamp read through the
machine's zone would show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.sql_source import jdbc_options
from tests.fixtures.dms_sample_load import SPEC_PATH, Loaded, Source

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[3]
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
needs_jar = pytest.mark.skipif(
    not JDBC_JAR.exists(), reason="no PostgreSQL JDBC driver at /usr/share/java/postgresql.jar (as root, "
                                  "bin/install-system-deps installs Debian's libpostgresql-jdbc-java)")

COMPARE = r'''
import json, sys
sys.path[:0] = [sys.argv[7], sys.argv[7] + "/include"]  # the repository: the tests' dms_sample schemas
from pyspark.sql import SparkSession
from connectors.sql_source import read_table, read_table_jdbc
from generators.dms_sample import TABLES
from tests.fixtures.dms_sample_types import SPLIT_COLUMNS, conform, read_schema, struct_of

conninfo, jdbc, schema, password_file, out, spec = json.loads(sys.argv[1]), json.loads(sys.argv[2]), *sys.argv[3:7]
spark = (SparkSession.builder.appName("jdbc-compare").config("spark.sql.session.timeZone", "UTC")
         .getOrCreate())
result = {}
for table in TABLES:
    split = SPLIT_COLUMNS.get(table)
    raw = read_table_jdbc(spark, source=jdbc, password_file=password_file, schema=schema, table=table,
                          partitions=3, split_column=split)
    via_jdbc = conform(raw, table)
    via_psycopg = read_table(spark, conninfo=conninfo, password_file=password_file, schema=schema, table=table,
                             struct=struct_of(table), partitions=3, split_column=split)
    a, b = sorted(map(repr, via_jdbc.collect())), sorted(map(repr, via_psycopg.collect()))
    result[table] = {"schema_equal": via_jdbc.schema == via_psycopg.schema == read_schema(table),
                     "rows": len(a), "rows_equal": a == b, "first_difference": next(
                         ([x, y] for x, y in zip(a, b) if x != y), None),
                     "partitions": raw.rdd.getNumPartitions()}
# the job itself, given the JDBC source: each item set as a dry run (what it would write, counted by type)
from jobs.sql_to_dynamodb import parse_args, run
jobs = {}
for item_set in ("ticket_sales", "config"):
    report = run(parse_args(["--spec", spec, "--item-set", item_set, "--run-id", "jdbc", "--report-uri",
                             f"{out}.{item_set}.json", "--source-json", json.dumps(jdbc), "--source-schema", schema,
                             "--source-password-file", password_file, "--partitions", "3", "--dry-run"]), spark)
    jobs[item_set] = report["by_type"]
json.dump({"tables": result, "jobs": jobs}, open(out, "w"))
spark.stop()
'''


@pytest.fixture(scope="module")
def source(dms_source: Source) -> dict:
    """The session's generated dms_sample (PostgreSQL port); its conninfo and JDBC source JSON."""
    info = dms_source.info
    jdbc = {"jdbc_url": f"jdbc:postgresql://{info['host']}:{info['port']}/{info['dbname']}",
            "driver": "org.postgresql.Driver", "user": info["user"]}
    return {"schema": dms_source.schema, "conninfo": info, "jdbc": jdbc, "uri": dms_source.uri,
            "password_file": str(dms_source.password_file), "counts": dms_source.counts}


@pytest.fixture(scope="module")
def through_jdbc(source: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What the one spark-submit found: per table the comparison, per item set the job's items by type."""
    from dbmigrate.job_bundle import build_bundle

    tmp = tmp_path_factory.mktemp("jdbc")
    script, out = tmp / "compare.py", tmp / "result.json"
    script.write_text(COMPARE)
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]", "--jars", str(JDBC_JAR),
           "--conf", "spark.sql.shuffle.partitions=8",  # as the local operator runs the job
           "--conf", "spark.ui.enabled=false", "--py-files", str(build_bundle(tmp)), str(script),
           json.dumps(source["conninfo"]), json.dumps(source["jdbc"]), source["schema"], source["password_file"],
           str(out), str(SPEC_PATH), str(Path(__file__).resolve().parents[3])]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "TZ": "America/Sao_Paulo"}  # a JVM zone that is not UTC
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_jdbc_options_take_the_password_from_its_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    source = {"jdbc_url": "jdbc:sqlserver://sqlserver:1433;databaseName=dms_sample",
              "driver": "com.microsoft.sqlserver.jdbc.SQLServerDriver", "user": "sa"}
    options = jdbc_options(source, str(tmp_path / "pw"))
    assert options["password"] == "s3cret" and options["user"] == "sa"
    assert options["preferTimestampNTZ"] == "true"  # datetime2 stays wall-clock, whatever the JVM's zone
    with pytest.raises(ValueError, match="must not carry a password"):
        jdbc_options({**source, "password": "x"}, None)
    with pytest.raises(ValueError, match="needs \\['driver'\\]"):
        jdbc_options({"jdbc_url": "jdbc:x"}, None)


@needs_jar
def test_every_table_reads_the_same_through_jdbc(source: dict, through_jdbc: dict) -> None:
    result = through_jdbc["tables"]
    assert set(result) == set(source["counts"])
    for table, r in result.items():
        assert r["schema_equal"], table
        assert r["rows"] == source["counts"][table], table
        assert r["rows_equal"], (table, r["first_difference"])
    assert result["sporting_event_ticket"]["partitions"] == 3  # split on its id: 3 parallel queries
    assert result["sport_type"]["partitions"] == 1  # no split column: one query


@needs_jar
@pytest.mark.parametrize("item_set", ["ticket_sales", "config"])
def test_a_jdbc_source_builds_the_same_items(through_jdbc: dict, dms_loaded: Loaded, item_set: str) -> None:
    """The job's items by type from the JDBC source equal those the session's load wrote from the psycopg one,
    which tests/include/jobs/test_dms_sample_reference.py checks item for item."""
    assert through_jdbc["jobs"][item_set] == dms_loaded.reports[item_set]["by_type"]
