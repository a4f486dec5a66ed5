import datetime as dt
import threading

import boto3
import pytest
from botocore.stub import Stubber

from retail_etl.adapters.ledger import (
    ATTRIBUTES,
    DONE,
    FAILED_PERMANENT,
    IN_PROGRESS,
    KEY_SCHEMA,
    DynamoLedger,
    FileVersion,
    LeaseLost,
    dynamodb_client,
)
from retail_etl.adapters.memory_ledger import MemoryLedger
from retail_etl.domain.report import FileReport
from retail_etl.local.emulator import emulated_aws

FILE = FileVersion("raw", "events/dt=2026-11-01/a.csv", "v1")
D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 10, 31)


@pytest.fixture
def dynamo_ledger():
    with emulated_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="ledger",
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=ATTRIBUTES,
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoLedger(client, "ledger", lease_seconds=60)


@pytest.fixture(params=["dynamodb", "memory"])
def ledger(request):
    """Every behaviour below holds for both implementations of the ledger."""
    if request.param == "memory":
        return MemoryLedger(lease_seconds=60)
    return request.getfixturevalue("dynamo_ledger")


def report(*dates: dt.date) -> FileReport:
    r = FileReport(key=FILE.key, kind="events", rows_in=3, rows_curated=2, rows_duplicate=1)
    r.event_dates.update(dates)
    return r


def test_a_file_version_is_claimed_once_and_done_files_are_not_claimed_again(ledger):
    first = ledger.claim(FILE)
    assert first.owned
    assert ledger.claim(FILE) == ledger.claim(FILE)  # leased: not owned
    assert not ledger.claim(FILE).owned
    ledger.complete(FILE, first, report(D1))
    again = ledger.claim(FILE)
    assert (again.owned, again.status) == (False, DONE)
    item = ledger.get(FILE)
    assert (item.status, item.rows_in, item.attempts) == (DONE, 3, 1)
    assert item.event_dates == ["2026-11-01"]


def test_another_version_of_the_same_key_is_a_new_file(ledger):
    assert ledger.claim(FILE).owned
    assert ledger.claim(FileVersion(FILE.bucket, FILE.key, "v2")).owned


def test_concurrent_claims_have_exactly_one_winner(ledger):
    results, barrier = [], threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(ledger.claim(FILE).owned)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_an_expired_lease_can_be_taken_over_and_the_stale_owner_cannot_finish(ledger):
    stale = ledger.claim(FILE, now=1_000)
    assert not ledger.claim(FILE, now=1_030).owned
    fresh = ledger.claim(FILE, now=1_061)
    assert fresh.owned
    with pytest.raises(LeaseLost):
        ledger.complete(FILE, stale, report(D1))
    with pytest.raises(LeaseLost):
        ledger.release(FILE, stale, "too late")
    ledger.complete(FILE, fresh, report(D1))
    assert ledger.get(FILE).attempts == 2


def test_a_released_claim_is_claimable_at_once_and_a_permanent_failure_is_final(ledger):
    claim = ledger.claim(FILE)
    ledger.release(FILE, claim, "ThrottlingException")
    retry = ledger.claim(FILE)
    assert retry.owned
    failed = report()
    failed.error_code, failed.error_message = "corrupt_compression", "truncated"
    ledger.fail_permanently(FILE, retry, failed)
    assert ledger.claim(FILE).status == FAILED_PERMANENT
    assert ledger.get(FILE).error_code == "corrupt_compression"


def test_dirty_dates_stay_dirty_when_they_change_during_a_load(ledger):
    ledger.mark_dirty({D1, D2})  # a file's intent, before its rows are published
    dirty = ledger.dirty_dates()
    assert dirty == {D1: 1, D2: 1}
    assert ledger.known_dates() == {D1, D2}
    ledger.mark_dirty({D1})  # late data arrives while the load runs
    assert ledger.mark_loaded(D1, dirty[D1]) is False
    assert ledger.mark_loaded(D2, dirty[D2]) is True
    assert ledger.dirty_dates() == {D1: 2}
    assert ledger.mark_loaded(D1, 1) is False  # never moves backwards
    assert ledger.mark_loaded(D1, 2) is True
    assert ledger.dirty_dates() == {}


