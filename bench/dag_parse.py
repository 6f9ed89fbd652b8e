"""DAG parse: the project's DAG files in one `DagBag` vs the same DAGs written by hand (`handwritten/`).

Each parse runs in a fresh interpreter (as the dag-processor's parsing process does), timing only the `DagBag`
construction: imports of Airflow, the provider and the project's plugins included, interpreter start-up not.
The project's DAGs are parsed as MWAA parses them (`DBMIGRATE_PROFILE=aws`: EMR and Glue operators).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, alternate

_PARSE = """
import json, sys, time
t = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
seconds = time.perf_counter() - t
assert not bag.import_errors, bag.import_errors
print(json.dumps({"seconds": seconds, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values())}))
"""


# the specs whose DAGs `handwritten/` writes by hand: the project's parse reads only these, so both sides build the
# same DAGs
HANDWRITTEN_SPECS = ("movie_collection_to_dsql", "dms_sample_to_dynamodb")


def _include_of_the_handwritten_specs() -> Path:
    """A copy of `include/` whose specs are those of `HANDWRITTEN_SPECS`."""
    folder = Path(tempfile.mkdtemp(prefix="dbmigrate-bench-include-")) / "include"
    shutil.copytree(ROOT / "include", folder, ignore=shutil.ignore_patterns("__pycache__"))
    for spec in (folder / "specs").glob("*.yaml"):
        if spec.stem not in HANDWRITTEN_SPECS:
            spec.unlink()
    return folder


def _parse(folder: Path, include: Path | None = None) -> tuple[float, dict[str, Any]]:
    env = {**os.environ, "DBMIGRATE_PROFILE": "aws", **({"DBMIGRATE_INCLUDE_DIR": str(include)} if include else {})}
    out = subprocess.run([sys.executable, "-c", _PARSE, str(folder)], env=env, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    result = json.loads(out)
    return result["seconds"], result


def measure(repeats: int, warmups: int = 1) -> dict[str, Any]:
    print(f"bench: DAG parse, {repeats} parse(s) each after {warmups} uncounted warm-up(s) each", flush=True)
    include = _include_of_the_handwritten_specs()
    try:
        for _ in range(warmups):
            _parse(ROOT / "dags", include)  # the first parse of a session reads every module from disk: ~20%
            _parse(Path(__file__).with_name("handwritten"))  # slower, for both
        samples = alternate({"project": lambda: _parse(ROOT / "dags", include),
                             "by hand": lambda: _parse(Path(__file__).with_name("handwritten"))}, repeats)
    finally:
        shutil.rmtree(include.parent, ignore_errors=True)
    project, hand = samples["project"], samples["by hand"]
    return {"project_s": project.median, "hand_s": hand.median, "project_runs": project.seconds,
            "hand_runs": hand.seconds, "tasks": project.extra[0]["tasks"], "hand_tasks": hand.extra[0]["tasks"]}
