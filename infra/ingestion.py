"""Ingestion: raw "Object Created" events → EventBridge rule → SQS (+DLQ) → ingest Lambda;
the DynamoDB ledger; the Glue database of the Iceberg tables; the Athena workgroup."""

from __future__ import annotations

import jsii
from aws_cdk import Aspects, Duration, IAspect, RemovalPolicy, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from infra.log_groups import retention as _retention
from infra.runtime import RUNTIME, LambdaRuntime
from retail_etl.adapters.ledger import KEY_SCHEMA
from retail_etl.config import Settings


class Ingestion(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        runtime: LambdaRuntime,
        key: kms.IKey,
        raw: s3.IBucket,
        curated: s3.IBucket,
        analytics: s3.IBucket,
        athena_results: s3.IBucket,
        destroy_data: bool,
        memory_mb: int,
        timeout_s: int,
        reserved_concurrency: int,
        max_receives: int,
        log_retention_days: int,
        athena_bytes_scanned_cutoff: int,
    ) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.DESTROY if destroy_data else RemovalPolicy.RETAIN
        self.ledger = dynamodb.Table(
            self,
            "Ledger",
            table_name=settings.ledger_table,
            partition_key=_key(KEY_SCHEMA[0]),
            sort_key=_key(KEY_SCHEMA[1]),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal,
            # the ledger is the record of what was ingested: in prod it outlives a bad delete
            deletion_protection=not destroy_data,
        )
        self.dlq = sqs.Queue(
            self,
            "IngestDlq",
            queue_name=settings.dead_letter_queue,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "IngestQueue",
            queue_name=settings.ingest_queue,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(timeout_s * 6),  # AWS advice: 6x the timeout
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=max_receives),
        )
        rule_name = f"{settings.ingest_queue}-raw-object-created"
        self.rule = events.Rule(
            self,
            "RawObjectCreated",
            rule_name=rule_name,
            description="Every new object in the raw bucket goes to the ingest queue",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={"bucket": {"name": [raw.bucket_name]}},
            ),
            # an event EventBridge cannot deliver goes to the DLQ instead of being dropped
            targets=[targets.SqsQueue(self.queue, dead_letter_queue=self.dlq, retry_attempts=8)],
        )
        # CDK leaves out the source condition on an encrypted queue's EventBridge grant (its
        # statement 1 after the TLS-only deny): add it, so no other rule can write here.
        policy = self.queue.node.find_child("Policy").node.default_child
        policy.add_property_override(
            "PolicyDocument.Statement.1.Condition",
            {"ArnEquals": {"aws:SourceArn": self.rule.rule_arn}},
        )
        # The same on the data key, whose grants to EventBridge (for the queue and the DLQ)
        # CDK also leaves unconditioned. The rule's ARN is spelt out from its name: a
        # reference would make the key depend on the rule, which depends on the queue, which
        # depends on the key (aws-cdk issue 11158).
        if isinstance(key.node.default_child, kms.CfnKey):
            rule_arn = Stack.of(self).format_arn(
                service="events", resource="rule", resource_name=rule_name
            )
            Aspects.of(key).add(_OnlyThisRuleUsesTheKey(key.node.default_child, rule_arn))
        self.function = lambda_.Function(
            self,
            "IngestFunction",
            function_name=f"{settings.ingest_queue}-fn",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=runtime.code,
            handler="lambdas.ingest.handler.handler",
            layers=runtime.layers,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                **settings.to_env(),
                "POWERTOOLS_SERVICE_NAME": "retail-etl-ingest",
                "POWERTOOLS_METRICS_NAMESPACE": "RetailEtl",
            },
            environment_encryption=key,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=logs.LogGroup(
                self,
                "IngestLogs",
                retention=_retention(log_retention_days),
                encryption_key=key,
                removal_policy=removal,
            ),
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue, batch_size=5, report_batch_item_failures=True, max_concurrency=None
            )
        )
        key.grant_decrypt(self.function)  # its environment is encrypted with the data key
        raw.grant_read(self.function)
        curated.grant_read_write(self.function)
        curated.grant_delete(self.function)
        self.ledger.grant_read_write_data(self.function)
        # the salt that hashes user ids of profiles with hash_user_ids (a SecureString the
        # operator creates; read only when such a file arrives): docs/sources.md
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ssm:GetParameter"],
                resources=[
                    Stack.of(self).format_arn(
                        service="ssm",
                        resource="parameter",
                        resource_name=settings.hash_salt_parameter.lstrip("/"),
                    )
                ],
            )
        )

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=_account(self),
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=settings.glue_database,
                description=(
                    "retail-etl Iceberg tables: curated and parked events, quarantine, "
                    "product history, aggregates"
                ),
            ),
        )
        # The Iceberg tables themselves are created by the pipeline on first use, from the
        # lake layout (retail_etl/domain/lake.py), with PyIceberg: one definition of each.
        runtime.grant_catalog(self.function, settings.glue_database)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=f"{settings.glue_database}_analysts",
            state="ENABLED",
            recursive_delete_option=destroy_data,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=athena_bytes_scanned_cutoff,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{athena_results.bucket_name}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
            ),
        )


@jsii.implements(IAspect)
class _OnlyThisRuleUsesTheKey:
    """Binds every key policy statement for events.amazonaws.com to this account and rule.
    An aspect, because the statements exist only once every grant has been made."""

    def __init__(self, key: kms.CfnKey, rule_arn: str) -> None:
        self.key = key
        self.rule_arn = rule_arn

    def visit(self, node: IConstruct) -> None:
        if node.node.path != self.key.node.path:  # jsii may hand another proxy of the key
            return
        stack = Stack.of(node)
        condition = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnEquals": {"aws:SourceArn": self.rule_arn},
        }
        statements = stack.resolve(self.key.key_policy)["Statement"]
        for i, statement in enumerate(statements):
            if statement.get("Principal", {}).get("Service") == "events.amazonaws.com":
                self.key.add_property_override(f"KeyPolicy.Statement.{i}.Condition", condition)


def _key(spec: dict) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=spec["AttributeName"], type=dynamodb.AttributeType.STRING)


def _account(scope: Construct) -> str:
    from aws_cdk import Stack

    return Stack.of(scope).account
