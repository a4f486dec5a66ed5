"""Every Lambda of the stack logs to a log group of its own, kept for the configured retention
and encrypted with the data key, CDK's own handlers included.

Our functions and the DAG deployment pass `log_group` (the supported property). The handlers
CDK creates inside its constructs (the bucket-notifications handler, the auto-delete-objects
and restrict-default-security-group custom-resource providers) take no log group: CDK's
`CustomResourceConfig.addLogRetentionLifetime` (experimental) sets a retention on some of them
but neither a key nor a log group for the `CustomResourceProvider` ones. So, once the stack is
built, `give_every_function_a_log_group` finds each `AWS::Lambda::Function` without a
`LoggingConfig` and points it at a new log group through the public escape hatch
(`add_property_override`). Their roles carry AWSLambdaBasicExecutionRole, which already allows
writing to any log group of the account.
"""

from __future__ import annotations

from aws_cdk import CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

LAMBDA_FUNCTION = "AWS::Lambda::Function"


def retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch Logs retention that keeps at least `days`."""
    r = logs.RetentionDays
    choices = [
        (1, r.ONE_DAY), (3, r.THREE_DAYS), (5, r.FIVE_DAYS), (7, r.ONE_WEEK), (14, r.TWO_WEEKS),
        (30, r.ONE_MONTH), (60, r.TWO_MONTHS), (90, r.THREE_MONTHS), (120, r.FOUR_MONTHS),
        (150, r.FIVE_MONTHS), (180, r.SIX_MONTHS), (365, r.ONE_YEAR), (400, r.THIRTEEN_MONTHS),
        (545, r.EIGHTEEN_MONTHS), (731, r.TWO_YEARS), (1827, r.FIVE_YEARS), (3653, r.TEN_YEARS),
    ]  # fmt: skip
    return next(member for limit, member in choices if limit >= days)


def log_group(
    scope, id: str, *, key: kms.IKey, retention_days: int, destroy_data: bool
) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        id,
        retention=retention(retention_days),
        encryption_key=key,
        removal_policy=RemovalPolicy.DESTROY if destroy_data else RemovalPolicy.RETAIN,
    )


def allow_cloudwatch_logs(key: kms.Key) -> None:
    """CloudWatch Logs encrypts a log group with the key only if the key policy lets the
    regional logs service use it, and only for this account's log groups (the encryption
    context names the log group)."""
    stack = Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsOfThisAccount",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=[
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:*"
                    )
                }
            },
        )
    )


def give_every_function_a_log_group(
    stack: Stack, *, key: kms.IKey, retention_days: int, destroy_data: bool
) -> list[logs.LogGroup]:
    added = []
    for construct in stack.node.find_all():
        if not isinstance(construct, CfnResource):
            continue
        if construct.cfn_resource_type != LAMBDA_FUNCTION:
            continue
        if isinstance(construct, lambda_.CfnFunction) and construct.logging_config is not None:
            continue
        group = log_group(
            construct.node.scope,
            f"{construct.node.id}Logs",
            key=key,
            retention_days=retention_days,
            destroy_data=destroy_data,
        )
        construct.add_property_override("LoggingConfig", {"LogGroup": group.log_group_name})
        added.append(group)
    return added
