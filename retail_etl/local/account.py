"""The AWS resources of one deployment, created in the emulated account from `Settings`.

Names come from the same `Settings` the CDK stack uses, so the local run and the cloud match.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from retail_etl.adapters.ledger import ATTRIBUTES, KEY_SCHEMA
from retail_etl.adapters.tables import Lake
from retail_etl.config import Settings

# cdk.json's ingest_max_receives for dev is the EnvironmentConfig default
MAX_RECEIVES = 5
# The stack uses 6x the Lambda timeout; locally failed messages are made visible at once.
VISIBILITY_TIMEOUT_S = 900


def provision(settings: Settings, session: Any = None) -> None:
    """Buckets (raw versioned), the ledger table, the ingest queue with its DLQ and the Glue
    database with the lake's Iceberg tables; idempotent."""
    session = session or boto3.Session()
    provision_storage(settings, session)
    Lake.glue(settings).ensure()
    _queues(settings, session.client("sqs"))


def provision_storage(settings: Settings, session: Any = None) -> None:
    """The three buckets (raw versioned) and the ledger table; idempotent."""
    session = session or boto3.Session()
    s3 = session.client("s3")
    region = session.region_name or "eu-west-1"
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (settings.raw_bucket, settings.curated_bucket, settings.analytics_bucket):
        if bucket not in existing:
            kwargs = {}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(Bucket=bucket, **kwargs)
    s3.put_bucket_versioning(
        Bucket=settings.raw_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    dynamodb = session.client("dynamodb")
    if settings.ledger_table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=settings.ledger_table,
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=ATTRIBUTES,
            BillingMode="PAY_PER_REQUEST",
        )


def _queues(settings: Settings, sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName=settings.dead_letter_queue)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.create_queue(
        QueueName=settings.ingest_queue,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_S),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
            ),
        },
    )
