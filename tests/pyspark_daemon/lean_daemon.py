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

- Spark puts pyspark.zip and py4j's zip first on the worker's path; Python compiles a module imported from an
  archive from its source each time (it caches no bytecode there), about 0.3 s of CPU per daemon. The daemon
  imports pyspark and py4j from the installed packages instead: the same version, from the same wheel.

Measured on this 2-core machine: the first two took about 80 % of the Python workers' CPU, a third of the suite's.
"""

import gc
import os
import sys
import zipimport
from typing import Any

_ARCHIVES = [p for p in sys.path if os.path.basename(p) == "pyspark.zip"
             or (os.path.basename(p).startswith("py4j-") and p.endswith(".zip"))]
sys.path[:] = [p for p in sys.path if p not in _ARCHIVES]
try:
    from pyspark import daemon
except ImportError:  # no installed pyspark: Spark's own archives, as pyspark's daemon would
    sys.path.extend(_ARCHIVES)
    from pyspark import daemon

zipimport.zipimporter.invalidate_caches = lambda self: None
_run_task = daemon.worker


def _worker(sock: Any, authenticated: bool) -> int:
    gc.freeze()
    return _run_task(sock, authenticated)


daemon.worker = _worker  # what `daemon.manager` calls in each forked worker

if __name__ == "__main__":
    daemon.manager()
