#!/usr/bin/env bash
# One-shot: the movie_collection export (mongoexport Extended JSON, with bad input of every kind). It stays the
# DAG's default local source in the shared `runs` volume; mongo-seed imports the lines that are JSON documents
# (a real collection cannot hold the export's deliberately broken lines, every other bad input it can).
set -euo pipefail
cd /opt/airflow/include
out=/opt/airflow/runs/data/movie_collection.json
python -m generators.movie_collection --movies "${DEMO_MOVIES:-2000}" --seed 42 --bad-input --out "$out"
python - "$out" <<'PY'
import json, sys

src = sys.argv[1]
kept = skipped = 0
with open(src, encoding="utf-8") as f, open(src.replace(".json", ".mongoimport.json"), "w", encoding="utf-8") as out:
    for line in f:
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if ok:
            out.write(line)
            kept += 1
        else:
            skipped += 1
print(f"mongoimport file: {kept} documents, {skipped} lines that are not JSON documents left out")
PY
