"""cdk-nag AwsSolutions checks and their suppressions, each with the reason a reviewer would
accept and scoped to the exact finding details it covers.

Everything not suppressed here is fixed in the constructs. The wildcard findings come from CDK
grant methods scoped to this stack's own resources and from AWS actions that take no resource
ARN; the test suite separately checks that no data action (S3, DynamoDB, KMS, SQS, SNS) is
ever granted on `*`. cdk-nag 2 is used (its Aspect API and regex `applies_to`); cdk-nag 3's
acknowledgments cannot match finding ids that contain ARNs.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo


def _regex(pattern: str) -> RegexAppliesTo:
    return RegexAppliesTo(regex=f"/{pattern}/")


SUPPRESSIONS = [
    NagPackSuppression(
        id="AwsSolutions-IAM4",
        reason=(
            "Only AWS's minimal service-role policies: AWSLambdaBasicExecutionRole (a "
            "function writing its own log streams) and AWSGlueServiceRole (Glue's job "
            "plumbing). All data access is granted separately, scoped to this stack."
        ),
        applies_to=[
            _regex(
                r"^Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                r"(AWSLambdaBasicExecutionRole|AWSGlueServiceRole)$"
            ),
        ],
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason=(
            "CDK grant methods on this stack's own buckets, key and functions: S3 and KMS "
            "action families (s3:GetObject*, kms:GenerateDataKey*, …), object keys under a "
            "named bucket (<bucket>.Arn/*) and function versions (<fn>.Arn:*)."
        ),
        applies_to=[
            _regex(r"^Action::(s3|kms):[A-Za-z]+\*$"),
            _regex(r"^Resource::<[A-Za-z0-9]+\.Arn>(/\*|:\*)$"),
            _regex(
                r"^Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-"
                r"<AWS::AccountId>-<AWS::Region>/\*$"
            ),
        ],
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason=(
            "Actions that take no resource ARN: X-Ray trace upload, CloudWatch PutMetricData, "
            "CloudWatch Logs delivery for Step Functions, EC2 network interfaces for VPC "
            "Lambdas, and redshift-data DescribeStatement/GetStatementResult (statement ids "
            "are not ARNs)."
        ),
        applies_to=["Resource::*"],
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason=(
            "Names MWAA itself creates for the environment: its execution history of this "
            "state machine, its log groups airflow-<environment>-* and its Celery queues."
        ),
        applies_to=[
            _regex(
                r"^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                r"execution:.*:\*$"
            ),
            _regex(
                r"^Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                r"log-group:airflow-.*$"
            ),
            _regex(r"^Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:\*:airflow-celery-\*$"),
        ],
    ),
    NagPackSuppression(
        id="AwsSolutions-IAM5",
        reason=(
            "The Iceberg tables of this stack's own Glue database: PyIceberg creates them on "
            "first use and commits to them (GetTable/CreateTable/UpdateTable), so the grant "
            "names the database and every table in it, and no other database."
        ),
        applies_to=[
            _regex(
                r"^Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:"
                r"table/[a-z0-9_]+/\*$"
            ),
        ],
    ),
    NagPackSuppression(
        id="AwsSolutions-L1",
        reason=(
            "Python 3.13 is the runtime of the AWS SDK for pandas managed layer this stack "
            "uses and of the pinned pandas/pyarrow the tests run; a newer runtime waits for "
            "that layer."
        ),
    ),
]


def suppress_findings(stack: cdk.Stack) -> None:
    NagSuppressions.add_stack_suppressions(stack, SUPPRESSIONS, apply_to_nested_stacks=True)
