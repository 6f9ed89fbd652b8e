"""Prove a MongoDB → DSQL run row by row: every target row reconciles with the source, not just a sample.

A thin operator over `connectors.reconcile_dsql`: the source is read as the other validators read it, the target
through the DSQL hook's connection. It pushes its XCom `result` before failing, like the other validators, so
the report lists the first differing keys with their columns side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from dbmigrate.hooks.dsql import DsqlHook
from dbmigrate.operators.validate_dsql import RESULT_KEY, _MongoToDsqlValidation
from transforms.intervals import coverage, covered, gaps
from transforms.reconcile import DEFAULT_BUCKETS, render_diffs


class ValidateMongoToDsqlReconcileOperator(_MongoToDsqlValidation):
    """Reconcile every row of every target table with the source re-mapped by the job's own functions.

    Per table, an order-independent hash of each row's columns summed per bucket of keys on both sides; buckets
    that differ are read again and the keys named (missing, extra, changed column by column, duplicate). Cost:
    one pass over the source and one scan of each table while everything reconciles.

    :param scope: `table` (default: a full load; a target row the source does not hold fails as `extra`) or
        `source` (a partial load into a shared target: only rows of the source's keys are compared; the others
        are counted in the report's notes) (templated)
    :param buckets: hash buckets per table; more buckets, smaller drill-downs
    :param max_diffs: differing keys kept per table for the report
    """

    template_fields: Sequence[str] = (*_MongoToDsqlValidation.template_fields, "scope")

    def __init__(self, *, scope: str = "table", buckets: int = DEFAULT_BUCKETS, max_diffs: int = 20,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scope = scope
        self.buckets = buckets
        self.max_diffs = max_diffs

    def execute(self, context: Any) -> dict[str, Any]:
        from connectors.load_log import loaded_windows  # psycopg work: not at DAG parse
        from connectors.reconcile_dsql import SCOPES, reconcile_dsql_tables

        if self.scope not in SCOPES:
            raise AirflowFailException(f"scope must be one of {SCOPES}, not {self.scope!r}")
        if self.run["dry_run"]:
            result: dict[str, Any] = {"checks": [], "reconciliation": {}, "skipped": "dry run: nothing was written"}
            context["ti"].xcom_push(key=RESULT_KEY, value=result)
            return result
        spec = self._spec()
        hook = DsqlHook(dsql_conn_id=self.dsql_conn_id, aws_conn_id=self.aws_conn_id)
        with hook.get_conn() as conn:
            # cumulative: the source up to the latest end any load of it reached (this run's end at least)
            loaded = loaded_windows(conn, spec.target_schema, self.run["source_uri"])
            held = covered([w.end for w in loaded] + [self._window().end])
            out = reconcile_dsql_tables(lambda: self._lines(spec, held), spec, conn, spec.target_schema,
                                        scope=self.scope, buckets=self.buckets, max_diffs=self.max_diffs,
                                        window=held)
        recs, holes = out.tables.values(), gaps(loaded)
        result = {"checks": [c.as_dict() for rec in recs for c in rec.checks()],
                  "reconciliation": {name: rec.as_dict() for name, rec in out.tables.items()},
                  "scope": out.scope, "seconds": {k: round(v, 3) for k, v in out.seconds.items()},
                  "source_window": held.as_dict(), "unloaded_gaps": [w.as_dict() for w in holes],
                  # the intervals of this source loaded before and after this run's, and whether the target equals
                  # the source up to the latest end (the cumulative check above: every row up to `up_to`)
                  "loads": {**coverage(loaded, self._window()), "source": self.run["source_uri"],
                            "equal": all(rec.passed for rec in recs)},
                  "notes": {f"{name}: target rows outside this source (scope `source`, not compared)":
                            {"count": n, "examples": []} for name, n in out.outside_source.items() if n}}
        context["ti"].xcom_push(key=RESULT_KEY, value=result)
        for rec in recs:
            self.log.info("%s\n%s", "ok" if rec.passed else "DIFFERS", "\n".join(render_diffs(rec)))
        failed = [rec for rec in recs if not rec.passed]
        if failed:
            missing = ", ".join(f"[{w.start or 'the beginning'}, {w.end})" for w in holes)
            hint = "" if not holes else (
                f". No load of this source covered {missing} yet (intervals loaded out of order, e.g. "
                "`--run-backwards`, or a failed interval not rerun): load those intervals, then clear this run")
            raise AirflowFailException("rows do not reconcile: " + "; ".join(
                f"{rec.name} {rec.diff_count} differing keys (e.g. {rec.diffs[0].kind} {list(rec.diffs[0].key)})"
                if rec.diffs else f"{rec.name} {rec.diff_count} differing keys" for rec in failed) + hint)
        return {k: result[k] for k in ("scope", "seconds")}
