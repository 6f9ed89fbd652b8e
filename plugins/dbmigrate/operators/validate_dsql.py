"""Prove a MongoDB → DSQL run: counts reconcile, sampled rows match, and a report says so.

Each validator pushes its result under the XCom key `result` before failing, so the report task
(trigger rule ALL_DONE) can still write a complete `report.json` for a failed run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from connectors.documents import count_by_type, is_mongo, iter_lines
from connectors.storage import local_path, write_text
from dbmigrate import runtime
from dbmigrate.hooks.dsql import DsqlHook
from transforms.adjacency import DocumentMapper, Mapped, target_columns
from transforms.validation import KeySample, build_report, compare_row, count_checks, render_markdown

RESULT_KEY = "result"


def _as_bool(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


class _MongoToDsqlValidation(BaseOperator):
    """What both validators share: the run's spec, what the staging task returned, and the source reader."""

    template_fields: Sequence[str] = ("spec_dag_id", "stage", "dry_run")

    def __init__(self, *, spec_dag_id: str, stage: Any, dry_run: Any = False, dsql_conn_id: str = "dsql_default",
                 aws_conn_id: str | None = "aws_default", mongo_conn_id: str = "mongo_default",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.stage = stage
        self.dry_run = dry_run
        self.dsql_conn_id = dsql_conn_id
        self.aws_conn_id = aws_conn_id
        self.mongo_conn_id = mongo_conn_id

    def _lines(self, spec: Any, source_uri: str) -> Any:
        """The source the run migrated: a mongoexport file, or the live collection through MongoHook."""
        collection = None
        if is_mongo(source_uri):
            from airflow.providers.mongo.hooks.mongo import MongoHook

            client = MongoHook(mongo_conn_id=self.mongo_conn_id).get_conn()
            collection = client[spec.source_database][spec.source_collection]
        return iter_lines(source_uri, collection=collection)


class ValidateMongoToDsqlCountsOperator(_MongoToDsqlValidation):
    """Reconcile source documents, the job's accounting, the target rows this run wrote and the quarantine.

    :param spec_dag_id: the migration spec (templated)
    :param stage: what the staging task returned: source, job report and quarantine URIs (templated)
    :param dry_run: the run wrote nothing, so target rows are not counted (templated)
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from connectors.storage import read_text

        spec = runtime.spec_for(self.spec_dag_id)
        job = json.loads(read_text(self.stage["job_report_uri"]))
        by_type, total = count_by_type(self._lines(spec, self.stage["source_uri"]))
        source = {e.name: by_type.get(e.doc_type, 0) for e in spec.entities}
        hook = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)
        target_run: dict[str, int] = {}
        target_total: dict[str, int] = {}
        if not _as_bool(self.dry_run):
            for e in spec.entities:
                table = f'"{spec.target_schema}"."{e.table}"'
                target_run[e.name] = hook.get_records(
                    f"SELECT count(*) FROM {table} WHERE migration_run_id = %s", [context["run_id"]])[0][0]
                target_total[e.name] = hook.get_records(f"SELECT count(*) FROM {table}")[0][0]
        quarantined = _count_quarantined(self.stage["quarantine_uri"], self.aws_conn_id)
        checks = count_checks(source, job, target_run, total, quarantined)
        result = {
            "entities": {n: {"source": source[n], "target": target_run.get(n), "target_total": target_total.get(n),
                             **{k: c[k] for k in ("rejected", "duplicates", "unique")}}
                         for n, c in job["entities"].items()},
            "rejects": job["rejects"], "documents": total, "checks": [c.as_dict() for c in checks],
        }
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        failed = [c for c in checks if not c.passed]
        for c in checks:
            self.log.info("%s %s: %s: expected %s, found %s", "ok  " if c.passed else "FAIL", c.entity or "all",
                          c.name, c.expected, c.actual)
        if failed:
            raise AirflowFailException(f"{len(failed)} count check(s) do not reconcile: "
                                       + "; ".join(f"{c.entity or 'all'} {c.name}" for c in failed))
        return result


def _count_quarantined(uri: str, aws_conn_id: str | None) -> int:
    """Records Spark wrote under the quarantine prefix (JSON lines part files)."""
    path = local_path(uri)
    if path is not None:
        return sum(sum(1 for _ in f.open(encoding="utf-8")) for f in path.glob("part-*"))
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    s3 = S3Hook(aws_conn_id=aws_conn_id)
    bucket, prefix = S3Hook.parse_s3_url(uri.rstrip("/") + "/")
    keys = [k for k in s3.list_keys(bucket_name=bucket, prefix=prefix) if k.rsplit("/", 1)[-1].startswith("part-")]
    return sum(s3.read_key(k, bucket_name=bucket).count("\n") for k in keys)


class ValidateMongoToDsqlRowsOperator(_MongoToDsqlValidation):
    """Re-map a deterministic sample of source documents and compare them column by column with the target.

    :param spec_dag_id: the migration spec (templated)
    :param stage: what the staging task returned (templated)
    :param sample_size: documents to sample; the same keys on every run (templated)
    :param dry_run: nothing was written, so nothing is compared (templated)
    """

    template_fields: Sequence[str] = ("spec_dag_id", "stage", "sample_size", "dry_run")

    def __init__(self, *, sample_size: Any = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sample_size = sample_size

    def execute(self, context: Any) -> dict[str, Any]:
        spec = runtime.spec_for(self.spec_dag_id)
        size = 0 if _as_bool(self.dry_run) else int(self.sample_size)
        mapper = DocumentMapper(spec.entities)
        sample = KeySample(size)
        for line in self._lines(spec, self.stage["source_uri"]):
            m = mapper.map_line(line)
            if isinstance(m, Mapped):
                sample.offer(f"{m.entity}|{m.key}", m.order, m)
        hook = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)
        mismatches, compared, orphans = [], 0, 0
        for m in sample.values():
            entity = spec.entity(m.entity)
            columns = target_columns(entity)
            actual = self._fetch(hook, spec.target_schema, entity, columns, m.row)
            if actual is None and entity.is_relationship and not self._refs_exist(hook, spec, m):
                orphans += 1  # quarantined as orphan_reference, rightly absent from the target
                continue
            compared += 1
            diffs = compare_row(m.row, actual, columns)
            if diffs:
                mismatches.append({"entity": m.entity, "key": m.key, "diffs": diffs})
        result = {"requested": size, "compared": compared, "orphans_skipped": orphans, "mismatches": mismatches}
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        self.log.info("Compared %d sampled rows column by column; %d differ", compared, len(mismatches))
        if mismatches:
            for m in mismatches[:20]:
                self.log.error("%s %s: %s", m["entity"], m["key"], "; ".join(m["diffs"]))
            raise AirflowFailException(f"{len(mismatches)} of {compared} sampled rows differ from the source")
        return result

    @staticmethod
    def _fetch(hook: DsqlHook, schema: str, entity: Any, columns: list[str], row: dict[str, Any]
               ) -> dict[str, Any] | None:
        keys = list(entity.key_columns)
        where = " AND ".join(f'"{k}" = %s' for k in keys)
        cols = ", ".join(f'"{c}"' for c in columns)
        records = hook.get_records(f'SELECT {cols} FROM "{schema}"."{entity.table}" WHERE {where}',
                                   [row[k] for k in keys])
        return dict(zip(columns, records[0], strict=True)) if records else None

    @staticmethod
    def _refs_exist(hook: DsqlHook, spec: Any, m: Mapped) -> bool:
        for ent, key in m.refs:
            e = spec.entity(ent)
            assert e.pk.prefix is not None
            found = hook.get_records(f'SELECT 1 FROM "{spec.target_schema}"."{e.table}" WHERE source_id = %s',
                                     [key[len(e.pk.prefix):]])
            if not found:
                return False
        return True


class MigrationReportOperator(BaseOperator):
    """Write `report.json` for the run, log it as Markdown, and fail unless everything reconciled.

    Runs with trigger rule ALL_DONE so that a failed validation still produces its report.

    :param spec_dag_id: the migration spec (templated)
    :param count_task_id: task whose XCom `result` holds the count checks
    :param row_task_id: task whose XCom `result` holds the row sample comparison
    :param check_task_ids: further tasks whose XCom `result` holds `checks` (e.g. access patterns)
    :param dry_run: (templated)
    """

    template_fields: Sequence[str] = ("spec_dag_id", "dry_run")

    def __init__(self, *, spec_dag_id: str, count_task_id: str, row_task_id: str,
                 check_task_ids: Sequence[str] = (), dry_run: Any = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.count_task_id = count_task_id
        self.row_task_id = row_task_id
        self.check_task_ids = check_task_ids
        self.dry_run = dry_run

    def execute(self, context: Any) -> dict[str, Any]:
        from transforms.validation import Check

        spec = runtime.spec_for(self.spec_dag_id)
        ti = context["ti"]
        counts = ti.xcom_pull(task_ids=self.count_task_id, key=RESULT_KEY)
        rows = ti.xcom_pull(task_ids=self.row_task_id, key=RESULT_KEY) or {}
        if counts is None:
            counts = {"entities": {}, "rejects": {}, "checks": []}
            checks = [Check("count validation ran", True, False)]
        else:
            checks = [Check(c["name"], c["expected"], c["actual"], c["entity"]) for c in counts["checks"]]
        if not rows and not _as_bool(self.dry_run):
            checks.append(Check("row validation ran", True, False))
        for task_id in self.check_task_ids:
            extra = ti.xcom_pull(task_ids=task_id, key=RESULT_KEY)
            if extra is None:
                checks.append(Check(f"{task_id} ran", True, False))
                continue
            checks += [Check(c["name"], c["expected"], c["actual"], c["entity"]) for c in extra["checks"]]
        report = build_report(dag_id=spec.dag_id, run_id=context["run_id"], entities=counts["entities"],
                              rejects=counts["rejects"], checks=checks, sample=rows, dry_run=_as_bool(self.dry_run))
        uri = f"{runtime.run_prefix(spec, context['run_id'])}/report.json"
        write_text(uri, json.dumps(report, indent=2, sort_keys=True, default=str))
        summary = render_markdown(report)
        self.log.info("Report written to %s\n%s", uri, summary)
        print(summary)
        if report["status"] != "passed":
            raise AirflowFailException(f"migration {spec.dag_id} did not reconcile; see {uri}")
        return {"status": report["status"], "report_uri": uri}
