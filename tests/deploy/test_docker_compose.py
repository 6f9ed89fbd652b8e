"""docker-compose.yaml, as far as it can be checked without a Docker engine: services, healthchecks, start
order, the Airflow image and its environment, and that every file it mounts or runs exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def test_the_services(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {*AIRFLOW, "airflow-init", "postgres", "mongodb", "data-seed", "mongo-seed",
                                      "sqlserver", "sqlserver-seed", "dsql", "moto", "aws-seed"}
    s = services(compose)
    assert s["mongodb"]["image"].startswith("mongo:7")
    assert s["sqlserver"]["image"].startswith("mcr.microsoft.com/mssql/server:2022")
    assert s["dsql"]["image"] == "postgres:16" and s["postgres"]["image"] == "postgres:16"
    assert s["moto"]["image"].startswith("motoserver/moto:")
    assert s["moto"]["environment"]["MOTO_ACCOUNT_ID"] == "111122223333"  # the specs' account: their ARNs resolve
    assert [s[n]["command"] for n in AIRFLOW] == ["api-server", "scheduler", "dag-processor", "triggerer"]


def test_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    s = services(compose)
    for name in ("postgres", "mongodb", "sqlserver", "dsql", "moto", *AIRFLOW):
        assert s[name]["healthcheck"]["test"], name
    for name in AIRFLOW:
        assert s[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert s[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    assert s["mongo-seed"]["depends_on"] == {"mongodb": {"condition": "service_healthy"},
                                             "data-seed": {"condition": "service_completed_successfully"}}
    assert s["sqlserver-seed"]["depends_on"] == {"sqlserver": {"condition": "service_healthy"}}
    assert s["aws-seed"]["depends_on"] == {"moto": {"condition": "service_healthy"}}


def test_the_airflow_image(compose: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    assert common["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.1-python3\.12$", dockerfile, re.M)
    assert "openjdk-17-jre-headless" in dockerfile and "JAVA_HOME" in dockerfile
    assert '"pyspark==3.5.7"' in dockerfile
    assert "constraints-3.3.1/constraints-3.12.txt" in dockerfile and "requirements.txt" in dockerfile
    requirements_pyspark = re.search(r"^pyspark==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert requirements_pyspark and requirements_pyspark.group(1) == "3.5.7"  # the same Spark as the tests


def test_airflow_env_points_at_the_compose_services(compose: dict[str, Any]) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert env["DBMIGRATE_PROFILE"] == "local"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AWS_ENDPOINT_URL"] == "http://moto:5000"
    conns = {k[len("AIRFLOW_CONN_"):].lower(): json.loads(v) for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}
    assert conns["dsql_default"]["host"] == "dsql" and conns["dsql_default"]["extra"]["auth"] == "password"
    assert (conns["dms_sample_source"]["conn_type"], conns["dms_sample_source"]["host"]) == ("mssql", "sqlserver")
    assert conns["dms_sample_source"]["schema"] == "dms_sample"
    assert (conns["mongo_default"]["conn_type"], conns["mongo_default"]["host"]) == ("mongo", "mongodb")
    assert conns["aws_default"]["extra"]["endpoint_url"] == "http://moto:5000"
    # the spec's connection ids are the ones defined here
    specs = {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "include" / "specs").glob("*.yaml")}
    assert specs["dms_sample_to_dynamodb"]["source"]["conn_id"] in conns
    assert specs["movie_collection_to_dsql"]["target"]["conn_id"] in conns
    assert env["PYTHONPATH"] == "/opt/airflow/plugins:/opt/airflow/include"


def test_every_mounted_path_and_script_exists(compose: dict[str, Any]) -> None:
    mounts: list[tuple[str, str]] = []
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("."):
                mounts.append((name, host))
    assert mounts
    for name, host in mounts:
        assert (ROOT / host).exists(), f"{name} mounts {host}, which does not exist"
    scripts = {"airflow-init": "docker/airflow-init.sh", "data-seed": "docker/seed-data.sh",
               "mongo-seed": "docker/seed-mongo.sh"}
    for name, script in scripts.items():
        assert Path(script).name in " ".join(services(compose)[name]["command"]), name
        assert (ROOT / script).is_file()
    assert "seed_aws.py" in services(compose)["aws-seed"]["command"][-1] and (ROOT / "docker" / "seed_aws.py").is_file()
    assert "generators.dms_sample --uri 'mssql://" in services(compose)["sqlserver-seed"]["command"][-1]
    assert compose["volumes"].keys() >= {"runs", "airflow-db"}


def test_the_seed_scripts_are_valid_shell() -> None:
    import subprocess

    for script in (ROOT / "docker").glob("*.sh"):
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script


def test_aws_seed_against_the_embedded_moto() -> None:
    """The seed script of the compose stack, run against this machine's moto server."""
    import os
    import subprocess
    import sys

    import boto3

    env = {**os.environ, "DBMIGRATE_INCLUDE_DIR": str(ROOT / "include"), "MONGO_USER": "root",
           "MONGO_PASSWORD": "p@ss"}
    for _ in range(2):  # idempotent: a second run updates the secret
        proc = subprocess.run([sys.executable, str(ROOT / "docker" / "seed_aws.py")], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    secret = boto3.client("secretsmanager").get_secret_value(SecretId="dbmigrate/movies-mongo")
    assert json.loads(secret["SecretString"]) == {"username": "root", "password": "p@ss"}
    buckets = {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    assert "dbmigrate-staging-111122223333" in buckets
