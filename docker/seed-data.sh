#!/usr/bin/env bash
# One-shot: the movie_collection export (mongoexport Extended JSON, with bad input of every kind). It stays the
# DAG's default local source in the shared `runs` volume; mongo-seed imports the documents MongoDB can store
# (docker/mongoimport_filter.py leaves out the lines that are not documents or not valid Extended JSON).
set -euo pipefail
cd /opt/airflow/include
out=/opt/airflow/runs/data/movie_collection.json
python -m generators.movie_collection --movies "${DEMO_MOVIES:-2000}" --seed 42 --bad-input --out "$out"
python /opt/airflow/docker/mongoimport_filter.py "$out" /opt/airflow/runs/data/movie_collection.mongoimport.json
