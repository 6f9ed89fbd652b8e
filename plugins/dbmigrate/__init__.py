"""Airflow hooks, operators, sensors and triggers for database migrations on AWS.

Laid out like the Amazon provider: `hooks/` own connections and API calls, `operators/` are thin and
declare `template_fields`, `sensors/` and `triggers/` only wait. Pure mapping logic lives in
`include/transforms` (importable as `transforms`) so it can ship to EMR and Glue without Airflow.
"""

from __future__ import annotations

import sys
from pathlib import Path

# In the repository, `include/` holds the pure packages (`transforms`, `connectors`) the plugins share with
# the Spark jobs. On MWAA the bundle puts them into plugins.zip, beside this package, and this does nothing.
_INCLUDE = Path(__file__).resolve().parents[2] / "include"
if (_INCLUDE / "transforms").is_dir() and str(_INCLUDE) not in sys.path:
    sys.path.append(str(_INCLUDE))
