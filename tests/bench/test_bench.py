"""`make bench` end to end at tiny sizes: every contender runs for real and both result files are written (the
sizes whose ratios mean something are `make bench`'s own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures import ROOT

pytestmark = pytest.mark.spark


def test_the_bench_writes_results_md_and_png(tmp_path: Path, dsql_uri: str) -> None:
    env = {**os.environ, "BENCH_MOVIE_DOCS": "300,3000", "BENCH_DDB_ITEMS": "100,1000", "BENCH_REPEATS": "1",
           "BENCH_LARGE_REPEATS": "1", "BENCH_DDB_LARGE_REPEATS": "1", "BENCH_PARSE_REPEATS": "1",
           "BENCH_OUT": str(tmp_path / "out"), "BENCH_WORK": str(tmp_path / "work")}
    proc = subprocess.run([sys.executable, "-m", "bench"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    small, large = results["movie"]
    assert large["documents"] > 9 * small["documents"]
    assert large["rows"] == large["documents"]  # a clean export: every document one row
    if Path("/usr/share/java/postgresql.jar").exists():
        assert large["naive_rows"] == large["documents"]
    assert set(large["phases"]) == {"read, map and dedup", "check references", "write quarantine", "write",
                                    "pending"}
    assert large["copy_s"] > 0 and large["peak_rss"] > 0
    assert results["validation"]["rows"] == large["rows"]
    assert [d["items"] for d in results["dynamodb"]] == [100, 1000]
    assert results["dag_parse"]["tasks"] == results["dag_parse"]["hand_tasks"]
    md = (tmp_path / "out" / "results.md").read_text()
    for figure in ("movie load", "movie write phase", "DynamoDB writer", "full reconciliation", "DAG parse",
                   "Where the job's time goes", "Scaling"):
        assert figure in md
    assert (tmp_path / "out" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
