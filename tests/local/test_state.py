"""The local run's state on disk: the mirror follows the buckets, and a restore brings it back."""

import datetime as dt
import json
from decimal import Decimal

import boto3
import pyarrow as pa
import pytest

from retail_etl.adapters.ledger import DynamoLedger
from retail_etl.adapters.tables import Lake, on_date
from retail_etl.config import Settings
from retail_etl.domain import lake
from retail_etl.local.account import provision
from retail_etl.local.emulator import emulated_aws
from retail_etl.local.state import LocalState

SETTINGS = Settings.for_prefix("retail-etl-state-test")


def _state(out_dir):
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    ledger = DynamoLedger(boto3.client("dynamodb"), SETTINGS.ledger_table)
    dlq = sqs.get_queue_url(QueueName=SETTINGS.dead_letter_queue)["QueueUrl"]
    state = LocalState(SETTINGS, out_dir, s3, ledger, sqs, dlq, Lake.glue(SETTINGS))
    return state, s3, sqs, dlq


@pytest.fixture
def account():
    with emulated_aws():
        provision(SETTINGS)
        yield


def test_the_mirror_downloads_changes_and_deletes_what_the_bucket_deleted(account, tmp_path):
    state, s3, _, _ = _state(tmp_path)
    bucket = SETTINGS.curated_bucket
    s3.put_object(Bucket=bucket, Key="curated/events/event_date=2026-11-01/a.parquet", Body=b"1")
    s3.put_object(Bucket=bucket, Key="quarantine/kind=events/b.parquet", Body=b"2")
    state.save()
    assert (tmp_path / "curated/events/event_date=2026-11-01/a.parquet").read_bytes() == b"1"
    s3.put_object(Bucket=bucket, Key="curated/events/event_date=2026-11-01/a.parquet", Body=b"9")
    s3.delete_object(Bucket=bucket, Key="quarantine/kind=events/b.parquet")
    state.save()
    assert (tmp_path / "curated/events/event_date=2026-11-01/a.parquet").read_bytes() == b"9"
    assert not (tmp_path / "quarantine/kind=events/b.parquet").exists()


def test_a_restore_brings_back_objects_ledger_and_dead_letters(tmp_path):
    with emulated_aws():
        provision(SETTINGS)
        state, s3, sqs, dlq = _state(tmp_path)
        s3.put_object(
            Bucket=SETTINGS.analytics_bucket, Key="aggregates/t/part-0.parquet", Body=b"a"
        )
        revenue = lake.AGGREGATES["daily_category_revenue"]
        rows = pa.table(
            {
                "event_date": [dt.date(2026, 11, 1)],
                "category": ["books"],
                "revenue": pa.array([Decimal("12.30")], pa.decimal128(18, 2)),
                "purchases": [1],
                "units": [2],
            }
        )
        state.lake.replace(revenue, on_date("2026-11-01"), rows=rows)
        state.ledger.mark_dirty({dt.date(2026, 11, 1)})
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"poison": True}))
        state.save()
        assert sqs.receive_message(QueueUrl=dlq).get("Messages")  # still there after the save
    with emulated_aws():  # a new command: an empty emulator
        provision(SETTINGS)
        state, s3, sqs, dlq = _state(tmp_path)
        assert state.restore() > 1  # the object and the tables' metadata and data files
        assert state.lake.read(revenue).to_pylist() == rows.cast(revenue.schema).to_pylist()
        body = s3.get_object(Bucket=SETTINGS.analytics_bucket, Key="aggregates/t/part-0.parquet")
        assert body["Body"].read() == b"a"
        assert [d.isoformat() for d in state.ledger.dirty_dates()] == ["2026-11-01"]
        [message] = sqs.receive_message(QueueUrl=dlq)["Messages"]
        assert json.loads(message["Body"]) == {"poison": True}
