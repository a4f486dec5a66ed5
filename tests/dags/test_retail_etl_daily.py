"""The daily DAG on real Airflow (the version the CDK config deploys) against moto."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import urllib.request
import warnings
import zipfile
from pathlib import Path

import boto3
import pytest

from retail_etl.local.emulator import emulated_aws

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "retail_etl_daily.py"
LOGICAL = dt.datetime(2026, 11, 3, 2, 30, tzinfo=dt.UTC)


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["retail_etl_daily"]


def test_the_dag_imports_with_no_error_and_no_deprecation_warning(airflow_home):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_dag()
    ours = [w for w in caught if Path(str(w.filename)).resolve() == DAG_FILE]
    assert ours == [], [str(w.message) for w in ours]


def test_schedule_catchup_retries_and_timeouts_are_as_configured(airflow_home):
    dag = load_dag()
    from airflow.sdk import CronTriggerTimetable

    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "30 2 * * *"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout == dt.timedelta(hours=8)
    start, wait = dag.get_task("start_execution"), dag.get_task("wait_for_execution")
    assert start.retries == 0  # AIRFLOW__RETAIL_ETL__RETRIES=0 in tests; 2 by default
    assert wait.mode == "reschedule"
    assert wait.timeout == dt.timedelta(hours=7).total_seconds()
    assert start.execution_timeout == dt.timedelta(minutes=10)
    assert start.on_failure_callback


@pytest.fixture
def aws(airflow_home, synthesized_definition, monkeypatch):
    """moto with the synthesized state machine (Lambda tasks echo), its topic, and a queue
    subscribed to the topic to read alerts."""
    with emulated_aws() as endpoint:
        urllib.request.urlopen(
            urllib.request.Request(
                f"{endpoint}/moto-api/config",
                data=json.dumps(
                    {
                        "stepfunctions": {"execute_state_machine": True},
                        "lambda": {"use_docker": False},
                    }
                ).encode(),
                method="POST",
            )
        ).close()
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("index.py", "def handler(event, context):\n    return event\n")
        lam = boto3.client("lambda")
        for name in synthesized_definition["functions"]:
            lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role,
                Handler="index.handler",
                Code={"ZipFile": code.getvalue()},
            )
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name=synthesized_definition["topics"][0])["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="retail-etl-dev-daily",
            definition=json.dumps(synthesized_definition["definition"]),
            roleArn=role,
        )["stateMachineArn"]
        failing = sfn.create_state_machine(
            name="always-fails",
            definition=json.dumps(
                {
                    "StartAt": "Boom",
                    "States": {
                        "Boom": {
                            "Type": "Fail",
                            "Error": "LoadFailed",
                            "Cause": "Invalid digit, Value 'x'",
                        }
                    },
                }
            ),
            roleArn=role,
        )["stateMachineArn"]
        monkeypatch.setenv("AIRFLOW__RETAIL_ETL__STATE_MACHINE_ARN", machine)
        monkeypatch.setenv("AIRFLOW__RETAIL_ETL__ALERT_TOPIC_ARN", topic)
        yield {"sfn": sfn, "machine": machine, "failing": failing, "sqs": sqs, "queue": queue}


def executions(aws, machine: str) -> list[dict]:
    return aws["sfn"].list_executions(stateMachineArn=machine)["executions"]


def test_a_run_starts_one_execution_for_the_business_date_and_succeeds(aws):
    run = load_dag().test(logical_date=LOGICAL)
    assert run.state == "success"
    (execution,) = executions(aws, aws["machine"])
    assert execution["name"] == "daily-2026-11-02-try1"
    described = aws["sfn"].describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {"run_date": "2026-11-02"}
    assert described["status"] == "SUCCEEDED"


def test_re_running_the_same_date_starts_no_second_execution(aws):
    load_dag().test(logical_date=LOGICAL)
    again = load_dag().test(logical_date=LOGICAL)
    assert again.state == "success"
    assert len(executions(aws, aws["machine"])) == 1


def test_a_failing_execution_fails_the_run_and_alerts_with_its_cause(aws, monkeypatch):
    monkeypatch.setenv("AIRFLOW__RETAIL_ETL__STATE_MACHINE_ARN", aws["failing"])
    run = load_dag().test(logical_date=LOGICAL)
    assert run.state == "failed"
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)
    bodies = [json.loads(json.loads(m["Body"])["Message"]) for m in messages["Messages"]]
    assert any(b.get("execution_cause") == "Invalid digit, Value 'x'" for b in bodies)
    assert os.environ["AIRFLOW__RETAIL_ETL__STATE_MACHINE_ARN"] == aws["failing"]
