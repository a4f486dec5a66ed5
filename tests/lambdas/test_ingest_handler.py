"""The ingest Lambda against emulated AWS: from put_object to curated output and ledger."""

from __future__ import annotations

import datetime as dt
import gzip
import threading

import pytest

from retail_etl.adapters.files import local_writer
from retail_etl.adapters.ledger import DONE, FAILED_PERMANENT, FileVersion
from retail_etl.adapters.tables import on_date
from retail_etl.daily import refresh_day
from retail_etl.domain import lake
from retail_etl.generator import generate_dataset
from retail_etl.ingest import FileBusy, Ingestor, ObjectRef
from tests.lambdas.conftest import eventbridge_message, invoke, sqs_record

PRODUCTS = "product_id,product_name,category,price\nP1,Phone,electronics,100.00\nP2,Book,books,5\n"
EVENTS = (
    "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
    "e1,U1,P1,view,2026-11-01T10:00:00Z,\n"
    "e2,U1,P1,purchase,2026-11-01T10:01:00Z,2\n"
    "e2,U1,P1,purchase,2026-11-01T10:01:00Z,2\n"
    "e3,U1,P2,purchase,2026-10-30T10:01:00Z,1\n"
    "e4,U2,P9,view,2026-11-01T10:00:00Z,\n"
    "e5,,P1,view,2026-11-01T10:00:00Z,\n"
)
EVENTS_KEY = "events/dt=2026-11-01/a.csv"


def drop_and_ingest(account, key: str, body) -> dict:
    version = account.drop(key, body)
    reply = invoke(eventbridge_message(account.settings.raw_bucket, key, version))
    return reply, FileVersion(account.settings.raw_bucket, key, version)


def curated_rows(account) -> list[dict]:
    return sorted(account.rows(lake.CURATED_EVENTS), key=lambda r: r["event_id"])


def test_an_events_file_becomes_curated_parquet_with_its_ledger_entry(account):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    reply, file = drop_and_ingest(account, EVENTS_KEY, EVENTS)
    assert reply == {"batchItemFailures": []}
    item = account.ledger.get(file)
    assert item.status == DONE
    assert (item.rows_in, item.rows_curated, item.rows_duplicate) == (6, 3, 1)
    assert item.rows_quarantined == {"missing_user_id": 1, "unknown_product": 1}
    assert sorted(item.event_dates) == ["2026-10-30", "2026-11-01"]
    assert [r["event_id"] for r in curated_rows(account)] == ["e1", "e2", "e3"]
    assert [r["event_id"] for r in account.rows(lake.CURATED_EVENTS, on_date("2026-10-30"))] == [
        "e3"
    ]
    assert [(r["line_number"], r["reason"]) for r in account.rows(lake.QUARANTINE)] == [
        (7, "missing_user_id")
    ]
    assert [r["event_id"] for r in account.rows(lake.PARKED_EVENTS)] == ["e4"]
    assert set(account.ledger.dirty_dates()) == {dt.date(2026, 10, 30), dt.date(2026, 11, 1)}


def test_s3_notification_records_with_url_encoded_keys_are_handled(account):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    key = "events/dt=2026-11-01/my file+1.csv"
    account.drop(key, EVENTS)
    body = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": account.settings.raw_bucket},
                    "object": {"key": "events/dt%3D2026-11-01/my+file%2B1.csv"},
                },
            }
        ]
    }
    assert invoke(sqs_record(body)) == {"batchItemFailures": []}
    assert len(curated_rows(account)) == 3


def test_the_same_message_twice_is_processed_once(account):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    version = account.drop(EVENTS_KEY, EVENTS)
    message = eventbridge_message(account.settings.raw_bucket, EVENTS_KEY, version)
    invoke(message)
    before = account.lake.pointers()
    invoke(message)
    assert account.lake.pointers() == before  # not one commit more
    file = FileVersion(account.settings.raw_bucket, EVENTS_KEY, version)
    assert account.ledger.get(file).attempts == 1


