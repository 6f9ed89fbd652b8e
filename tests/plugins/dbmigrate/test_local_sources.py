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
