"""A run's inputs, resolved once: from the spec, the compute profile and the trigger params.

The compute profile (`DBMIGRATE_PROFILE`: `aws` by default, `local` after `bin/local-stack env`) picks
EMR/Glue or local Spark. `resolve_mongo_to_dsql` and `resolve_sql_to_dynamodb` turn spec + params
into the plain dict the first task of a run returns (`ResolveRunOperator`); every later task takes what
it needs from that task's output (XComArgs) and never derives it again, so all tasks of a run agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dbmigrate import paths
from transforms.spec import SpecError, load_spec
from transforms.spec_common import expand_env

PROFILES = ("aws", "local")


class RunInputError(ValueError):
    """A param or spec value this run cannot use; retrying does not help."""


def check_conf_keys(conf: Mapping[str, Any], known: Iterable[str]) -> None:
    """Refuse a run whose conf names a key the DAG has no param for (`{"dryrun": true}` would otherwise be
    ignored and the run write the target), naming the key and the nearest known one."""
    import difflib

    known = sorted(known)
    unknown = sorted(set(conf) - set(known))
    if unknown:
        hints = [f"{k!r}" + (f" (did you mean {near[0]!r}?)" if (near := difflib.get_close_matches(k, known, 1, 0.6))
                             else "") for k in unknown]
        raise RunInputError(f"unknown conf key(s) {', '.join(hints)}: this DAG's params are {known}")


def compute_profile() -> str:
    profile = os.environ.get("DBMIGRATE_PROFILE", "aws")
    if profile not in PROFILES:
        raise RunInputError(f"DBMIGRATE_PROFILE must be one of {PROFILES}, got {profile!r}")
    return profile


def spec_for(dag_id: str) -> Any:
    """The spec a DAG was built from, as deployed now (cheap local file I/O): what a run's first task reads and
    stages (`stage_spec`); every task after it reads the staged copy (`run_spec`)."""
    try:
        return load_spec(paths.spec_dir() / f"{dag_id}.yaml")
    except (OSError, SpecError) as err:
        raise RunInputError(f"spec of {dag_id}: {err}") from err


def stage_spec(spec: Any, prefix: str, aws_conn_id: str | None) -> str:
    """Copy the spec beside the run's report (`<prefix>/<dag_id>.yaml`) and return where: a spec deployed while the
    run runs changes nothing of it, and the report's folder keeps the spec it was checked against."""
    from dbmigrate import run_files

    uri = f"{prefix}/{spec.dag_id}.yaml"
    run_files.write_text(uri, spec.path.read_text(encoding="utf-8"), aws_conn_id)
    return uri


def run_spec_text(run: Mapping[str, Any] | None, dag_id: str, aws_conn_id: str | None) -> tuple[str, str]:
    """The text of the spec a run uses and where it is: the copy its first task staged (`run["spec_uri"]`), or the
    deployed spec for a run resolved before runs staged theirs."""
    from dbmigrate import run_files

    uri = (run or {}).get("spec_uri")
    if not uri:
        path = paths.spec_dir() / f"{dag_id}.yaml"
        return path.read_text(encoding="utf-8"), str(path)
    return run_files.read_text(uri, aws_conn_id), uri


def run_spec(run: Mapping[str, Any] | None, dag_id: str, aws_conn_id: str | None = "aws_default") -> Any:
    """The spec of a run, as its first task staged it (`stage_spec`)."""
    from urllib.parse import urlparse

    from transforms.spec import parse_spec

    try:
        text, uri = run_spec_text(run, dag_id, aws_conn_id)
        return parse_spec(text, Path(urlparse(uri).path))
    except (OSError, SpecError) as err:
        raise RunInputError(f"spec of {dag_id}: {err}") from err


def _text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    return "" if value is None else str(value).strip()


def _sample_size(spec: Any, params: Mapping[str, Any]) -> int:
    raw = params.get("validation_sample_size")
    if raw is None or raw == "":
        return int(spec.sample_size)
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise RunInputError(f"validation_sample_size must be a whole number, got {raw!r}") from None
    if size < 0:
        raise RunInputError(f"validation_sample_size must be >= 0, got {size}")
    return size


def run_prefix(spec: Any, run_id: str, profile: str) -> str:
    """Where a run's reports go: `$LOCAL_REPORTS_DIR/<dag_id>/<run_id>` locally, the staging bucket on AWS."""
    if profile == "local":
        return f"{os.environ['LOCAL_REPORTS_DIR']}/{spec.dag_id}/{run_id}"
    return f"{spec.staging_uri}/runs/{run_id}"


def quarantine_uri(spec: Any, run_id: str, dry_run: bool = False) -> str:
    """Where a run's rejects go: `<quarantine>/<dag_id>/<run_id>`, or `…/<dag_id>/dry_run/<run_id>` for a dry
    run, so a rehearsal never mixes with (or is taken for) the rejects of a real load."""
    from connectors.storage import safe_segment

    kind = "dry_run/" if dry_run else ""
    return f"{expand_env(spec.quarantine_uri).rstrip('/')}/{spec.dag_id}/{kind}{safe_segment(run_id)}"


INTERVAL_RUN_TYPES = ("scheduled", "backfill")


