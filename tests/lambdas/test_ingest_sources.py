"""The ingest Lambda on emulated AWS with `source=` keys: the shipped profiles, the ledger's
record of excluded rows and unused columns, products seen on event rows in the history."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from retail_etl.adapters.ledger import DONE, FAILED_PERMANENT
from retail_etl.adapters.tables import from_source
from retail_etl.daily import refresh_day
from retail_etl.domain import lake
from tests.lambdas.test_ingest_handler import drop_and_ingest

SAMPLES = Path(__file__).resolve().parents[1] / "domain" / "samples"
REES46_KEY = "events/source=rees46/dt=2019-11-01/2019-Nov-part-000.csv"


def test_a_source_key_is_read_through_its_profile_and_its_products_enter_the_history(account):
    reply, file = drop_and_ingest(account, REES46_KEY, (SAMPLES / "rees46.csv").read_bytes())
    assert reply == {"batchItemFailures": []}
    item = account.ledger.get(file)
    assert item.status == DONE and item.source == "rees46"
    assert (item.rows_in, item.rows_curated, item.rows_duplicate, item.rows_excluded) == (
        15,
        11,
        1,
        1,
    )
    assert item.rows_quarantined == {"invalid_price": 1, "missing_user_id": 1}
    assert item.reconciles() and item.unused_columns == []
    assert item.event_dates == ["2019-11-01", "2019-11-02"]

    # the products seen on the rows: the last row per product and event date
    versions = account.rows(lake.PRODUCT_HISTORY, from_source(REES46_KEY))
    by_product_day = {(v["product_id"], v["effective_date"].isoformat()): v for v in versions}
    assert by_product_day[("3601530", "2019-11-01")]["price"] == Decimal("705.50")
    assert by_product_day[("1003461", "2019-11-01")]["price"] == Decimal("480.00")
    assert len(versions) == 6  # 4 products on 2019-11-01, 2 on 2019-11-02

    # a contract file's event of that product and day is enriched from those versions
    contract_key = "events/dt=2019-11-01/shop.csv"
    drop_and_ingest(
        account,
        contract_key,
        "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
        "x1,U9,3601530,purchase,2019-11-01T12:00:00Z,2\n",
    )
    refresh_day("2019-11-01", account.lake)
    curated = account.rows(lake.CURATED_EVENTS)
    mine = [r for r in curated if r["source_file"] == contract_key]
    assert [(r["unit_price"], r["revenue"]) for r in mine] == [
        (Decimal("705.50"), Decimal("1411.00"))
    ]
    # ...while the refresh keeps every event's own price
    own = {
        (r["event_type"], str(r["event_ts"])): r["unit_price"]
        for r in curated
        if r["source_file"] == REES46_KEY and r["product_id"] == "3601530"
    }
    assert sorted(own.values()) == [Decimal("705.50"), Decimal("712.87")]


def test_an_unknown_source_is_a_permanent_failure_with_its_code(account):
    reply, file = drop_and_ingest(account, "events/source=nosuchshop/dt=2026-11-01/a.csv", "a\n")
    assert reply == {"batchItemFailures": []}
    item = account.ledger.get(file)
    assert item.status == FAILED_PERMANENT and item.error_code == "unknown_source"
    assert "nosuchshop" in item.error_message


def test_columns_no_profile_reads_are_listed_in_the_ledger(account):
    key = "events/source=uci_online_retail/dt=2010-12-01/invoices.csv"
    _, file = drop_and_ingest(account, key, (SAMPLES / "uci_online_retail.csv").read_bytes())
    item = account.ledger.get(file)
    assert item.status == DONE and item.unused_columns == ["country"]
    assert (item.rows_in, item.rows_curated, item.rows_excluded) == (16, 11, 2)
    assert item.reconciles()
