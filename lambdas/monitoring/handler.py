"""Freshness check, run daily at the configured hour: alert when no events file arrived today.

A missing drop raises no error anywhere else (nothing runs, so nothing fails), so this looks
for today's `events/dt=YYYY-MM-DD/` prefix in the raw bucket and publishes to the alert topic
when it is empty.
"""

from __future__ import annotations

import datetime as dt
import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service="retail-etl-freshness")
metrics = Metrics(namespace="RetailEtl", service="freshness")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    bucket = os.environ["RETAIL_ETL_RAW_BUCKET"]
    listed = boto3.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=f"events/dt={today}/", MaxKeys=1
    )
    arrived = listed.get("KeyCount", 0) > 0
    metrics.add_metric("EventsFileArrivedToday", MetricUnit.Count, int(arrived))
    if not arrived:
        message = f"No events file under s3://{bucket}/events/dt={today}/ yet."
        logger.warning(message)
        boto3.client("sns").publish(
            TopicArn=os.environ["ALERT_TOPIC_ARN"],
            Subject="retail-etl: no events file today",
            Message=message,
        )
    return {"date": today, "arrived": arrived}
