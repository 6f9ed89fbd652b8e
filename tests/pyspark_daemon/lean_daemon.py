"""Spark's Python daemon (`pyspark.daemon`) for every Spark the tests start (`spark.python.daemon.module`), without
two costs each task pays that have nothing to do with its work. The workers fork from this process and keep both.

- Before each task a worker calls `importlib.invalidate_caches()` (new `--py-files` may have arrived). On Python
  3.11 that makes every `zipimporter` re-read its archive's whole directory at once (3.12 re-reads lazily, on the
  next import from it): a worker's path holds pyspark.zip (793 entries, once per subpackage imported from it) and
  spark-core's jar (5,221), about 0.1 s of CPU per task. An archive on the path never changes while a worker
  lives (a new file is a new path, read when first imported from), so that re-read is skipped.
- After each task a worker runs a full `gc.collect()`, which walks every object the worker holds: boto3's service
  models, pyspark, psycopg; tens of milliseconds per task. What outlived the last task is frozen before the next
  (`gc.freeze()`), so that collection walks only what the task made. (Cycles among frozen objects are no longer
  collected: a worker lives as long as its SparkContext.)

Measured on this 2-core machine: the two took about 80 % of the Python workers' CPU, a third of the suite's.
"""

import gc
import zipimport
from typing import Any

from pyspark import daemon

zipimport.zipimporter.invalidate_caches = lambda self: None
_run_task = daemon.worker


def _worker(sock: Any, authenticated: bool) -> int:
    gc.freeze()
    return _run_task(sock, authenticated)


daemon.worker = _worker  # what `daemon.manager` calls in each forked worker

if __name__ == "__main__":
    daemon.manager()
