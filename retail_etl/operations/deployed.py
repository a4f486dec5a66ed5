"""A deployed stack, for the operator CLI's `--stack`: its names, ledger, queues and workflow,
as the `Pipeline` of `operations/pipeline.py`.

Names come from cdk.json like the stack's own (`Settings.for_environment`, with the caller's
account and region), and the state machine's ARN from the stack's outputs, so the CLI needs
nothing but the stack name and credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3

from retail_etl.adapters.ledger import DynamoLedger, dynamodb_client
from retail_etl.adapters.objects import ObjectStore
from retail_etl.adapters.tables import Lake
from retail_etl.config import Settings
from retail_etl.operations.pipeline import STARTED, DailyOutcome, Replayed
from retail_etl.operations.replay import ReplayFile
from retail_etl.operations.report import Athena

STACK_PREFIX = "RetailEtl-"
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class StackNotFound(Exception):
    """The stack does not exist in this account and region, or is not a retail-etl stack."""


@dataclass
class DeployedStack:
    name: str
    session: Any
    settings: Settings
    outputs: dict[str, str]
    profile: str | None = None  # the named profile, when the caller gave one

    @classmethod
    def connect(cls, stack: str, profile: str | None, region: str | None) -> DeployedStack:
        if not stack.startswith(STACK_PREFIX):
            raise StackNotFound(f"{stack}: retail-etl stacks are named {STACK_PREFIX}<env>")
        session = boto3.Session(profile_name=profile, region_name=region)
        cfn = session.client("cloudformation")
        try:
            found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        except cfn.exceptions.ClientError as exc:
            raise StackNotFound(f"{stack}: {exc.response['Error']['Message']}") from exc
        outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
        account = session.client("sts").get_caller_identity()["Account"]
        env = stack.removeprefix(STACK_PREFIX)
        settings = Settings.for_environment(env, account, session.region_name)
        return cls(stack, session, settings, outputs, profile)

    @property
    def description(self) -> str:
        return f"stack {self.name}"

    @property
    def report_path(self) -> Path:
        return Path(f"{self.name}-report.html")

    @property
    def athena_workgroup(self) -> str:
        """The analysts' workgroup the stack creates (infra/ingestion.py names it so); it
        enforces the result location and the per-query scan cap."""
        return f"{self.settings.glue_database}_analysts"

    @cached_property
    def store(self) -> ObjectStore:
        return ObjectStore(self.session.client("s3"))

    @cached_property
    def lake(self) -> Lake:
        return Lake.glue(self.settings, self.profile, self.session.region_name)

    @cached_property
    def ledger(self) -> DynamoLedger:
        return DynamoLedger(dynamodb_client(self.session), self.settings.ledger_table)

    def dead_letters(self) -> int:
        sqs = self.session.client("sqs")
        url = sqs.get_queue_url(QueueName=self.settings.dead_letter_queue)["QueueUrl"]
        attrs = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def sql_engine(self) -> nullcontext[Athena]:
        """Athena in the analysts' workgroup; nothing to close."""
        athena = self.session.client("athena")
        return nullcontext(Athena(athena, self.settings.glue_database, self.athena_workgroup))

    def replay(self, files: list[ReplayFile]) -> Replayed:
        """New raw objects: the stack's own notification pipeline ingests them."""
        s3 = self.session.client("s3")
        for f in files:
            s3.put_object(Bucket=self.settings.raw_bucket, Key=f.key, Body=f.data)
        return Replayed(files)

    def run_daily(self, run_date: dt.date, wait: bool = True) -> DailyOutcome:
        """One execution of the daily state machine for `run_date`, named as the operator's
        backfill, and (`wait`) its final status."""
        sfn = self.session.client("stepfunctions")
        started = sfn.start_execution(
            stateMachineArn=self.outputs["StateMachineArn"],
            name=f"backfill-{run_date.isoformat()}-{int(time.time())}",
            input=json.dumps({"run_date": run_date.isoformat()}),
        )
        arn = started["executionArn"]
        return DailyOutcome(run_date, self.wait(arn) if wait else STARTED, execution=arn)

    def wait(
        self,
        execution_arn: str,
        poll_seconds: float = 10.0,
        max_polls: int = 2160,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """The execution's final status (polls at most `max_polls` times: 6 h by default)."""
        sfn = self.session.client("stepfunctions")
        for _ in range(max_polls):
            status = sfn.describe_execution(executionArn=execution_arn)["status"]
            if status in FINAL:
                return status
            sleep(poll_seconds)
        return "RUNNING"
