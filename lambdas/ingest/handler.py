"""Ingest Lambda: SQS batches of S3 "Object Created" events → `retail_etl.ingest.Ingestor`.

Powertools does the Lambda plumbing: JSON logs with the file and counts, CloudWatch embedded
metrics, and partial batch responses so only failed messages are retried (the queue moves a
message to the DLQ after its maximum receives, intact).

Only objects in the configured raw bucket (or the project's own buckets, for replays) are
ingested: an event naming another bucket is logged as an error, counted in the
`ForeignBucketRejected` metric and acknowledged, so it is neither retried nor read.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from retail_etl.adapters.ledger import DynamoLedger, dynamodb_client
from retail_etl.adapters.objects import ObjectStore
from retail_etl.adapters.tables import Lake
from retail_etl.config import Settings
from retail_etl.domain.report import FileStatus
from retail_etl.ingest import Ingestor, object_refs
from retail_etl.memory import configure_memory

configure_memory()

logger = Logger(service="retail-etl-ingest")
metrics = Metrics(namespace="RetailEtl", service="ingest")
# A fully failed batch is reported item by item rather than raised: the same retries, no
# invocation error noise.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_ingestor: Ingestor | None = None


def ingestor() -> Ingestor:
    """Built once per container: clients and settings outlive invocations."""
    global _ingestor
    if _ingestor is None:
        settings = Settings.from_env()
        _ingestor = Ingestor(
            settings,
            ObjectStore(boto3.client("s3")),
            DynamoLedger(dynamodb_client(), settings.ledger_table, settings.lease_seconds),
            Lake.glue(settings),
        )
    return _ingestor


def record_handler(record: SQSRecord) -> None:
    for ref in object_refs(record.json_body):
        if ref.bucket not in ingestor().settings.source_buckets:
            logger.error(
                "object from a foreign bucket rejected, not read and not retried",
                extra={"bucket": ref.bucket, "key": ref.key, "message_id": record.message_id},
            )
            metrics.add_metric("ForeignBucketRejected", MetricUnit.Count, 1)
            continue
        try:
            report = ingestor().ingest(ref)
        except Exception as exc:
            # Transient or unexpected: the message is retried, then lands in the DLQ.
            logger.warning(
                "file failed, will be retried",
                extra={
                    "bucket": ref.bucket,
                    "key": ref.key,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            metrics.add_metric("FilesRetried", MetricUnit.Count, 1)
            raise
        if report is None:
            logger.info("already processed", extra={"bucket": ref.bucket, "key": ref.key})
            metrics.add_metric("FilesSkipped", MetricUnit.Count, 1)
            continue
        logger.info("file processed", extra={"file": report.to_dict()})
        metrics.add_metric("RowsIn", MetricUnit.Count, report.rows_in)
        metrics.add_metric("RowsCurated", MetricUnit.Count, report.rows_curated)
        metrics.add_metric("RowsQuarantined", MetricUnit.Count, report.quarantined_total)
        metrics.add_metric("RowsDuplicate", MetricUnit.Count, report.rows_duplicate)
        metrics.add_metric("RowsExcluded", MetricUnit.Count, report.rows_excluded)
        metrics.add_metric("FileSeconds", MetricUnit.Seconds, report.duration_s)
        if report.status == FileStatus.FAILED_PERMANENT:
            logger.error("file rejected", extra={"file": report.to_dict()})
            metrics.add_metric("FilesRejected", MetricUnit.Count, 1)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
