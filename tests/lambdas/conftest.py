"""An emulated AWS account with the resources the ingest Lambda uses, and event builders."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
import pytest

from lambdas.ingest import handler as ingest_handler
from retail_etl.adapters.ledger import DynamoLedger
from retail_etl.adapters.objects import ObjectStore
from retail_etl.adapters.tables import Lake
from retail_etl.config import Settings
from retail_etl.local.account import provision
from retail_etl.local.delivery import LambdaContext, object_created, sqs_record
from retail_etl.local.emulator import emulated_aws

SETTINGS = Settings.for_prefix("retail-etl-test")


@dataclass
class Account:
    s3: object
    ledger: DynamoLedger
    store: ObjectStore
    settings: Settings
    lake: Lake

    def drop(self, key: str, body: bytes | str) -> str:
        """Upload a file to the raw bucket as a producer would; returns its version id."""
        data = body.encode() if isinstance(body, str) else body
        out = self.s3.put_object(Bucket=self.settings.raw_bucket, Key=key, Body=data)
        return out["VersionId"]

    def rows(self, spec, where=None) -> list[dict]:
        """A lake table's current rows, by source file, line and event id."""
        rows = self.lake.read(spec, where).to_pylist()
        return sorted(rows, key=lambda r: tuple(str(r.get(k)) for k in ORDER))


ORDER = ("event_date", "source_file", "event_id", "line_number", "product_id", "rank")


def eventbridge_message(bucket: str, key: str, version: str | None = None) -> dict:
    """An SQS record whose body is the EventBridge "Object Created" event S3 sends."""
    return sqs_record(object_created(bucket, key, version))


def invoke(*records: dict) -> dict:
    """Call the handler as Lambda would with one SQS batch; returns the partial-batch reply."""
    return ingest_handler.handler({"Records": list(records)}, LambdaContext())


@pytest.fixture
def account(monkeypatch):
    with emulated_aws():
        provision(SETTINGS)
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        for name, value in SETTINGS.to_env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "RetailEtl")
        monkeypatch.setattr(ingest_handler, "_ingestor", None)
        store = ObjectStore(s3)
        ledger = DynamoLedger(dynamodb, SETTINGS.ledger_table)
        yield Account(s3, ledger, store, SETTINGS, Lake.glue(SETTINGS))
