"""The events the local runtime delivers read through Powertools' typed classes, as the ingest
Lambda reads AWS's."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, SQSEvent

from retail_etl.ingest import ObjectRef, object_refs
from retail_etl.local.delivery import object_created, sqs_record

KEY = "events/source=ga4/dt=2026-11-01/my file+1.csv"


def test_a_local_delivery_reads_as_an_sqs_batch_of_s3_eventbridge_events():
    batch = SQSEvent({"Records": [sqs_record(object_created("raw", KEY, "v1"), "m-1")]})
    (record,) = batch.records
    event = S3EventBridgeNotificationEvent(record.json_body)
    assert (record.message_id, record.event_source) == ("m-1", "aws:sqs")
    assert (event.source, event.detail_type, event.resources) == (
        "aws.s3",
        "Object Created",
        ["arn:aws:s3:::raw"],
    )
    obj = event.detail.object
    assert (event.detail.bucket.name, obj.key, obj.version_id) == ("raw", KEY, "v1")
    assert list(object_refs(record.json_body)) == [ObjectRef("raw", KEY, "v1")]


def test_an_unversioned_buckets_event_names_no_version():
    assert list(object_refs(object_created("raw", KEY))) == [ObjectRef("raw", KEY, None)]
