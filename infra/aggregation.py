"""Aggregation: the daily STANDARD state machine, its task Lambdas and the Glue Spark job.

plan → Map over dates (bounded concurrency) → Choice: Lambda or glue:startJobRun.sync →
(warehouse on) submit load → bounded poll of describeStatement (FINISHED / FAILED / ABORTED)
→ mark loaded. Every task retries transient errors with backoff; any failure is caught,
published to the alert topic with its cause, and fails the execution.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.log_groups import retention as _retention
from infra.runtime import RUNTIME, LambdaRuntime
from retail_etl.config import Settings
from retail_etl.domain import lake

REPO = Path(__file__).resolve().parents[1]
POLL_INTERVAL_S = 15
MAX_POLLS = 120  # 30 minutes of loading before the execution gives up
TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
    "Lambda.SdkClientException",
    "Glue.ConcurrentRunsExceededException",
    "RedshiftData.ThrottlingException",
    "States.Timeout",
]


class Aggregation(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: Settings,
        runtime: LambdaRuntime,
        key: kms.IKey,
        curated: s3.IBucket,
        analytics: s3.IBucket,
        ledger,
        alerts: sns.ITopic,
        warehouse_on: bool,
        redshift_workgroup_arn: str | None,
        task_memory_mb: int,
        map_concurrency: int,
        glue_threshold_bytes: int,
        glue_workers: int,
        glue_worker_type: str,
        log_retention_days: int,
        destroy_data: bool,
    ) -> None:
        super().__init__(scope, id)
        removal = RemovalPolicy.DESTROY if destroy_data else RemovalPolicy.RETAIN
        env = {
            **settings.to_env(),
            "RETAIL_ETL_GLUE_THRESHOLD_BYTES": str(glue_threshold_bytes),
            "POWERTOOLS_SERVICE_NAME": "retail-etl-daily",
        }

        self._runtime, self._env, self._key = runtime, env, key
        self._curated, self._analytics, self._database = curated, analytics, settings.glue_database
        self._memory, self._retention, self._removal = task_memory_mb, log_retention_days, removal
        self.functions: list[lambda_.Function] = []
        self.plan_fn = self._function("PlanFn", "plan", 120)
        self.aggregate_fn = self._function("AggregateDayFn", "aggregate_day", 900)
        self.prepare_glue_fn = self._function("PrepareGlueFn", "prepare_glue", 900)
        self.publish_glue_fn = self._function("PublishGlueOutputFn", "publish_glue_output", 900)
        self.mark_fn = self._function("MarkLoadedFn", "mark_loaded", 120)
        curated.grant_read(self.plan_fn)
        ledger.grant_read_data(self.plan_fn)
        # refreshing a date rewrites its curated and parked rows (Iceberg commits)
        for fn in (self.aggregate_fn, self.prepare_glue_fn, self.publish_glue_fn):
            curated.grant_read_write(fn)
            analytics.grant_read_write(fn)
        for fn in (self.plan_fn, self.aggregate_fn, self.prepare_glue_fn, self.publish_glue_fn):
            runtime.grant_catalog(fn, settings.glue_database)
        ledger.grant_read_write_data(self.mark_fn)

        # Glue 5 Spark job for large days, with encryption at rest for its outputs and logs.
        self.glue_security = glue.SecurityConfiguration(
            self,
            "GlueSecurity",
            s3_encryption=glue.S3Encryption.kms(key),
            cloud_watch_encryption=glue.CloudWatchEncryption.kms(key),
            job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(key),
        )
        # Least privilege, instead of AWSGlueServiceRole (glue:* on *, s3 on every aws-glue-*
        # bucket, ec2/iam reads): the job reads the date's curated data files and its manifest,
        # writes its output under one prefix, logs under /aws-glue/ and sends the Glue job
        # metrics. It never calls the Data Catalog (it reads the files PrepareGlue lists) and
        # runs in no VPC. Its script comes from the CDK asset bucket (granted by CDK).
        glue_role = iam.Role(
            self,
            "GlueJobRole",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="retail-etl aggregate_day Spark job: read curated, write its output",
        )
        curated.grant_read(glue_role)
        analytics.grant_read(glue_role, f"{lake.MANIFESTS_PREFIX}/glue/*")
        analytics.grant_read_write(glue_role, f"{lake.GLUE_OUTPUT_PREFIX}/*")
        analytics.grant_delete(glue_role, f"{lake.GLUE_OUTPUT_PREFIX}/*")  # Spark's _temporary
        key.grant_encrypt_decrypt(glue_role)
        stack = Stack.of(self)
        glue_role.add_to_policy(
            iam.PolicyStatement(
                sid="GlueJobLogs",
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:AssociateKmsKey",  # the security configuration encrypts them
                ],
                resources=[
                    f"arn:{stack.partition}:logs:{stack.region}:{stack.account}"
                    ":log-group:/aws-glue/*"
                ],
            )
        )
        glue_role.add_to_policy(
            iam.PolicyStatement(
                sid="GlueJobMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # takes no resource; limited to the Glue namespace
                conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
            )
        )
        self.glue_role = glue_role
        self.glue_job = glue.PySparkEtlJob(
            self,
            "AggregateDayJob",
            job_name=f"{settings.glue_database}_aggregate_day",
            role=glue_role,
            script=glue.Code.from_asset(str(REPO / "glue_jobs" / "aggregate_day.py")),
            glue_version=glue.GlueVersion.V5_0,
            worker_configuration=glue.WorkerConfiguration(
                worker_type=getattr(glue.WorkerType, glue_worker_type.replace(".", "_")),
                number_of_workers=glue_workers,
            ),
            security_configuration=self.glue_security,
            timeout=Duration.hours(2),
            max_concurrent_runs=map_concurrency,
            # --manifest and --output_path come from the PrepareGlue step for each date
        )

        self.state_machine = self._state_machine(
            settings, key, alerts, warehouse_on, redshift_workgroup_arn, map_concurrency,
            log_retention_days, removal,
        )  # fmt: skip

    def _state_machine(
        self, settings, key, alerts, warehouse_on, workgroup_arn, map_concurrency, retention,
        removal,
    ) -> sfn.StateMachine:  # fmt: skip
        failed = sfn.Fail(self, "DailyRunFailed", cause="see the alert", error="DailyRunFailed")
        alert_task = tasks.SnsPublish(
            self,
            "AlertWithCause",
            topic=alerts,
            subject=f"{settings.glue_database}: daily run failed",
            message=sfn.TaskInput.from_object(
                {
                    "execution": sfn.JsonPath.execution_id,
                    "error": sfn.JsonPath.string_at("$.failure.Error"),
                    "cause": sfn.JsonPath.string_at("$.failure.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        # The alert is the last resort: retry anything SNS throws before giving up.
        alert_task.add_retry(interval=Duration.seconds(5), max_attempts=3, backoff_rate=2.0)
        alert = alert_task.next(failed)

        def retried(task):
            task.add_retry(
                errors=TRANSIENT, interval=Duration.seconds(5), max_attempts=4, backoff_rate=2.0
            )
            return task

        def guarded(task):
            """Retry transient errors; on anything else alert with the cause and fail."""
            retried(task).add_catch(alert, result_path="$.failure")
            return task

        plan = guarded(
            tasks.LambdaInvoke(
                self, "PlanDates", lambda_function=self.plan_fn, payload_response_only=True
            )
        )
        # Inside the Map, failures propagate to the Map, whose Catch sends the alert.
        aggregate_lambda = retried(
            tasks.LambdaInvoke(
                self,
                "AggregateOnLambda",
                lambda_function=self.aggregate_fn,
                payload=sfn.TaskInput.from_object({"date": sfn.JsonPath.string_at("$.date")}),
                payload_response_only=True,
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        # Large dates: refresh and list the curated data files on Lambda, aggregate on Glue,
        # then commit the job's output to the aggregate tables on Lambda.
        prepare_glue = retried(
            tasks.LambdaInvoke(
                self,
                "PrepareGlue",
                lambda_function=self.prepare_glue_fn,
                payload=sfn.TaskInput.from_object({"date": sfn.JsonPath.string_at("$.date")}),
                payload_response_only=True,
                result_path="$.glue",
            )
        )
        aggregate_glue = retried(
            tasks.GlueStartJobRun(
                self,
                "AggregateOnGlue",
                glue_job_name=self.glue_job.job_name,
                integration_pattern=sfn.IntegrationPattern.RUN_JOB,
                arguments=sfn.TaskInput.from_object(
                    {
                        "--event_date": sfn.JsonPath.string_at("$.date"),
                        "--manifest": sfn.JsonPath.string_at("$.glue.manifest"),
                        "--output_path": sfn.JsonPath.string_at("$.glue.output_path"),
                    }
                ),
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        publish_glue = retried(
            tasks.LambdaInvoke(
                self,
                "PublishGlueOutput",
                lambda_function=self.publish_glue_fn,
                payload=sfn.TaskInput.from_object(
                    {
                        "date": sfn.JsonPath.string_at("$.date"),
                        "output_path": sfn.JsonPath.string_at("$.glue.output_path"),
                    }
                ),
                payload_response_only=True,
                result_path=sfn.JsonPath.DISCARD,
            )
        )
        prepare_glue.next(aggregate_glue).next(publish_glue)
        engine = (
            sfn.Choice(self, "LambdaOrGlue")
            .when(sfn.Condition.string_equals("$.engine", "glue"), prepare_glue)
            .otherwise(aggregate_lambda)
        )
        per_date = sfn.Map(
            self,
            "EachDate",
            items_path="$.dates",
            max_concurrency=map_concurrency,
            result_path=sfn.JsonPath.DISCARD,
        )
        per_date.item_processor(engine)
        per_date.add_catch(alert, result_path="$.failure")
        mark = guarded(
            tasks.LambdaInvoke(
                self,
                "MarkLoaded",
                lambda_function=self.mark_fn,
                payload=sfn.TaskInput.from_object({"dates": sfn.JsonPath.list_at("$.dates")}),
                payload_response_only=True,
            )
        )
        mark.next(sfn.Succeed(self, "Done"))
        after_aggregation = (
            self._load(settings, workgroup_arn, guarded, alert, mark) if warehouse_on else mark
        )
        # The input names the business date ({"run_date": null} means yesterday); the dates
        # list starts empty and is filled by plan.
        defaults = sfn.Pass(
            self,
            "Defaults",
            parameters={"run_date.$": "$.run_date", "dates": []},
        )
        self.start_state = defaults
        defaults.next(plan).next(per_date).next(after_aggregation)

        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            retention=_retention(retention),
            encryption_key=key,
            removal_policy=removal,
        )
        return sfn.StateMachine(
            self,
            "Daily",
            state_machine_name=f"{settings.glue_database.replace('_', '-')}-daily",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self.start_state),
            timeout=Duration.hours(6),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )

    def _load(self, settings, workgroup_arn, guarded, alert, mark):
        """submit → wait → describeStatement → FINISHED / FAILED / ABORTED / poll again,
        counting polls so a statement that never finishes fails the run."""
        self.submit_fn = self._function("SubmitLoadFn", "submit_load", 120)
        self.explain_fn = self._function("ExplainLoadFailureFn", "explain_load_failure", 120)
        # submit_load lists the dates' current data files and writes their COPY manifests
        self._curated.grant_read(self.submit_fn)
        self._analytics.grant_read_write(self.submit_fn)
        self._runtime.grant_catalog(self.submit_fn, self._database)
        submit = guarded(
            tasks.LambdaInvoke(
                self,
                "SubmitLoad",
                lambda_function=self.submit_fn,
                payload=sfn.TaskInput.from_object({"dates": sfn.JsonPath.list_at("$.dates")}),
                payload_response_only=True,
                result_path="$.load",
            )
        )
        start_count = sfn.Pass(
            self,
            "StartPollCount",
            parameters={"count": 0},
            result_path="$.polls",
        )
        wait = sfn.Wait(
            self, "WaitForLoad", time=sfn.WaitTime.duration(Duration.seconds(POLL_INTERVAL_S))
        )
        describe = guarded(
            tasks.CallAwsService(
                self,
                "DescribeLoad",
                service="redshiftdata",
                action="describeStatement",
                iam_action="redshift-data:DescribeStatement",
                iam_resources=["*"],  # statement ids are not ARNs; see the nag acknowledgment
                parameters={"Id": sfn.JsonPath.string_at("$.load.statement_id")},
                result_selector={"status": sfn.JsonPath.string_at("$.Status")},
                result_path="$.statement",
            )
        )
        count = sfn.Pass(
            self,
            "CountPoll",
            parameters={"count": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.polls.count"), 1)},
            result_path="$.polls",
        )
        explain = guarded(
            tasks.LambdaInvoke(
                self,
                "ExplainLoadFailure",
                lambda_function=self.explain_fn,
                payload=sfn.TaskInput.from_object(
                    {"statement_id": sfn.JsonPath.string_at("$.load.statement_id")}
                ),
                payload_response_only=True,
            )
        )
        gave_up = sfn.Pass(
            self,
            "LoadNeverFinished",
            parameters={
                "Error": "LoadTimedOut",
                "Cause": f"the load statement did not finish after {MAX_POLLS} polls",
            },
            result_path="$.failure",
        ).next(alert)
        status = (
            sfn.Choice(self, "LoadStatus")
            .when(sfn.Condition.string_equals("$.statement.status", "FINISHED"), mark)
            .when(sfn.Condition.string_equals("$.statement.status", "FAILED"), explain)
            .when(sfn.Condition.string_equals("$.statement.status", "ABORTED"), explain)
            .when(sfn.Condition.number_greater_than_equals("$.polls.count", MAX_POLLS), gave_up)
            .otherwise(wait)
        )
        submit.next(start_count).next(wait).next(describe).next(count).next(status)
        if workgroup_arn:
            for fn in (self.submit_fn, self.explain_fn):
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=[
                            "redshift-data:BatchExecuteStatement",
                            "redshift-data:ExecuteStatement",
                        ],
                        resources=[workgroup_arn],
                    )
                )
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=[
                            "redshift-data:DescribeStatement",
                            "redshift-data:GetStatementResult",
                        ],
                        resources=["*"],
                    )
                )
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["redshift-serverless:GetCredentials"], resources=[workgroup_arn]
                    )
                )
        return submit

    def _function(self, name: str, handler: str, timeout_s: int) -> lambda_.Function:
        fn = lambda_.Function(
            self,
            name,
            runtime=RUNTIME,
            code=self._runtime.code,
            handler=f"lambdas.daily.handler.{handler}",
            layers=self._runtime.layers,
            memory_size=self._memory,
            timeout=Duration.seconds(timeout_s),
            environment=self._env,
            environment_encryption=self._key,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=logs.LogGroup(
                self,
                f"{name}Logs",
                retention=_retention(self._retention),
                encryption_key=self._key,
                removal_policy=self._removal,
            ),
        )
        self._key.grant_decrypt(fn)  # its environment is encrypted with the data key
        self.functions.append(fn)
        return fn
