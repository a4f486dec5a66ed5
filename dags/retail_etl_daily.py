"""retail-etl daily run: start one execution of the pipeline's state machine for a business
date, wait for it, and fail (with an SNS alert carrying the cause) if it does not succeed.

* Business date: the day before the run's data interval end, in UTC, the same on every
  supported Airflow version; it goes into the execution input as `run_date`.
* Execution name: `daily-<business date>-try<n>`: a re-run of the same try never starts a
  second execution (Step Functions treats a repeated name and input as the same request).
* The state machine ARN, the alert topic and the schedule come from the MWAA environment's
  configuration (`retail_etl.*` options the CDK stack sets), never literals.
* `max_active_runs=1` and no catchup: a backfill runs one date at a time, oldest first.
"""

from __future__ import annotations

import datetime as dt
import json

from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.providers.amazon.aws.hooks.step_function import StepFunctionHook
from airflow.providers.amazon.aws.operators.step_function import (
    StepFunctionStartExecutionOperator,
)
from airflow.providers.amazon.aws.sensors.step_function import StepFunctionExecutionSensor
from airflow.sdk import DAG, CronTriggerTimetable
from airflow.sdk.configuration import conf
from botocore.exceptions import ClientError

SECTION = "retail_etl"
DAG_ID = "retail_etl_daily"
BUSINESS_DATE = "{{ (data_interval_end - macros.timedelta(days=1)).strftime('%Y-%m-%d') }}"
EXECUTION_NAME = f"daily-{BUSINESS_DATE}-try{{{{ ti.try_number }}}}"


class StartOrReuseExecution(StepFunctionStartExecutionOperator):
    """Start the execution, or return the one this name already started.

    Step Functions rejects a second StartExecution with the name of a finished execution
    (ExecutionAlreadyExists); re-running a date's try then watches that execution instead of
    failing or starting a duplicate.
    """

    def execute(self, context):
        try:
            return super().execute(context)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            arn = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
            execution_arn = f"{arn}:{self.name}"
            self.log.info("execution %s already exists; watching it", execution_arn)
            return execution_arn


def setting(name: str, default: str | None = None) -> str | None:
    return conf.get(SECTION, name, fallback=default)


def alert_on_failure(context) -> None:
    """Publish the run's failure, with the execution's own error and cause, to the topic."""
    topic = setting("alert_topic_arn")
    execution_arn = context["ti"].xcom_pull(task_ids="start_execution")
    cause = {"error": str(context.get("exception"))}
    if execution_arn:
        described = StepFunctionHook().conn.describe_execution(executionArn=execution_arn)
        cause |= {
            "execution": execution_arn,
            "status": described.get("status"),
            "execution_error": described.get("error"),
            "execution_cause": described.get("cause"),
        }
    if topic:
        SnsHook().publish_to_target(
            target_arn=topic,
            subject=f"retail-etl daily run failed ({context['dag_run'].run_id})"[:99],
            message=json.dumps(cause, default=str),
        )


with DAG(
    dag_id=DAG_ID,
    description="Start and watch the retail-etl daily state machine for one business date",
    # Explicit trigger timetable: the run at D 02:30 UTC has data_interval_end = D on every
    # Airflow version, so the business date (D - 1 day) never depends on defaults.
    schedule=CronTriggerTimetable(setting("schedule", "30 2 * * *"), timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=8),
    default_args={
        "retries": int(setting("retries", "2")),
        "retry_delay": dt.timedelta(minutes=10),
        "on_failure_callback": alert_on_failure,
    },
    tags=["retail-etl"],
) as dag:
    start = StartOrReuseExecution(
        task_id="start_execution",
        state_machine_arn=setting(
            "state_machine_arn", "UNCONFIGURED: set the retail_etl.state_machine_arn option"
        ),
        name=EXECUTION_NAME,
        state_machine_input={"run_date": BUSINESS_DATE},
        execution_timeout=dt.timedelta(minutes=10),
    )
    wait = StepFunctionExecutionSensor(
        task_id="wait_for_execution",
        execution_arn="{{ ti.xcom_pull(task_ids='start_execution') }}",
        mode="reschedule",
        poke_interval=int(setting("poke_interval_seconds", "60")),
        timeout=dt.timedelta(hours=7).total_seconds(),
        execution_timeout=dt.timedelta(hours=7, minutes=30),
    )
    start >> wait
