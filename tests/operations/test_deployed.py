"""The operator commands against a deployed stack (`--stack`), on moto."""

import datetime as dt
import gzip
import json
import os
import urllib.request
from pathlib import Path

import boto3
import pyarrow as pa
import pytest

from retail_etl.adapters.tables import Lake, from_source
from retail_etl.cli import main
from retail_etl.config import Settings
from retail_etl.domain import lake
from retail_etl.domain.contract import QUARANTINE
from retail_etl.local.account import provision
from retail_etl.local.emulator import emulated_aws
from retail_etl.operations.deployed import DeployedStack
from retail_etl.operations.report import QUERIES

STACK = "RetailEtl-dev"
MOTO_ACCOUNT = "123456789012"  # what moto's STS answers
HEADER = "event_id,user_id,product_id,event_type,event_timestamp,quantity"


@pytest.fixture
def stack():
    """The dev stack's resources (names from cdk.json) and its outputs, in moto."""
    with emulated_aws():
        settings = Settings.for_environment("dev", MOTO_ACCOUNT, "eu-west-1")
        provision(settings)
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="daily",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/sfn",
        )["stateMachineArn"]
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"StateMachineArn": {"Value": machine}},
        }
        boto3.client("cloudformation").create_stack(
            StackName=STACK, TemplateBody=json.dumps(template)
        )
        yield settings, machine


def test_status_reads_the_deployed_ledger_and_dlq(stack, tmp_path):
    settings, _ = stack
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName=settings.dead_letter_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=dlq, MessageBody="{}")
    code = main(["status", "--stack", STACK, "--json", str(tmp_path / "s.json")])
    status = json.loads((tmp_path / "s.json").read_text())
    assert code == 1  # a message waits in the DLQ
    assert status["dead_letters"] == 1 and status["files_by_status"] == {}


def test_backfill_starts_one_execution_per_date_oldest_first(stack):
    _, machine = stack
    argv = ["backfill", "--stack", STACK, "--from", "2026-11-01", "--to", "2026-11-03"]
    assert main([*argv, "--no-wait"]) == 0
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)
    inputs = []
    for e in sorted(executions["executions"], key=lambda e: e["name"]):
        described = boto3.client("stepfunctions").describe_execution(executionArn=e["executionArn"])
        inputs.append(json.loads(described["input"])["run_date"])
        assert e["name"].startswith(f"backfill-{inputs[-1]}-")
    assert inputs == ["2026-11-01", "2026-11-02", "2026-11-03"]


def test_replay_drops_a_file_with_the_gzipped_sources_header_into_the_raw_bucket(stack):
    settings, _ = stack
    s3 = boto3.client("s3")
    source = "events/dt=2026-11-01/part-1.csv.gz"
    bad_line = "e9,U1,P1,view,yesterday,1"
    body = gzip.compress(f"{HEADER}\ne1,U1,P1,view,2026-11-01T00:00:00Z,1\n{bad_line}\n".encode())
    s3.put_object(Bucket=settings.raw_bucket, Key=source, Body=body)
    rows = pa.Table.from_pylist(
        [
            {
                "source_file": source,
                "line_number": 3,
                "reason": "invalid_timestamp",
                "raw_record": bad_line,
                "product_id": "P1",
                "event_date": None,
                "quarantined_at": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            }
        ],
        schema=QUARANTINE,
    )
    Lake.glue(settings).replace(lake.QUARANTINE, from_source(source), rows=rows)
    assert main(["replay-quarantine", "--stack", STACK]) == 0
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=settings.raw_bucket)["Contents"]
        if "/replay/" in o["Key"]
    ]
    assert len(keys) == 1 and keys[0].startswith("events/dt=2026-11-01/replay/part-1-")
    replay = s3.get_object(Bucket=settings.raw_bucket, Key=keys[0])["Body"].read().decode()
    assert replay == f"{HEADER}\n{bad_line}\n"
    assert main(["replay-quarantine", "--stack", STACK]) == 0  # the same replay: nothing new
    assert len([o for o in s3.list_objects_v2(Bucket=settings.raw_bucket)["Contents"]]) == 2


