"""Monitoring: the alert topic, alarms on every way the pipeline can fail, a dashboard, and
the daily freshness check for a missing drop."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.log_groups import log_group
from infra.runtime import RUNTIME, LambdaRuntime


class AlertTopic(Construct):
    """Created first: every other construct sends its alarms and failures here."""

    def __init__(self, scope: Construct, id: str, *, key: kms.IKey, email: str) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Alerts", master_key=key, enforce_ssl=True)
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        name: str,
        topic: sns.ITopic,
        runtime: LambdaRuntime,
        raw: s3.IBucket,
        dlq: sqs.IQueue,
        functions: list[lambda_.IFunction],
        state_machine: sfn.IStateMachine,
        glue_job_name: str,
        freshness_hour_utc: int,
        key: kms.IKey,
        log_retention_days: int,
        destroy_data: bool,
    ) -> None:
        super().__init__(scope, id)
        action = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []

        def alarm(alarm_id: str, metric: cw.IMetric, description: str, threshold: float = 1):
            a = metric.create_alarm(
                self,
                alarm_id,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            a.add_alarm_action(action)
            self.alarms.append(a)
            return a

        alarm(
            "DlqNotEmpty",
            dlq.metric_approximate_number_of_messages_visible(period=Duration.minutes(5)),
            "Messages in the ingest DLQ: files failed every retry. See the runbook: redrive.",
        )
        for i, fn in enumerate(functions):
            alarm(f"Errors{i}", fn.metric_errors(period=Duration.minutes(5)),
                  f"Lambda errors in {fn.node.path}")  # fmt: skip
            alarm(f"Throttles{i}", fn.metric_throttles(period=Duration.minutes(5)),
                  f"Lambda throttles in {fn.node.path}")  # fmt: skip
        alarm("DailyRunFailed", state_machine.metric_failed(period=Duration.minutes(5)),
              "The daily state machine failed; the alert topic has the cause.")  # fmt: skip
        alarm("DailyRunTimedOut", state_machine.metric_timed_out(period=Duration.minutes(5)),
              "The daily state machine timed out.")  # fmt: skip
        glue_failures = cw.Metric(
            namespace="Glue",
            metric_name="glue.driver.aggregate.numFailedTasks",
            dimensions_map={"JobName": glue_job_name, "JobRunId": "ALL", "Type": "count"},
            statistic="Sum",
            period=Duration.minutes(5),
        )
        alarm("GlueTasksFailed", glue_failures, "Failed tasks in the aggregate_day Glue job.")
        events.Rule(
            self,
            "GlueJobFailed",
            description="Glue aggregate_day runs that end FAILED, TIMEOUT or ERROR",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [glue_job_name], "state": ["FAILED", "TIMEOUT", "ERROR"]},
            ),
            targets=[targets.SnsTopic(topic)],
        )

        self.freshness = lambda_.Function(
            self,
            "Freshness",
            runtime=RUNTIME,
            code=runtime.code,
            handler="lambdas.monitoring.handler.handler",
            layers=runtime.layers,
            memory_size=256,
            timeout=Duration.seconds(60),
            environment={
                "RETAIL_ETL_RAW_BUCKET": raw.bucket_name,
                "ALERT_TOPIC_ARN": topic.topic_arn,
            },
            environment_encryption=key,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group(
                self,
                "FreshnessLogs",
                key=key,
                retention_days=log_retention_days,
                destroy_data=destroy_data,
            ),
        )
        key.grant_decrypt(self.freshness)  # its environment is encrypted with the data key
        raw.grant_read(self.freshness)
        topic.grant_publish(self.freshness)
        events.Rule(
            self,
            "FreshnessSchedule",
            description=f"Check at {freshness_hour_utc:02d}:00 UTC that today's events arrived",
            schedule=events.Schedule.cron(minute="0", hour=str(freshness_hour_utc)),
            targets=[targets.LambdaFunction(self.freshness)],
        )
        alarm("FreshnessCheckFailed", self.freshness.metric_errors(period=Duration.hours(1)),
              "The freshness check itself failed.")  # fmt: skip

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{name}-pipeline")
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Rows per file outcome",
                left=[
                    cw.Metric(
                        namespace="RetailEtl",
                        metric_name=m,
                        statistic="Sum",
                        dimensions_map={"service": "ingest"},
                    )
                    for m in ("RowsIn", "RowsCurated", "RowsQuarantined", "RowsDuplicate")
                ],
            ),
            cw.GraphWidget(
                title="Ingest Lambda",
                left=[functions[0].metric_invocations(), functions[0].metric_errors()],
                right=[functions[0].metric_duration()],
            ),
            cw.GraphWidget(
                title="DLQ depth", left=[dlq.metric_approximate_number_of_messages_visible()]
            ),
            cw.GraphWidget(
                title="Daily runs",
                left=[
                    state_machine.metric_succeeded(),
                    state_machine.metric_failed(),
                    state_machine.metric_timed_out(),
                ],
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24),
        )
