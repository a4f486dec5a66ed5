"""The payloads AWS delivers to the ingest Lambda, built for local runs and tests.

S3 sends an EventBridge "Object Created" event; the rule puts it on the SQS queue; the Lambda
event source mapping hands the handler a batch of SQS records whose bodies are those events.
"""

from __future__ import annotations

import json
import uuid


def object_created(bucket: str, key: str, version: str | None = None) -> dict:
    """The EventBridge event S3 emits for a new object (keys are URL-encoded in it)."""
    from urllib.parse import quote_plus

    detail: dict = {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/")}}
    if version:
        detail["object"]["version-id"] = version
    return {"source": "aws.s3", "detail-type": "Object Created", "detail": detail}


def sqs_record(body: dict, message_id: str | None = None) -> dict:
    """One SQS record as the Lambda event source mapping delivers it."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "local",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:000000000000:ingest",
        "awsRegion": "eu-west-1",
    }


class LambdaContext:
    """The attributes of the Lambda context object that Powertools reads."""

    function_name = "retail-etl-local"
    memory_limit_in_mb = 3008
    invoked_function_arn = "arn:aws:lambda:eu-west-1:000000000000:function:retail-etl-local"
    aws_request_id = "local"
