"""Prove a relational → DynamoDB run item by item: every item of each target table reconciles with the source, not
just a sample.

A thin operator over `connectors.dynamodb_reconcile.reconcile_dynamodb`: the source is read through the
connection's DbApiHook (its DB-API connection: psycopg locally, pymssql on SQL Server) as the other validators
read it, the tables through `DynamoDBTablesHook`'s client. Like them it pushes its XCom `result` before
failing, so the report lists the first differing keys with their attributes side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from dbmigrate.operators.validate_design import _DesignValidation
from dbmigrate.operators.validate_dsql import RESULT_KEY
from transforms.booleans import as_bool
from transforms.intervals import coverage
from transforms.reconcile import DEFAULT_BUCKETS, render_diffs

SEGMENTS = 4  # parallel Scan segments per table (connectors.dynamodb_scan.DEFAULT_SEGMENTS)


class ValidateDesignReconcileOperator(_DesignValidation):
    """Reconcile every item of each target table with every source row, rendered by the declared design in Python
    (`transforms.design_reconcile`, not the job's Spark columns).

    Per table, an order-independent hash of each item's attributes (typed, numbers canonical) summed per
    bucket of keys, on both sides: the source streamed once, the table read by a parallel Scan at the same
    time. Buckets that differ are read again and the keys named: missing, extra (an item the source does not
    explain), changed attribute by attribute. Cost while everything reconciles: one pass over the source and
    one scan of each table.

    :param segments: parallel Scan segments per table
    :param buckets: hash buckets per table; more buckets, smaller drill-downs
    :param max_diffs: differing keys kept per table for the report
    """

    template_fields: Sequence[str] = _DesignValidation.template_fields

    def __init__(self, *, segments: int = SEGMENTS, buckets: int = DEFAULT_BUCKETS, max_diffs: int = 20,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.segments = segments
        self.buckets = buckets
        self.max_diffs = max_diffs

    def check(self, context: Any) -> dict[str, Any]:
        from connectors.dynamodb_reconcile import Timings, reconcile_dynamodb  # not at DAG parse

        spec = self._spec()
        if as_bool(self.dry_run):
            result: dict[str, Any] = {"checks": [], "reconciliation": {}, "dry_run": True,
                                      "skipped": "dry run: nothing was written"}
            context["ti"].xcom_push(key=RESULT_KEY, value=result)
            return result
        timings = Timings()
        # the report speaks of the loads of the first table the incremental table's item types write
        cuts = [t for t in spec.jobs if any(i.table == spec.incremental.table for i in spec.items_of(t))]
        loads = self._loads((cuts or list(spec.jobs))[0])
        holds = loads.holds(self._window())
        recs = reconcile_dynamodb(self._conn, self.source_schema, self._hook().conn, spec, self.table_names,
                                  segments=self.segments, buckets=self.buckets, max_diffs=self.max_diffs,
                                  timings=timings, as_of={t: self._cut(spec, t).end for t in spec.jobs})
        result = {"checks": [c.as_dict() for rec in recs.values() for c in rec.checks()],
                  "reconciliation": {name: rec.as_dict() for name, rec in recs.items()},
                  "seconds": timings.as_dict(), "dry_run": False, "covers": holds.as_dict(),
                  # the intervals loaded before and after this run's, and whether the tables equal the source up to
                  # the latest end (this reconciliation: every item up to `covers`)
                  "loads": {**coverage(list(loads.windows), self._window()), "source": loads.source,
                            "equal": all(rec.passed for rec in recs.values())}}
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        for rec in recs.values():
            self.log.info("%s\n%s", "ok" if rec.passed else "DIFFERS", "\n".join(render_diffs(rec)))
        failed = [rec for rec in recs.values() if not rec.passed]
        if failed:
            raise AirflowFailException("items do not reconcile: " + "; ".join(
                f"{rec.name} {rec.diff_count} differing keys (e.g. {rec.diffs[0].kind} {list(rec.diffs[0].key)})"
                if rec.diffs else f"{rec.name} {rec.diff_count} differing keys" for rec in failed))
        return {"seconds": result["seconds"]}
