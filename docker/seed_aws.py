"""One-shot seed of the compose stack's AWS emulator (moto): the staging buckets of every spec, and the
MongoDB credentials at the Secrets Manager name the movie spec's `source.secret_arn` points at.

moto runs with MOTO_ACCOUNT_ID=111122223333 (the specs' account) and resolves the spec's partial ARN
(`…:secret:dbmigrate/movies-mongo`, without AWS's random suffix) to this secret.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3

INCLUDE = Path(os.environ.get("DBMIGRATE_INCLUDE_DIR", "/opt/airflow/include"))
sys.path.insert(0, str(INCLUDE))
from transforms.spec import load_specs  # noqa: E402

specs = load_specs(INCLUDE / "specs")
s3 = boto3.client("s3")
for bucket in sorted({s.staging_uri.split("/")[2] for s in specs}):
    s3.create_bucket(Bucket=bucket)
    print(f"bucket {bucket}")
for spec in specs:
    arn = getattr(spec, "source_secret_arn", None)
    if not arn:
        continue
    # in the ARN's own region and under its name; moto runs as the ARN's account (MOTO_ACCOUNT_ID)
    _, _, _, region, account, _, name = arn.split(":", 6)
    sm = boto3.client("secretsmanager", region_name=region or None)
    secret = json.dumps({"username": os.environ["MONGO_USER"], "password": os.environ["MONGO_PASSWORD"]})
    try:
        sm.create_secret(Name=name, SecretString=secret)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=secret)
    created = sm.describe_secret(SecretId=arn)["ARN"]
    if f":{account}:" not in created:
        raise SystemExit(f"secret {name} was created as {created}, not in account {account}: set MOTO_ACCOUNT_ID")
    print(f"secret {name} (for {arn}) -> {created}")
