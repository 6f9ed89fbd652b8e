"""How a local Spark job reaches a real source: the source JSON it gets and the Spark packages it needs.

The embedded stack's sources are a mongoexport file and a PostgreSQL copy of SQL Server, read without any
jar. With `docker compose` (docker-compose.yaml) the local profile reads the real servers instead: MongoDB
through the MongoDB Spark Connector, SQL Server through Microsoft's JDBC driver, both fetched by Spark's
`--packages`. Passwords never go into the JSON: the job reads them from the environment variable that
`LocalSparkSubmitOperator` fills from the Airflow connection.
"""

from __future__ import annotations

from typing import Any

MONGO_SPARK_CONNECTOR = "org.mongodb.spark:mongo-spark-connector_2.12:10.4.1"
MSSQL_JDBC = "com.microsoft.sqlserver:mssql-jdbc:12.8.1.jre11"
MSSQL_DRIVER = "com.microsoft.sqlserver.jdbc.SQLServerDriver"


def mongo_packages(source_uri: str) -> list[str]:
    """The MongoDB Spark Connector for a live collection (mongodb://), nothing for an export file."""
    return [MONGO_SPARK_CONNECTOR] if source_uri.startswith(("mongodb://", "mongodb+srv://")) else []


def sqlserver_source_args(conn: Any) -> tuple[dict[str, Any], list[str]]:
    """(source JSON for the job's `--source-json`, Spark packages) for an Airflow connection.

    `mssql`: a JDBC URL (database = the connection's schema field) read by Spark's JDBC source with
    Microsoft's driver. `postgres` (the embedded stack): host, port, user and dbname, read with psycopg on
    the executors, no jar needed.
    """
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "mssql":
        url = (f"jdbc:sqlserver://{conn.host}:{conn.port or 1433};databaseName={conn.schema};"
               "encrypt=false;trustServerCertificate=true")
        return {"jdbc_url": url, "driver": MSSQL_DRIVER, "user": conn.login}, [MSSQL_JDBC]
    if conn_type in ("postgres", "postgresql"):
        return {"host": conn.host, "port": conn.port or 5432, "user": conn.login, "dbname": conn.schema}, []
    raise ValueError(f"source connection type {conn.conn_type!r}: the local profile reads mssql or postgres")
