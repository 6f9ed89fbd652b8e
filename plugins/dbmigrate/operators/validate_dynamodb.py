"""Prove a SQL Server → DynamoDB run: item counts per type, sampled items attribute by attribute, access patterns.

The source is read through the Airflow connection's DbApiHook (`MssqlHook` on AWS, `PostgresHook` on the
local stack) with the dialect-neutral SQL of `transforms.ticketing_checks`; DynamoDB through
`DynamoDBTablesHook`. Like the DSQL validators, each pushes its result under the XCom key `result`
before failing, so a report task (trigger rule ALL_DONE) still sees what was found.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from dbmigrate import run_files, runtime
from dbmigrate.hooks.dynamodb_tables import DynamoDBTablesHook
from dbmigrate.operators.validate_dsql import RESULT_KEY
from transforms import ticketing_checks as tc
from transforms.booleans import as_bool
from transforms.checks import Check
from transforms.dms_sample_schema import ITEM_SET_TABLES
from transforms.intervals import Window
from transforms.ticketing import AVAILABLE, HELD, PURCHASED, TRANSFERRED

MAX_REPORTED_MISMATCHES = 200  # kept in the XCom result; the count of all of them is reported too


class _SourceReader:
    """Rows of the source through a DbApiHook, as dicts keyed by `SOURCE_COLUMNS`."""

    def __init__(self, hook: Any, schema: str) -> None:
        self.hook = hook
        self.schema = tc.check_identifier(schema)

    def records(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.hook.get_records(sql, parameters=tuple(params) or None) or []]

    def scalar(self, sql: str) -> int:
        return int(self.records(sql)[0][0])

    def rows(self, table: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows with integer columns as ints (`tc.coerce_row`); rows the job rejects as `bad_type` left out."""
        columns = tc.SOURCE_COLUMNS[table]
        rows = (tc.coerce_row(table, dict(zip(columns, r, strict=True))) for r in self.records(sql, params))
        return [r for r in rows if r is not None]

    def rows_in(self, table: str, column: str, ids: Iterable[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in tc.chunks(ids):
            out += self.rows(table, tc.in_list_sql(self.schema, table, column, len(chunk)), chunk)
        return out

    def by_id(self, table: str, ids: Iterable[Any]) -> dict[Any, dict[str, Any]]:
        return {r["id"]: r for r in self.rows_in(table, "id", ids)}

    def counts(self, as_of: datetime | None = None) -> dict[tuple[str, str], int]:
        return {key: self.scalar(sql) for key, sql in tc.source_count_queries(self.schema, as_of).items()}

    def sample(self, sample_size: int, counts: dict[tuple[str, str], int] | None = None,
               as_of: datetime | None = None) -> tc.SourceSample:
        """The deterministic sample (history before `as_of`) and every row it refers to (IN-lists of ids)."""
        counts = counts if counts is not None else self.counts(as_of)
        ts, schema = tc.TICKET_SALES, self.schema
        s = tc.SourceSample()
        hist = tc.sample_for(counts[(ts, PURCHASED)] + counts[(ts, TRANSFERRED)], sample_size)
        s.history = self.rows("ticket_purchase_hist", tc.history_sample_sql(schema, hist, as_of))
        s.available = self.rows("sporting_event_ticket", tc.available_sample_sql(
            schema, tc.sample_for(counts[(ts, AVAILABLE)], sample_size)))
        s.held = self.rows("sporting_event_ticket", tc.held_sample_sql(
            schema, tc.sample_for(counts[(ts, HELD)], sample_size), as_of))
        s.tickets = self.by_id("sporting_event_ticket", s.ticket_ids())
        s.events = self.by_id("sporting_event", s.event_ids())
        s.teams = self.by_id("sport_team", s.team_ids())
        s.locations = self.by_id("sport_location", s.location_ids())
        s.persons = self.by_id("person", s.person_ids())
        for data_type, table in tc.CONFIG_TABLES.items():
            sample = tc.sample_for(counts[(tc.CONFIG, data_type)], sample_size)
            s.config[data_type] = self.rows(table, tc.config_sample_sql(schema, data_type, sample))
        s.leagues = {r["short_name"]: r for r in self.rows("sport_league", tc.select_sql(schema, "sport_league"))}
        return s


class _DynamoDbValidation(BaseOperator):
    """What the three validators share: the spec, the source reader, the target tables and the hook.

    Every argument comes from the run's resolved inputs (the first task's output), never re-derived here.

    :param spec_dag_id: the migration spec (templated)
    :param source_conn_id: Airflow connection of the source (templated)
    :param source_schema: source schema (templated)
    :param dry_run: nothing was written: source only, nothing compared (templated)
    :param aws_conn_id: AWS connection for DynamoDB
    :param table_names: physical table name by spec target (`ticket_sales`, `config`) (templated)
    :param spec_uri: the run's copy of its spec (`runtime.stage_spec`; None: the deployed spec) (templated)
    :param window: the run's window (`runtime.run_window`); with the load log it says how far the history of
        `ticket_sales` reaches (templated)
    """

    template_fields: Sequence[str] = ("spec_dag_id", "source_conn_id", "source_schema", "dry_run", "table_names",
                                      "window", "spec_uri")

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

    spec_kind = "sqlserver_to_dynamodb"  # the kind of spec this validator proves

    def _spec(self) -> Any:
        spec = runtime.run_spec({"spec_uri": self.spec_uri}, self.spec_dag_id, self.aws_conn_id)
        if getattr(spec, "kind", None) != self.spec_kind:
            raise AirflowFailException(f"{self.spec_dag_id} is not a {self.spec_kind} spec")
        return spec

    def _reader(self) -> _SourceReader:
        from airflow.sdk import BaseHook

        try:
            tc.check_identifier(self.source_schema)
        except ValueError as err:
            raise AirflowFailException(f"source_schema: {err}") from None
        hook = BaseHook.get_connection(self.source_conn_id).get_hook()
        if not hasattr(hook, "get_records"):
            raise AirflowFailException(f"connection {self.source_conn_id} has no SQL hook ({type(hook).__name__})")
        return _SourceReader(hook, self.source_schema)

    def _hook(self) -> DynamoDBTablesHook:
        return DynamoDBTablesHook(aws_conn_id=self.aws_conn_id)

    def _window(self) -> Window:
        return Window.parse((self.window or {}).get("start"), (self.window or {}).get("end"))

    def _holds(self, hook: DynamoDBTablesHook) -> Window:
        """How far the history of `ticket_sales` reaches: the latest end loaded, this run's window included."""
        from connectors.dynamodb_load_log import read_loads

        return read_loads(hook.conn, self.table_names[tc.TICKET_SALES]).holds(self._window())

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


class ValidateDynamoDbCountsOperator(_DynamoDbValidation):
    """Per item type, the source rows (SQL COUNT) against the items (one parallel Scan per table, projecting
    only the type attribute: a filtered COUNT Scan per type would read the table once per type).

    `ticket_sales` items are told apart by `item_type`, `config` items by `data_type`; each table's total
    must also equal the sum of its types (an item of no known type is an error). DescribeTable's
    ItemCount is never used: it lags by hours.

    :param segments: parallel Scan segments per count
    """

    template_fields: Sequence[str] = (*_DynamoDbValidation.template_fields, "job_report_uris")

    def __init__(self, *, segments: int = 4, job_report_uris: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.segments = segments
        self.job_report_uris = job_report_uris

    def _job_reports(self) -> dict[str, dict[str, Any]]:
        """What each job reported (rejected rows by table, anomalies), by item set; {} when not given."""
        return {job: json.loads(run_files.read_text(uri, self.aws_conn_id))
                for job, uri in (self.job_report_uris or {}).items()}

    def _reject_checks(self, reader: _SourceReader, jobs: dict[str, dict[str, Any]]) -> tuple[dict[str, int],
                                                                                               list[Check]]:
        """Rows the source itself holds with a non-integral integer column (`FLOOR`), per table, against the
        rows each job rejected as `bad_type`; and the distinct rejected rows by reason."""
        bad = {t: reader.scalar(tc.bad_type_count_sql(reader.schema, t))
               for t in sorted({t for job in jobs for t in ITEM_SET_TABLES[job]})}
        checks = [Check("source rows with a non-integral id = rows the job rejected", bad[t],
                        int(report.get("rejected_rows", {}).get(t, 0)), f"{job}.{t}")
                  for job, report in jobs.items() for t in ITEM_SET_TABLES[job]]
        total = sum(bad.values())
        return ({"bad_type": total} if total else {}), checks

    def execute(self, context: Any) -> dict[str, Any]:
        self._spec()
        reader = self._reader()
        hook = self._hook()
        window, holds = self._window(), self._holds(hook)
        source = reader.counts(holds.end)
        dry_run = as_bool(self.dry_run)
        tables = self.table_names
        target: dict[tuple[str, str], int | None] = dict.fromkeys(source)
        checks: list[Check] = []
        if not dry_run:
            by_type = {table: hook.count_items_by(tables[table], tc.type_attribute(table), segments=self.segments)
                       for table in sorted({t for t, _ in source})}
            for key in source:
                table, item_type = key
                target[key] = by_type[table].get(item_type, 0)
                checks.append(Check("source rows = target items", source[key], target[key],
                                    tc.entity_name(table, item_type)))
            for table, counts in by_type.items():
                checks.append(Check("target items = items of known types",
                                    sum(n for (t, _), n in source.items() if t == table), sum(counts.values()),
                                    table))
        jobs = self._job_reports()
        rejects, reject_checks = self._reject_checks(reader, jobs)
        checks += reject_checks
        interval: dict[str, Any] = {}
        if not window.is_full:  # the run's own interval: its history rows against the items the job wrote for it
            by_type = jobs.get(tc.TICKET_SALES, {}).get("by_type", {})
            interval = {"source": reader.scalar(tc.interval_count_sql(reader.schema, window)),
                        "written": sum(int(by_type.get(t, 0)) for t in (PURCHASED, TRANSFERRED)),
                        "rewritten_previous_latest": jobs.get(tc.TICKET_SALES, {}).get("interval", {}).get(
                            "rewritten_previous_latest", 0)}
            if tc.TICKET_SALES in jobs:
                checks.append(Check("source history rows of the interval = history items written for it",
                                    interval["source"], interval["written"], "ticket_sales.interval"))
        notes = {f"{job}: {name.replace('_', ' ')}": found for job, report in jobs.items()
                 for name, found in report.get("anomalies", {}).items() if found.get("count")}
        result = {
            "entities": {tc.entity_name(*key): {"source": source[key], "target": target[key], "rejected": 0,
                                                "duplicates": 0} for key in source},
            "rejects": rejects, "notes": notes, "checks": [c.as_dict() for c in checks], "tables": tables,
            "dry_run": dry_run, "window": window.as_dict(), "covers": holds.as_dict(),
            **({"interval": interval} if interval else {}),
        }
        return self._finish(context, result, checks, "count")


class ValidateDynamoDbItemsOperator(_DynamoDbValidation):
    """Re-map a deterministic sample of source rows with `transforms.ticketing.expected_*` and compare each
    expected item attribute by attribute with the item in DynamoDB (BatchGetItem).

    Samples: every history row of about `sample_size` history rows' worth of tickets (all rows of a ticket,
    so the latest one is known), about `sample_size` unsold tickets, about `sample_size` rows of each
    config type (sport_type and sport_division whole).

    :param sample_size: rows per sampled source table; the same rows on every run (templated)
    """

    template_fields: Sequence[str] = (*_DynamoDbValidation.template_fields, "sample_size")

    def __init__(self, *, sample_size: Any = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sample_size = sample_size

    def execute(self, context: Any) -> dict[str, Any]:
        self._spec()
        size = 0 if as_bool(self.dry_run) else int(self.sample_size)
        mismatches: list[dict[str, Any]] = []
        by_entity: dict[str, int] = defaultdict(int)
        if size > 0:
            hook = self._hook()
            expected = tc.expected_items(self._reader().sample(size, as_of=self._holds(hook).end))
            tables = self.table_names
            for table in sorted({e.table for e in expected}):
                wanted = {tc.key_text(table, e.key): e for e in expected if e.table == table}
                got = {tc.key_text(table, item): item
                       for item in hook.batch_get_items(tables[table], [e.key for e in wanted.values()])}
                for text, e in wanted.items():
                    by_entity[e.entity] += 1
                    diffs = tc.item_diffs(e.item, got.get(text))
                    if diffs:
                        mismatches.append({"entity": e.entity, "key": text, "diffs": diffs})
        compared = sum(by_entity.values())
        result = {"requested": size, "compared": compared, "mismatched": len(mismatches),
                  "mismatches": mismatches[:MAX_REPORTED_MISMATCHES], "entities": dict(sorted(by_entity.items()))}
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        self.log.info("Compared %d sampled items attribute by attribute; %d differ", compared, len(mismatches))
        if mismatches:
            for m in mismatches[:20]:
                self.log.error("%s %s: %s", m["entity"], m["key"], "; ".join(m["diffs"]))
            raise AirflowFailException(f"{len(mismatches)} of {compared} sampled items differ from the source: "
                                       + "; ".join(f"{m['entity']} {m['key']}: {m['diffs'][0]}"
                                                   for m in mismatches[:5]))
        return result


class ValidateAccessPatternsOperator(_DynamoDbValidation):
    """Run every access pattern of the design for a few subjects, against DynamoDB (Query on its GSI, all
    pages; never Scan) and against the source (SQL), and compare the item keys.

    Subjects come from the same deterministic sample as the item validation: persons of the sampled
    history (transfer-chain persons first), venues and dates of sampled events, names of sampled config rows.

    :param sample_size: as for the item validation; picks the sample the subjects come from (templated)
    :param subjects_per_pattern: subjects per access pattern
    """

    template_fields: Sequence[str] = (*_DynamoDbValidation.template_fields, "sample_size")

    def __init__(self, *, sample_size: Any = 200, subjects_per_pattern: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sample_size = sample_size
        self.subjects_per_pattern = subjects_per_pattern

    def patterns(self, reader: _SourceReader, counts: dict[tuple[str, str], int],
                 as_of: datetime | None = None) -> list[tc.AccessPattern]:
        n, schema = int(self.subjects_per_pattern), reader.schema
        s = reader.sample(int(self.sample_size), counts, as_of)
        persons = tc.person_subjects(s.history, n)
        return [
            *(tc.owned_tickets(schema, p) for p in persons["tickets owned"]),
            *(tc.available_tickets(schema, loc, day) for loc, day in tc.venue_subjects(s, n)),
            *(tc.transferred_from(schema, p, as_of) for p in persons["tickets transferred from"]),
            *(tc.transferred_to(schema, p, as_of) for p in persons["tickets transferred to"]),
            *(tc.config_by_name(schema, name) for name in tc.name_subjects(s, n)),
        ]

    def execute(self, context: Any) -> dict[str, Any]:
        self._spec()
        checks: list[Check] = []
        subjects: dict[str, int] = dict.fromkeys(tc.ACCESS_PATTERNS, 0)
        dry_run = as_bool(self.dry_run)
        if not dry_run:
            reader = self._reader()
            tables = self.table_names
            hook = self._hook()
            as_of = self._holds(hook).end
            counts = reader.counts(as_of)
            for p in self.patterns(reader, counts, as_of):
                subjects[p.pattern] += 1
                expected = p.expected_keys([reader.records(q.sql, q.params) for q in p.source])
                actual = p.actual_keys(hook.query_all(tables[p.table], p.query))
                checks.append(Check(p.name, *tc.compare_keys(expected, actual), p.entity))
            ts = tc.TICKET_SALES
            has_rows = {"tickets owned": counts[(ts, PURCHASED)] > 0,
                        "tickets available": counts[(ts, AVAILABLE)] > 0,
                        "tickets transferred from": counts[(ts, TRANSFERRED)] > 0,
                        "tickets transferred to": counts[(ts, TRANSFERRED)] > 0,
                        "config by name": any(n for (t, _), n in counts.items() if t == tc.CONFIG)}
            checks += [Check(f"access pattern: {pattern} has subjects", True, subjects[pattern] > 0)
                       for pattern, needed in has_rows.items() if needed]
        result = {"checks": [c.as_dict() for c in checks], "subjects": subjects, "dry_run": dry_run}
        return self._finish(context, result, checks, "access pattern")
