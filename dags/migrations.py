"""Airflow DAGs, one per migration spec in include/specs/: a new collection or database is a new YAML file.

Wiring only. Parsing reads the small spec files and imports nothing heavy: the Amazon provider's EMR
and Glue operators, Spark and the database drivers load when tasks run, not when the file is parsed.
"""

from __future__ import annotations

from dbmigrate.dag_factory import build_dag
from dbmigrate.paths import spec_dir
from transforms.spec import load_specs

for _spec in load_specs(spec_dir()):
    globals()[_spec.dag_id] = build_dag(_spec)
