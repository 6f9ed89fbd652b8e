"""dms_sample → DynamoDB (the moto server): the project's writer and its first-load path (items on S3, then
ImportTable) vs a bare boto3 `batch_writer` loop."""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.common import ROOT, alternate

DMS_SPEC = ROOT / "include" / "specs" / "dms_sample_to_dynamodb.yaml"


def history_items(n: int, seed: int = 42) -> list[dict[str, dict]]:
    """`n` ticket_sales items as the job writes them: the declared design's `purchased` and `transferred` item types
    rendered by `transforms.design_checks` (what the validators check the job's items against) over synthetic
    history rows with events, teams and people."""
    from transforms.design_checks import derive, expected_item
    from transforms.spec import load_spec

    kinds = {i.name: i for i in load_spec(DMS_SPEC).items}
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    items = []
    for i in range(n):
        ticket_id, transfer = i // 2, i % 2 == 1
        buyer, seller = rng.randrange(1, 10**6), rng.randrange(1, 10**6)
        ticket = {"sporting_event_id": ticket_id // 500, "seat_level": 2, "seat_section": "112", "seat_row": "K",
                  "seat": str(ticket_id % 30), "ticketholder_id": buyer}
        event = {"start_date_time": start + timedelta(days=ticket_id // 500), "sport_type_name": "baseball",
                 "home_team_id": 11, "away_team_id": 12, "location_id": 7}
        team = {"name": "Boston Red Sox", "abbreviated_name": "BOS", "sport_league_short_name": "MLB",
                "sport_division_short_name": "AL East"}
        person = {"first_name": "Ada", "last_name": "Lovelace", "full_name": "Ada Lovelace"}
        location = {"name": "Fenway Park", "city": "Boston", "seating_capacity": 37755}
        row: dict[str, Any] = {"sporting_event_ticket_id": ticket_id, "purchased_by_id": buyer,
                               "transferred_from_id": seller if transfer else None,
                               "transaction_date_time": start + timedelta(minutes=i),
                               "purchase_price": Decimal("45.50")}
        for alias, values in (("ticket", ticket), ("event", event), ("home", team), ("away", team),
                              ("location", location), ("owner", person),
                              ("transferor", person if transfer else dict.fromkeys(person))):
            row.update({f"{alias}.{k}": v for k, v in values.items()})
        kind = kinds["transferred" if transfer else "purchased"]
        items += [item for r in derive(kind, [row]) if (item := expected_item(
            kind, r, "item_type", ["sporting_event_ticket_id", "ticket_status_owner"])) is not None]
    return items


def _plain(value: dict[str, Any]) -> Any:
    """An attribute value as boto3's resource layer takes it (what a batch_writer loop would hold)."""
    (kind, v), = value.items()
    return Decimal(v) if kind == "N" else v


def measure(sizes: list[int], repeats: int, large_repeats: int | None = None) -> list[dict[str, Any]]:
    """Items/s of both writers at each size, alternated, each run into a fresh table shaped like ticket_sales;
    the largest size `large_repeats` times (moto takes ~85 s a run at 100k items). Each table is dropped as soon
    as its run is timed."""
    import boto3

    from connectors.dynamodb_import import import_lines, object_key
    from connectors.dynamodb_writer import write_items
    from transforms.dynamodb_tables import TableSpec, create_table_kwargs, import_table_kwargs
    from transforms.spec import load_spec

    spec = load_spec(DMS_SPEC)
    target = spec.targets["ticket_sales"]
    table_spec = TableSpec.from_dict(target)
    key_names = tuple(k for k in (table_spec.partition_key.name,
                                  table_spec.sort_key.name if table_spec.sort_key else None) if k)
    client, resource, s3 = boto3.client("dynamodb"), boto3.resource("dynamodb"), boto3.client("s3")
    bucket = f"bench-import-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def fresh() -> str:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        client.create_table(**create_table_kwargs(TableSpec.from_dict({**target, "name": name})))
        client.get_waiter("table_exists").wait(TableName=name)
        return name

    out = []
    for n in sizes:
        items = history_items(n)
        plain = [{k: _plain(v) for k, v in item.items()} for item in items]
        runs = repeats if n != max(sizes) or large_repeats is None else large_repeats
        print(f"bench: DynamoDB writers, {n:,} items, {runs} run(s) each", flush=True)
        checked: list[bool] = []

        def done(name: str, n: int = n, checked: list[bool] = checked) -> None:
            """Check the project's first table holds every item, then drop the table: moto keeps every item of
            every table in memory, and a heap of several 100k-item tables slows every later request."""
            try:
                if not checked:
                    counted = client.scan(TableName=name, Select="COUNT")
                    assert counted.get("LastEvaluatedKey") or counted["Count"] == n, "the project writer lost items"
                    checked.append(True)
            finally:
                client.delete_table(TableName=name)

        def project(items: list = items, done: Any = done) -> tuple[float, dict[str, Any]]:
            name = fresh()
            started = time.perf_counter()
            write_items(items, table=name, key_names=key_names, client=client)
            seconds = time.perf_counter() - started
            done(name)
            return seconds, {}

        def bare(plain: list = plain) -> tuple[float, dict[str, Any]]:
            name = fresh()
            started = time.perf_counter()
            with resource.Table(name).batch_writer() as writer:
                for item in plain:
                    writer.put_item(Item=item)
            seconds = time.perf_counter() - started
            client.delete_table(TableName=name)
            return seconds, {}

        def imported(items: list = items, n: int = n) -> tuple[float, dict[str, Any]]:
            """A first load into a new table: the items put on S3 as the job's import writer puts them (gzipped
            DynamoDB JSON), then ImportTable creates the table from them; timed until the import is COMPLETED."""
            name = f"bench_{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            for seq, body in enumerate(import_lines(iter(items))):
                s3.put_object(Bucket=bucket, Key=object_key(name, 0, seq), Body=body)
            arn = client.import_table(**import_table_kwargs(TableSpec.from_dict({**target, "name": name}),
                                                            f"s3://{bucket}/{name}", name))["ImportTableDescription"][
                "ImportArn"]
            while (done := client.describe_import(ImportArn=arn)["ImportTableDescription"])[
                    "ImportStatus"] == "IN_PROGRESS":
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            assert (done["ImportStatus"], done["ImportedItemCount"]) == ("COMPLETED", n), done
            client.delete_table(TableName=name)
            return seconds, {}

        samples = alternate({"project": project, "batch_writer": bare, "import": imported}, runs)
        out.append({"items": n, "project_s": samples["project"].median, "bare_s": samples["batch_writer"].median,
                    "import_s": samples["import"].median, "project_runs": samples["project"].seconds,
                    "bare_runs": samples["batch_writer"].seconds, "import_runs": samples["import"].seconds})
    return out
