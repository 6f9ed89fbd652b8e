"""connectors.storage.clear_prefix: what an earlier attempt left under a folder (local) or a prefix (the moto server's
S3) goes, and nothing beside it."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3

from connectors.storage import clear_prefix, read_text, write_text


def test_a_local_folder_is_cleared_and_a_missing_one_is_nothing(tmp_path: Path) -> None:
    run = tmp_path / "quarantine" / "run1"
    write_text(f"file://{run}/part-00000.json", "{}\n")
    write_text(f"file://{run}/sub/part-00001.json", "{}\n")
    write_text(f"file://{tmp_path}/quarantine/run10/part-00000.json", "{}\n")
    assert clear_prefix(f"file://{run}") == 2
    assert not run.exists() and (tmp_path / "quarantine" / "run10" / "part-00000.json").exists()
    assert clear_prefix(f"file://{run}") == 0


def test_an_s3_prefix_is_cleared_and_its_neighbours_kept() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"q-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for key in ("d/run1/part-0.json", "d/run1/_SUCCESS", "d/run10/part-0.json"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n")
    assert clear_prefix(f"s3://{bucket}/d/run1") == 2
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["d/run10/part-0.json"]
    assert read_text(f"s3://{bucket}/d/run10/part-0.json") == "{}\n"
    assert clear_prefix(f"s3://{bucket}/d/run1/") == 0
