"""Validation of ≥ 1M rows: the full reconciliation (`connectors.reconcile_dsql`) vs the bare minimum a check
could do, `SELECT count(*)` of every table plus one full scan of both sides.

The bare scans: every target table read to the client through a server-side cursor (each value decoded), and
every source document read and parsed as JSON (`connectors.documents.iter_lines` + `json.loads`): reading the
rows, with no mapping, hashing or comparing. The reconciliation re-maps each document by the job's rules, hashes
each row on both sides and compares per bucket of keys.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.common import SPEC, alternate, dsql_uri
from bench.movie import TABLES


def bare(uri: str, source: Path, schema: str) -> tuple[float, dict[str, Any]]:
    from connectors.documents import iter_lines

    started = time.perf_counter()
    rows = 0
    with psycopg.connect(uri) as conn:
        for table in TABLES:
            conn.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()
            with conn.cursor(name=f"scan_{table}") as cur:
                cur.itersize = 20_000
                cur.execute(f"SELECT * FROM {schema}.{table}")
                for _ in cur:
                    rows += 1
        conn.rollback()
    documents = sum(1 for line in iter_lines(f"file://{source}") if json.loads(line) is not None)
    return time.perf_counter() - started, {"rows": rows, "documents": documents}


def full(uri: str, source: Path, schema: str) -> tuple[float, dict[str, Any]]:
    from connectors.documents import iter_lines
    from connectors.reconcile_dsql import reconcile_dsql_tables
    from transforms.spec import load_spec

    spec = load_spec(SPEC)
    started = time.perf_counter()
    with psycopg.connect(uri) as conn:
        result = reconcile_dsql_tables(lambda: iter_lines(f"file://{source}"), spec, conn, schema)
    seconds = time.perf_counter() - started
    failed = [name for name, rec in result.tables.items() if not rec.passed]
    if failed:
        raise RuntimeError(f"the reconciliation of a clean load failed for {failed}")
    return seconds, {"rows": sum(r.rows_actual for r in result.tables.values()), "parts": result.seconds}


def measure(work: Path, source: Path, schema: str, repeats: int) -> dict[str, Any]:
    """Both contenders over a loaded `schema` and its `source` file, alternated."""
    uri = dsql_uri()
    print(f"bench: validation, {repeats} run(s) each", flush=True)
    samples = alternate({"reconcile": lambda: full(uri, source, schema), "bare": lambda: bare(uri, source, schema)},
                        repeats)
    rec, base = samples["reconcile"], samples["bare"]
    return {"rows": rec.extra[0]["rows"], "documents": base.extra[0]["documents"], "reconcile_s": rec.median,
            "bare_s": base.median, "reconcile_runs": rec.seconds, "bare_runs": base.seconds,
            "parts": rec.extra[len(rec.extra) // 2]["parts"]}
