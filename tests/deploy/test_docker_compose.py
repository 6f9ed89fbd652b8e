"""docker-compose.yaml, as far as it can be checked without a Docker engine (none runs where this is tested).

Checked: the services, images and healthchecks, start order, the Airflow image (docker/Dockerfile) and its
environment (connections at the compose services, credentials that agree between services, the shared
airflow.cfg and JWT secret), that every file mounted or run exists and parses, the mongoimport filter on
generated bad input, and the AWS seed plus the job's credential lookup against a moto server started as the
compose file starts it (MOTO_ACCOUNT_ID=111122223333). Not checked: images building and containers running.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
SEEDS = ("data-seed", "mongo-seed", "sqlserver-seed", "aws-seed")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def env(compose: dict[str, Any]) -> dict[str, str]:
    return compose["x-airflow-common"]["environment"]


@pytest.fixture(scope="module")
def conns(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {k[len("AIRFLOW_CONN_"):].lower(): json.loads(v) for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in (ROOT / "include" / "specs").glob("*.yaml")}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path → host path (./…) or volume name."""
    return {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}


def test_the_services(services: dict[str, Any]) -> None:
    assert set(services) == {*AIRFLOW, "airflow-init", "postgres", "mongodb", "sqlserver", "dsql", "moto", *SEEDS}
    assert services["postgres"]["image"] == "postgres:16"  # Airflow's metadata DB, as in the official file
    assert services["mongodb"]["image"].startswith("mongo:7")
    assert services["mongo-seed"]["image"] == services["mongodb"]["image"]  # mongoimport and mongosh
    assert services["sqlserver"]["image"] == "mcr.microsoft.com/mssql/server:2022-latest"
    assert services["dsql"]["image"] == "postgres:16"
    assert [services[n]["command"] for n in AIRFLOW] == ["api-server", "scheduler", "dag-processor", "triggerer"]
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]
    for name in (*AIRFLOW, "airflow-init", "data-seed", "sqlserver-seed", "aws-seed"):
        assert services[name]["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}, name
        assert services[name]["image"] == "dbmigrate-airflow:3.3.1", name


def test_moto_is_the_tested_moto_in_the_specs_account(services: dict[str, Any], specs: dict[str, Any]) -> None:
    pinned = re.search(r"^moto\[server\]==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert pinned and services["moto"]["image"] == f"motoserver/moto:{pinned.group(1)}"
    account = specs["movie_collection_to_dsql"]["source"]["secret_arn"].split(":")[4]
    assert services["moto"]["environment"]["MOTO_ACCOUNT_ID"] == account


def test_healthchecks_and_start_order(services: dict[str, Any]) -> None:
    for name in ("postgres", "mongodb", "sqlserver", "dsql", "moto", *AIRFLOW):
        assert services[name]["healthcheck"]["test"], name
    for name in AIRFLOW:
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
        assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
    assert services["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    done = {"condition": "service_completed_successfully"}
    assert services["mongo-seed"]["depends_on"] == {"mongodb": {"condition": "service_healthy"}, "data-seed": done}
    assert services["sqlserver-seed"]["depends_on"] == {"sqlserver": {"condition": "service_healthy"}}
    assert services["aws-seed"]["depends_on"] == {"moto": {"condition": "service_healthy"}}
    assert services["data-seed"]["depends_on"] == {"airflow-init": done}  # the runs volume, owned by Airflow
    # no task runs before its data is there
    assert {k: v for k, v in services["airflow-scheduler"]["depends_on"].items() if k.endswith("-seed")} == {
        "aws-seed": done, "mongo-seed": done, "sqlserver-seed": done}


def test_the_airflow_image() -> None:
    from dbmigrate.local_sources import MONGO_SPARK_CONNECTOR, MSSQL_JDBC

    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.1-python3\.12$", dockerfile, re.M)
    assert "openjdk-17-jre-headless" in dockerfile and "ENV JAVA_HOME=/usr/lib/jvm/java-17" in dockerfile
    assert '"pyspark==3.5.7"' in dockerfile
    assert "constraints-3.3.1/constraints-3.12.txt" in dockerfile and "COPY requirements.txt" in dockerfile
    pinned = re.search(r"^pyspark==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == "3.5.7"  # the Spark the tests run
    packages = re.search(r'^ARG SPARK_PACKAGES="([^"]+)"', dockerfile, re.M)
    assert packages and set(packages.group(1).split(",")) == {MONGO_SPARK_CONNECTOR, MSSQL_JDBC}
    requirements = (ROOT / "requirements.txt").read_text()
    for needed in ("apache-airflow-providers-microsoft-mssql", "apache-airflow-providers-mongo", "pymssql",
                   "pymongo"):  # the seeds and validators use them; the base image has neither provider
        assert re.search(rf"^{re.escape(needed)}==", requirements, re.M), needed


def test_the_airflow_containers_share_config_logs_and_runs(compose: dict[str, Any], services: dict[str, Any],
                                                          env: dict[str, str]) -> None:
    common = mounts(compose["x-airflow-common"])
    assert common == {"/opt/airflow/dags": "./dags", "/opt/airflow/plugins": "./plugins",
                      "/opt/airflow/include": "./include", "/opt/airflow/config": "airflow-config",
                      "/opt/airflow/logs": "airflow-logs", "/opt/airflow/runs": "runs"}
    assert env["PYTHONPATH"] == "/opt/airflow/plugins:/opt/airflow/include"  # as `bin/local-stack env`
    for path in env["PYTHONPATH"].split(":"):
        assert path in common
    # one airflow.cfg and one JWT secret: task tokens signed by the scheduler are accepted by the API server
    assert env["AIRFLOW_CONFIG"].startswith("/opt/airflow/config/")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith("/opt/airflow/config/")
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] and env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    init = mounts(services["airflow-init"])
    assert {k: v for k, v in init.items() if k != "/opt/airflow/docker"} == common
    assert init["/opt/airflow/docker"] == "./docker" and services["airflow-init"]["user"] == "0:0"
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    for name in AIRFLOW:
        assert "volumes" not in services[name] or mounts(services[name]) == common, name
    assert set(compose["volumes"]) >= {"airflow-db", "airflow-config", "airflow-logs", "runs"}


def test_airflow_env_points_at_the_compose_services(env: dict[str, str], conns: dict[str, Any],
                                                    specs: dict[str, Any]) -> None:
    assert env["DBMIGRATE_PROFILE"] == "local"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AWS_ENDPOINT_URL"] == "http://moto:5000" and env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["DBMIGRATE_QUARANTINE_URI"] == "file:///opt/airflow/runs/quarantine"
    assert env["LOCAL_REPORTS_DIR"].startswith("/opt/airflow/runs/")
    assert env["LOCAL_DATA_DIR"].startswith("/opt/airflow/runs/")
    assert conns["dsql_default"]["host"] == "dsql" and conns["dsql_default"]["schema"] == "postgres"
    assert conns["dsql_default"]["extra"] == {"auth": "password", "sslmode": "disable", "region_name": "us-east-1"}
    assert (conns["dms_sample_source"]["conn_type"], conns["dms_sample_source"]["host"]) == ("mssql", "sqlserver")
    assert conns["dms_sample_source"]["schema"] == "dms_sample"
    assert "mongo_default" not in conns  # the live source is reached as the job reaches it: URI and secret
    assert conns["aws_default"]["extra"]["endpoint_url"] == "http://moto:5000"
    assert specs["dms_sample_to_dynamodb"]["source"]["conn_id"] in conns
    assert specs["dms_sample_to_dynamodb"]["source"]["schema"] == "dbo"  # the T-SQL's schema: the default works
    assert specs["movie_collection_to_dsql"]["target"]["conn_id"] in conns


def test_credentials_agree_between_services(services: dict[str, Any], env: dict[str, str],
                                            conns: dict[str, Any]) -> None:
    sa_password = services["sqlserver"]["environment"]["MSSQL_SA_PASSWORD"]
    assert (conns["dms_sample_source"]["login"], conns["dms_sample_source"]["password"]) == ("sa", sa_password)
    seed_uri = urlsplit(re.search(r"--uri '([^']+)'", services["sqlserver-seed"]["command"][-1]).group(1))
    assert (seed_uri.scheme, seed_uri.hostname, seed_uri.port, seed_uri.path) == ("mssql", "sqlserver", 1433,
                                                                                  "/dms_sample")
    assert (seed_uri.username, seed_uri.password) == ("sa", sa_password)
    mongo = services["mongodb"]["environment"]
    root = (mongo["MONGO_INITDB_ROOT_USERNAME"], mongo["MONGO_INITDB_ROOT_PASSWORD"])
    aws_seed = services["aws-seed"]["environment"]
    assert (aws_seed["MONGO_USER"], aws_seed["MONGO_PASSWORD"]) == root  # the secret the job fetches
    assert f"mongodb://{root[0]}:{root[1]}@mongodb:27017/" in (ROOT / "docker" / "seed-mongo.sh").read_text()
    assert conns["dsql_default"]["password"] == services["dsql"]["environment"]["POSTGRES_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_the_seeds_fill_what_the_specs_read(services: dict[str, Any], specs: dict[str, Any]) -> None:
    source = specs["movie_collection_to_dsql"]["source"]
    seed_mongo = (ROOT / "docker" / "seed-mongo.sh").read_text()
    assert f"mongodb:27017/{source['database']}?" in seed_mongo
    assert f"--collection {source['collection']} --drop" in seed_mongo
    assert "movie_collection.json" in source["local_uri"] and "LOCAL_DATA_DIR" in source["local_uri"]
    assert "/opt/airflow/runs/data/movie_collection.json" in (ROOT / "docker" / "seed-data.sh").read_text()
    tsql = sorted((ROOT / "include" / "sql" / "dms_sample" / "sqlserver").glob("*.sql"))
    assert tsql and "CREATE DATABASE dms_sample" in tsql[0].read_text()
    assert "generators.dms_sample" in services["sqlserver-seed"]["command"][-1]
    assert (ROOT / "include" / "generators" / "dms_sample.py").is_file()
    assert (ROOT / "include" / "generators" / "movie_collection.py").is_file()


def test_every_mounted_path_and_script_exists(services: dict[str, Any]) -> None:
    host_paths = [(name, host) for name, s in services.items() for host in mounts(s).values() if host.startswith(".")]
    assert host_paths
    for name, host in host_paths:
        assert (ROOT / host).exists(), f"{name} mounts {host}, which does not exist"
    scripts = {"airflow-init": ("docker/airflow-init.sh", "/opt/airflow/docker/"),
               "data-seed": ("docker/seed-data.sh", "/opt/airflow/docker/"),
               "mongo-seed": ("docker/seed-mongo.sh", "/docker/"),
               "aws-seed": ("docker/seed_aws.py", "/opt/airflow/docker/")}
    for name, (script, mounted_at) in scripts.items():
        command = " ".join(services[name]["command"])
        assert mounted_at + Path(script).name in command, name
        assert mounts(services[name])[mounted_at.rstrip("/")] == "./docker", name
        assert (ROOT / script).is_file(), script
    assert "/opt/airflow/docker/mongoimport_filter.py" in (ROOT / "docker" / "seed-data.sh").read_text()
    assert (ROOT / "docker" / "mongoimport_filter.py").is_file()


def test_the_scripts_parse() -> None:
    for script in (ROOT / "docker").glob("*.sh"):
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, (script, proc.stderr)
        assert script.read_text().startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script.read_text()
    for script in (ROOT / "docker").glob("*.py"):
        compile(script.read_text(), str(script), "exec")


def test_the_mongoimport_filter_keeps_what_mongodb_can_store(tmp_path: Path) -> None:
    from bson import json_util

    from generators.movie_collection import write

    export, kept = tmp_path / "movie_collection.json", tmp_path / "movie_collection.mongoimport.json"
    write(export, movies=80, seed=42, bad_input=True)
    proc = subprocess.run([sys.executable, str(ROOT / "docker" / "mongoimport_filter.py"), str(export), str(kept)],
                          capture_output=True, text=True, check=True)
    counts = json.loads(proc.stdout)
    lines = kept.read_text(encoding="utf-8").splitlines()
    assert counts["kept"] == len(lines) > 0 and counts["left_out"] > 0
    assert counts["kept"] + counts["left_out"] == len([x for x in export.read_text().splitlines() if x.strip()])
    assert all(isinstance(json_util.loads(line), dict) for line in lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def compose_moto(services: dict[str, Any]) -> Iterator[str]:
    """A moto server of its own, started with the compose file's moto environment (MOTO_ACCOUNT_ID)."""
    port = _free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, **services["moto"]["environment"]},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("moto server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_aws_seed_serves_the_job_its_mongodb_credentials(compose_moto: str, services: dict[str, Any],
                                                            specs: dict[str, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """docker/seed_aws.py as aws-seed runs it, then the job's lookup of the spec's ARN, both against moto."""
    import boto3

    from connectors.mongo_source import with_credentials

    seed_env = {**os.environ, **{k: str(v) for k, v in services["aws-seed"]["environment"].items()
                                 if not k.startswith("AIRFLOW")},
                "AWS_ENDPOINT_URL": compose_moto, "DBMIGRATE_INCLUDE_DIR": str(ROOT / "include")}
    for _ in range(2):  # idempotent: a second run (a restarted stack) updates the secret
        proc = subprocess.run([sys.executable, str(ROOT / "docker" / "seed_aws.py")], env=seed_env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    monkeypatch.setenv("AWS_ENDPOINT_URL", compose_moto)  # what the job's boto3 gets in the container
    arn = specs["movie_collection_to_dsql"]["source"]["secret_arn"]
    mongo = services["mongodb"]["environment"]
    uri = with_credentials("mongodb://mongodb:27017", arn)
    assert uri == f"mongodb://{mongo['MONGO_INITDB_ROOT_USERNAME']}:{mongo['MONGO_INITDB_ROOT_PASSWORD']}@mongodb:27017"
    buckets = {b["Name"] for b in boto3.client("s3", endpoint_url=compose_moto).list_buckets()["Buckets"]}
    assert buckets == {s["compute"]["staging_uri"].split("/")[2] for s in specs.values()}


def test_the_aws_seed_refuses_a_moto_in_another_account(moto_endpoint: str) -> None:
    """The embedded moto runs as moto's default account: the secret would not be at the spec's ARN."""
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, "DBMIGRATE_INCLUDE_DIR": str(ROOT / "include"),
           "MONGO_USER": "root", "MONGO_PASSWORD": "example"}
    proc = subprocess.run([sys.executable, str(ROOT / "docker" / "seed_aws.py")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "set MOTO_ACCOUNT_ID" in proc.stderr
