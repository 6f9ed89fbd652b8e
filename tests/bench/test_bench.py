"""`make bench` end to end at one tiny size: every contender runs for real and both result files are written (the
sizes whose ratios mean something are `make bench`'s own). The figures that need two sizes (the scaling table)
are checked on the results of the last `make bench`, kept in `bench/results.json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import report
from tests.fixtures import ROOT, unmeasured

pytestmark = pytest.mark.spark
FIGURES = ("movie load", "movie write phase", "DynamoDB writer", "DynamoDB ImportTable into a new table",
           "full reconciliation", "DAG parse", "Where the job's time goes", "Scaling", "DSQL loader's method")
NATIVE = "mapped by Spark expressions"  # the opt-in contender (BENCH_NATIVE=1)
PNG = b"\x89PNG\r\n\x1a\n"


def test_the_bench_writes_results_md_and_png(tmp_path: Path, dsql_uri: str) -> None:
    env = unmeasured({**os.environ, "BENCH_MOVIE_DOCS": "300", "BENCH_DDB_ITEMS": "100", "BENCH_REPEATS": "1",
                      "BENCH_LARGE_REPEATS": "1", "BENCH_DDB_LARGE_REPEATS": "1", "BENCH_PARSE_REPEATS": "1",
                      "BENCH_PARSE_WARMUPS": "0", "BENCH_NATIVE": "1", "BENCH_OUT": str(tmp_path / "out"),
                      "BENCH_WORK": str(tmp_path / "work")})
    proc = subprocess.run([sys.executable, "-m", "bench"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    (movie,) = results["movie"]
    assert movie["rows"] == movie["documents"] > 250  # a clean export: every document one row
    if Path("/usr/share/java/postgresql.jar").exists():
        assert movie["naive_rows"] == movie["documents"]
    assert set(movie["phases"]) == {"read, map and dedup", "check references", "write quarantine", "write",
                                    "pending"}
    assert movie["copy_s"] > 0 and movie["peak_rss"] > 0
    assert movie["native_rows"] == movie["rows"]  # the opt-in mapping by Spark expressions: the same rows
    loader = movie["loader"]  # AWS's DSQL loader's method over the job's rows, at each connection count
    assert loader["rows"] == movie["rows"] and set(loader["medians"]) == {"2", "4", "8"}
    assert results["validation"]["rows"] == movie["rows"]
    assert [d["items"] for d in results["dynamodb"]] == [100]
    assert results["dynamodb"][0]["import_s"] > 0  # the first-load path, each run checked COMPLETED with every item
    assert results["dag_parse"]["tasks"] == results["dag_parse"]["hand_tasks"]
    md = (tmp_path / "out" / "results.md").read_text()
    for figure in (*FIGURES, NATIVE):
        assert figure in md
    assert (tmp_path / "out" / "results.png").read_bytes()[:8] == PNG


def test_the_last_make_bench_renders_every_figure_and_its_scaling(tmp_path: Path) -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    assert len(results["movie"]) == len(results["dynamodb"]) == 2  # two sizes of each load
    report.write(results, tmp_path)
    md = (tmp_path / "results.md").read_text()
    for figure in FIGURES:
        assert figure in md
    scaling = md.split("## Scaling", 1)[1].split("\n## ", 1)[0]
    for load in ("movie job", "naive method", "COPY", "DynamoDB writer", "batch_writer", "ImportTable"):
        assert f"| {load} | " in scaling, scaling
    assert (tmp_path / "results.png").read_bytes()[:8] == PNG
