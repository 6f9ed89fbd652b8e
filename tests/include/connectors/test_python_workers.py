"""A PySpark worker that imports the project's connectors reads the zip archives on its path once, not before every
task; anywhere else nothing changes."""

from __future__ import annotations

import sys
from typing import Any

from connectors.python_workers import SealedZipImporter, in_python_worker, seal_zip_archives


def _probe(_: Any) -> list[tuple[str, str, bool]]:
    """In a worker: each zip importer on its path, and whether its archive's directory survived a task's
    `importlib.invalidate_caches()` (a re-read makes a new one)."""
    import importlib
    import zipimport

    import connectors  # noqa: F401 - what a job's functions import first

    zips = {p: f for p, f in sys.path_importer_cache.items() if isinstance(f, zipimport.zipimporter)}
    before = {p: f._files for p, f in zips.items()}
    importlib.invalidate_caches()
    return [(p, type(f).__name__, f._files is before[p]) for p, f in zips.items()]


def test_a_worker_keeps_its_archives_read(spark: Any) -> None:
    seen = spark.sparkContext.parallelize([0], 1).mapPartitions(_probe).collect()
    assert any(path.endswith(".jar") for path, _, _ in seen)  # Spark's core jar is on every worker's path
    assert all(kind == "SealedZipImporter" and kept for _, kind, kept in seen), seen


def test_elsewhere_nothing_changes() -> None:
    hooks = list(sys.path_hooks)
    assert not in_python_worker()
    seal_zip_archives()
    assert sys.path_hooks == hooks and SealedZipImporter not in hooks
