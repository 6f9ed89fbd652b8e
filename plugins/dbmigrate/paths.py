"""Where the package's run-time files are, in the repository and in an MWAA deployment: one place for both.

The repository keeps specs, SQL and job scripts in `include/` beside `plugins/`. MWAA syncs only
`dags/` and `plugins.zip` under its Airflow home, so the bundle (`make mwaa-bundle`) puts them in
`dags/dbmigrate_include/` and the pure packages (`transforms`, `connectors`) in plugins.zip. Every
run-time path is derived from `include_dir()`; nothing else looks for files by layout.
"""

from __future__ import annotations

import os
from pathlib import Path

INCLUDE_ENV = "DBMIGRATE_INCLUDE_DIR"  # an explicit override, for unusual layouts
BUNDLED_INCLUDE = "dbmigrate_include"  # its name under the DAGs folder in the MWAA bundle
_REPO_INCLUDE = Path(__file__).resolve().parents[2] / "include"


def _dags_folder() -> Path | None:
    folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if not folder:
        try:
            from airflow.providers.common.compat.sdk import conf

            folder = conf.get("core", "dags_folder", fallback=None)
        except ImportError:  # outside Airflow (the generators, the bundle builder)
            folder = None
    return Path(folder).expanduser() if folder else None


def candidates() -> list[Path]:
    """Where `include_dir` looks, in order."""
    found = [Path(os.environ[INCLUDE_ENV])] if os.environ.get(INCLUDE_ENV) else []
    found.append(_REPO_INCLUDE)
    dags = _dags_folder()
    if dags is not None:
        found.append(dags / BUNDLED_INCLUDE)
    return found


def include_dir() -> Path:
    """The folder holding `specs/`, `sql/` and `jobs/`: the first candidate that has `specs/`."""
    tried = candidates()
    for path in tried:
        if (path / "specs").is_dir():
            return path
    raise FileNotFoundError("no dbmigrate include folder (specs/, sql/, jobs/) in " + ", ".join(map(str, tried)))


def spec_dir() -> Path:
    return include_dir() / "specs"


def sql_dir(name: str = "") -> Path:
    """`sql/<name>`: one migration's DDL folder (an absolute `name` is returned as it is)."""
    path = Path(name)
    return path if path.is_absolute() else include_dir() / "sql" / path


def job_script(name: str) -> Path:
    return include_dir() / "jobs" / f"{name}.py"


def package_dir(package: str) -> Path:
    """Where an importable package (`transforms`, `connectors`) lives: `include/` or the plugins folder."""
    import importlib

    module = importlib.import_module(package)
    return Path(next(iter(module.__path__)))