def test_two_concurrent_deliveries_process_the_file_once(account):
    """Two Lambda containers (two Ingestors) get the same message at the same moment."""
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    version = account.drop(EVENTS_KEY, EVENTS)
    ref = ObjectRef(account.settings.raw_bucket, EVENTS_KEY, version)
    outcomes, barrier = [], threading.Barrier(2)

    def container():
        ingestor = Ingestor(account.settings, account.store, account.ledger, account.lake)
        barrier.wait()
        try:
            outcomes.append("processed" if ingestor.ingest(ref) else "skipped")
        except FileBusy:
            outcomes.append("busy, retried later")

    threads = [threading.Thread(target=container) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (
        ["busy, retried later", "processed"],
        ["processed", "skipped"],
    )
    item = account.ledger.get(FileVersion(account.settings.raw_bucket, EVENTS_KEY, version))
    assert item.status == DONE and item.attempts == 1
    assert [r["event_id"] for r in curated_rows(account)] == ["e1", "e2", "e3"]


def test_a_crash_between_two_table_commits_then_a_retry_ends_like_a_clean_run(account, monkeypatch):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    version = account.drop(EVENTS_KEY, EVENTS)
    message = eventbridge_message(account.settings.raw_bucket, EVENTS_KEY, version)
    from retail_etl.adapters.tables import Lake

    real_replace, commits = Lake.replace, []

    def crash_after_two_commits(self, spec, *args, **kwargs):
        if len(commits) == 2:
            raise ConnectionError("the container died")
        commits.append(spec.name)
        real_replace(self, spec, *args, **kwargs)

    monkeypatch.setattr(Lake, "replace", crash_after_two_commits)
    assert len(invoke(message)["batchItemFailures"]) == 1
    assert commits == ["quarantine", "parked_events"]  # curated not yet committed
    assert not curated_rows(account)
    monkeypatch.setattr(Lake, "replace", real_replace)
    assert invoke(message) == {"batchItemFailures": []}
    file = FileVersion(account.settings.raw_bucket, EVENTS_KEY, version)
    item = account.ledger.get(file)
    assert (item.status, item.attempts) == (DONE, 2)
    assert [r["event_id"] for r in curated_rows(account)] == ["e1", "e2", "e3"]
    assert [r["event_id"] for r in account.rows(lake.PARKED_EVENTS)] == ["e4"]
    assert len(account.rows(lake.QUARANTINE)) == 1
    # the dates were dirty before the first commit, so the crash lost none
    assert set(account.ledger.dirty_dates()) == {dt.date(2026, 10, 30), dt.date(2026, 11, 1)}


def test_events_before_their_products_are_parked_then_enriched(account):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop_and_ingest(account, EVENTS_KEY, EVENTS)
    assert [r["event_id"] for r in account.rows(lake.PARKED_EVENTS)] == ["e4"]
    for day in list(account.ledger.dirty_dates()):
        account.ledger.mark_loaded(day, account.ledger.dirty_dates()[day])
    reply, file = drop_and_ingest(
        account, "products/dt=2026-11-02/p.csv", "product_id,category,price\nP9,lamps,7.50\n"
    )
    assert reply == {"batchItemFailures": []}
    # P9 had no version: every known date may use it (the first version serves earlier dates)
    assert account.ledger.get(file).event_dates == ["2026-10-30", "2026-11-01"]
    assert sorted(account.ledger.dirty_dates()) == [dt.date(2026, 10, 30), dt.date(2026, 11, 1)]
    refresh_day("2026-11-01", account.lake)
    e4 = next(r for r in curated_rows(account) if r["event_id"] == "e4")
    assert (e4["category"], e4["source_file"]) == ("lamps", EVENTS_KEY)
    assert not account.rows(lake.PARKED_EVENTS)


def test_late_events_land_in_their_own_dates(account):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop_and_ingest(account, EVENTS_KEY, EVENTS)
    late = account.lake.data_files(lake.CURATED_EVENTS, on_date("2026-10-30"))
    assert len(late) == 1
    assert "event_date=2026-10-30" in late[0].path
    rows = account.rows(lake.CURATED_EVENTS, on_date("2026-10-30"))
    assert [r["event_id"] for r in rows] == ["e3"]


BAD_FILES = [
    ("events/dt=2026-11-01/empty.csv", b"", "empty_file"),
    ("events/dt=2026-11-01/semicolons.csv", b"user_id;product_id\n1;2\n", "missing_columns"),
    ("events/dt=2026-11-01/junk.csv", bytes(range(256)) * 40, "invalid_encoding"),
    (
        "events/dt=2026-11-01/truncated.csv.gz",
        gzip.compress(EVENTS.encode() * 200, mtime=0)[:-30],
        "corrupt_compression",
    ),
    (
        "events/dt=2026-11-01/latin1.csv",
        EVENTS.encode() + "e9,Zoë,P1,view,x,\n".encode("latin-1"),
        "invalid_encoding",
    ),
    ("events/dt=2026-11-01/data.parquet", b"PAR1", "unsupported_format"),
    ("misc/dt=2026-11-01/a.csv", EVENTS.encode(), "unknown_prefix"),
]


@pytest.mark.parametrize(
    ("key", "body", "code"), BAD_FILES, ids=[b[2] + ":" + b[0] for b in BAD_FILES]
)
def test_bad_files_fail_permanently_with_a_specific_error_and_are_not_retried(
    account, key, body, code
):
    reply, file = drop_and_ingest(account, key, body)
    assert reply == {"batchItemFailures": []}  # recorded, not retried
    item = account.ledger.get(file)
    assert (item.status, item.error_code) == (FAILED_PERMANENT, code)
    assert key.rsplit("/", 1)[-1] in item.error_message or code == "unknown_prefix"
    assert not any(account.rows(spec) for spec in lake.TABLES.values())


def test_a_header_only_file_is_done_with_zero_rows(account):
    _reply, file = drop_and_ingest(account, EVENTS_KEY, EVENTS.splitlines()[0] + "\n")
    item = account.ledger.get(file)
    assert (item.status, item.rows_in) == (DONE, 0)


def test_one_huge_line_is_one_malformed_row(account):
    huge = "x" * (3 << 20)
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    _reply, file = drop_and_ingest(account, EVENTS_KEY, EVENTS + huge + "\n")
    item = account.ledger.get(file)
    assert item.status == DONE
    assert item.rows_quarantined["malformed_row"] == 1
    assert item.rows_in == 7


def test_a_transient_error_gives_the_claim_back_and_fails_only_that_message(account, monkeypatch):
    from botocore.exceptions import ClientError

    from retail_etl.adapters.objects import ObjectStore

    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    v1 = account.drop(EVENTS_KEY, EVENTS)
    other = "events/dt=2026-11-01/b.csv"
    v2 = account.drop(other, EVENTS.replace("e", "f"))
    real_open = ObjectStore.open

    def throttled(self, bucket, key, version=None):
        if key == EVENTS_KEY:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "GetObject")
        return real_open(self, bucket, key, version)

    monkeypatch.setattr(ObjectStore, "open", throttled)
    first = eventbridge_message(account.settings.raw_bucket, EVENTS_KEY, v1)
    second = eventbridge_message(account.settings.raw_bucket, other, v2)
    reply = invoke(first, second)
    assert reply == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    assert (
        account.ledger.get(FileVersion(account.settings.raw_bucket, EVENTS_KEY, v1)).status
        == "RELEASED"
    )
    monkeypatch.setattr(ObjectStore, "open", real_open)
    assert invoke(first) == {"batchItemFailures": []}


