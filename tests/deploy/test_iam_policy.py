"""The MWAA execution role's policy: valid IAM JSON, no wildcard actions, and every call the DAGs make granted."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "mwaa" / "execution-role-policy.json"
NEEDED = {
    "emr": ["elasticmapreduce:RunJobFlow", "elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:DescribeStep",
            "elasticmapreduce:DescribeCluster", "elasticmapreduce:ListSteps", "elasticmapreduce:TerminateJobFlows",
            "elasticmapreduce:CancelSteps", "iam:PassRole"],
    "glue": ["glue:CreateCrawler", "glue:UpdateCrawler", "glue:GetCrawler", "glue:StartCrawler",
             "glue:GetCrawlerMetrics", "glue:CreateJob", "glue:UpdateJob", "glue:GetJob", "glue:StartJobRun",
             "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
    "dynamodb": ["dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:Scan", "dynamodb:Query",
                 "dynamodb:BatchGetItem"],
    "dsql": ["dsql:DbConnect", "dsql:DbConnectAdmin"],
    "secrets": ["secretsmanager:GetSecretValue"],
    "s3": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
    "mwaa": ["airflow:PublishMetrics", "logs:PutLogEvents", "sqs:ReceiveMessage", "cloudwatch:PutMetricData"],
}


@pytest.fixture(scope="module")
def policy() -> dict:
    return json.loads(POLICY.read_text())


def _actions(statement: dict) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else action


def test_structure(policy: dict) -> None:
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for s in policy["Statement"]:
        assert s["Effect"] in ("Allow", "Deny"), s["Sid"]
        assert _actions(s), s["Sid"]
        assert ("Resource" in s) != ("NotResource" in s), s["Sid"]


def test_no_wildcard_actions(policy: dict) -> None:
    for s in policy["Statement"]:
        for action in _actions(s):
            service, _, name = action.partition(":")
            assert action != "*" and name not in ("*", ""), (s["Sid"], action)


def test_resource_star_only_where_aws_allows_nothing_narrower(policy: dict) -> None:
    star = {a for s in policy["Statement"] if s["Effect"] == "Allow" and s.get("Resource") == "*"
            for a in _actions(s)}
    assert star == {"elasticmapreduce:RunJobFlow", "logs:DescribeLogGroups", "cloudwatch:PutMetricData",
                    "s3:GetAccountPublicAccessBlock"}
    run_job_flow = next(s for s in policy["Statement"] if "elasticmapreduce:RunJobFlow" in _actions(s))
    assert "aws:RequestTag/dbmigrate:dag_id" in json.dumps(run_job_flow["Condition"])  # the DAG tags its clusters


@pytest.mark.parametrize("service", sorted(NEEDED))
def test_every_needed_call_is_granted(policy: dict, service: str) -> None:
    allowed = [a for s in policy["Statement"] if s["Effect"] == "Allow" for a in _actions(s)]
    for action in NEEDED[service]:
        assert any(fnmatch.fnmatchcase(action, pattern) for pattern in allowed), action


def test_pass_role_only_to_the_roles_of_the_specs(policy: dict) -> None:
    import yaml

    specs = Path(__file__).resolve().parents[2] / "include" / "specs"
    movie = yaml.safe_load((specs / "movie_collection_to_dsql.yaml").read_text())
    dms = yaml.safe_load((specs / "dms_sample_to_dynamodb.yaml").read_text())
    pass_role = next(s for s in policy["Statement"] if "iam:PassRole" in _actions(s))
    roles = {r.rsplit("/", 1)[1] for r in pass_role["Resource"]}
    assert roles == {movie["compute"]["emr"].get("job_flow_role", "EMR_EC2_DefaultRole"),
                     movie["compute"]["emr"].get("service_role", "EMR_DefaultRole"),
                     dms["glue"]["role"].rsplit("/", 1)[1]}
    assert "iam:PassedToService" in json.dumps(pass_role["Condition"])
    secret = next(s for s in policy["Statement"] if "secretsmanager:GetSecretValue" in _actions(s))
    assert secret["Resource"].startswith(movie["source"]["secret_arn"])