def test_an_unknown_stack_is_one_line_and_exit_2(stack, capsys):
    assert main(["status", "--stack", "RetailEtl-nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach stack RetailEtl-nope") and err.count("\n") == 1


def _athena_result(columns: list[str], rows: list[list[str]]) -> dict:
    """One canned Athena result as moto serves it: the header row first, like Athena."""
    return {
        "rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in [columns, *rows]],
        "column_info": [{"Name": c, "Type": "varchar"} for c in columns],
    }


def test_report_on_a_deployed_stack_queries_athena_in_the_stacks_workgroup(stack, tmp_path, capsys):
    """moto's Athena runs no SQL: it answers each query with the next canned result, in the
    order the report asks (`QUERIES`). What this checks is the path: the workgroup and
    database, Athena's header row and paging, exact decimals, the ledger from DynamoDB; and
    first that a stack without its workgroup is one line and exit 2."""
    settings, _ = stack
    assert main(["report", "--stack", STACK, "--html", str(tmp_path / "none.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Athena query failed: workgroup ") and err.count("\n") == 1
    canned = {
        "revenue": _athena_result(
            ["event_date", "category", "revenue", "purchases", "units"],
            [["2026-11-01", "Home", "19.98", "1", "2"], ["2026-11-01", "Office", "1.50", "1", "1"]],
        ),
        "top_products": _athena_result(
            ["event_date", "rank", "product_id", "product_name", "category", "views"],
            [["2026-11-01", "1", "P1", "Mug", "Home", "7"]],
        ),
        "multi_purchase_per_day": _athena_result(["event_date", "users"], [["2026-11-01", "1"]]),
        "top_spenders": _athena_result(
            ["event_date", "user_id", "purchases", "spend"], [["2026-11-01", "U1", "2", "21.48"]]
        ),
        "quarantine": _athena_result(
            ["event_date", "reason", "row_count"], [["2026-11-01", "invalid_timestamp", "3"]]
        ),
        "freshness": _athena_result(
            ["latest_event", "last_ingested"], [["2026-11-01 10:06:00.000 UTC", None]]
        ),
    }
    assert list(canned) == list(QUERIES)
    boto3.client("athena").create_work_group(Name=f"{settings.glue_database}_analysts")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    body = {"account_id": MOTO_ACCOUNT, "region": "eu-west-1", "results": list(canned.values())}
    request = urllib.request.Request(
        f"{endpoint}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()
    html = tmp_path / "report.html"
    assert main(["report", "--stack", STACK, "--html", str(html)]) == 0
    text = html.read_text()
    assert "stack RetailEtl-dev" in text and "21.48" in text and "Mug (Home)" in text
    assert text.count('class="bar"') == 2 + 1 + 1 + 1
    athena = boto3.client("athena")
    executions = athena.list_query_executions()["QueryExecutionIds"]
    assert len(executions) == len(QUERIES)
    for execution in executions:
        q = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
        assert q["WorkGroup"] == f"{settings.glue_database}_analysts"
        assert q["QueryExecutionContext"]["Database"] == settings.glue_database


def test_backfill_waits_for_each_execution_and_exits_1_when_one_failed(stack, monkeypatch, capsys):
    _, machine = stack
    monkeypatch.setenv("SF_EXECUTION_HISTORY_TYPE", "FAILURE")  # moto's executions then fail
    argv = ["backfill", "--stack", STACK, "--from", "2026-11-01", "--to", "2026-11-02"]
    assert main(argv) == 1
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)
    arns = {e["executionArn"] for e in executions["executions"]}
    assert [line[:2] for line in lines] == [["2026-11-01:", "FAILED"], ["2026-11-02:", "FAILED"]]
    assert {line[2] for line in lines} == arns and len(arns) == 2


def test_a_stacks_report_is_titled_and_named_after_the_stack():
    settings = Settings.for_prefix("prod")
    deployed = DeployedStack("RetailEtl-prod", None, settings, {})
    assert deployed.description == "stack RetailEtl-prod"
    assert deployed.report_path == Path("RetailEtl-prod-report.html")  # in the working folder