def run_window(spec: Any, params: Mapping[str, Any], run_type: str | None = None,
               data_interval: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Which records this run loads: `window_start`/`window_end` params when given; else a scheduled or
    backfill run's data interval (the spec has a schedule); else everything, so a manual full load stays one
    click. `{"start", "end"}` as ISO 8601 UTC (None: unbounded), `"source"` saying which rule applied."""
    from transforms.intervals import Window, WindowError

    start, end = params.get("window_start"), params.get("window_end")
    try:
        if start or end:
            window, source = Window.parse(start, end), "params"
        elif (str(getattr(run_type, "value", run_type)) in INTERVAL_RUN_TYPES and spec.incremental.schedule
              and data_interval and all(data_interval)):
            window, source = Window.parse(*data_interval), "data_interval"
        else:
            window, source = Window(), "full"
    except WindowError as err:
        raise RunInputError(str(err)) from None
    return {**window.as_dict(), "source": source, "field": spec.incremental.field,
            "table": spec.incremental.table}


def _flag(params: Mapping[str, Any], key: str) -> bool:
    from transforms.booleans import as_bool

    try:
        return as_bool(params.get(key))
    except ValueError as err:
        raise RunInputError(f"{key}: {err}") from None


def _common(spec: Any, params: Mapping[str, Any], run_id: str, profile: str) -> dict[str, Any]:
    prefix = run_prefix(spec, run_id, profile)
    return {"dag_id": spec.dag_id, "run_id": run_id, "profile": profile, "dry_run": _flag(params, "dry_run"),
            "sample_size": _sample_size(spec, params), "run_prefix": prefix, "report_uri": f"{prefix}/report.json",
            "staging_prefix": f"{spec.staging_uri}/runs/{run_id}/job"}


def resolve_mongo_to_dsql(spec: Any, params: Mapping[str, Any], run_id: str, profile: str) -> dict[str, Any]:
    """Inputs of a MongoDB → DSQL run. `source_uri` param, else the live collection (aws) or export (local)."""
    source = _text(params, "source_uri") or expand_env(spec.local_source_uri if profile == "local"
                                                       else spec.source_uri)
    if profile == "aws" and source.startswith("file:"):
        raise RunInputError(f"source_uri {source!r}: EMR cannot read a worker's file; use s3:// or mongodb://")
    if not source.startswith(("file:", "/", "s3://", "mongodb://", "mongodb+srv://")):
        raise RunInputError(f"unsupported source_uri {source!r}: use file://, s3:// or mongodb://")
    run = _common(spec, params, run_id, profile)
    return {**run, "source_uri": source, "target_conn_id": spec.target_conn_id, "target_schema": spec.target_schema,
            "ddl_dir": str(paths.sql_dir(spec.ddl_dir)), "job_report_uri": f"{run['run_prefix']}/job_report.json",
            "quarantine_uri": quarantine_uri(spec, run_id, run["dry_run"])}


def default_source_schema(spec: Any, profile: str) -> str:
    """The spec's source schema for `profile` (the trigger form's default; a run without the param reads it)."""
    return spec.local_source_schema if profile == "local" else spec.source_schema


def source_conn_id(spec: Any, params: Mapping[str, Any]) -> str:
    """The connection a relational run reads: the `source_conn_id` param, else the spec's."""
    return _text(params, "source_conn_id") or spec.source_conn_id


def requested_schema(spec: Any, params: Mapping[str, Any], profile: str) -> str:
    """The source schema a relational run names: the `source_schema` param, else the profile's spec default."""
    from transforms.identifiers import check_user_schema

    schema = _text(params, "source_schema") or default_source_schema(spec, profile)
    try:
        return check_user_schema(schema)
    except ValueError as err:
        raise RunInputError(f"source_schema: {err}") from None


def resolve_sql_to_dynamodb(spec: Any, params: Mapping[str, Any], run_id: str, profile: str, *,
                                  conn_id: str, schema: str, source_database: str | None) -> dict[str, Any]:
    """Inputs of a relational → DynamoDB run. `conn_id`/`schema` (`source_conn_id`, and `requested_schema` as the
    source's catalog spells it) drive what the jobs read (the crawler path and catalog table prefix on AWS) and
    what the validators read; `source_database` is the database of that connection (its `schema` field; the
    spec's crawler path names it otherwise)."""
    run = _common(spec, params, run_id, profile)
    database = source_database or spec.crawler_path.split("/")[0]
    return {**run, "source_conn_id": conn_id, "source_schema": schema, "source_database": database,
            "tables": {name: target["name"] for name, target in spec.targets.items()},
            "job_report_uris": {job: f"{run['run_prefix']}/job_report_{job}.json" for job in spec.jobs},
            # where a first load into a table that does not exist yet puts its items for ImportTable (S3 only)
            "import_uris": {job: f"{spec.staging_uri}/runs/{run_id}/import/{job}" for job in spec.jobs},
            "quarantine_uri": quarantine_uri(spec, run_id, run["dry_run"]),
            # the Glue crawler catalogs `<database>/<schema>/<table>` as `<database>_<schema>_<table>`
            "crawler_path": f"{database}/{schema}/%", "catalog_database": spec.glue.catalog_database,
            "catalog_table_prefix": f"{database}_{schema}_".lower()}
