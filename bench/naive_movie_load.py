"""The naive method a data engineer would otherwise write (after the AWS post this migration follows):

Spark reads the export with its own JSON reader, splits it by `type`, gives every row a random UUID and appends
each table over JDBC (`batchsize` 2500, `isolationLevel` NONE). No dedup, no orphan check, no quarantine, no
type rules (a value Spark cannot cast becomes NULL), no idempotence (a re-run duplicates). The baseline of
`make bench`, run with spark-submit like the project's job:

    spark-submit --jars /usr/share/java/postgresql.jar naive_movie_load.py FILE JDBC_URL USER PASSWORD_FILE SCHEMA
"""

from __future__ import annotations

import sys
from pathlib import Path

# table → (type, [(column, source field, Spark type)], uuid columns)
TABLES = {
    "movies": ("movie", [("source_id", "PK", "string"), ("title", "title", "string"), ("release_year", "year", "int"),
                         ("release_date", "release_date", "date"), ("runtime_minutes", "runtime_minutes", "int"),
                         ("rating", "rating", "decimal(3,1)"), ("genres", "genres", "json"),
                         ("budget", "details.budget", "bigint"), ("box_office", "details.box_office", "bigint"),
                         ("language", "details.language", "string")], ["movie_id"]),
    "actors": ("actor", [("source_id", "PK", "string"), ("name", "name", "string"),
                         ("birth_date", "birth_date", "date"), ("birth_place", "birth_place", "string")],
               ["actor_id"]),
    "directors": ("director", [("source_id", "PK", "string"), ("name", "name", "string"),
                               ("birth_date", "birth_date", "date")], ["director_id"]),
    "movie_actors": ("movie_actor", [("character_name", "character_name", "string"),
                                     ("billing_order", "billing_order", "int")], ["movie_id", "actor_id"]),
    "movie_directors": ("movie_director", [], ["movie_id", "director_id"]),
}


def main(source: str, jdbc_url: str, user: str, password_file: str, schema: str) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = SparkSession.builder.appName("naive movie load").getOrCreate()
    df = spark.read.json(source).cache()
    fields = set(df.columns)
    props = {"user": user, "password": Path(password_file).read_text().strip(), "driver": "org.postgresql.Driver",
             "batchsize": "2500", "isolationLevel": "NONE", "stringtype": "unspecified"}
    for table, (doc_type, columns, uuid_columns) in TABLES.items():
        part = df.filter(F.col("type") == doc_type)
        select = [F.expr("uuid()").alias(c) for c in uuid_columns]
        for name, src, kind in columns:
            if src.split(".")[0] not in fields:
                select.append(F.lit(None).cast("string" if kind == "json" else kind).alias(name))
                continue
            col = F.col(src)
            atomic = df.select(col).schema[0].dataType.typeName() not in ("struct", "array", "map")
            if kind == "json" or not atomic:  # Extended JSON wrappers ({"$date": …}) come as structs: cast their text
                col = F.to_json(col)
            select.append((col if kind == "json" else col.cast(kind)).alias(name))
        select.append(F.to_json(F.col("_id")).alias("source_doc_id"))
        part.select(*select).write.mode("append").jdbc(jdbc_url, f"{schema}.{table}", properties=props)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:6])
