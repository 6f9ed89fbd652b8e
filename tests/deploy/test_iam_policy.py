"""The MWAA execution role's policy: valid IAM JSON, no wildcard actions, every call the DAGs make granted, and
resources scoped to what the specs name."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "deploy" / "mwaa" / "execution-role-policy.json"
ACCOUNT, REGION = "111122223333", "us-east-1"
NEEDED = {
    "emr": ["elasticmapreduce:RunJobFlow", "elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:DescribeStep",
            "elasticmapreduce:DescribeCluster", "elasticmapreduce:ListSteps", "elasticmapreduce:TerminateJobFlows",
            "elasticmapreduce:CancelSteps", "elasticmapreduce:AddTags", "iam:PassRole"],
    "glue": ["glue:CreateCrawler", "glue:UpdateCrawler", "glue:GetCrawler", "glue:StartCrawler",
             "glue:GetCrawlerMetrics", "glue:CreateJob", "glue:UpdateJob", "glue:GetJob", "glue:StartJobRun",
             "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun", "glue:GetDatabase", "glue:GetTable",
             "glue:GetTables"],
    "logs": ["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"],
    "dynamodb": ["dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:Scan", "dynamodb:Query",
                 "dynamodb:BatchGetItem", "dynamodb:GetItem"],
    "locks": ["dynamodb:UpdateItem"],
    # ImportTable of a first load: the import service reads the staging objects and logs its errors as the caller
    "import": ["dynamodb:ImportTable", "dynamodb:DescribeImport", "logs:CreateLogGroup", "logs:CreateLogStream",
               "logs:DescribeLogStreams", "logs:PutLogEvents", "logs:PutRetentionPolicy", "logs:DescribeLogGroups"],
    "dsql": ["dsql:DbConnect", "dsql:DbConnectAdmin"],
    "secrets": ["secretsmanager:GetSecretValue"],
    "s3": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
    "mwaa": ["airflow:PublishMetrics", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups",
             "cloudwatch:PutMetricData", "sqs:ReceiveMessage", "sqs:SendMessage", "sqs:DeleteMessage",
             "kms:Decrypt", "kms:GenerateDataKey", "s3:GetAccountPublicAccessBlock"],
}
# The run lock (dbmigrate.hooks.migration_lock.DynamoDbLockHook) is created on first use, read and updated.
LOCK_ACTIONS = {"dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:GetItem", "dynamodb:UpdateItem"}


@pytest.fixture(scope="module")
def policy() -> dict:
    return json.loads(POLICY.read_text())


@pytest.fixture(scope="module")
def specs() -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in (REPO / "include" / "specs").glob("*.yaml")}


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _allowed(policy: dict) -> list[dict]:
    return [s for s in policy["Statement"] if s["Effect"] == "Allow"]


def _granting(policy: dict, action: str) -> list[dict]:
    return [s for s in _allowed(policy) if any(fnmatch.fnmatchcase(action, a) for a in _list(s["Action"]))]


def _resources(policy: dict, action: str) -> set[str]:
    return {r for s in _granting(policy, action) for r in _list(s.get("Resource", []))}


def test_structure(policy: dict) -> None:
    assert set(policy) == {"Version", "Statement"} and policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids)) and all(sid.isalnum() for sid in sids)
    for s in policy["Statement"]:
        assert set(s) <= {"Sid", "Effect", "Action", "Resource", "NotResource", "Condition"}, s["Sid"]
        assert s["Effect"] in ("Allow", "Deny"), s["Sid"]
        assert _list(s["Action"]), s["Sid"]
        assert ("Resource" in s) != ("NotResource" in s), s["Sid"]
        for arn in _list(s.get("Resource", s.get("NotResource"))):
            assert arn == "*" or arn.startswith("arn:aws:"), (s["Sid"], arn)


def test_no_wildcard_actions(policy: dict) -> None:
    for s in policy["Statement"]:
        for action in _list(s["Action"]):
            service, _, name = action.partition(":")
            assert action != "*" and service and name not in ("*", ""), (s["Sid"], action)


def test_resource_star_only_where_aws_allows_nothing_narrower(policy: dict) -> None:
    star = {a for s in _allowed(policy) if s.get("Resource") == "*" for a in _list(s["Action"])}
    assert star == {"elasticmapreduce:RunJobFlow", "logs:DescribeLogGroups", "cloudwatch:PutMetricData",
                    "s3:GetAccountPublicAccessBlock"}
    run_job_flow = _granting(policy, "elasticmapreduce:RunJobFlow")[0]
    assert "aws:RequestTag/dbmigrate:dag_id" in json.dumps(run_job_flow["Condition"])  # the DAG tags its clusters
    steps = _granting(policy, "elasticmapreduce:AddJobFlowSteps")[0]
    assert "ResourceTag/dbmigrate:dag_id" in json.dumps(steps["Condition"])  # only clusters tagged for the DAGs


@pytest.mark.parametrize("service", sorted(NEEDED))
def test_every_needed_call_is_granted(policy: dict, service: str) -> None:
    for action in NEEDED[service]:
        assert _granting(policy, action), action


def test_no_deletes_on_the_targets(policy: dict) -> None:
    actions = [a for s in _allowed(policy) for a in _list(s["Action"])]
    assert not [a for a in actions if a.split(":")[1].startswith(("Delete", "BatchWrite", "PutItem", "UpdateTable"))
                and a.startswith("dynamodb:")]
    assert not [a for a in actions if a.startswith("s3:Delete")]


def test_pass_role_only_to_the_roles_of_the_specs(policy: dict, specs: dict[str, dict]) -> None:
    emr = specs["movie_collection_to_dsql"]["compute"]["emr"]
    roles = {emr.get("job_flow_role", "EMR_EC2_DefaultRole"), emr.get("service_role", "EMR_DefaultRole"),
             *(s["glue"]["role"].rsplit("/", 1)[1] for s in specs.values() if "glue" in s)}
    (pass_role,) = _granting(policy, "iam:PassRole")
    assert _list(pass_role["Action"]) == ["iam:PassRole"]
    assert set(_list(pass_role["Resource"])) == {f"arn:aws:iam::{ACCOUNT}:role/{r}" for r in roles}
    assert set(pass_role["Condition"]["StringEquals"]["iam:PassedToService"]) <= {
        "elasticmapreduce.amazonaws.com", "ec2.amazonaws.com", "glue.amazonaws.com"}


def test_data_access_is_scoped_to_the_specs(policy: dict, specs: dict[str, dict]) -> None:
    movie = specs["movie_collection_to_dsql"]
    relational = [s for s in specs.values() if s["kind"] == "sql_to_dynamodb"]
    assert _resources(policy, "secretsmanager:GetSecretValue") == {movie["source"]["secret_arn"] + "-??????"}
    tables = [t["name"] for s in relational for t in s["targets"].values()]
    table_arns = {f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}{suffix}"
                  for t in tables for suffix in ("", "/index/*")}
    lock_table = {f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/dbmigrate_locks"}  # migration_lock.DYNAMODB_LOCK_TABLE
    for action in NEEDED["dynamodb"]:
        assert _resources(policy, action) == table_arns | (lock_table if action in LOCK_ACTIONS else set()), action
    assert _resources(policy, "dynamodb:UpdateItem") == lock_table  # the lock item only: Glue writes the items
    for action in ("dynamodb:ImportTable", "dynamodb:DescribeImport"):  # the spec's tables and their imports
        assert _resources(policy, action) == {f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}{suffix}"
                                              for t in tables for suffix in ("", "/import/*")}, action
    assert _resources(policy, "logs:PutRetentionPolicy") == {
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws-dynamodb/*"}
    prefixes = {f"arn:aws:s3:::{s['compute']['staging_uri'][len('s3://'):]}/*" for s in specs.values()}
    assert _resources(policy, "s3:PutObject") == prefixes
    env_bucket = {"arn:aws:s3:::airflow-dbmigrate-111122223333", "arn:aws:s3:::airflow-dbmigrate-111122223333/*"}
    assert _resources(policy, "s3:GetObject") - env_bucket == prefixes | {
        f"arn:aws:s3:::{movie['compute']['emr']['log_uri'][len('s3://'):]}*"}
    assert _resources(policy, "glue:StartCrawler") == {
        f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{s['glue']['crawler_name']}" for s in relational}
    assert _resources(policy, "glue:StartJobRun") == {f"arn:aws:glue:{REGION}:{ACCOUNT}:job/{s['dag_id']}-*"
                                                      for s in relational}
    assert all(r.startswith(f"arn:aws:dsql:{REGION}:{ACCOUNT}:cluster/") for r in _resources(policy, "dsql:DbConnect"))


def test_list_bucket_is_limited_to_the_prefixes(policy: dict) -> None:
    for s in _granting(policy, "s3:ListBucket"):
        if s["Sid"].startswith("Mwaa"):
            continue  # the environment bucket: MWAA reads it whole
        assert "s3:prefix" in json.dumps(s.get("Condition", {})), s["Sid"]
