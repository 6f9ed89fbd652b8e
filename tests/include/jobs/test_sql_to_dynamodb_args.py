"""jobs.sql_to_dynamodb: the source arguments of the local profile (psycopg or JDBC, never a password)."""

from __future__ import annotations

import json

import pytest

from jobs.sql_to_dynamodb import parse_args

BASE = ["--spec", "s.yaml", "--item-set", "config", "--run-id", "r", "--report-uri", "/tmp/r.json",
        "--source-schema", "dbo", "--source-password-file", "/run/pw"]
JDBC = {"jdbc_url": "jdbc:sqlserver://sqlserver:1433;databaseName=dms_sample;encrypt=false;"
                    "trustServerCertificate=true", "driver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
        "user": "sa"}


def test_a_jdbc_source_is_accepted() -> None:
    args = parse_args([*BASE, "--source-json", json.dumps(JDBC)])
    assert json.loads(args.source_json) == JDBC and args.source_password_file == "/run/pw"


def test_a_psycopg_source_is_accepted() -> None:
    source = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "dms_sample"}
    assert json.loads(parse_args([*BASE, "--source-json", json.dumps(source)]).source_json) == source


@pytest.mark.parametrize(("source_json", "message"), [
    (json.dumps({**JDBC, "password": "x"}), "must not carry a password"),
    (json.dumps({"jdbc_url": JDBC["jdbc_url"]}), 'needs "driver"'),
    ("{not json", "is not JSON"),
    ("[1]", "must be a JSON object"),
])
def test_bad_sources_are_refused(source_json: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args([*BASE, "--source-json", source_json])
    assert message in capsys.readouterr().err
