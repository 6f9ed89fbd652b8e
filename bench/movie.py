"""movie_collection → the DSQL stand-in: the project's job vs the naive method vs `COPY` of the same rows."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import dsql_loader
from bench.common import (
    JDBC_JAR,
    ROOT,
    SPEC,
    alternate,
    drop_schema,
    dsql_uri,
    fresh_schema,
    spark_submit,
    target_json,
)

JOB = ROOT / "include" / "jobs" / "mongo_to_dsql.py"
NAIVE = Path(__file__).with_name("naive_movie_load.py")
TABLES = ("movies", "actors", "directors", "movie_actors", "movie_directors")
DOCUMENTS_PER_MOVIE = 8.3  # what generators.movie_collection writes per movie, on average


def source_file(work: Path, documents: int) -> tuple[Path, int]:
    """A clean mongoexport file of about `documents` documents (made once per size): (path, exact count)."""
    from generators.movie_collection import write

    movies = max(round(documents / DOCUMENTS_PER_MOVIE), 10)
    path = work / f"movie_collection_{movies}.json"
    if not path.exists():
        write(path, movies=movies, seed=42, bad_input=False)
    with path.open("rb") as f:
        return path, sum(1 for line in f if line.strip())


def rows_in(uri: str, schema: str) -> int:
    with psycopg.connect(uri) as conn:
        return sum(conn.execute(f"SELECT count(*) FROM {schema}.{t}").fetchone()[0] for t in TABLES)


def copy_out(uri: str, schema: str) -> dict[str, bytes]:
    """Every table of `schema` in COPY's binary format: the transformed rows, ready for the limit."""
    out = {}
    with psycopg.connect(uri) as conn:
        for table in TABLES:
            buf = io.BytesIO()
            with conn.cursor().copy(f"COPY {schema}.{table} TO STDOUT (FORMAT binary)") as cp:
                for chunk in cp:
                    buf.write(chunk)
            out[table] = buf.getvalue()
    return out


def copy_in(uri: str, schema: str, data: dict[str, bytes]) -> float:
    """The physical limit: COPY the already-transformed rows into the same (empty) tables, one transaction."""
    with psycopg.connect(uri) as conn:
        started = time.perf_counter()
        for table, payload in data.items():
            with conn.cursor().copy(f"COPY {schema}.{table} FROM STDIN (FORMAT binary)") as cp:
                cp.write(payload)
        conn.commit()
        return time.perf_counter() - started


def measure(work: Path, documents: int, repeats: int, *, keep: bool = False, native: bool = False
            ) -> dict[str, Any]:
    """One size: each contender `repeats` times, alternated; medians, the job's phases and peak memory.

    `keep`: leave the project's last load in place (`schema`, `source` in the result) for the validation figure.
    `native`: the job with `--native-mapping` (`transforms.native_mapping`) as a contender too, run once.
    """
    from dbmigrate.job_bundle import build_bundle

    uri = dsql_uri()
    source, count = source_file(work, documents)
    bundle = build_bundle(work)
    password = work / "password"
    password.write_text(str(psycopg.conninfo.conninfo_to_dict(uri).get("password", "")))
    spec = work / "movie_collection_to_dsql.yaml"
    kept: dict[str, str] = {}

    def project(*extra: str) -> tuple[float, dict[str, Any]]:
        schema = fresh_schema(uri, "bench_job")
        spec.write_text(SPEC.read_text().replace("schema: movie_db", f"schema: {schema}"))
        report = work / "report.json"
        seconds, rss = spark_submit(JOB, [
            "--spec", str(spec), "--source-uri", f"file://{source}", "--target-json", json.dumps(target_json(uri)),
            "--target-password-file", str(password), "--run-id", f"bench-{schema}", "--report-uri", str(report),
            "--quarantine-uri", f"file://{work}/quarantine", *extra], py_files=bundle, log=work / "job.log")
        rows = rows_in(uri, schema)
        if extra:  # a variant: not the load the later figures read
            drop_schema(uri, schema)
            return seconds, {"phases": json.loads(report.read_text())["phases"], "rows": rows}
        if "job" in kept:
            drop_schema(uri, kept["job"])
        kept["job"] = schema
        return seconds, {"phases": json.loads(report.read_text())["phases"], "peak_rss": rss, "rows": rows}

    def naive() -> tuple[float, dict[str, Any]]:
        schema = fresh_schema(uri, "bench_naive")
        info = target_json(uri)
        jdbc = f"jdbc:postgresql://{info['host']}:{info['port']}/{info['database']}"
        try:
            seconds, rss = spark_submit(NAIVE, [f"file://{source}", jdbc, info["user"], str(password), schema],
                                        jars=[JDBC_JAR], log=work / "naive.log")
            return seconds, {"peak_rss": rss, "rows": rows_in(uri, schema)}
        finally:
            drop_schema(uri, schema)

    contenders: dict[str, Any] = {"project": project}
    skipped = None
    if JDBC_JAR.exists():
        contenders["naive"] = naive
    else:
        skipped = (f"{JDBC_JAR} is missing (Debian's libpostgresql-jdbc-java; `bin/install-system-deps` installs it "
                   "as root): the naive method was not run")
    print(f"bench: movie load, {count:,} documents, {repeats} run(s) each", flush=True)
    samples = alternate(contenders, repeats)
    if native:  # opt-in and slower (docs/scaling.md): one run says how far it is, and keeps `make bench` short
        samples |= alternate({"native": lambda: project("--native-mapping")}, 1)

    data = copy_out(uri, kept["job"])
    copies = []
    for _ in range(repeats):
        schema = fresh_schema(uri, "bench_copy")
        try:
            copies.append(copy_in(uri, schema, data))
        finally:
            drop_schema(uri, schema)
    loader = None
    if keep:  # the largest size: the write phase against AWS's DSQL loader's method over the same rows
        print("bench: the DSQL loader's method over the job's rows", flush=True)
        loader = dsql_loader.measure(uri, kept["job"], TABLES, int(os.environ.get("BENCH_LOADER_REPEATS", 1)))
    else:
        drop_schema(uri, kept["job"])
    job = samples["project"]
    # the median, as every contender's figure is; the phases of the run nearest to it (with that run's own time,
    # which they add up to)
    nearest = min(range(len(job.seconds)), key=lambda i: abs(job.seconds[i] - job.median))
    return {
        "documents": count, "rows": job.extra[-1]["rows"],
        "project_s": job.median, "project_runs": job.seconds, "phases": job.extra[nearest]["phases"],
        "phases_run_s": job.seconds[nearest],
        "peak_rss": max(e["peak_rss"] for e in job.extra),
        "naive_s": samples["naive"].median if "naive" in samples else None,
        "naive_runs": samples["naive"].seconds if "naive" in samples else [],
        "naive_rows": samples["naive"].extra[-1]["rows"] if "naive" in samples else None,
        "naive_skipped": skipped,
        "copy_s": sorted(copies)[len(copies) // 2], "copy_runs": copies, "loader": loader,
        "schema": kept["job"] if keep else None, "source": str(source),
        **({"native_s": samples["native"].median, "native_runs": samples["native"].seconds,
            "native_rows": samples["native"].extra[-1]["rows"], "native_phases": samples["native"].extra[-1]["phases"]}
           if native else {}),
    }
