"""`make bench`: run every figure on the embedded stack and write bench/results.md and bench/results.png.

Sizes and repeats come from the environment (defaults: under 15 minutes on a 2-core machine):
BENCH_MOVIE_DOCS=100000,1000000  BENCH_DDB_ITEMS=10000,100000  BENCH_REPEATS=2  BENCH_LARGE_REPEATS=2
BENCH_DDB_LARGE_REPEATS=1 (a 100k-item run takes about 2 minutes on moto, each contender)  BENCH_PARSE_REPEATS=3
BENCH_PARSE_WARMUPS=1 (uncounted parses of each folder first: the first parse reads every module from disk)
BENCH_NATIVE=0 (1: the job with `--native-mapping` as a contender at the first size too, one run; opt-in and slower,
no figure of the issue's, so not in the default run)
BENCH_OUT=bench (where results.md/png and results.json go)  BENCH_WORK=.local-stack/bench
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench import dag_parse, dynamodb, movie, per_document, report, validation
from bench.common import ROOT, drop_schema, dsql_uri, write_json


def _sizes(name: str, default: str) -> list[int]:
    return [int(x) for x in os.environ.get(name, default).split(",")]


def main() -> None:
    started = time.perf_counter()
    out = Path(os.environ.get("BENCH_OUT", ROOT / "bench"))
    work = Path(os.environ.get("BENCH_WORK", ROOT / ".local-stack" / "bench"))
    work.mkdir(parents=True, exist_ok=True)
    repeats, large = int(os.environ.get("BENCH_REPEATS", 2)), int(os.environ.get("BENCH_LARGE_REPEATS", 2))
    movie_sizes = _sizes("BENCH_MOVIE_DOCS", "100000,1000000")
    native = os.environ.get("BENCH_NATIVE", "0") == "1"
    results: dict = {"movie": [], "dynamodb": [], "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                     "cpus": os.cpu_count()}
    for i, docs in enumerate(movie_sizes):
        last = i == len(movie_sizes) - 1
        results["movie"].append(movie.measure(work, docs, repeats if not last else large, keep=last,
                                              native=native and i == 0))
    largest = results["movie"][-1]
    try:
        results["validation"] = validation.measure(work, Path(largest["source"]), largest["schema"], large)
    finally:
        drop_schema(dsql_uri(), largest["schema"])
    results["profile"] = per_document.measure(Path(largest["source"]))
    ddb_sizes = _sizes("BENCH_DDB_ITEMS", "10000,100000")
    results["dynamodb"] = dynamodb.measure(ddb_sizes, repeats, int(os.environ.get("BENCH_DDB_LARGE_REPEATS", 1)))
    results["dag_parse"] = dag_parse.measure(int(os.environ.get("BENCH_PARSE_REPEATS", 3)),
                                             int(os.environ.get("BENCH_PARSE_WARMUPS", 1)))
    results["total_s"] = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", results)
    report.write(results, out)
    print(f"bench: done in {results['total_s'] / 60:.1f} min: {out / 'results.md'}, {out / 'results.png'}")


if __name__ == "__main__":
    main()
