"""Hostile input through the ingest Lambda on emulated AWS: every byte pattern ends in a ledger
decision (DONE with quarantined rows, or FAILED_PERMANENT with a code), never a retry; and
only the project's buckets feed ingest."""

from __future__ import annotations

import gzip

import pytest

from retail_etl.adapters.ledger import DONE, FAILED_PERMANENT, FileVersion
from retail_etl.domain import lake
from tests.lambdas.conftest import eventbridge_message, invoke

PRODUCTS = "product_id,product_name,category,price\nP1,Phone,electronics,100.00\n"
HEAD = b"event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
ROW = b"e%d,U1,P1,purchase,2026-11-01T10:00:00Z,1"
GOOD = b"\n".join(ROW % i for i in range(3)) + b"\n"
DEEP = b"[" * 100_000 + b"]" * 100_000

# (id, key, body, expected status, expected error code or quarantine counts)
HOSTILE = [
    ("cr-only-lines", "a.csv", HEAD.replace(b"\n", b"\r") + GOOD.replace(b"\n", b"\r"), DONE, {}),
    (
        "stray-cr-in-a-row",
        "a.csv",
        HEAD + GOOD + b"e9,U1,P1,vi\rew,2026-11-01T10:00:00Z,1\n" + ROW % 4 + b"\n",
        DONE,
        {"malformed_row": 1},
    ),
    (
        "json-nested-100k-deep",
        "a.jsonl",
        b'{"event_id": "e1", "user_id": "U1", "product_id": "P1", "event_type": "view", '
        b'"event_timestamp": "2026-11-01T10:00:00Z", "x": ' + DEEP + b"}\n" + DEEP + b"\n",
        DONE,
        {"malformed_row": 2},
    ),
    (
        "gzip-64MiB-without-newline",
        "a.csv.gz",
        gzip.compress(HEAD + b"x" * (64 << 20), 1),
        FAILED_PERMANENT,
        "line_too_long",
    ),
    (
        "gzip-bomb-of-newlines",
        "a.csv.gz",
        gzip.compress(HEAD + b"\n" * (80 << 20), 9),
        FAILED_PERMANENT,
        "compression_bomb",
    ),
    (
        "header-field-over-128KiB",
        "a.csv",
        b"user_id," + b"x" * 200_000 + b"\n" + GOOD,
        FAILED_PERMANENT,
        "invalid_header",
    ),
    (
        "revenue-over-decimal-14-2",
        "a.csv",
        HEAD + GOOD + b"e8,U1,P1,purchase,2026-11-01T10:00:00Z,10000\n",
        DONE,
        {},
    ),
    ("nul-bytes", "a.csv", HEAD + b"e1,U\x001,P1,view,2026-11-01T10:00:00Z,1\n", DONE, {}),
    (
        "truncated-gzip",
        "a.csv.gz",
        gzip.compress(HEAD + GOOD)[:-9],
        FAILED_PERMANENT,
        "corrupt_compression",
    ),
    (
        "gzip-with-trailing-garbage",
        "a.csv.gz",
        gzip.compress(HEAD + GOOD) + b"junk",
        FAILED_PERMANENT,
        "corrupt_compression",
    ),
    (
        "overlong-utf8",
        "a.csv",
        HEAD + b"e1,\xc0\xaf,P1,view,2026-11-01T10:00:00Z,1\n",
        FAILED_PERMANENT,
        "invalid_encoding",
    ),
    ("only-a-bom", "a.csv", b"\xef\xbb\xbf", FAILED_PERMANENT, "empty_file"),
    (
        "json-lone-surrogate-and-nan",
        "a.jsonl",
        b'{"user_id": "\\ud800"}\n{"quantity": NaN}\n',
        DONE,
        {"malformed_row": 2},
    ),
    (
        "epoch-and-quantity-overflow",
        "a.csv",
        HEAD
        + b"e1,U1,P1,view,99999999999999999999,1\ne2,U1,P1,view,2026-11-01T10:00:00Z,"
        + b"9" * 30
        + b"\n",
        DONE,
        {"invalid_timestamp": 1, "invalid_quantity": 1},
    ),
]


@pytest.fixture
def with_products(account):
    key = "products/dt=2026-11-01/p.csv"
    version = account.drop(key, PRODUCTS)
    assert invoke(eventbridge_message(account.settings.raw_bucket, key, version)) == {
        "batchItemFailures": []
    }
    return account


