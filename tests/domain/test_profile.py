"""Source profiles: validation with errors naming the file and the key, binding by key, and
the mapping's own decisions (event types, exclusions, time zones, decimal commas)."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from retail_etl.domain.catalog import ProductHistory
from retail_etl.domain.contract import drop_date
from retail_etl.domain.errors import FileRejected
from retail_etl.domain.events import clean_events_file
from retail_etl.domain.profile import ProfileError, profile_from_dict, source_of
from retail_etl.domain.report import FileReport

EVENTS = {
    "columns": {
        "user_id": "uid",
        "product_id": "sku",
        "event_type": "action",
        "event_timestamp": "when",
    }
}


def profile(**extra):
    return profile_from_dict({"name": "shop", "events": EVENTS, **extra}, "sources/shop.yaml")


def test_a_key_names_its_source_and_keeps_its_drop_date():
    key = "events/source=rees46/dt=2026-11-01/part-1.csv"
    assert source_of(key) == "rees46"
    assert drop_date(key) == dt.date(2026, 11, 1)
    assert source_of("products/source=uci_online_retail/p.csv") == "uci_online_retail"
    assert source_of("events/dt=2026-11-01/a.csv") is None
    assert source_of("events/dt=2026-11-01/source=x.csv") is None  # a file name, not a folder


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "shop"}, "(top level): Value error, a profile needs an `events`"),
        ({"name": "Shop!", "events": EVENTS}, "name: String should match pattern"),
        ({"name": "shop", "events": {"columns": {"user": "u"}}}, "events: Value error, 'user' is"),
        (
            {"name": "shop", "events": {"columns": {"user_id": "u"}}},
            "required contract column(s) ['product_id', 'event_type', 'event_timestamp']",
        ),
        (
            {"name": "shop", "events": {**EVENTS, "event_types": {"cart": "basket"}}},
            "event_types['cart'] = 'basket' is not one of",
        ),
        (
            {"name": "shop", "events": EVENTS, "timestamps": {"timezone": "Europe/Londn"}},
            "timestamps.timezone: Value error, unknown time zone 'Europe/Londn'",
        ),
        (
            {"name": "shop", "events": EVENTS, "file": {"encoding": "utf-16"}},
            "file.encoding: Value error, must be one of utf-8, cp1252",
        ),
        (
            {"name": "shop", "events": EVENTS, "file": {"delimiter": ";;"}},
            "file.delimiter: Value error, must be one character",
        ),
        (
            {
                "name": "shop",
                "events": {**EVENTS, "exclude_rows": [{"column": "uid", "pattern": "(?!x)"}]},
            },
            "events.exclude_rows.0.pattern: Value error, lookarounds and backreferences",
        ),
        (
            {"name": "shop", "events": EVENTS, "surprise": 1},
            "surprise: Extra inputs are not permitted",
        ),
        (
            {
                "name": "shop",
                "events": {**EVENTS, "columns": {**EVENTS["columns"], "unit_price": "p"}},
            },
            "events carrying their own unit_price need a category too",
        ),
    ],
)
def test_an_invalid_profile_names_the_file_and_the_key(data, message):
    with pytest.raises(ProfileError) as err:
        profile_from_dict(data, "sources/shop.yaml")
    assert "sources/shop.yaml: " in str(err.value)
    assert message in str(err.value)


def run(text: str, prof, key="events/source=shop/dt=2026-11-01/a.csv", **kw):
    report = FileReport(key=key, kind="events")
    batches = list(
        clean_events_file(
            io.BytesIO(text.encode()), key, ProductHistory(), 0, report, profile=prof, **kw
        )
    )
    rows = [r for b in batches for r in b.quarantine.to_pylist()]
    parked = [r for b in batches for r in b.parked.to_pylist()]
    return report, parked, rows


def test_event_types_are_mapped_excluded_or_left_unknown_and_every_row_is_counted():
    prof = profile(
        events={
            **EVENTS,
            "event_types": {"Cart": "add_to_cart", "detail": "view"},
            "exclude_event_types": ["remove_from_cart"],
            "exclude_rows": [{"column": "uid", "pattern": "^bot-"}],
        }
    )
    text = (
        "uid,sku,action,when,extra\n"
        "u1,p1,cart,2026-11-01T10:00:00Z,x\n"
        "u1,p1, DETAIL ,2026-11-01T10:00:01Z,x\n"
        "u1,p1,remove_from_cart,2026-11-01T10:00:02Z,x\n"
        "bot-7,p1,detail,2026-11-01T10:00:03Z,x\n"
        "u1,p1,click,2026-11-01T10:00:04Z,x\n"
    )
    report, parked, quarantine = run(text, prof)
    assert [r["event_type"] for r in parked] == ["add_to_cart", "view"]
    assert report.rows_excluded == 2 and report.rows_in == 5
    assert dict(report.rows_quarantined) == {"unknown_product": 2, "unknown_event_type": 1}
    assert report.reconciles() and report.unused_columns == {"extra"}
    assert [r["line_number"] for r in quarantine if r["reason"] == "unknown_event_type"] == [6]


def test_naive_times_are_in_the_profile_zone_and_zoned_ones_keep_their_offset():
    prof = profile(timestamps={"timezone": "America/New_York"})
    text = (
        "uid,sku,action,when\n"
        "u1,p1,view,2026-07-01 12:00:00\n"  # EDT, UTC-4
        "u1,p1,view,2026-12-01 12:00:00\n"  # EST, UTC-5
        "u1,p1,view,2026-07-01T12:00:00+02:00\n"
        "u1,p1,view,1795182312\n"
        "u1,p1,view,yesterday\n"
    )
    _, parked, quarantine = run(text, prof)
    in_file_order = sorted(parked, key=lambda r: r["line_number"])
    assert [r["event_ts"].isoformat() for r in in_file_order] == [
        "2026-07-01T16:00:00+00:00",
        "2026-12-01T17:00:00+00:00",
        "2026-07-01T10:00:00+00:00",
        dt.datetime.fromtimestamp(1795182312, dt.UTC).isoformat(),
    ]
    assert [r["reason"] for r in quarantine][-1] == "invalid_timestamp"


def test_a_profile_with_hashing_and_no_salt_rejects_the_file():
    with pytest.raises(FileRejected) as err:
        run("uid,sku,action,when\n", profile(hash_user_ids=True))
    assert err.value.code == "missing_hash_salt"


def test_an_events_file_of_a_products_only_profile_is_rejected():
    prof = profile_from_dict(
        {
            "name": "cat",
            "products": {"columns": {"product_id": "a", "category": "b", "price": "c"}},
        },
        "cat.yaml",
    )
    with pytest.raises(FileRejected) as err:
        run("a,b,c\n", prof)
    assert err.value.code == "unknown_source"


def test_delimiter_quote_and_decimal_comma_prices_on_events():
    prof = profile(
        file={"delimiter": ";", "quote": "'", "decimal_comma": True},
        events={
            "columns": {**EVENTS["columns"], "unit_price": "price"},
            "constants": {"category": "all"},
        },
    )
    text = (
        "uid;sku;action;when;price\n"
        "u1;'p;1';purchase;2026-11-01T10:00:00Z;1.234,565\n"
        "u2;p2;purchase;2026-11-01T10:00:00Z;\n"
        "u3;p3;purchase;2026-11-01T10:00:00Z;12,x\n"
    )
    report = FileReport(key="events/source=shop/a.csv", kind="events")
    batches = list(
        clean_events_file(
            io.BytesIO(text.encode()), report.key, ProductHistory(), 0, report, profile=prof
        )
    )
    curated = [r for b in batches for r in b.curated.to_pylist()]
    assert [(r["product_id"], str(r["unit_price"]), r["category"]) for r in curated] == [
        ("p;1", "1234.57", "all")
    ]
    assert dict(report.rows_quarantined) == {"missing_price": 1, "invalid_price": 1}


def test_a_header_only_file_of_a_profile_with_constants_reconciles_with_zero_rows():
    prof = profile_from_dict(
        {
            "name": "orders",
            "events": {
                "columns": {"user_id": "u", "product_id": "p", "event_timestamp": "t"},
                "constants": {"event_type": "purchase"},
            },
        },
        "orders.yaml",
    )
    report, parked, quarantine = run("u,p,t\n", prof)
    assert (report.rows_in, parked, quarantine) == (0, [], [])
    assert report.reconciles()


@pytest.mark.parametrize(
    "value",
    ["99999999999999999", "999999999999999999999", "1", "0", "-5", "1e9", "31/12/9999 23:59"],
)
def test_hostile_profile_timestamps_are_invalid_never_a_crash(value):
    prof = profile(timestamps={"formats": ["epoch_s", "%d/%m/%Y %H:%M"], "timezone": "Asia/Tokyo"})
    report, _, quarantine = run(f"uid,sku,action,when\nu1,p1,view,{value}\n", prof)
    assert [r["reason"] for r in quarantine] == ["invalid_timestamp"]
    assert report.reconciles()
