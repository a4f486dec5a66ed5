"""Orchestration: the daily trigger of the state machine, by Amazon MWAA or, for cheap
environments, EventBridge Scheduler. The state machine's ARN reaches Airflow through the
MWAA environment's configuration, never a literal in the DAG."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Aws, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_mwaa as mwaa
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.log_groups import log_group
from infra.storage import deleted_versions_expire
from infra.warehouse import Network

STATE_MACHINE_OPTION = "retail_etl.state_machine_arn"  # read by the DAG from its config
DAGS = Path(__file__).resolve().parents[1] / "dags"


class EventBridgeSchedule(Construct):
    def __init__(
        self, scope: Construct, id: str, *, state_machine: sfn.IStateMachine, cron: str
    ) -> None:
        super().__init__(scope, id)
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="EventBridge Scheduler: start the daily state machine, nothing else",
        )
        state_machine.grant_start_execution(role)
        self.schedule = scheduler.CfnSchedule(
            self,
            "Daily",
            schedule_expression=cron,
            schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=state_machine.state_machine_arn,
                role_arn=role.role_arn,
                input='{"run_date": null}',
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=3, maximum_event_age_in_seconds=3600
                ),
            ),
        )


class Airflow(Construct):
    """An MWAA environment with a private web server and a DAG bucket."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        network: Network,
        key: kms.IKey,
        state_machine: sfn.StateMachine,
        alert_topic: sns.ITopic,
        schedule: str,
        access_logs: s3.IBucket,
        airflow_version: str,
        environment_class: str,
        destroy_data: bool,
        log_retention_days: int,
        noncurrent_version_days: int,
    ) -> None:
        super().__init__(scope, id)
        self.dag_bucket = s3.Bucket(
            self,
            "Dags",
            versioned=True,  # MWAA requires a versioned bucket
            lifecycle_rules=deleted_versions_expire(noncurrent_version_days),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="dags/",
            removal_policy=RemovalPolicy.DESTROY if destroy_data else RemovalPolicy.RETAIN,
            auto_delete_objects=destroy_data,
        )
        self.role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("airflow.amazonaws.com"),
                iam.ServicePrincipal("airflow-env.amazonaws.com"),
            ),
            description="MWAA: read its DAGs, write its logs, start and watch the daily run",
        )
        self.dag_bucket.grant_read(self.role)
        key.grant_encrypt_decrypt(self.role)
        state_machine.grant_start_execution(self.role)
        # What the DAG reads (the sensor's and the failure callback's DescribeExecution), on
        # this state machine's executions only: grant_read would add states:ListActivities and
        # DescribeActivity on every resource of the account.
        stack = Stack.of(self)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WatchTheDailyRun",
                actions=["states:DescribeExecution", "states:GetExecutionHistory"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{state_machine.state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["states:DescribeStateMachine"],
                resources=[state_machine.state_machine_arn],
            )
        )
        alert_topic.grant_publish(self.role)
        self.dag_deployment = s3_deployment.BucketDeployment(
            self,
            "DeployDags",
            sources=[s3_deployment.Source.asset(str(DAGS), exclude=["__pycache__", "*.pyc"])],
            destination_bucket=self.dag_bucket,
            destination_key_prefix="dags",
            prune=True,
            log_group=log_group(
                self,
                "DeployDagsLogs",
                key=key,
                retention_days=log_retention_days,
                destroy_data=destroy_data,
            ),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogStream",
                    "logs:CreateLogGroup",
                    "logs:PutLogEvents",
                    "logs:GetLogEvents",
                    "logs:GetLogRecord",
                    "logs:DescribeLogGroups",
                    "logs:GetLogGroupFields",
                    "logs:GetQueryResults",
                ],
                resources=[
                    f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:"
                    f"log-group:airflow-{name}-*"
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["cloudwatch:PutMetricData"], resources=["*"])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                ],
                resources=[f"arn:{Aws.PARTITION}:sqs:{Aws.REGION}:*:airflow-celery-*"],
            )
        )
        self.security_group = ec2.SecurityGroup(
            self, "Sg", vpc=network.vpc, description="MWAA workers and web server"
        )
        self.security_group.add_ingress_rule(
            self.security_group, ec2.Port.all_traffic(), "MWAA components talk to each other"
        )
        logging = mwaa.CfnEnvironment.ModuleLoggingConfigurationProperty(
            enabled=True, log_level="INFO"
        )
        # MWAA validates the DAG bucket's content at creation: deploy the DAGs first.
        self.environment = mwaa.CfnEnvironment(
            self,
            "Environment",
            name=name,
            airflow_version=airflow_version,
            environment_class=environment_class,
            execution_role_arn=self.role.role_arn,
            source_bucket_arn=self.dag_bucket.bucket_arn,
            dag_s3_path="dags",
            kms_key=key.key_arn,
            webserver_access_mode="PRIVATE_ONLY",
            network_configuration=mwaa.CfnEnvironment.NetworkConfigurationProperty(
                subnet_ids=network.private_subnets.subnet_ids[:2],
                security_group_ids=[self.security_group.security_group_id],
            ),
            requirements_s3_path="dags/requirements.txt",
            airflow_configuration_options={
                STATE_MACHINE_OPTION: state_machine.state_machine_arn,
                "retail_etl.alert_topic_arn": alert_topic.topic_arn,
                "retail_etl.schedule": schedule,
            },
            logging_configuration=mwaa.CfnEnvironment.LoggingConfigurationProperty(
                dag_processing_logs=logging,
                scheduler_logs=logging,
                task_logs=logging,
                webserver_logs=logging,
                worker_logs=logging,
            ),
        )
        self.environment.node.add_dependency(self.dag_deployment)
