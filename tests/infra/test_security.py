"""Security properties of the synthesized templates (issue 12): log groups, versioning, the Glue
role, the nag acknowledgments, the warehouse network, and checkov over the templates."""

from __future__ import annotations

import json

import pytest

from infra.config import EnvironmentConfig
from infra.log_groups import LAMBDA_FUNCTION

ENVS = ("dev", "prod")
RETENTION_DAYS = {
    "ONE_DAY": 1, "THREE_DAYS": 3, "FIVE_DAYS": 5, "ONE_WEEK": 7, "TWO_WEEKS": 14,
    "ONE_MONTH": 30, "TWO_MONTHS": 60, "THREE_MONTHS": 90, "FOUR_MONTHS": 120,
    "FIVE_MONTHS": 150, "SIX_MONTHS": 180, "ONE_YEAR": 365, "THIRTEEN_MONTHS": 400,
    "EIGHTEEN_MONTHS": 545, "TWO_YEARS": 731, "FIVE_YEARS": 1827, "TEN_YEARS": 3653,
}  # fmt: skip


def resources(template: dict, kind: str) -> dict:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def config(synthesized, env: str) -> EnvironmentConfig:
    return EnvironmentConfig.from_context(synthesized.context["retail-etl"], env)


def data_key(synthesized, env: str) -> str:
    stack = synthesized.stacks[env]
    return stack.get_logical_id(stack.storage.key.node.default_child)


def logical_id(synthesized, env: str, construct) -> str:
    return synthesized.stacks[env].get_logical_id(construct.node.default_child)


@pytest.mark.parametrize("env", ENVS)
def test_every_lambda_logs_to_its_own_log_group_with_retention_and_the_data_key(synthesized, env):
    template = synthesized.templates[env]
    functions = resources(template, LAMBDA_FUNCTION)
    # ours, and CDK's own handlers (bucket notifications, auto-delete, default SG, DAG upload)
    assert len(functions) >= 8
    expected_days = min(d for d in RETENTION_DAYS.values() if d >= config(synthesized, env)
                        .log_retention_days)  # fmt: skip
    groups = []
    for name, fn in functions.items():
        group_ref = fn["Properties"]["LoggingConfig"]["LogGroup"]
        (group_id,) = group_ref.values()
        group = template["Resources"][group_id]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"] == expected_days, name
        key = {"Fn::GetAtt": [data_key(synthesized, env), "Arn"]}
        assert group["Properties"]["KmsKeyId"] == key, name
        groups.append(group_id)
    assert len(set(groups)) == len(groups)  # one log group per function


@pytest.mark.parametrize("env", ENVS)
def test_the_data_key_lets_cloudwatch_logs_encrypt_only_this_accounts_log_groups(synthesized, env):
    (key,) = resources(synthesized.templates[env], "AWS::KMS::Key").values()
    (statement,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if "logs." in json.dumps(s.get("Principal", {}))
    ]
    assert "kms:GenerateDataKey*" in statement["Action"]
    arn = json.dumps(statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    assert "AWS::AccountId" in arn and ":log-group:*" in arn


@pytest.mark.parametrize("env", ENVS)
def test_our_functions_environments_are_encrypted_with_the_data_key(synthesized, env):
    functions = resources(synthesized.templates[env], LAMBDA_FUNCTION)
    ours = {k: f for k, f in functions.items() if f["Properties"]["Handler"].startswith("lambdas.")}
    assert len(ours) >= 7
    for name, fn in ours.items():
        assert fn["Properties"]["KmsKeyArn"] == {
            "Fn::GetAtt": [data_key(synthesized, env), "Arn"]
        }, name


@pytest.mark.parametrize("env", ENVS)
def test_every_bucket_is_versioned_and_deleted_versions_expire(synthesized, env):
    cfg = config(synthesized, env)
    buckets = resources(synthesized.templates[env], "AWS::S3::Bucket")
    assert len(buckets) >= 5
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        (rule,) = [
            r
            for r in props["LifecycleConfiguration"]["Rules"]
            if r.get("Id") == "noncurrent-versions-expire"
        ]
        assert rule["NoncurrentVersionExpiration"] == {
            "NoncurrentDays": cfg.noncurrent_version_days
        }, name
        assert rule["ExpiredObjectDeleteMarker"] is True, name


def test_curated_versioning_is_the_documented_decision(synthesized):
    """Curated is versioned: snapshots undo bad commits, versions undo deleted files."""
    from pathlib import Path

    import infra.storage

    stack = synthesized.stacks["prod"]
    curated = synthesized.templates["prod"]["Resources"][
        logical_id(synthesized, "prod", stack.storage.curated)
    ]
    assert curated["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "versioning is ON" in infra.storage.__doc__
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "runbook.md").read_text()
    assert "The curated bucket is versioned" in runbook