@pytest.mark.parametrize(
    ("name", "key", "body", "status", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE]
)
def test_hostile_bytes_end_in_a_ledger_decision_not_a_retry(
    with_products, name, key, body, status, expected
):
    account = with_products
    key = f"events/dt=2026-11-01/{key}"
    version = account.drop(key, body)
    reply = invoke(eventbridge_message(account.settings.raw_bucket, key, version))
    assert reply == {"batchItemFailures": []}
    item = account.ledger.get(FileVersion(account.settings.raw_bucket, key, version))
    assert item.status == status
    if status == FAILED_PERMANENT:
        assert item.error_code == expected
        assert key in item.error_message
    else:
        quarantined = {k: v for k, v in item.rows_quarantined.items() if k != "unknown_product"}
        if name == "revenue-over-decimal-14-2":
            expected = {"amount_out_of_range": 0}  # 100.00 x 10,000 fits
        assert quarantined == {k: v for k, v in expected.items() if v}
        assert item.rows_in == (
            item.rows_curated + sum(item.rows_quarantined.values()) + item.rows_duplicate
        )


def test_a_revenue_that_would_wrap_is_quarantined_through_the_handler(account):
    products = "product_id,product_name,category,price\nP1,Yacht,boats,150000000.00\n"
    key = "products/dt=2026-11-01/p.csv"
    invoke(eventbridge_message(account.settings.raw_bucket, key, account.drop(key, products)))
    key = "events/dt=2026-11-01/a.csv"
    body = HEAD + b"e1,U1,P1,purchase,2026-11-01T10:00:00Z,10000\n" + ROW % 2 + b"\n"
    version = account.drop(key, body)
    invoke(eventbridge_message(account.settings.raw_bucket, key, version))
    item = account.ledger.get(FileVersion(account.settings.raw_bucket, key, version))
    assert (item.status, item.rows_quarantined) == (DONE, {"amount_out_of_range": 1})
    curated = account.rows(lake.CURATED_EVENTS)
    assert [str(r["revenue"]) for r in curated] == ["150000000.00"]


def test_the_line_limit_comes_from_the_lambda_environment(account, monkeypatch):
    monkeypatch.setenv("RETAIL_ETL_MAX_LINE_BYTES", "100")
    key = "events/dt=2026-11-01/a.csv"
    version = account.drop(key, HEAD + GOOD + b"e9," + b"u" * 200 + b"\n")
    assert invoke(eventbridge_message(account.settings.raw_bucket, key, version)) == {
        "batchItemFailures": []
    }
    item = account.ledger.get(FileVersion(account.settings.raw_bucket, key, version))
    assert (item.status, item.error_code) == (FAILED_PERMANENT, "line_too_long")
    assert "line 5 " in item.error_message


def test_an_object_in_a_foreign_bucket_is_rejected_logged_counted_and_not_retried(
    with_products, capfd, caplog
):
    """On main, a products file from another bucket set P1's price to 0.01."""
    account = with_products
    history_before = account.lake.read(lake.PRODUCT_HISTORY)
    files_before = account.ledger.files()
    account.s3.create_bucket(
        Bucket="someone-elses-bucket",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    key = "products/dt=2026-11-02/p.csv"
    account.s3.put_object(
        Bucket="someone-elses-bucket",
        Key=key,
        Body=b"product_id,product_name,category,price\nP1,Phone,electronics,0.01\n",
    )
    capfd.readouterr()
    reply = invoke(eventbridge_message("someone-elses-bucket", key))
    assert reply == {"batchItemFailures": []}  # acknowledged: never retried, never in the DLQ
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [(r.getMessage(), r.bucket, r.key) for r in errors] == [
        (
            "object from a foreign bucket rejected, not read and not retried",
            "someone-elses-bucket",
            key,
        )
    ]
    assert '"ForeignBucketRejected":[1.0]' in capfd.readouterr().out
    assert account.ledger.files() == files_before
    after = account.lake.read(lake.PRODUCT_HISTORY)
    assert after.equals(history_before)
    assert str(after["price"][0]) == "100.00"


def test_the_projects_own_buckets_may_feed_ingest_for_replays(account):
    settings = account.settings
    assert settings.source_buckets == {
        settings.raw_bucket,
        settings.curated_bucket,
        settings.analytics_bucket,
    }
    key = "products/dt=2026-11-01/p.csv"
    account.s3.put_object(Bucket=settings.curated_bucket, Key=key, Body=PRODUCTS.encode())
    assert invoke(eventbridge_message(settings.curated_bucket, key)) == {"batchItemFailures": []}
    assert [r.status for r in account.ledger.files()] == [DONE]
