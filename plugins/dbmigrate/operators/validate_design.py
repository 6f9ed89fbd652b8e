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

from dbmigrate.operators.validate_dynamodb import (
    MAX_REPORTED_MISMATCHES,
    ValidateDynamoDbCountsOperator,
    _DynamoDbValidation,
)
from transforms import design_checks as dc
from transforms.booleans import as_bool
from transforms.checks import Check
from transforms.dynamo_items import from_item
from transforms.dynamodb_tables import TableSpec

SUBJECT_ROWS = 10_000  # subject rows read per access pattern, the subjects picked among them


class _DesignValidation(_DynamoDbValidation):
    """What the three share: one source connection for the whole check (`check`), and its queries."""

    spec_kind = "sql_to_dynamodb"
    _conn: Any = None

    def execute(self, context: Any) -> dict[str, Any]:
        with closing(self._reader().hook.get_conn()) as conn:
            self._conn = conn
            try:
                return self.check(context)
            finally:
                self._conn = None

    def check(self, context: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _cursor_rows(self, sql: str, params: dict[str, Any] | None = None, limit: int | None = None
                     ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """(column names, rows) of one source query on the check's connection; at most `limit` rows fetched."""
        with closing(self._conn.cursor()) as cur:
            cur.execute(dc.schema_sql(sql, self.source_schema), params) if params else cur.execute(
                dc.schema_sql(sql, self.source_schema))
            names = [d[0] for d in cur.description or []]
            rows = cur.fetchmany(limit) if limit is not None else cur.fetchall()
            return names, [tuple(r) for r in rows]

    def _scalar(self, sql: str) -> int:
        return int(self._cursor_rows(sql)[1][0][0])


class ValidateDesignCountsOperator(_DesignValidation, ValidateDynamoDbCountsOperator):
    """Per item type, the source rows it is made of (SQL COUNT) less the rows the job rejected, against the items
    of that type (one parallel Scan per table, counting the spec's `type_attribute`); each table's items must all
    be of a declared type. Arguments as `ValidateDynamoDbCountsOperator`'s.
    """

    def check(self, context: Any) -> dict[str, Any]:
        spec = self._spec()
        dry_run = as_bool(self.dry_run)
        jobs = self._job_reports()
        hook = None if dry_run else self._hook()
        entities: dict[str, dict[str, Any]] = {}
        rejects: dict[str, int] = {}
        checks: list[Check] = []
        for target in spec.jobs:
            report = jobs.get(target, {})
            for reason, n in report.get("rejects", {}).items():
                rejects[reason] = rejects.get(reason, 0) + int(n)
            found = {} if hook is None else hook.count_items_by(self.table_names[target],
                                                                 spec.type_attribute[target],
                                                                 segments=self.segments)
            for item in spec.items_of(target):
                name = f"{target}.{item.type_value}"
                source = self._scalar(dc.count_sql(item, self.source_schema, spec.column_types))
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
        result = {"entities": entities, "rejects": rejects, "notes": {}, "checks": [c.as_dict() for c in checks],
                  "tables": self.table_names, "dry_run": dry_run}
        return self._finish(context, result, checks, "count")


class ValidateDesignItemsOperator(_DesignValidation):
    """Per item type, about `sample_size` source rows (whole groups where the type derives columns over groups,
    the first ones in key order) read by SQL, rendered into the items they must have become
    (`transforms.design_checks.expected_item`) and compared attribute by attribute with DynamoDB (BatchGetItem).

    :param sample_size: rows per item type (templated)
    """

    template_fields: Sequence[str] = (*_DynamoDbValidation.template_fields, "sample_size")

    def __init__(self, *, sample_size: Any = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sample_size = sample_size

    def _sample(self, item: Any, size: int, types: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
        columns = {t: self._cursor_rows(dc.columns_sql(self.source_schema, t))[0] for t in item.tables}
        names, rows = self._cursor_rows(dc.rows_sql(item, self.source_schema, columns), limit=size * 50)
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
                for item in spec.items_of(target):
                    name = f"{target}.{item.type_value}"
                    wanted = {}
                    for row in self._sample(item, size, spec.column_types):
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
                names, rows = self._cursor_rows(p.subjects, limit=SUBJECT_ROWS)
                picked = dc.pick(rows, self.subjects_per_pattern)
                subjects[p.name] = len(picked)
                checks.append(Check(f"access pattern {p.name}: has subjects", True, bool(picked)))
                for row in picked:
                    params = dc.subject_params(names, row)
                    query = dc.pattern_query(p, params, sort_key.name if sort_key else None)
                    columns, expected_rows = self._cursor_rows(p.sql, params)
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
