"""Prove a `sql_to_dynamodb` run by its declared design: items per type, sampled items, every access pattern.

The source is read through the run's connection (`MssqlHook` on AWS, `PostgresHook` locally) with the SQL of
`transforms.design_checks`; DynamoDB through `DynamoDBTablesHook`. Each pushes its result under the XCom key
`result` before failing, so the report (ALL_DONE) still sees what was found.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import closing
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from dbmigrate import run_files, runtime
from dbmigrate.hooks.dynamodb_tables import DynamoDBTablesHook
from dbmigrate.operators.validate_dsql import RESULT_KEY
from transforms import design_checks as dc
from transforms.booleans import as_bool
from transforms.checks import Check
from transforms.dynamo_items import from_item
from transforms.dynamodb_tables import TableSpec
from transforms.identifiers import check_identifier
from transforms.intervals import Window
from transforms.source_as_of import cut_sql

SUBJECT_ROWS = 10_000  # subject rows read per access pattern, the subjects picked among them
MAX_REPORTED_MISMATCHES = 200  # kept in the XCom result; the count of all of them is reported too


class _DesignValidation(BaseOperator):
    """What the validators share: the spec, one source connection for the whole check (`check`) and its queries,
    the target tables and their hook.

    Every argument comes from the run's resolved inputs (the first task's output), never re-derived here.

    :param spec_dag_id: the migration spec (templated)
    :param source_conn_id: Airflow connection of the source (templated)
    :param source_schema: source schema (templated)
    :param dry_run: nothing was written: source only, nothing compared (templated)
    :param aws_conn_id: AWS connection for DynamoDB
    :param table_names: physical table name by spec target (templated)
    :param spec_uri: the run's copy of its spec (`runtime.stage_spec`; None: the deployed spec) (templated)
    :param window: the run's window (`runtime.run_window`); with each table's load log it says how far the
        incremental table reaches in it (templated)
    """

    template_fields: Sequence[str] = ("spec_dag_id", "source_conn_id", "source_schema", "dry_run", "table_names",
                                      "window", "spec_uri")
    _conn: Any = None

    def __init__(self, *, spec_dag_id: str, source_conn_id: str, source_schema: str, table_names: dict[str, str],
                 dry_run: Any = False, aws_conn_id: str | None = "aws_default", window: Any = None,
                 spec_uri: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)  # a check that fails fails again
        super().__init__(**kwargs)
        self.window = window
        self.spec_dag_id = spec_dag_id
        self.spec_uri = spec_uri
        self.source_conn_id = source_conn_id
        self.source_schema = source_schema
        self.dry_run = dry_run
        self.aws_conn_id = aws_conn_id
        self.table_names = table_names

    def _spec(self) -> Any:
        spec = runtime.run_spec({"spec_uri": self.spec_uri}, self.spec_dag_id, self.aws_conn_id)
        if getattr(spec, "kind", None) != "sql_to_dynamodb":
            raise AirflowFailException(f"{self.spec_dag_id} is not a sql_to_dynamodb spec")
        return spec

    def _source_hook(self) -> Any:
        from airflow.sdk import BaseHook

        try:
            check_identifier(self.source_schema)
        except ValueError as err:
            raise AirflowFailException(f"source_schema: {err}") from None
        hook = BaseHook.get_connection(self.source_conn_id).get_hook()
        if not hasattr(hook, "get_conn"):
            raise AirflowFailException(f"connection {self.source_conn_id} has no SQL hook ({type(hook).__name__})")
        return hook

    def _hook(self) -> DynamoDBTablesHook:
        return DynamoDBTablesHook(aws_conn_id=self.aws_conn_id)

    def _window(self) -> Window:
        return Window.parse((self.window or {}).get("start"), (self.window or {}).get("end"))

    def _finish(self, context: Any, result: dict[str, Any], checks: list[Check], what: str) -> dict[str, Any]:
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        for c in checks:
            self.log.info("%s %s: %s: expected %s, found %s", "ok  " if c.passed else "FAIL", c.entity or "all",
                          c.name, c.expected, c.actual)
        failed = [c for c in checks if not c.passed]
        if failed:
            raise AirflowFailException(f"{len(failed)} {what} check(s) failed: "
                                       + "; ".join(f"{c.entity or 'all'} {c.name}" for c in failed[:20]))
        return result

    def execute(self, context: Any) -> dict[str, Any]:
        self._logs: dict[str, Any] = {}
        with closing(self._source_hook().get_conn()) as conn:
            self._conn = conn
            try:
                return self.check(context)
            finally:
                self._conn = None

    def check(self, context: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _loads(self, target: str) -> Any:
        """`target`'s load log (`connectors.dynamodb_load_log.Loads`), read once per check."""
        if target not in self._logs:
            from connectors.dynamodb_load_log import read_loads

            self._logs[target] = read_loads(self._hook().conn, self.table_names[target])
        return self._logs[target]

    def _cut(self, spec: Any, target: str) -> Window:
        """What `target`'s table holds of the incremental table (everything, unless the spec has one and only
        intervals were loaded: then up to the latest end loaded, this run's window included)."""
        if spec.incremental.table is None or as_bool(self.dry_run):
            return Window()
        return Window(None, self._loads(target).holds(self._window()).end)

    def _cursor_rows(self, sql: str, params: dict[str, Any] | None = None, limit: int | None = None,
                     cut: tuple[Any, Window] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """(column names, rows) of one source query on the check's connection; at most `limit` rows fetched;
        `cut` (the spec, a window): the incremental table read in that window only (`source_as_of.cut_sql`)."""
        sql = dc.schema_sql(sql, self.source_schema)
        if cut is not None and cut[0].incremental.table is not None:
            inc = cut[0].incremental
            sql = cut_sql(sql, self.source_schema, inc.table, inc.field, cut[1].start, cut[1].end)
        with closing(self._conn.cursor()) as cur:
            cur.execute(sql, params) if params else cur.execute(sql)
            names = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(limit) if limit is not None else cur.fetchall()
            return names, [tuple(r) for r in rows]

    def _scalar(self, sql: str, cut: tuple[Any, Window] | None = None) -> int:
        return int(self._cursor_rows(sql, cut=cut)[1][0][0])


class ValidateDesignCountsOperator(_DesignValidation):
    """Per item type, the source rows it is made of (SQL COUNT) less the rows the job rejected, against the items
    of that type (one parallel Scan per table projecting only the spec's `type_attribute`: a filtered COUNT Scan
    per type would read the table once per type); each table's items must all be of a declared type. An interval
    run's own rows of the incremental table, per item type, against the items the job wrote for them.
    DescribeTable's ItemCount is never used: it lags by hours.

    :param segments: parallel Scan segments per count
    :param job_report_uris: each job's report by target (rejects, anomalies, items by type) (templated)
    """

    template_fields: Sequence[str] = (*_DesignValidation.template_fields, "job_report_uris")

    def __init__(self, *, segments: int = 4, job_report_uris: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.segments = segments
        self.job_report_uris = job_report_uris

    def _job_reports(self) -> dict[str, dict[str, Any]]:
        """What each job reported, by target; {} when not given."""
        return {job: json.loads(run_files.read_text(uri, self.aws_conn_id))
                for job, uri in (self.job_report_uris or {}).items()}

    def check(self, context: Any) -> dict[str, Any]:
        spec = self._spec()
        dry_run = as_bool(self.dry_run)
        jobs = self._job_reports()
        hook = None if dry_run else self._hook()
        entities: dict[str, dict[str, Any]] = {}
        rejects: dict[str, int] = {}
        checks: list[Check] = []
        window = self._window()
        interval: dict[str, dict[str, int]] = {}
        for target in spec.jobs:
            report = jobs.get(target, {})
            for reason, n in report.get("rejects", {}).items():
                rejects[reason] = rejects.get(reason, 0) + int(n)
            found = {} if hook is None else hook.count_items_by(self.table_names[target],
                                                                 spec.type_attribute[target],
                                                                 segments=self.segments)
            holds = self._cut(spec, target)
            for item in spec.items_of(target):
                name = f"{target}.{item.type_value}"
                sql = dc.count_sql(item, self.source_schema, spec.column_types)
                source = self._scalar(sql, (spec, holds))
                if not window.is_full and item.table == spec.incremental.table and report:
                    # the run's own interval: the window's rows of this type against the items written for it
                    own = self._scalar(sql, (spec, window))
                    written = int(report.get("by_type", {}).get(item.type_value, 0))
                    failed = sum(int(n) for n in report.get("rejected_items", {}).get(item.type_value, {}).values())
                    interval[name] = {"source": own, "rejected": failed, "written": written}
                    checks.append(Check("source rows of the interval - rejected = items written for it",
                                        own - failed, written, name))
                rejected = sum(int(n) for n in report.get("rejected_items", {}).get(item.type_value, {}).values())
                entities[name] = {"source": source, "target": None if hook is None else found.get(item.type_value, 0),
                                  "rejected": rejected, "duplicates": 0}
                if hook is not None:
                    checks.append(Check("source rows - rejected = target items", source - rejected,
                                        entities[name]["target"], name))
            if hook is not None:
                known = {i.type_value for i in spec.items_of(target)}
                checks.append(Check("target items = items of declared types", sum(found.values()),
                                    sum(n for t, n in found.items() if t in known), target))
        notes = {f"{job}: {name.replace('_', ' ')}": found for job, report in jobs.items()
                 for name, found in report.get("anomalies", {}).items() if found.get("count")}
        result = {"entities": entities, "rejects": rejects, "notes": notes, "checks": [c.as_dict() for c in checks],
                  "tables": self.table_names, "dry_run": dry_run, "window": window.as_dict(),
                  **({"interval": interval} if interval else {})}
        return self._finish(context, result, checks, "count")


class ValidateDesignItemsOperator(_DesignValidation):
    """Per item type, about `sample_size` source rows (whole groups where the type derives columns over groups,
    the first ones in key order) read by SQL, rendered into the items they must have become
    (`transforms.design_checks.expected_item`) and compared attribute by attribute with DynamoDB (BatchGetItem).

    :param sample_size: rows per item type (templated)
    """

    template_fields: Sequence[str] = (*_DesignValidation.template_fields, "sample_size")

    def __init__(self, *, sample_size: Any = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sample_size = sample_size

    def _sample(self, item: Any, size: int, types: dict[str, dict[str, str]], cut: tuple[Any, Window]
                ) -> list[dict[str, Any]]:
        columns = {t: self._cursor_rows(dc.columns_sql(self.source_schema, t))[0] for t in item.tables}
        names, rows = self._cursor_rows(dc.rows_sql(item, self.source_schema, columns), limit=size * 50, cut=cut)
        groups = dc.sample_groups(item)
        out: list[dict[str, Any]] = []
        seen: list[tuple] = []
        for r in rows:
            row = dict(zip(names, r, strict=True))
            group = tuple(row[g] for g in groups) if groups else (len(out),)
            if group not in seen[-1:]:
                if len(seen) == size:
                    break
                seen.append(group)
            out.append(row)
        return dc.derive(item, dc.declared(item, out, types))

    def check(self, context: Any) -> dict[str, Any]:
        spec = self._spec()
        size = 0 if as_bool(self.dry_run) else int(self.sample_size)
        mismatches: list[dict[str, Any]] = []
        by_entity: dict[str, int] = {}
        if size > 0:
            hook = self._hook()
            for target in spec.jobs:
                key_names = [a.name for a in TableSpec.from_dict(spec.targets[target]).key_attrs]
                cut = (spec, self._cut(spec, target))
                for item in spec.items_of(target):
                    name = f"{target}.{item.type_value}"
                    wanted = {}
                    for row in self._sample(item, size, spec.column_types, cut):
                        expected = dc.expected_item(item, row, spec.type_attribute[target], key_names)
                        if expected is not None:
                            wanted[json.dumps({k: expected[k] for k in key_names}, sort_keys=True)] = expected
                    got = {json.dumps({k: i[k] for k in key_names}, sort_keys=True): i for i in hook.batch_get_items(
                        self.table_names[target], [json.loads(k) for k in wanted])}
                    by_entity[name] = len(wanted)
                    for key, expected in wanted.items():
                        diffs = dc.item_diffs(expected, got.get(key))
                        if diffs:
                            mismatches.append({"entity": name, "key": key, "diffs": diffs})
        compared = sum(by_entity.values())
        result = {"requested": size, "compared": compared, "mismatched": len(mismatches),
                  "mismatches": mismatches[:MAX_REPORTED_MISMATCHES], "entities": dict(sorted(by_entity.items()))}
        checks = [Check(f"sampled items equal their source rows ({n} compared)", 0,
                        sum(1 for m in mismatches if m["entity"] == e), e) for e, n in by_entity.items()]
        return self._finish(context, result, checks, "sampled item")


class ValidateDesignAccessPatternsOperator(_DesignValidation):
    """Every declared access pattern, for a few subjects the spec's `subjects` SQL names (spread over its rows):
    the Query on DynamoDB (all pages; never a Scan) against the pattern's own SQL over the source, compared on the
    pattern's `compare` columns (in order when the pattern is `ordered`).

    :param subjects_per_pattern: subjects per access pattern
    """

    def __init__(self, *, sample_size: Any = None, subjects_per_pattern: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        del sample_size  # the subjects are the pattern's own
        self.subjects_per_pattern = subjects_per_pattern

    def check(self, context: Any) -> dict[str, Any]:
        spec = self._spec()
        checks: list[Check] = []
        subjects: dict[str, int] = {}
        dry_run = as_bool(self.dry_run)
        if not dry_run:
            hook = self._hook()
            for p in spec.access_patterns:
                table = TableSpec.from_dict(spec.targets[p.target])
                gsi = {g.name: g for g in table.gsis}.get(p.index or "")
                sort_key = (gsi.sort_key if gsi else table.sort_key)
                cut = (spec, self._cut(spec, p.target))
                names, rows = self._cursor_rows(p.subjects, limit=SUBJECT_ROWS, cut=cut)
                picked = dc.pick(rows, self.subjects_per_pattern)
                subjects[p.name] = len(picked)
                checks.append(Check(f"access pattern {p.name}: has subjects", True, bool(picked)))
                for row in picked:
                    params = dc.subject_params(names, row)
                    query = dc.pattern_query(p, params, sort_key.name if sort_key else None)
                    columns, expected_rows = self._cursor_rows(p.sql, params, cut=cut)
                    compare = list(p.compare) or columns
                    expected = [tuple(dc.comparable(dict(zip(columns, r, strict=True)).get(c)) for c in compare)
                                for r in expected_rows]
                    items = [] if query is None else hook.query_all(self.table_names[p.target], query)
                    actual = [tuple(dc.comparable(from_item(i).get(c)) for c in compare) for i in items]
                    label = f"access pattern {p.name} {json.dumps(params, default=str, sort_keys=True)}"
                    compared = dc.compare_ordered if p.ordered else dc.compare_keys
                    checks.append(Check(label + (" (in order)" if p.ordered else ""), *compared(expected, actual),
                                        p.target))
        result = {"checks": [c.as_dict() for c in checks], "subjects": subjects, "dry_run": dry_run}
        return self._finish(context, result, checks, "access pattern")
