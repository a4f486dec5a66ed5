"""cdk-nag AwsSolutions checks and their acknowledgments: each on the resources it covers (the
role or function it concerns, never the whole stack), each naming in `applies_to` exactly the
finding it accepts, and each with the reason a reviewer would accept.

Everything not acknowledged here is fixed in the constructs. Where a finding is `Resource::*`,
the reason names the actions of that role which take no resource ARN; the test suite checks
that each role's statements on `*` hold exactly those actions, so a new action on `*` fails
even though the `Resource::*` finding itself is acknowledged. cdk-nag 2 is used (its Aspect API
and regex `applies_to`); cdk-nag 3's acknowledgments cannot match finding ids that contain ARNs.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import IConstruct

ANY_RESOURCE = "Resource::*"
AWS_CUSTOM_RESOURCE_SINGLETON = "AWS679f53fac002430cb0da5b7982bd2287"  # CDK's fixed id
BASIC_EXECUTION = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)
CDK_ASSETS = RegexAppliesTo(
    regex=r"/^Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-<AWS::AccountId>-"
    r"<AWS::Region>\/\*$/"
)
# CDK's grant methods give S3 and KMS action families (s3:GetObject*, kms:GenerateDataKey*, ...)
GRANT_FAMILIES = RegexAppliesTo(regex=r"/^Action::(s3|kms):[A-Za-z]+\*$/")

# What each role may do on `*`: the actions take no resource ARN (tests/infra checks it).
XRAY = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
REDSHIFT_STATEMENTS = ("redshift-data:DescribeStatement", "redshift-data:GetStatementResult")
STATE_MACHINE_LOGGING = (
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
)  # fmt: skip
STATE_MACHINE_TRACING = (*XRAY, "xray:GetSamplingRules", "xray:GetSamplingTargets")
PUT_METRIC_DATA = ("cloudwatch:PutMetricData",)
DESCRIBE_PREFIX_LISTS = ("ec2:DescribeManagedPrefixLists",)


def _resource(stack: cdk.Stack, construct: IConstruct) -> str:
    return f"<{stack.get_logical_id(construct.node.default_child)}.Arn>"


def _objects(stack: cdk.Stack, bucket, prefix: str = "") -> str:
    return f"Resource::{_resource(stack, bucket)}/{prefix}*"


def _s(id: str, reason: str, applies_to: list | None = None) -> NagPackSuppression:
    return NagPackSuppression(id=id, reason=reason, applies_to=applies_to)


def _on(construct: IConstruct, *suppressions: NagPackSuppression) -> None:
    NagSuppressions.add_resource_suppressions(construct, list(suppressions), apply_to_children=True)


def lambda_role_suppressions(stack: cdk.Stack, database: str, extra_on_any: tuple = ()):
    """What every function of ours shares: the basic execution policy, CDK's grants on the
    stack's own buckets and key, the catalog of its own database, X-Ray on `*`."""
    storage = stack.storage
    on_any = ", ".join((*XRAY, *extra_on_any))
    return [
        _s(
            "AwsSolutions-IAM4",
            "AWSLambdaBasicExecutionRole only: the function creates and writes its own log "
            "streams. All data access is granted separately, scoped to this stack.",
            [BASIC_EXECUTION],
        ),
        _s(
            "AwsSolutions-IAM5",
            "CDK grant methods on this stack's own buckets and data key: S3 and KMS action "
            "families (s3:GetObject*, s3:List*, kms:GenerateDataKey*, ...) and the objects of the "
            "raw, curated and analytics buckets (named by their logical ids), nothing else.",
            [
                GRANT_FAMILIES,
                *(_objects(stack, b) for b in (storage.raw, storage.curated, storage.analytics)),
            ],
        ),
        _s(
            "AwsSolutions-IAM5",
            f"The Iceberg tables of this stack's own Glue database {database}: PyIceberg "
            "creates them on first use and commits to them (GetTable/CreateTable/UpdateTable), "
            "so the grant names the database and every table in it, and no other database.",
            [
                "Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:"
                f"table/{database}/*"
            ],
        ),
        _s(
            "AwsSolutions-IAM5",
            f"Actions that take no resource ARN, and only these on `*`: {on_any} (X-Ray active "
            "tracing"
            + (
                "; the Redshift Data API's statement reads, whose statement ids are not ARNs)"
                if extra_on_any
                else ")"
            ),
            [ANY_RESOURCE],
        ),
        _s(
            "AwsSolutions-L1",
            "Python 3.13 is the runtime of the AWS SDK for pandas managed layer this stack uses "
            "and of the pinned pandas/pyarrow the tests run; a newer runtime waits for that "
            "layer.",
        ),
    ]