def test_generated_files_reconcile_in_the_ledger_exactly_as_the_manifest_says(account, tmp_path):
    manifest = generate_dataset(local_writer(tmp_path), days=2, events_per_day=1500, seed=3)
    for key in manifest["files"]:
        reply, file = drop_and_ingest(account, key, (tmp_path / key).read_bytes())
        assert reply == {"batchItemFailures": []}
        item = account.ledger.get(file)
        expected = manifest["files"][key]
        assert item.status == DONE
        assert (item.rows_in, item.rows_curated, item.rows_duplicate) == (
            expected["rows_in"],
            expected["rows_curated"],
            expected["rows_duplicate"],
        )
        assert item.rows_quarantined == {k: v for k, v in expected["rows_quarantined"].items() if v}
        assert item.rows_in == (
            item.rows_curated + item.rows_duplicate + sum(item.rows_quarantined.values())
        )
    assert len(curated_rows(account)) == manifest["totals"]["events"]["rows_curated"]


def test_a_poison_message_lands_in_the_dlq_intact_after_the_allowed_tries(account, monkeypatch):
    import json

    import boto3

    from retail_etl.adapters.objects import ObjectStore

    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="ingest-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName="ingest",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"]
    version = account.drop(EVENTS_KEY, EVENTS)
    body = eventbridge_message(account.settings.raw_bucket, EVENTS_KEY, version)["body"]
    sqs.send_message(QueueUrl=queue, MessageBody=body)

    def always_throttled(self, bucket, key, version=None):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "GetObject")

    monkeypatch.setattr(ObjectStore, "open", always_throttled)
    tries = 0
    for _ in range(6):  # what the Lambda event source mapping does, one poll at a time
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            continue
        tries += 1
        records = [
            {**sqs_record(json.loads(m["Body"])), "messageId": m["MessageId"]} for m in messages
        ]
        failed = {f["itemIdentifier"] for f in invoke(*records)["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert tries == 3
    dead = sqs.receive_message(QueueUrl=dlq).get("Messages", [])
    assert [m["Body"] for m in dead] == [body]
    item = account.ledger.get(FileVersion(account.settings.raw_bucket, EVENTS_KEY, version))
    assert (item.status, item.attempts) == ("RELEASED", 3)
    assert "ThrottlingException" in item.last_error


BIG_ROWS = [f"x{i},U{i % 97},P{1 + i % 2},view,2026-11-01T10:00:00Z," for i in range(40_000)]
BIG = gzip.compress((EVENTS + "\n".join(BIG_ROWS) + "\n").encode())


def test_a_file_larger_than_a_block_streams_through_in_bounded_chunks(account, monkeypatch):
    monkeypatch.setenv("RETAIL_ETL_BLOCK_BYTES", str(64 << 10))
    monkeypatch.setenv("RETAIL_ETL_PART_BYTES", str(64 << 10))
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    _reply, file = drop_and_ingest(account, "events/dt=2026-11-01/big.csv.gz", BIG)
    item = account.ledger.get(file)
    assert (item.status, item.rows_in, item.rows_curated) == (DONE, 40_006, 40_003)
    parts = account.lake.data_files(lake.CURATED_EVENTS, on_date("2026-11-01"))
    assert len(parts) > 10  # parts leave as blocks are read: the file never sat in memory whole
    assert len(curated_rows(account)) == 40_003


def test_the_blocks_of_a_file_gather_into_one_data_file_per_date(account, monkeypatch):
    monkeypatch.setenv("RETAIL_ETL_BLOCK_BYTES", str(64 << 10))
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop_and_ingest(account, "events/dt=2026-11-01/big.csv.gz", BIG)
    parts = account.lake.data_files(lake.CURATED_EVENTS)
    dates = [p.path.split("event_date=")[1].split("/")[0] for p in parts]
    assert len(dates) == len(set(dates))  # one data file per date of the file
    assert sum(p.rows for p in parts) == 40_003
