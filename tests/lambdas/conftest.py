"""An emulated AWS account with the resources the ingest Lambda uses, and event builders."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import boto3
import pytest

from lambdas.ingest import handler as ingest_handler
from retail_etl.adapters.ledger import ATTRIBUTES, KEY_SCHEMA, DynamoLedger
from retail_etl.adapters.objects import ObjectStore
from retail_etl.config import Settings
from retail_etl.local.emulator import emulated_aws

SETTINGS = Settings.for_prefix("retail-etl-test")


@dataclass
class LambdaContext:
    function_name: str = "retail-etl-ingest"
    memory_limit_in_mb: int = 2048
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:000000000000:function:ingest"
    aws_request_id: str = "req-1"


@dataclass
class Account:
    s3: object
    ledger: DynamoLedger
    store: ObjectStore
    settings: Settings

    def drop(self, key: str, body: bytes | str) -> str:
        """Upload a file to the raw bucket as a producer would; returns its version id."""
        data = body.encode() if isinstance(body, str) else body
        out = self.s3.put_object(Bucket=self.settings.raw_bucket, Key=key, Body=data)
        return out["VersionId"]

    def curated_keys(self, prefix: str = "") -> list[str]:
        return sorted(self.store.list(self.settings.curated_bucket, prefix))


def eventbridge_message(bucket: str, key: str, version: str | None = None) -> dict:
    """An SQS record whose body is the EventBridge "Object Created" event S3 sends."""
    detail = {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}
    if version:
        detail["object"]["version-id"] = version
    body = {"source": "aws.s3", "detail-type": "Object Created", "detail": detail}
    return sqs_record(body)


def sqs_record(body: dict) -> dict:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "rh",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:000000000000:ingest",
        "awsRegion": "eu-west-1",
    }


def invoke(*records: dict) -> dict:
    """Call the handler as Lambda would with one SQS batch; returns the partial-batch reply."""
    return ingest_handler.handler({"Records": list(records)}, LambdaContext())


@pytest.fixture
def account(monkeypatch):
    with emulated_aws():
        s3 = boto3.client("s3")
        for bucket in (SETTINGS.raw_bucket, SETTINGS.curated_bucket, SETTINGS.analytics_bucket):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        s3.put_bucket_versioning(
            Bucket=SETTINGS.raw_bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=SETTINGS.ledger_table,
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=ATTRIBUTES,
            BillingMode="PAY_PER_REQUEST",
        )
        for name, value in SETTINGS.to_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RetailEtl")
        monkeypatch.setattr(ingest_handler, "_ingestor", None)
        store = ObjectStore(s3)
        yield Account(s3, DynamoLedger(dynamodb, SETTINGS.ledger_table), store, SETTINGS)
