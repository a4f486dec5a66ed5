"""The payloads AWS delivers to the ingest Lambda, built for local runs and tests.

S3 sends an EventBridge "Object Created" event; the rule puts it on the SQS queue; the Lambda
event source mapping hands the handler a batch of SQS records whose bodies are those events.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import quote_plus

ACCOUNT, REGION = "000000000000", "eu-west-1"


def object_created(bucket: str, key: str, version: str | None = None) -> dict:
    """The EventBridge event S3 emits for a new object, in the shape Powertools'
    `S3EventBridgeNotificationEvent` reads (keys are URL-encoded in it; an unversioned
    bucket's event has no `version-id`)."""
    obj: dict = {"key": quote_plus(key, safe="/")}
    if version:
        obj["version-id"] = version
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "reason": "PutObject",
        },
    }


def sqs_record(body: dict, message_id: str | None = None) -> dict:
    """One SQS record as the Lambda event source mapping delivers it (for direct calls)."""
    message = {
        "MessageId": message_id or str(uuid.uuid4()),
        "ReceiptHandle": "local",
        "Body": json.dumps(body),
        "Attributes": {"ApproximateReceiveCount": "1"},
    }
    return lambda_sqs_record(message, f"arn:aws:sqs:{REGION}:{ACCOUNT}:ingest", REGION)


def lambda_sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """An SQS ReceiveMessage message in the shape the event source mapping hands to Lambda
    (what Powertools' `SQSEvent` and `SQSRecord` read)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class LambdaContext:
    """The attributes of the Lambda context object that Powertools reads."""

    function_name = "retail-etl-local"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:retail-etl-local"
    aws_request_id = "local"
