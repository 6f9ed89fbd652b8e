"""DynamoDB throttling, which moto never does, put in front of it by `tests.fixtures.throttling_proxy`.

The proxy refuses a share of the BatchWriteItem requests whole (HTTP 400
ProvisionedThroughputExceededException) and applies another share only in part (`UnprocessedItems`).
`connectors.dynamodb_writer.write_items` is run through it directly, then the whole SQL Server → DynamoDB job
(in-process, as the session's `dms_loaded` ran it) with its executors' `AWS_ENDPOINT_URL` pointing at it: every
item must land exactly as in that load, which wrote straight to moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from connectors.dynamodb_writer import WriteStats, count_items, write_items
from jobs.sql_to_dynamodb import parse_args, run
from tests.fixtures import SPEC_DIR
from tests.fixtures.dms_sample_load import Loaded, Source
from tests.fixtures.throttling_proxy import throttling_proxy
from transforms.spec import load_spec

SPEC_PATH = SPEC_DIR / "dms_sample_to_dynamodb.yaml"


def scan(ddb: Any, table: str) -> list[str]:
    """Every item of `table`, as canonical JSON, sorted."""
    items: list[str] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += [json.dumps(item, sort_keys=True) for item in page["Items"]]
    return sorted(items)


# --- the writer ----------------------------------------------------------------------------------------------------

SIMPLE_TABLE = {"name": "throttled", "partition_key": {"name": "pk", "type": "S"},
                "sort_key": {"name": "sk", "type": "N"}, "billing_mode": "PAY_PER_REQUEST"}


@pytest.mark.parametrize("sdk_retries", [True, False], ids=["botocore-retries", "no-botocore-retries"])
def test_write_items_resubmits_throttled_and_unprocessed_writes(ddb: Any, make_table: Any, moto_endpoint: str,
                                                                sdk_retries: bool) -> None:
    table = make_table(SIMPLE_TABLE)
    items = [{"pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)}, "body": {"S": "x" * (i % 50)}} for i in range(400)]
    with throttling_proxy(moto_endpoint, throttle=0.3, unprocessed=0.3) as proxy:
        # botocore retries throttling by itself (legacy mode: up to 10 times for DynamoDB) unless told not to
        config = None if sdk_retries else Config(retries={"total_max_attempts": 1, "mode": "standard"})
        client = boto3.client("dynamodb", endpoint_url=proxy.url, config=config)
        stats = WriteStats()
        assert write_items(iter(items), table=table, key_names=("pk", "sk"), client=client, base_delay_s=0.001,
                           stats=stats) == 400
    seen = proxy.stats
    assert seen["throttled"] > 5 and seen["unprocessed_items"] > 50, seen
    assert stats.unprocessed_items == seen["unprocessed_items"]
    if sdk_retries:
        assert (stats.sdk_retries, stats.throttled_requests) == (seen["throttled"], 0)
    else:
        assert (stats.sdk_retries, stats.throttled_requests) == (0, seen["throttled"])
    assert stats.requests + stats.sdk_retries == seen["batch_write_requests"]
    assert stats.requests >= 16 + seen["partial"]  # 16 batches of 25, plus one resubmission per partial answer
    assert count_items(table, client=ddb) == 400
    assert scan(ddb, table) == sorted(json.dumps(i, sort_keys=True) for i in items)


def test_write_stats_add_up() -> None:
    total = WriteStats(requests=3, sdk_retries=1) + WriteStats(requests=2, throttled_requests=4, unprocessed_items=5)
    assert total.to_dict() == {"requests": 5, "sdk_retries": 1, "throttled_requests": 4, "unprocessed_items": 5}


# --- the job under spark-submit ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def source(dms_source: Source) -> dict[str, Any]:
    """The session's generated dms_sample (read-only)."""
    return {"schema": dms_source.schema, "conninfo": dms_source.info, "password_file": str(dms_source.password_file)}


def job_args(source: dict[str, Any], table: str, report: Path) -> list[str]:
    return ["--spec", str(SPEC_PATH), "--item-set", "ticket_sales", "--run-id", "throttle-test", "--report-uri",
            str(report), "--table", table, "--source-json", json.dumps(source["conninfo"]),
            "--source-schema", source["schema"], "--source-password-file", source["password_file"],
            "--write-units-per-s", "1000000", "--partitions", "2"]


@contextmanager
def executor_env(spark: Any, name: str, value: str) -> Iterator[None]:
    """Set an environment variable of the Python workers of jobs started in the block.

    PySpark passes `SparkContext.environment` to every Python function it ships and keeps a pool of workers
    per environment, so the job's executors see the new value as spark-submit's would see its own env."""
    env = spark.sparkContext.environment
    old = env.get(name)
    env[name] = value
    try:
        yield
    finally:
        if old is None:
            env.pop(name, None)
        else:
            env[name] = old


@pytest.mark.spark
def test_the_job_writes_every_item_exactly_through_throttling(spark: Any, source: dict[str, Any], ddb: Any,
                                                              make_table: Any, moto_endpoint: str,
                                                              dms_loaded: Loaded, tmp_path: Path) -> None:
    """The same source as the session's load, which went straight to moto: the same items through throttling."""
    throttled_table = make_table(load_spec(SPEC_PATH).targets["ticket_sales"])
    clean, clean_table = dms_loaded.reports["ticket_sales"], dms_loaded.tables["ticket_sales"]

    report = tmp_path / "throttled.json"
    with throttling_proxy(moto_endpoint, throttle=0.25, unprocessed=0.25) as proxy, \
            executor_env(spark, "AWS_ENDPOINT_URL", proxy.url):
        throttled = run(parse_args(job_args(source, throttled_table, report)), spark)
    seen = proxy.stats
    # the executors wrote through the proxy, all of it: 25 items a request at most, plus what came back
    assert seen["batch_write_requests"] >= (clean["items"] + seen["unprocessed_items"]) / 25 + seen["throttled"]
    assert seen["throttled"] > 0 and seen["partial"] > 0 and seen["unprocessed_items"] > 0, seen

    assert json.loads(report.read_text()) == throttled
    assert throttled["items"] == clean["items"] > 1000
    assert throttled["by_type"] == clean["by_type"]
    assert count_items(throttled_table, client=ddb) == clean["items"]
    assert scan(ddb, throttled_table) == scan(ddb, clean_table)
