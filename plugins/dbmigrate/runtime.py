"""Where a run reads and writes: resolved at execute time from the spec, the compute profile and params.

The compute profile (`DBMIGRATE_PROFILE`: `aws` by default, `local` after `bin/local-stack env`) picks
EMR/Glue or local Spark; everything else about a run (source, report and quarantine locations) is
derived here once, so every task of a run agrees on it.
"""

from __future__ import annotations

import os
from typing import Any

from dbmigrate import paths
from transforms.spec import expand_env, load_spec

PROFILES = ("aws", "local")


def compute_profile() -> str:
    profile = os.environ.get("DBMIGRATE_PROFILE", "aws")
    if profile not in PROFILES:
        raise ValueError(f"DBMIGRATE_PROFILE must be one of {PROFILES}, got {profile!r}")
    return profile


def spec_for(dag_id: str) -> Any:
    """The spec a DAG was built from, re-read at execute time (cheap local file I/O)."""
    return load_spec(paths.spec_dir() / f"{dag_id}.yaml")


def source_uri(spec: Any, params: dict[str, Any]) -> str:
    """The `source_uri` param when given, else the spec's live source (aws) or export file (local)."""
    override = (params.get("source_uri") or "").strip()
    if override:
        return override
    return expand_env(spec.local_source_uri if compute_profile() == "local" else spec.source_uri)


def run_prefix(spec: Any, run_id: str) -> str:
    """Where a run's reports go: `$LOCAL_REPORTS_DIR/<dag_id>/<run_id>` locally, the staging bucket on AWS."""
    if compute_profile() == "local":
        return f"{os.environ['LOCAL_REPORTS_DIR']}/{spec.dag_id}/{run_id}"
    return f"{spec.staging_uri}/runs/{run_id}"


def quarantine_uri(spec: Any, run_id: str) -> str:
    from connectors.storage import safe_segment

    return f"{expand_env(spec.quarantine_uri).rstrip('/')}/{spec.dag_id}/{safe_segment(run_id)}"

