"""Spec checks: a typo, an unknown key or a wrong type fails at load time, naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fixtures import SPEC_DIR
from transforms.spec import SpecError, load_spec

MOVIE, DMS = "movie_collection_to_dsql", "dms_sample_to_dynamodb"


def variant(tmp_path: Path, dag_id: str, change, name: str | None = None) -> Path:
    raw = yaml.safe_load((SPEC_DIR / f"{dag_id}.yaml").read_text())
    change(raw)
    path = tmp_path / f"{name or dag_id}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_the_shipped_specs_load() -> None:
    assert load_spec(SPEC_DIR / f"{MOVIE}.yaml").dag_id == MOVIE
    assert load_spec(SPEC_DIR / f"{DMS}.yaml").dag_id == DMS


@pytest.mark.parametrize(("dag_id", "change", "message"), [
    (MOVIE, lambda r: r.update(valdation=r.pop("validation")), r"movie_collection_to_dsql.yaml: unknown top-level "
                                                                r"keys \['valdation'\]"),
    (MOVIE, lambda r: r["write"].update(batch_row=5), r"write: unknown keys \['batch_row'\]"),
    (MOVIE, lambda r: r["compute"]["emr"].update(instance=1), r"compute.emr: unknown keys \['instance'\]"),
    (MOVIE, lambda r: r["write"].update(batch_rows="lots"), r"write.batch_rows: must be a whole number, got 'lots'"),
    (MOVIE, lambda r: r["write"].update(connections=0), r"write.connections: must be a whole number >= 1, got 0"),
    (MOVIE, lambda r: r.update(retries="two"), r"retries: must be a whole number >= 0, got 'two'"),
    (MOVIE, lambda r: r.update(tags="migration"), r"tags: must be a list of strings, got 'migration'"),
    (MOVIE, lambda r: r.update(source=["x"]), r"source: must be a mapping"),
    (DMS, lambda r: r["write"].update(capacity_share="half"), r"write.capacity_share: must be a number"),
    (DMS, lambda r: r["write"].update(first_load="copy"), r"write.first_load: must be one of import, writer"),
    (DMS, lambda r: r["glue"].update(workers=3), r"glue: unknown keys \['workers'\]"),
    (DMS, lambda r: r.update(jobs="ticket_sales"), r"jobs: must be a list of strings"),
    (DMS, lambda r: r["incremental"].update(table="seat"), r"incremental.table: must be the `from` of an "
                                                           r"item type, got 'seat'"),
    (DMS, lambda r: r["items"]["held"].pop("touched_by"), r"items.held.touched_by: is required with incremental"),
    (DMS, lambda r: r.update(kind="sqlserver_to_dynamodb"), r"kind: sqlserver_to_dynamodb was dms_sample's design"),
    (DMS, lambda r: r.update(schedule="daily"), r"schedule: must be one of"),
    (MOVIE, lambda r: r["write"].update(max_row_bytes=9_000_000), r"write.max_row_bytes: must be at most"),
    (MOVIE, lambda r: r["write"].update(max_column_bytes=3_000_000), r"write.max_column_bytes: must be at most"),
    (MOVIE, lambda r: r["source"].update(max_nesting_depth=0), r"source.max_nesting_depth: must be a whole number"),
    (MOVIE, lambda r: r["validation"].update(max_reject_ratio=1.5), r"validation.max_reject_ratio: must be in"),
    (DMS, lambda r: r["validation"].update(min_documents=-1), r"validation.min_documents: must be a whole number"),
    (DMS, lambda r: r["validation"].update(sample_size=-1), r"validation.sample_size: must be a whole number >= 0"),
])
def test_errors_name_the_file_and_the_field(tmp_path: Path, dag_id: str, change, message: str) -> None:
    with pytest.raises(SpecError, match=message) as err:
        load_spec(variant(tmp_path, dag_id, change))
    assert str(err.value).startswith(f"{dag_id}.yaml")


def test_the_file_is_named_after_its_dag(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"copy.yaml: dag_id: must be the file's name, 'copy'"):
        load_spec(variant(tmp_path, MOVIE, lambda r: None, name="copy"))
