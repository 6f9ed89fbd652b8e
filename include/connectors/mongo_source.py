"""The live MongoDB source, reached one way by the job, the source check and the validators: the run's `source_uri`
(hosts, options, and its database when it names one) with the username and password of the spec's Secrets Manager
secret (`source.secret_arn`), never an Airflow connection of its own that could name another cluster.

The credentials go into the connection string in memory only. The job fetches the secret with boto3 (the EMR
instance role); Airflow passes the client of its AWS connection (`dbmigrate.hooks.mongo_source`). boto3 honours
`AWS_ENDPOINT_URL`, so under docker compose the same call reaches moto, which holds the secret at the spec's ARN.
No Airflow imports.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlparse, urlunparse


def secret_region(secret_arn: str) -> str | None:
    """The region of a Secrets Manager ARN (`arn:aws:secretsmanager:<region>:…`); None for a plain name."""
    parts = secret_arn.split(":")
    if not secret_arn.startswith("arn:") or len(parts) < 7:
        return None
    return parts[3] or None


def with_credentials(uri: str, secret_arn: str | None, secrets_client: Any = None) -> str:
    """`uri` with the username/password the secret holds (a JSON object with `username` and `password`; any
    credentials already in `uri` are replaced). `secrets_client`: boto3's `secretsmanager` client in the ARN's
    region unless given."""
    if not secret_arn:
        raise ValueError("a mongodb:// source needs source.secret_arn in the spec (or --mongo-secret-arn)")
    if secrets_client is None:
        import boto3

        secrets_client = boto3.client("secretsmanager", region_name=secret_region(secret_arn))
    secret = json.loads(secrets_client.get_secret_value(SecretId=secret_arn)["SecretString"])
    parsed = urlparse(uri)
    host = parsed.netloc.rsplit("@", 1)[-1]
    auth = f"{quote(secret['username'], safe='')}:{quote(secret['password'], safe='')}@"
    return urlunparse(parsed._replace(netloc=auth + host))


def database_of(uri: str, default: str) -> str:
    """The database a mongodb:// URI names in its path (`mongodb://host/shop`), else `default` (the spec's)."""
    name = urlparse(uri).path.strip("/")
    return name or default


def client(uri: str) -> Any:
    """A pymongo client of `uri` (with its credentials): the one place the validators' client is made."""
    import pymongo

    return pymongo.MongoClient(uri)


def open_database(uri: str, default_database: str, secret_arn: str | None, secrets_client: Any = None) -> Any:
    """The pymongo Database the job reads: `uri` with the secret's credentials, its database or `default_database`."""
    return client(with_credentials(uri, secret_arn, secrets_client))[database_of(uri, default_database)]
