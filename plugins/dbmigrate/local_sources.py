"""How a local Spark job reaches a real source: the source JSON it gets and the Spark packages it needs.

The embedded stack's sources are a mongoexport file and a PostgreSQL copy of SQL Server, read without any
jar. With `docker compose` (docker-compose.yaml) the local profile reads the real servers instead: MongoDB
through the MongoDB Spark Connector, SQL Server through Microsoft's JDBC driver, both fetched by Spark's
`--packages` (from Maven Central, into the Ivy cache). Passwords never go into the JSON: the job reads them
from the environment variable that `LocalSparkSubmitOperator` fills from the Airflow connection.

Pure functions over a Connection-like object (`conn_type`, `host`, `port`, `login`, `schema`): no Airflow,
no pyspark import, so the staging operator and its tests import this anywhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MONGO_SPARK_CONNECTOR", "MSSQL_DRIVER", "MSSQL_JDBC", "mongo_packages", "sqlserver_source_args"]

MONGO_SPARK_CONNECTOR = "org.mongodb.spark:mongo-spark-connector_2.12:10.4.1"  # Spark 3.5, Scala 2.12
MSSQL_JDBC = "com.microsoft.sqlserver:mssql-jdbc:12.8.1.jre11"  # runs on Java 11+ (the image has 17)
MSSQL_DRIVER = "com.microsoft.sqlserver.jdbc.SQLServerDriver"


def mongo_packages(source_uri: str) -> list[str]:
    """The Spark packages `jobs/mongo_to_dsql.py` needs to read `source_uri`.

    `[MONGO_SPARK_CONNECTOR]` for a live collection (`mongodb://…` or `mongodb+srv://…`), `[]` for a
    mongoexport file (`file://`, `s3://`, a path). The credentials are not in the URI: the job fetches them
    from Secrets Manager by the spec's `source.secret_arn`.
    """
    return [MONGO_SPARK_CONNECTOR] if source_uri.strip().startswith(("mongodb://", "mongodb+srv://")) else []


def sqlserver_source_args(conn: Any) -> tuple[dict[str, Any], list[str]]:
    """(`--source-json` of `jobs/sql_to_dynamodb.py`, Spark packages) for an Airflow connection.

    - `mssql` (a real SQL Server, docker compose): `{"jdbc_url": "jdbc:sqlserver://<host>:<port or 1433>;
      databaseName=<schema>;encrypt=false;trustServerCertificate=true", "driver": MSSQL_DRIVER,
      "user": <login>}` and `[MSSQL_JDBC]`; the job reads it with Spark's JDBC source. The connection's
      `schema` field is the database (`dms_sample`); the table schema (`dbo`) is the job's `--source-schema`.
    - `postgres`/`postgresql` (the embedded stack): `{"host", "port" (or 5432), "user", "dbname": <schema>}`
      and `[]`; the job reads it with psycopg on the executors, no jar.

    The password is never in the JSON (the job reads it from the file `--source-password-file` names).
    Raises ValueError for any other connection type, or an `mssql` connection without host or database.
    """
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "mssql":
        if not conn.host or not conn.schema:
            raise ValueError("an mssql source connection needs a host and a database (the connection's schema "
                             f"field); got host={conn.host!r}, schema={conn.schema!r}")
        url = (f"jdbc:sqlserver://{conn.host}:{conn.port or 1433};databaseName={conn.schema};"
               "encrypt=false;trustServerCertificate=true")
        return {"jdbc_url": url, "driver": MSSQL_DRIVER, "user": conn.login}, [MSSQL_JDBC]
    if conn_type in ("postgres", "postgresql"):
        return {"host": conn.host, "port": conn.port or 5432, "user": conn.login, "dbname": conn.schema}, []
    raise ValueError(f"source connection type {conn.conn_type!r}: the local profile reads mssql or postgres")
