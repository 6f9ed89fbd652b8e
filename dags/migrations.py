"""Airflow DAGs, one per migration spec in include/specs/: a new collection or database is a new YAML file.

Wiring only. Parsing reads the small spec files and imports nothing heavy: the Amazon provider's EMR
and Glue operators, Spark and the database drivers load when tasks run, not when the file is parsed.
"""

from __future__ import annotations

from dbmigrate.dag_factory import build_dags
from dbmigrate.paths import spec_dir

# Each spec loads on its own: a broken one becomes a DAG that shows and fails with its error, the others load.
globals().update(build_dags(spec_dir()))