def suppress_findings(stack: cdk.Stack) -> None:
    storage, database = stack.storage, stack.settings.glue_database
    aggregation = stack.aggregation

    # our functions
    loaders = {id(fn) for fn in (getattr(aggregation, "submit_fn", None),
                                 getattr(aggregation, "explain_fn", None)) if fn}  # fmt: skip
    for fn in (stack.ingestion.function, *aggregation.functions, stack.monitoring.freshness):
        extra = REDSHIFT_STATEMENTS if id(fn) in loaders else ()
        _on(fn, *lambda_role_suppressions(stack, database, extra))

    # the daily state machine's role
    _on(
        aggregation.state_machine.role,
        _s(
            "AwsSolutions-IAM5",
            "lambda:InvokeFunction on the versions and aliases of this state machine's own "
            "task functions (<fn>.Arn:*, each named by its logical id), as CDK's LambdaInvoke "
            "grants it.",
            [f"Resource::{_resource(stack, fn)}:*" for fn in aggregation.functions],
        ),
        _s(
            "AwsSolutions-IAM5",
            "Actions that take no resource ARN, and only these on `*`: CloudWatch Logs "
            "delivery for the state machine's log group (logs:CreateLogDelivery, "
            "GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, "
            "PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups), X-Ray tracing "
            "(xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets)"
            + (
                " and redshift-data:DescribeStatement (statement ids are not ARNs)."
                if stack.config.warehouse
                else "."
            ),
            [ANY_RESOURCE],
        ),
    )

    # the Glue job's role (no managed policy: its statements are in infra/aggregation.py)
    from retail_etl.domain import lake

    _on(
        aggregation.glue_role,
        _s(
            "AwsSolutions-IAM5",
            "CDK grant methods: S3 and KMS action families on the curated objects it reads, "
            "the Glue manifests it reads (analytics/_manifests/glue/*) and its output prefix "
            "(analytics/_glue_output/*), and read access to its script in the CDK asset bucket.",
            [
                GRANT_FAMILIES,
                _objects(stack, storage.curated),
                _objects(stack, storage.analytics, f"{lake.MANIFESTS_PREFIX}/glue/"),
                _objects(stack, storage.analytics, f"{lake.GLUE_OUTPUT_PREFIX}/"),
                CDK_ASSETS,
            ],
        ),
        _s(
            "AwsSolutions-IAM5",
            "The job's own CloudWatch log groups, which Glue names under /aws-glue/ (output, "
            "error, continuous logging and their security-configuration variants).",
            [
                "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                "log-group:/aws-glue/*"
            ],
        ),
        _s(
            "AwsSolutions-IAM5",
            "Only cloudwatch:PutMetricData on `*` (it takes no resource ARN), limited by a "
            "condition to the Glue namespace: the job metrics the GlueTasksFailed alarm reads.",
            [ANY_RESOURCE],
        ),
    )

    if stack.warehouse is not None:
        _on(
            stack.warehouse.copy_role,
            _s(
                "AwsSolutions-IAM5",
                "CDK grant methods: s3:GetObject*/GetBucket*/List* on the curated and analytics "
                "objects COPY reads (its manifests list the data files), nothing else.",
                [
                    GRANT_FAMILIES,
                    _objects(stack, storage.curated),
                    _objects(stack, storage.analytics),
                ],
            ),
        )

    if getattr(stack.orchestration, "dag_bucket", None) is not None:
        mwaa = stack.orchestration
        _on(
            mwaa.role,
            _s(
                "AwsSolutions-IAM5",
                "CDK grant methods on the DAG bucket's objects and the data key (S3 and KMS "
                "action families).",
                [GRANT_FAMILIES, _objects(stack, mwaa.dag_bucket)],
            ),
            _s(
                "AwsSolutions-IAM5",
                "Names MWAA itself creates for the environment: the executions of this state "
                "machine (DescribeExecution, GetExecutionHistory), its log groups "
                "airflow-<environment>-* and its Celery queues airflow-celery-*.",
                [
                    RegexAppliesTo(
                        regex=r"/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:"
                        r"<AWS::AccountId>:execution:<[A-Za-z0-9]+\.Name>:\*$/"
                    ),
                    "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                    f"log-group:airflow-{mwaa.environment.name}-*",
                    "Resource::arn:<AWS::Partition>:sqs:<AWS::Region>:*:airflow-celery-*",
                ],
            ),
            _s(
                "AwsSolutions-IAM5",
                "Only cloudwatch:PutMetricData on `*` (it takes no resource ARN): MWAA's "
                "environment metrics. No Step Functions action is granted on `*`.",
                [ANY_RESOURCE],
            ),
        )

    if stack.network is not None:
        _on(
            stack.network.s3_prefix_list,
            _s(
                "AwsSolutions-IAM5",
                "Only ec2:DescribeManagedPrefixLists on `*` (it takes no resource ARN): the "
                "deploy-time lookup of the region's S3 prefix list, the warehouse's only egress.",
                [ANY_RESOURCE],
            ),
        )

    # CDK's own singleton handlers, found by the ids CDK gives them at the stack's root
    for child in stack.node.children:
        if child.node.id.startswith("BucketNotificationsHandler"):
            _on(
                child,
                _s(
                    "AwsSolutions-IAM4",
                    "CDK's bucket-notifications handler (turns on EventBridge notifications of "
                    "the raw bucket at deploy time): AWSLambdaBasicExecutionRole only.",
                    [BASIC_EXECUTION],
                ),
            )
        if child.node.id.startswith(AWS_CUSTOM_RESOURCE_SINGLETON):
            _on(
                child,
                _s(
                    "AwsSolutions-IAM4",
                    "CDK's AwsCustomResource handler (the S3 prefix-list lookup at deploy "
                    "time): AWSLambdaBasicExecutionRole only.",
                    [BASIC_EXECUTION],
                ),
            )
        if child.node.id.startswith("Custom::CDKBucketDeployment"):
            _on(
                child,
                _s(
                    "AwsSolutions-IAM4",
                    "CDK's BucketDeployment handler (uploads the DAGs at deploy time): "
                    "AWSLambdaBasicExecutionRole only.",
                    [BASIC_EXECUTION],
                ),
                _s(
                    "AwsSolutions-IAM5",
                    "CDK's BucketDeployment grants: read of its own asset in the CDK asset "
                    "bucket, write of the DAG bucket's objects, the data key (S3 and KMS "
                    "action families).",
                    [GRANT_FAMILIES, CDK_ASSETS, _objects(stack, stack.orchestration.dag_bucket)],
                ),
                _s(
                    "AwsSolutions-L1",
                    "The runtime of CDK's own BucketDeployment handler, which CDK chooses and "
                    "updates with aws-cdk-lib; this stack does not pick it.",
                ),
            )
