"""The `doc_md` of each migration DAG: what a run does, its params, where results go, how to rerun."""

from __future__ import annotations

from typing import Any

from dbmigrate.hooks.migration_lock import DEFAULT_LEASE_S

_LOAD = {
    ("mongo_to_dsql", "aws"): "submits the Spark job as an EMR step ({cluster}) and waits for it deferred",
    ("mongo_to_dsql", "local"): "runs the Spark job with the local spark-submit (the embedded stack)",
    ("sql_to_dynamodb", "aws"): "crawls the source with the Glue crawler, then runs one Glue job per "
                                "table in parallel and waits for them deferred",
    ("sql_to_dynamodb", "local"): "runs one local Spark job per table against the source connection",
}
_LOCK = {
    "mongo_to_dsql": "a row of `<schema>.dbmigrate_lock`",
    "sql_to_dynamodb": "an item per target table in the DynamoDB table `dbmigrate_locks`",
}
_INTERVAL_FIELD = {
    "mongo_to_dsql": "the documents (by the spec's `incremental.field`, default the ObjectId time)",
    "sql_to_dynamodb": "the spec's `incremental.table` (by its `incremental.field`; none declared: refused)",
}
_PARAMS = {
    "mongo_to_dsql": "- `source_uri`: empty for the spec's source; or a mongoexport file (`file://`, `s3://`) or a "
                     "`mongodb://` collection.",
    "sql_to_dynamodb": "- `source_conn_id`, `source_schema`: any database holding the tables the spec's items name "
                       "(on AWS they also set the crawler path and the catalog table prefix).",
}


def dag_doc_md(spec: Any, profile: str) -> str:
    lease_h = DEFAULT_LEASE_S // 3600
    cluster = "existing cluster" if getattr(getattr(spec, "emr", None), "cluster_id", None) else "transient cluster"
    where = ("`$LOCAL_REPORTS_DIR/<dag_id>/<run_id>/report.json`" if profile == "local"
             else f"`{spec.staging_uri}/runs/<run_id>/report.json`")
    quarantine = ("\n- Rejected documents, with reason and original text: the **Quarantine** link of `validate.report`."
                  if spec.kind == "mongo_to_dsql" else "")
    return f"""{spec.description}

### A run (compute profile `{profile}`)
1. **prepare**: `resolve_run` resolves every input of the run once (source, target, schema, report and
   quarantine locations); then the source is checked, the target made ready and locked for this run
   (`acquire_lock`: {_LOCK[spec.kind]}). A run that finds the lock held fails there at once, writing nothing,
   and names the run holding it and since when.
2. **load** {_LOAD[(spec.kind, profile)].format(cluster=cluster)}.
3. **validate**: counts reconciled in full, a deterministic sample compared field by field, then `report`
   (always runs) writes the report, names the first failed task and its error, and fails the run unless
   everything reconciled; `publish` updates the target tables' Assets with the run's counts; `release_lock`
   (always runs, never fails) gives the lock back.

### Params
{_PARAMS[spec.kind]}
- `window_start`, `window_end`: load one interval of {_INTERVAL_FIELD[spec.kind]} (ISO 8601, UTC); empty: everything.
  Scheduled and backfill runs (`airflow backfill create`, or **Trigger → Backfill**) load their data interval.
- `validation_sample_size`: records compared field by field (the same ones on every run).
- `dry_run`: check and classify, write nothing (and take no lock).

### Results
- The run's **note** holds the summary (status, counts per entity, rejects, failed checks).
- `report.json` at {where}: the **Migration report** link of `validate.report`.{quarantine}

### Rerun
Writes are idempotent upserts on keys derived from the source: trigger again (or clear the failed task and
what follows it); a rerun updates rows instead of duplicating them. Runs of the same target never overlap,
however they were started (UI, `airflow dags test`, another deployment): the lock is held until the run ends,
or for at most {lease_h} hours if the run died without giving it back.
"""