def test_files_lists_every_file_item(ledger):
    claim = ledger.claim(FILE)
    ledger.complete(FILE, claim, report(D1))
    assert [f.status for f in ledger.files()] == [DONE]
    assert ledger.claim(FileVersion("raw", "b.csv", "e1")).status == IN_PROGRESS


def test_a_lock_is_held_by_one_caller_until_released_or_expired(ledger):
    token = ledger.acquire_lock("products", now=1_000)
    assert token
    assert ledger.acquire_lock("products", now=1_010) is None
    ledger.release_lock("products", token)
    second = ledger.acquire_lock("products", now=1_020)
    assert second
    assert ledger.acquire_lock("products", now=1_081)  # the lease ran out
    ledger.release_lock("products", second)  # a stale holder's release changes nothing
    assert ledger.acquire_lock("products", now=1_082) is None


def test_an_exported_ledger_imports_into_an_empty_table_unchanged(dynamo_ledger):
    ledger = dynamo_ledger
    claim = ledger.claim(FILE)
    done = report(D1, D2)
    done.rows_quarantined = {"missing_user_id": 0, "invalid_timestamp": 2}
    done.duration_s = 1.25
    ledger.mark_dirty({D1, D2})
    ledger.complete(FILE, claim, done)
    exported = ledger.items()
    for item in exported:
        ledger.db.delete_item(
            TableName="ledger", Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}}
        )
    assert ledger.items() == []
    ledger.put_items(exported)
    assert ledger.items() == exported
    assert ledger.get(FILE).status == DONE
    assert ledger.dirty_dates() == {D1: 1, D2: 1}


def test_versions_lists_every_version_of_a_key_oldest_claim_first(ledger):
    newer = FileVersion(FILE.bucket, FILE.key, "v2")
    ledger.claim(FILE, now=1000.0)
    ledger.claim(newer, now=2000.0)
    ledger.claim(FileVersion(FILE.bucket, "events/dt=2026-11-01/b.csv", "v1"), now=1500.0)
    assert [v.version for v in ledger.versions(FILE.bucket, FILE.key)] == ["v1", "v2"]


def date_item(day: str, dirty: int, loaded: int) -> dict:
    return {
        "pk": {"S": "dates"},
        "sk": {"S": day},
        "dirty_seq": {"N": str(dirty)},
        "loaded_seq": {"N": str(loaded)},
    }


def test_items_dynamodb_leaves_unprocessed_are_written_again():
    client = dynamodb_client()
    put = [{"PutRequest": {"Item": date_item(d, 2, 1)}} for d in ("2026-11-01", "2026-11-02")]
    with Stubber(client) as stub:
        stub.add_response(
            "batch_write_item",
            {"UnprocessedItems": {"ledger": put[1:]}},  # throttled: the second is left over
            {"RequestItems": {"ledger": put}},
        )
        stub.add_response(
            "batch_write_item", {"UnprocessedItems": {}}, {"RequestItems": {"ledger": put[1:]}}
        )
        items = [
            {"pk": "dates", "sk": d, "dirty_seq": 2, "loaded_seq": 1}
            for d in ("2026-11-01", "2026-11-02")
        ]
        DynamoLedger(client, "ledger").put_items(items)
        stub.assert_no_pending_responses()


def test_dirty_dates_are_read_from_every_page_of_the_query():
    client = dynamodb_client()
    query = {
        "TableName": "ledger",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "dates"}},
        "ConsistentRead": True,
    }
    last = {"pk": {"S": "dates"}, "sk": {"S": "2026-11-01"}}
    with Stubber(client) as stub:
        stub.add_response(
            "query", {"Items": [date_item("2026-11-01", 2, 1)], "LastEvaluatedKey": last}, query
        )
        stub.add_response(
            "query",
            {"Items": [date_item("2026-11-02", 3, 3)]},
            {**query, "ExclusiveStartKey": last},
        )
        dirty = DynamoLedger(client, "ledger").dirty_dates()
        stub.assert_no_pending_responses()
    assert dirty == {D1: 2}
