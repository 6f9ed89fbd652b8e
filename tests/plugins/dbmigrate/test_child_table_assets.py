"""A spec with child tables: each child table is an asset of the DAG beside its parent's table, and the event
carries the child table's own counts (the report's `children`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbmigrate.dag_factory import mongo_to_dsql_dag
from dbmigrate.operators.report import PublishAssetsOperator
from tests.include.transforms.test_children import library_entities, spec_at


def test_child_tables_are_assets_with_their_own_counts(tmp_path: Path) -> None:
    spec = spec_at(tmp_path, library_entities())
    dag = mongo_to_dsql_dag(spec)
    publish = dag.get_task("validate.publish")
    assert isinstance(publish, PublishAssetsOperator)
    schema = spec.target_schema
    assert sorted(a.name for a in publish.outlets) == sorted(
        f"{schema}.{t}" for t in ("authors", "genres", "books", "book_genres", "book_editions"))
    assert publish.tables[f"{schema}.book_genres"] == ["genres"] and publish.tables[f"{schema}.genres"] == ["genre"]

    events: dict[Any, Any] = {a: type("Event", (), {})() for a in publish.outlets}
    publish.run = {"dry_run": False, "dag_id": spec.dag_id, "run_id": "r"}
    publish.report = {"status": "passed", "report_uri": "/r.json",
                      "entities": {"book": {"target": 3}, "genres": {"source": 5, "target": 5, "written": 5}}}
    publish.execute({"outlet_events": events})
    by_name = {a.name: e.extra for a, e in events.items()}
    assert by_name[f"{schema}.book_genres"]["rows_written"] == 5 and by_name[f"{schema}.books"]["rows_written"] == 3
