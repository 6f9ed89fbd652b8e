"""The first task of every migration run: resolve the run's inputs once, for every task after it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from dbmigrate import runtime


class ResolveRunOperator(BaseOperator):
    """Resolve source, target, schema, connection, profile, report and quarantine locations of this run.

    Returns them as a dict and, because `multiple_outputs` is set, as one XCom per key, so later tasks
    take `resolve.output["source_uri"]` (an XComArg) instead of deriving it again. A spec or param that
    cannot be used fails the run at once, without retries.

    :param spec_dag_id: the migration spec, by dag_id (templated)
    :param aws_conn_id: AWS connection (the run's copy of the spec goes to S3 on AWS)
    """

    template_fields: Sequence[str] = ("spec_dag_id",)
    ui_color = "#e8f4e8"

    def __init__(self, *, spec_dag_id: str, aws_conn_id: str | None = "aws_default", **kwargs: Any) -> None:
        kwargs.setdefault("multiple_outputs", True)
        kwargs.setdefault("retries", 0)
        super().__init__(**kwargs)
        self.spec_dag_id = spec_dag_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        dag_run = context.get("dag_run")
        try:
            # the DAG's declared params (the context's params have the conf merged in, unknown keys too)
            runtime.check_conf_keys(getattr(dag_run, "conf", None) or {}, (context.get("dag") or self.dag).params)
            run = resolve(self.spec_dag_id, context.get("params") or {}, context["run_id"],
                          run_type=getattr(dag_run, "run_type", None),
                          data_interval=(context.get("data_interval_start"), context.get("data_interval_end")),
                          aws_conn_id=self.aws_conn_id)
        except runtime.RunInputError as err:
            raise AirflowFailException(str(err)) from err
        for key, value in sorted(run.items()):
            self.log.info("%s: %s", key, value)
        return run


def resolve(dag_id: str, params: dict[str, Any], run_id: str, *, run_type: Any = None,
            data_interval: tuple[Any, Any] | None = None, aws_conn_id: str | None = "aws_default") -> dict[str, Any]:
    """The inputs of one run of `dag_id` (reads the spec; for a relational source also its connection's database
    and the catalog's spelling of the schema the run names), with the window of records it loads
    (`runtime.run_window`: the params', the data interval of a scheduled or backfill run, or everything), and the
    run's own copy of the spec (`spec_uri`), which every later task reads."""
    spec = runtime.spec_for(dag_id)
    window = runtime.run_window(spec, params, run_type, data_interval)
    run = _resolve(spec, params, run_id)
    return {**run, "window": window, "spec_uri": runtime.stage_spec(spec, run["run_prefix"], aws_conn_id)}


def _resolve(spec: Any, params: dict[str, Any], run_id: str) -> dict[str, Any]:
    profile = runtime.compute_profile()
    if spec.kind == "mongo_to_dsql":
        return runtime.resolve_mongo_to_dsql(spec, params, run_id, profile)
    conn_id = runtime.source_conn_id(spec, params)
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception as err:  # AirflowNotFoundException and friends: a connection that is not there
        raise runtime.RunInputError(f"source connection {conn_id!r}: {err}") from err
    requested = runtime.requested_schema(spec, params, profile)
    schema = source_schema(conn, conn_id, requested)
    return runtime.resolve_sql_to_dynamodb(spec, params, run_id, profile, conn_id=conn_id, schema=schema,
                                                 source_database=conn.schema)


def source_schema(conn: Any, conn_id: str, requested: str) -> str:
    """The source catalog's spelling of the schema a run names (`transforms.identifiers.pick_schema`), so the
    Spark job and the validators, which both quote it, read the same tables whatever case the user typed."""
    from transforms.identifiers import SCHEMA_LOOKUP_SQL, pick_schema

    try:
        found = conn.get_hook().get_records(SCHEMA_LOOKUP_SQL, parameters=(requested,))
    except Exception as err:  # an unreachable source: the run could not read it either
        raise runtime.RunInputError(f"source connection {conn_id!r} cannot be queried: {err}") from err
    try:
        return pick_schema(requested, [row[0] for row in found or []])
    except ValueError as err:
        raise runtime.RunInputError(f"source_schema: {err} (connection {conn_id!r})") from None
