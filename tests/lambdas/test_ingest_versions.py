"""A key overwritten with a new version: the newest version's output replaces the older one's."""

from __future__ import annotations

import datetime as dt

from retail_etl.adapters.ledger import DONE, SUPERSEDED, FileVersion
from retail_etl.daily import refresh_day
from retail_etl.domain import lake
from tests.lambdas.conftest import eventbridge_message, invoke
from tests.lambdas.test_ingest_handler import (
    EVENTS,
    EVENTS_KEY,
    PRODUCTS,
    curated_rows,
    drop_and_ingest,
)

CORRECTED = (
    "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
    "e2,U1,P1,purchase,2026-11-02T10:01:00Z,3\n"
    "e9,U3,P2,view,2026-11-02T11:00:00Z,\n"
)


def test_a_corrected_version_replaces_the_earlier_versions_rows_and_dirties_both_dates(account):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    _, first = drop_and_ingest(account, EVENTS_KEY, EVENTS)
    for day, seq in account.ledger.dirty_dates().items():
        account.ledger.mark_loaded(day, seq)
    reply, second = drop_and_ingest(account, EVENTS_KEY, CORRECTED)
    assert reply == {"batchItemFailures": []}
    assert [(r["event_id"], r["quantity"]) for r in curated_rows(account)] == [("e2", 3), ("e9", 1)]
    assert not account.rows(lake.PARKED_EVENTS)  # the first version's parked P9 view is gone
    assert account.ledger.get(first).status == SUPERSEDED
    assert account.ledger.get(second).status == DONE
    # the first version's dates lose rows, the second's gain them: all must be re-aggregated
    assert set(account.ledger.dirty_dates()) == {
        dt.date(2026, 10, 30),
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 2),
    }


def test_an_older_version_delivered_after_a_newer_one_publishes_nothing(account):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    old = account.drop(EVENTS_KEY, EVENTS)
    _, newer = drop_and_ingest(account, EVENTS_KEY, CORRECTED)
    reply = invoke(eventbridge_message(account.settings.raw_bucket, EVENTS_KEY, old))
    assert reply == {"batchItemFailures": []}
    item = account.ledger.get(FileVersion(account.settings.raw_bucket, EVENTS_KEY, old))
    assert item.status == SUPERSEDED and item.rows_in == 6  # counted, not published
    assert account.ledger.get(newer).status == DONE
    assert [r["event_id"] for r in curated_rows(account)] == ["e2", "e9"]


def test_an_older_products_version_never_overwrites_the_newer_history(account):
    key = "products/dt=2026-11-01/p.csv"
    old = account.drop(key, PRODUCTS)
    drop_and_ingest(account, key, PRODUCTS.replace("100.00", "80.00"))
    assert invoke(eventbridge_message(account.settings.raw_bucket, key, old)) == {
        "batchItemFailures": []
    }
    prices = {r["product_id"]: str(r["price"]) for r in account.rows(lake.PRODUCT_HISTORY)}
    assert prices["P1"] == "80.00"
    item = account.ledger.get(FileVersion(account.settings.raw_bucket, key, old))
    assert item.status == SUPERSEDED


def test_rows_released_from_the_earlier_versions_parked_events_are_replaced_too(account):
    drop_and_ingest(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop_and_ingest(account, EVENTS_KEY, EVENTS)
    drop_and_ingest(account, "products/dt=2026-11-01/p9.csv", PRODUCTS + "P9,Lamp,home,20\n")
    refresh_day("2026-11-01", account.lake)
    assert "e4" in [r["event_id"] for r in curated_rows(account)]  # released from parked
    assert not account.rows(lake.PARKED_EVENTS)
    drop_and_ingest(account, EVENTS_KEY, CORRECTED)
    assert [r["event_id"] for r in curated_rows(account)] == ["e2", "e9"]


def test_a_corrected_products_file_reprices_and_removes_on_the_next_refresh(account):
    key = "products/dt=2026-11-01/p.csv"
    drop_and_ingest(account, key, PRODUCTS)
    drop_and_ingest(account, EVENTS_KEY, EVENTS)
    for day, seq in account.ledger.dirty_dates().items():
        account.ledger.mark_loaded(day, seq)
    # P1 repriced, P2 removed: both dates with their events become dirty
    _, corrected = drop_and_ingest(account, key, "product_id,category,price\nP1,phones,90\n")
    assert account.ledger.get(corrected).event_dates == ["2026-10-30", "2026-11-01"]
    assert set(account.ledger.dirty_dates()) == {dt.date(2026, 10, 30), dt.date(2026, 11, 1)}
    for day in ("2026-10-30", "2026-11-01"):
        refresh_day(day, account.lake)
    rows = {r["event_id"]: (r["category"], str(r["revenue"])) for r in curated_rows(account)}
    assert rows == {"e1": ("phones", "None"), "e2": ("phones", "180.00")}
    # e3 (P2, now without any version) waits in parked with e4
    assert [r["event_id"] for r in account.rows(lake.PARKED_EVENTS)] == ["e3", "e4"]
