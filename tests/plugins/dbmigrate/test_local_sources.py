"""What a local job gets to reach a real source: source JSON without passwords, and the Spark packages."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection

from dbmigrate.local_sources import MONGO_SPARK_CONNECTOR, MSSQL_JDBC, mongo_packages, sqlserver_source_args


def test_mongo_packages() -> None:
    assert mongo_packages("mongodb://mongodb:27017") == [MONGO_SPARK_CONNECTOR]
    assert mongo_packages("mongodb+srv://x.example.net") == [MONGO_SPARK_CONNECTOR]
    assert mongo_packages("file:///data/movies.json") == []


def test_sqlserver_connection_becomes_a_jdbc_source() -> None:
    conn = Connection(conn_id="s", conn_type="mssql", host="sqlserver", port=1433, login="sa",
                      password="Secret-1", schema="dms_sample")
    source, packages = sqlserver_source_args(conn)
    assert source == {"jdbc_url": "jdbc:sqlserver://sqlserver:1433;databaseName=dms_sample;encrypt=false;"
                                  "trustServerCertificate=true",
                      "driver": "com.microsoft.sqlserver.jdbc.SQLServerDriver", "user": "sa"}
    assert "Secret-1" not in str(source) and packages == [MSSQL_JDBC]


def test_postgres_connection_is_read_with_psycopg() -> None:
    conn = Connection(conn_id="p", conn_type="postgres", host="127.0.0.1", port=5433, login="postgres",
                      password="pw", schema="dms_sample")
    assert sqlserver_source_args(conn) == ({"host": "127.0.0.1", "port": 5433, "user": "postgres",
                                            "dbname": "dms_sample"}, [])


def test_other_connection_types_are_refused() -> None:
    with pytest.raises(ValueError, match="reads mssql or postgres"):
        sqlserver_source_args(Connection(conn_id="o", conn_type="oracle", host="h"))


def test_default_ports() -> None:
    mssql = Connection(conn_id="s", conn_type="mssql", host="sqlserver", login="sa", schema="dms_sample")
    assert sqlserver_source_args(mssql)[0]["jdbc_url"].startswith("jdbc:sqlserver://sqlserver:1433;")
    pg = Connection(conn_id="p", conn_type="postgres", host="h", login="u", schema="d")
    assert sqlserver_source_args(pg)[0]["port"] == 5432


def test_an_mssql_connection_needs_its_database() -> None:
    with pytest.raises(ValueError, match="needs a host and a database"):
        sqlserver_source_args(Connection(conn_id="s", conn_type="mssql", host="sqlserver", login="sa"))


def test_the_compose_connection() -> None:
    """docker-compose.yaml's AIRFLOW_CONN_DMS_SAMPLE_SOURCE, as the staging operator would read it."""
    import json
    from pathlib import Path

    import yaml

    compose = yaml.safe_load((Path(__file__).resolve().parents[3] / "docker-compose.yaml").read_text())
    conn = Connection.from_json(compose["x-airflow-common"]["environment"]["AIRFLOW_CONN_DMS_SAMPLE_SOURCE"],
                                conn_id="dms_sample_source")
    source, packages = sqlserver_source_args(conn)
    assert source["jdbc_url"] == ("jdbc:sqlserver://sqlserver:1433;databaseName=dms_sample;encrypt=false;"
                                  "trustServerCertificate=true")
    assert conn.password and conn.password not in json.dumps(source) and packages == [MSSQL_JDBC]


def test_importable_without_airflow_or_pyspark() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; sys.modules['pyspark'] = None; sys.modules['airflow'] = None; "
            "import importlib.util as u; s = u.spec_from_file_location('ls', sys.argv[1]); m = u.module_from_spec(s); "
            "s.loader.exec_module(m); print(m.mongo_packages('mongodb://x'))")
    path = Path(__file__).resolve().parents[3] / "plugins" / "dbmigrate" / "local_sources.py"
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert MONGO_SPARK_CONNECTOR in proc.stdout
