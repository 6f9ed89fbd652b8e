"""Spark's Python daemon (`pyspark.daemon`) for every Spark the tests start (`spark.python.daemon.module`), without
two costs each task pays that have nothing to do with its work. The workers fork from this process and keep both.

- Before each task a worker calls `importlib.invalidate_caches()` (new `--py-files` may have arrived). On Python
  3.11 that makes every `zipimporter` re-read its archive's whole directory at once: about 0.1 s of CPU per task.
  A job's workers skip it from their first import of `connectors` on (`connectors.python_workers`); this daemon
  seals the archives before any task, for the tests' Spark functions that import nothing of the project.
- After each task a worker runs a full `gc.collect()`, which walks every object the worker holds: boto3's service
  models, pyspark, psycopg; tens of milliseconds per task. What outlived the last task is frozen before the next
  (`gc.freeze()`), so that collection walks only what the task made. (Cycles among frozen objects are no longer
  collected: a worker lives as long as its SparkContext.)

PySpark itself comes from the installed package, not Spark's zips: the tests' `SPARK_HOME` has none
(`dbmigrate.local_spark.spark_home`, as a local DAG run's). Measured on this 2-core machine: the first two took
about 80 % of the Python workers' CPU, a third of the suite's.
"""

import gc
from typing import Any

from pyspark import daemon

try:
    from connectors.python_workers import seal_zip_archives
except ImportError:  # a DAG run's job (its environment has no PYTHONPATH): its workers seal on importing its bundle
    pass
else:
    seal_zip_archives(force=True)
_run_task = daemon.worker


def _worker(sock: Any, authenticated: bool) -> int:
    gc.freeze()
    return _run_task(sock, authenticated)


daemon.worker = _worker  # what `daemon.manager` calls in each forked worker

if __name__ == "__main__":
    daemon.manager()
