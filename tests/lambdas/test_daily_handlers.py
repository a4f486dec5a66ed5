"""The daily tasks against emulated AWS: plan, aggregate_day, load_warehouse, mark_loaded."""

from __future__ import annotations

import datetime as dt

import pytest

from lambdas.daily import handler as daily_handler
from retail_etl.adapters.tables import on_date
from retail_etl.daily import load_request
from retail_etl.domain import lake
from tests.lambdas.conftest import LambdaContext, eventbridge_message, invoke

PRODUCTS = "product_id,product_name,category,price\nP1,Phone,electronics,100.00\nP2,Book,books,5\n"
HEADER = "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


@pytest.fixture(autouse=True)
def _fresh_clients():
    for f in (
        daily_handler.settings,
        daily_handler.store,
        daily_handler.ledger,
        daily_handler.tables,
    ):
        f.cache_clear()
    yield


def drop(account, key: str, body: str) -> None:
    version = account.drop(key, body)
    assert invoke(eventbridge_message(account.settings.raw_bucket, key, version)) == {
        "batchItemFailures": []
    }


def call(task, event: dict) -> dict:
    return task(event, LambdaContext())


def events_file(*rows: str) -> str:
    return HEADER + "".join(r + "\n" for r in rows)


def test_plan_covers_the_run_date_and_every_dirty_date_with_its_engine(account, monkeypatch):
    drop(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop(
        account,
        "events/dt=2026-11-02/a.csv",
        events_file("e1,U1,P1,view,2026-11-02T10:00:00Z,", "e2,U1,P1,view,2026-11-01T10:00:00Z,"),
    )
    out = call(daily_handler.plan, {"run_date": "2026-11-03"})
    assert [d["date"] for d in out["dates"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    # each date is marked before the file's rows are published and again after
    assert {d["date"]: d["dirty_seq"] for d in out["dates"]} == {
        "2026-11-01": 2,
        "2026-11-02": 2,
        "2026-11-03": 0,
    }
    assert all(d["engine"] == "lambda" for d in out["dates"])
    assert out["dates"][2]["curated_bytes"] == 0
    monkeypatch.setenv("RETAIL_ETL_GLUE_THRESHOLD_BYTES", "100")
    daily_handler.settings.cache_clear()
    engines = {
        d["date"]: d["engine"]
        for d in call(daily_handler.plan, {"run_date": "2026-11-03"})["dates"]
    }
    assert engines == {"2026-11-01": "glue", "2026-11-02": "glue", "2026-11-03": "lambda"}


def test_plan_defaults_to_yesterday():
    from retail_etl.daily import default_run_date

    assert default_run_date(dt.date(2026, 3, 1)) == dt.date(2026, 2, 28)


def test_after_a_load_only_re_dirtied_dates_are_planned_again(account):
    drop(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop(account, "events/dt=2026-11-02/a.csv", events_file("e1,U1,P1,view,2026-11-02T10:00:00Z,"))
    planned = call(daily_handler.plan, {"run_date": "2026-11-02"})
    # a late file for 2026-11-01 arrives while the load runs; 2026-11-02 is untouched
    drop(
        account, "events/dt=2026-11-03/late.csv", events_file("e9,U1,P1,view,2026-11-01T09:00:00Z,")
    )
    assert call(daily_handler.mark_loaded, planned) == {"clean": ["2026-11-02"], "still_dirty": []}
    again = call(daily_handler.plan, {"run_date": "2026-11-03"})
    assert [d["date"] for d in again["dates"]] == ["2026-11-01", "2026-11-03"]
    assert call(daily_handler.mark_loaded, again) == {"clean": ["2026-11-01"], "still_dirty": []}


def test_a_date_dirtied_again_during_the_load_stays_dirty(account):
    drop(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop(account, "events/dt=2026-11-02/a.csv", events_file("e1,U1,P1,view,2026-11-02T10:00:00Z,"))
    planned = call(daily_handler.plan, {"run_date": "2026-11-02"})
    drop(account, "events/dt=2026-11-02/b.csv", events_file("e2,U1,P1,view,2026-11-02T11:00:00Z,"))
    assert call(daily_handler.mark_loaded, planned) == {"clean": [], "still_dirty": ["2026-11-02"]}
    assert [d["date"] for d in call(daily_handler.plan, {"run_date": "2026-11-02"})["dates"]] == [
        "2026-11-02"
    ]


def test_aggregate_day_replaces_only_its_own_date(account):
    drop(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop(
        account,
        "events/dt=2026-11-02/a.csv",
        events_file(
            "e1,U1,P1,purchase,2026-11-01T10:00:00Z,1",
            "e2,U1,P1,purchase,2026-11-02T10:00:00Z,2",
            "e3,U1,P2,purchase,2026-11-02T11:00:00Z,1",
        ),
    )
    out = call(daily_handler.aggregate_day, {"date": "2026-11-01"})
    assert out["rows"]["daily_category_revenue"] == 1
    call(daily_handler.aggregate_day, {"date": "2026-11-02"})
    revenue = lake.AGGREGATES["daily_category_revenue"]
    first = account.lake.data_files(revenue, on_date("2026-11-01"))
    drop(
        account,
        "events/dt=2026-11-03/b.csv",
        events_file("e4,U2,P2,purchase,2026-11-02T12:00:00Z,3"),
    )
    call(daily_handler.aggregate_day, {"date": "2026-11-02"})
    assert account.lake.data_files(revenue, on_date("2026-11-01")) == first
    table = account.rows(revenue, on_date("2026-11-02"))
    assert {r["category"]: (str(r["revenue"]), r["units"]) for r in table} == {
        "books": ("20.00", 4),
        "electronics": ("200.00", 2),
    }
    assert call(daily_handler.aggregate_day, {"date": "2026-11-05"})["rows"] == {
        "daily_category_revenue": 0,
        "daily_top_viewed_products": 0,
        "daily_multi_purchase_users": 0,
    }


def test_load_request_lists_each_dates_current_data_files_in_a_copy_manifest(account):
    import json

    drop(account, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop(account, "events/dt=2026-11-02/a.csv", events_file("e1,U1,P1,view,2026-11-02T10:00:00Z,"))
    call(daily_handler.aggregate_day, {"date": "2026-11-02"})
    request = load_request(
        ["2026-11-02", "2026-11-04"], account.settings, account.store, account.lake
    )
    facts = request.source("fact_events", D2)
    current = [f.path for f in account.lake.data_files(lake.CURATED_EVENTS, on_date("2026-11-02"))]
    assert facts.files == current
    bucket, _, key = facts.manifest.removeprefix("s3://").partition("/")
    manifest = json.loads(account.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert [e["url"] for e in manifest["entries"]] == current
    assert all(e["mandatory"] and e["meta"]["content_length"] > 0 for e in manifest["entries"])
    assert request.source("fact_events", dt.date(2026, 11, 4)) is None
    top = request.source("daily_top_viewed_products", D2)
    assert top.files and all("/aggregates/daily_top_viewed_products/" in f for f in top.files)
    assert all("/curated/product_history/" in f for f in request.source("dim_product", None).files)
