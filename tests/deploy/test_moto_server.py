"""devstack.moto_server: the stack's moto handles DynamoDB writes one at a time, so a conditional write is atomic
as on AWS (moto's threaded server lets two `attribute_not_exists` updates of one key both succeed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from devstack.moto_server import is_dynamodb_write, one_at_a_time


def test_requests_never_overlap() -> None:
    inside: list[int] = []
    overlaps: list[int] = []
    guard = threading.Lock()

    def slow_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with guard:
            inside.append(1)
            if len(inside) > 1:
                overlaps.append(len(inside))
        time.sleep(0.02)
        with guard:
            inside.pop()
        start_response("200 OK", [])
        yield environ["n"].encode()
        yield b"!"

    app = one_at_a_time(slow_app)
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda n: app({"n": str(n)}, lambda *a: None), range(16)))
    assert overlaps == []
    assert bodies == [[f"{n}!".encode()] for n in range(16)]  # each body read out whole inside the lock


def test_only_dynamodb_writes_are_serialized() -> None:
    def target(t: str) -> dict[str, str]:
        return {"HTTP_X_AMZ_TARGET": t}

    assert is_dynamodb_write(target("DynamoDB_20120810.UpdateItem"))
    assert is_dynamodb_write(target("DynamoDB_20120810.BatchWriteItem"))
    assert not is_dynamodb_write(target("DynamoDB_20120810.Scan"))
    assert not is_dynamodb_write(target("AWSGlue.StartJobRun")) and not is_dynamodb_write({})
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ["HTTP_X_AMZ_TARGET"])
        return [b"ok"]

    wrapped = one_at_a_time(app, is_dynamodb_write)
    assert wrapped(target("DynamoDB_20120810.Scan"), None) == [b"ok"]
    assert wrapped(target("DynamoDB_20120810.PutItem"), None) == [b"ok"]
    assert seen == ["DynamoDB_20120810.Scan", "DynamoDB_20120810.PutItem"]


def test_only_one_of_eight_conditional_updates_wins(moto_endpoint: str) -> None:
    """The embedded stack's moto (started by `bin/local-stack up` through devstack.moto_server): 200 rounds of
    eight clients racing for one key, as the migration lock's `update_item` does. moto's own threaded server
    let two of them win in about 5 rounds of 200 here."""
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    table = f"race_{time.monotonic_ns()}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    clients = [boto3.client("dynamodb", endpoint_url=moto_endpoint) for _ in range(8)]
    payload = {"S": "x" * 20_000}  # a longer write widens the window between moto's check and its update

    def round_of(key: str) -> list[int]:
        start = threading.Barrier(len(clients))

        def update(who: int) -> bool:
            client = clients[who]
            start.wait()
            try:
                client.update_item(TableName=table, Key={"k": {"S": key}}, UpdateExpression="SET who = :w, body = :b",
                                   ConditionExpression="attribute_not_exists(who)",
                                   ExpressionAttributeValues={":w": {"N": str(who)}, ":b": payload})
                return True
            except client.exceptions.ConditionalCheckFailedException:
                return False

        with ThreadPoolExecutor(len(clients)) as pool:
            return [who for who, ok in enumerate(pool.map(update, range(len(clients)))) if ok]

    try:
        rounds = {f"lock{n}": round_of(f"lock{n}") for n in range(200)}
        assert {key: won for key, won in rounds.items() if len(won) != 1} == {}
        item = ddb.get_item(TableName=table, Key={"k": {"S": "lock0"}}, ConsistentRead=True)["Item"]
        assert item["who"]["N"] == str(rounds["lock0"][0])
    finally:
        ddb.delete_table(TableName=table)
