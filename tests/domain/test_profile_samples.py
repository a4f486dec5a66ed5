"""The shipped profiles over small hand-written files in the published layouts of three real
exports, checked against an oracle: DuckDB SQL over the raw file that maps it as the profile
(and docs/sources.md) says, then applies the contract's rules and the aggregates' definitions.
Nothing of the code under test computes an expected number.

Samples (tests/domain/samples/): REES46 multi-category store events (`cart`,
`remove_from_cart`, " UTC" times, prices on rows, empty category_code); UCI Online Retail
invoice lines (Latin-1, UK local time across both 2011 DST changes, cancellations C… with
negative quantities, a missing CustomerID, a quantity over the contract's bound, bad debt
with a negative price); a GA4-style JSON Lines export (event_name, epoch microseconds) with
its item catalogue as a `;`-separated, decimal-comma products file.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from retail_etl.adapters.sources import load_profiles
from retail_etl.domain.aggregate import compute_aggregates
from retail_etl.domain.catalog import ProductHistory
from retail_etl.domain.contract import CURATED_EVENTS
from retail_etl.domain.events import clean_events_file
from retail_etl.domain.products import clean_products_file
from retail_etl.domain.report import FileReport

SAMPLES = Path(__file__).parent / "samples"
PROFILES = load_profiles(Path(__file__).resolve().parents[2] / "sources")
INGESTED_AT_US = 1_793_577_600_000_000


def run_events(name: str, sample: str, history: ProductHistory | None = None, profile=None):
    key = f"events/source={name}/dt=2026-11-01/{sample}"
    report = FileReport(key=key, kind="events")
    batches = list(
        clean_events_file(
            (SAMPLES / sample).open("rb"),
            key,
            history or ProductHistory(),
            INGESTED_AT_US,
            report,
            profile=profile or PROFILES[name],
        )
    )
    curated = pa.concat_tables([CURATED_EVENTS.empty_table(), *(b.curated for b in batches)])
    return report, curated, batches


def aggregates_of(curated: pa.Table) -> dict[str, list[tuple]]:
    out = {}
    for name, table in compute_aggregates(curated).items():
        out[name] = [tuple(r.values()) for r in table.to_pylist()]
    return out


def oracle(sql_mapped: str) -> dict:
    """Outcome counts and the aggregates from `mapped`: one row per source record with
    line, excluded, user_id, product_id, event_type, ts (UTC), quantity, session_id,
    price (text), category."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TEMP VIEW mapped AS {sql_mapped}")
    con.execute(
        """
        CREATE TEMP VIEW checked AS
        SELECT *,
          CASE
            WHEN excluded THEN 'excluded'
            WHEN user_id IS NULL THEN 'missing_user_id'
            WHEN product_id IS NULL THEN 'missing_product_id'
            WHEN event_type NOT IN ('view', 'add_to_cart', 'wishlist', 'purchase')
              THEN 'unknown_event_type'
            WHEN ts IS NULL THEN 'invalid_timestamp'
            WHEN NOT regexp_full_match(coalesce(quantity, '1'), '[0-9]+')
              OR coalesce(quantity, '1')::BIGINT NOT BETWEEN 1 AND 10000 THEN 'invalid_quantity'
            WHEN price IS NOT NULL AND NOT regexp_full_match(price, '[0-9]+(\\.[0-9]+)?')
              THEN 'invalid_price'
            ELSE 'ok'
          END AS outcome
        FROM mapped
        """
    )
    # the first of identical rows is kept (the derived event id hashes exactly these)
    con.execute(
        """
        CREATE TEMP VIEW curated AS
        SELECT * FROM (
          SELECT *, row_number() OVER (
            PARTITION BY user_id, product_id, event_type, ts, coalesce(quantity, '1'),
                         session_id ORDER BY line) AS copy
          FROM checked WHERE outcome = 'ok')
        WHERE copy = 1
        """
    )
    counts = dict(con.execute("SELECT outcome, count(*) FROM checked GROUP BY 1").fetchall())
    counts["duplicate"] = (
        con.execute("SELECT count(*) FROM checked WHERE outcome = 'ok'").fetchone()[0]
        - con.execute("SELECT count(*) FROM curated").fetchone()[0]
    )
    counts["rows_in"] = con.execute("SELECT count(*) FROM checked").fetchone()[0]
    revenue = con.execute(
        """
        SELECT CAST(ts AS DATE) AS d, category,
               sum(CAST(price AS DECIMAL(12, 2)) * CAST(coalesce(quantity, '1') AS INT)),
               count(*), sum(CAST(coalesce(quantity, '1') AS INT))
        FROM curated WHERE event_type = 'purchase' GROUP BY 1, 2 ORDER BY 1, 2
        """
    ).fetchall()
    multi = con.execute(
        """
        SELECT CAST(ts AS DATE), user_id, count(*),
               sum(CAST(price AS DECIMAL(12, 2)) * CAST(coalesce(quantity, '1') AS INT))
        FROM curated WHERE event_type = 'purchase' GROUP BY 1, 2 HAVING count(*) >= 2
        ORDER BY 1, 2
        """
    ).fetchall()
    views = con.execute(
        """
        SELECT d, rank, product_id, views FROM (
          SELECT CAST(ts AS DATE) AS d, product_id, count(*) AS views,
                 row_number() OVER (PARTITION BY CAST(ts AS DATE)
                                    ORDER BY count(*) DESC, product_id) AS rank
          FROM curated WHERE event_type = 'view' GROUP BY 1, 2)
        WHERE rank <= 3 ORDER BY 1, 2
        """
    ).fetchall()
    times = con.execute("SELECT line, ts FROM curated ORDER BY line").fetchall()
    return {"counts": counts, "revenue": revenue, "multi": multi, "views": views, "ts": times}


def outcome_counts(report: FileReport) -> dict:
    counts = dict(report.rows_quarantined)
    counts.update(
        {
            "ok": report.rows_curated + report.rows_duplicate,
            "excluded": report.rows_excluded,
            "duplicate": report.rows_duplicate,
            "rows_in": report.rows_in,
        }
    )
    return {k: v for k, v in counts.items() if v}


def assert_matches(report, curated, expected, priced=True):
    assert report.reconciles()
    assert outcome_counts(report) == {k: v for k, v in expected["counts"].items() if v}
    got = aggregates_of(curated)
    assert [(d, cat, rev, n, u) for d, cat, rev, n, u in got["daily_category_revenue"]] == [
        (d, cat, Decimal(rev).quantize(Decimal("0.01")), n, u)
        for d, cat, rev, n, u in expected["revenue"]
    ]
    assert [(d, u, n, s) for d, u, n, s in got["daily_multi_purchase_users"]] == [
        (d, u, n, Decimal(s).quantize(Decimal("0.01"))) for d, u, n, s in expected["multi"]
    ]
    assert [(d, r, p, v) for d, r, p, _, _, v in got["daily_top_viewed_products"]] == expected[
        "views"
    ]


def test_rees46_export_as_it_is(tmp_path):
    report, curated, batches = run_events("rees46", "rees46.csv")
    expected = oracle(
        f"""
        SELECT row_number() OVER () + 1 AS line,
               lower(trim(event_type)) = 'remove_from_cart' AS excluded,
               nullif(trim(user_id), '') AS user_id, nullif(trim(product_id), '') AS product_id,
               CASE lower(trim(event_type)) WHEN 'cart' THEN 'add_to_cart'
                    ELSE lower(trim(event_type)) END AS event_type,
               CAST(strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') AS TIMESTAMP) AS ts,
               NULL::VARCHAR AS quantity, user_session AS session_id, price,
               coalesce(nullif(category_code, ''), category_id) AS category
        FROM read_csv('{SAMPLES / "rees46.csv"}', all_varchar = true, header = true)
        """
    )
    assert_matches(report, curated, expected)
    # the figures, for the record
    assert outcome_counts(report) == {
        "rows_in": 15,
        "ok": 12,
        "duplicate": 1,
        "excluded": 1,
        "missing_user_id": 1,
        "invalid_price": 1,
    }
    assert report.unused_columns == set()
    by_type = {t: curated["event_type"].to_pylist().count(t) for t in ("add_to_cart", "view")}
    assert by_type == {"add_to_cart": 1, "view": 5}
    # the event's own price is its unit price: 712.87 viewed, 705.50 bought, same product
    prices = {
        (r["event_type"], r["product_id"]): r["unit_price"]
        for r in curated.to_pylist()
        if r["product_id"] == "3601530"
    }
    assert prices == {
        ("view", "3601530"): Decimal("712.87"),
        ("purchase", "3601530"): Decimal("705.50"),
    }
    # half-up to the cent, an empty category_code falls back to category_id
    rows = {r["event_ts"].isoformat(): r for r in curated.to_pylist()}
    assert rows["2019-11-02T00:00:03+00:00"]["unit_price"] == Decimal("293.66")
    assert rows["2019-11-01T00:00:08+00:00"]["category"] == "2053013553853497655"
    # products seen on the rows, for the history: one per product and event date
    seen = pa.concat_tables([b.products for b in batches])
    assert seen.num_rows == curated.num_rows


def test_uci_online_retail_invoice_lines_in_uk_local_time():
    report, curated, _ = run_events("uci_online_retail", "uci_online_retail.csv")
    london = "Europe/London"
    expected = oracle(
        f"""
        WITH src AS (
          SELECT row_number() OVER () + 1 AS line, *,
                 strptime(InvoiceDate, '%m/%d/%Y %H:%M') AS wall
          FROM read_csv('{SAMPLES / "uci_online_retail.csv"}', all_varchar = true,
                        header = true, encoding = 'latin-1')),
        zoned AS (
          SELECT *, CAST(timezone('{london}', wall) AS TIMESTAMP) AS icu FROM src),
        resolved AS (
          -- the profile's rules, written out: a repeated hour is its first (summer) pass,
          -- a skipped time the first instant after the gap
          SELECT *, CASE
              WHEN CAST(timezone('{london}', timezone('UTC', icu - INTERVAL 1 HOUR))
                        AS TIMESTAMP) = wall THEN icu - INTERVAL 1 HOUR
              WHEN CAST(timezone('{london}', timezone('UTC', icu)) AS TIMESTAMP) <> wall
                THEN CAST(timezone('{london}', date_trunc('hour', wall) + INTERVAL 1 HOUR)
                          AS TIMESTAMP)
              ELSE icu END AS ts_utc
          FROM zoned)
        SELECT line, starts_with(InvoiceNo, 'C') AS excluded,
               nullif(trim(CustomerID), '') AS user_id, nullif(trim(StockCode), '') AS product_id,
               'purchase' AS event_type, ts_utc AS ts, trim(Quantity) AS quantity,
               InvoiceNo AS session_id, trim(UnitPrice) AS price, 'online_retail' AS category
        FROM resolved
        """
    )
    assert_matches(report, curated, expected)
    assert outcome_counts(report) == {
        "rows_in": 16,
        "ok": 11,
        "excluded": 2,  # the two cancellations
        "missing_user_id": 2,
        "invalid_quantity": 1,
    }
    assert report.unused_columns == {"country"}
    times = {r["session_id"]: r["event_ts"] for r in curated.to_pylist()}
    utc = dt.UTC
    assert times["536365"] == dt.datetime(2010, 12, 1, 8, 26, tzinfo=utc)  # GMT
    assert times["560001"] == dt.datetime(2011, 6, 30, 22, 30, tzinfo=utc)  # BST
    assert times["540002"] == dt.datetime(2011, 3, 27, 1, 0, tzinfo=utc)  # skipped 01:30
    assert times["570001"] == dt.datetime(2011, 10, 30, 0, 30, tzinfo=utc)  # repeated 01:30
    assert times["570002"] == dt.datetime(2011, 10, 29, 23, 59, tzinfo=utc)  # the day before
    # every curated time as the oracle's SQL resolves it
    assert sorted(ts.replace(tzinfo=utc) for _, ts in expected["ts"]) == sorted(
        curated["event_ts"].to_pylist()
    )
    names = {r["product_id"]: r["product_name"] for r in curated.to_pylist()}
    assert names["22423"] == "REGENCY CAKESTAND 3 TIER £"  # Latin-1 decoded


def test_ga4_json_lines_with_a_decimal_comma_catalogue():
    key = "products/source=ga4/dt=2026-11-01/items.csv"
    products = FileReport(key=key, kind="products")
    catalogue = clean_products_file(
        (SAMPLES / "ga4_items.csv").open("rb"),
        key,
        INGESTED_AT_US,
        products,
        profile=PROFILES["ga4"],
    )
    assert products.reconciles() and products.rows_curated == 3
    history = ProductHistory()
    history.upsert(catalogue.versions, dt.date(2026, 11, 1), key, INGESTED_AT_US)
    report, curated, _ = run_events("ga4", "ga4.jsonl", history)
    expected = oracle(
        f"""
        WITH items AS (
          SELECT item_id, item_category,
                 replace(replace(price, '.', ''), ',', '.') AS price
          FROM read_csv('{SAMPLES / "ga4_items.csv"}', all_varchar = true, header = true,
                        delim = ';'))
        SELECT e.line,
               e.event_name IN ('page_view', 'session_start', 'first_visit', 'scroll',
                                'user_engagement') AS excluded,
               e.user_pseudo_id AS user_id, e.item_id AS product_id,
               CASE e.event_name WHEN 'view_item' THEN 'view'
                    WHEN 'add_to_wishlist' THEN 'wishlist' ELSE e.event_name END AS event_type,
               CAST(make_timestamp(TRY_CAST(e.event_timestamp AS BIGINT)) AS TIMESTAMP) AS ts,
               CAST(e.quantity AS VARCHAR) AS quantity,
               CAST(e.ga_session_id AS VARCHAR) AS session_id,
               CAST(CAST(i.price AS DECIMAL(12, 2)) AS VARCHAR) AS price,
               i.item_category AS category
        FROM (SELECT row_number() OVER () AS line, *
              FROM read_json('{SAMPLES / "ga4.jsonl"}', format = 'newline_delimited',
                             columns = {{event_timestamp: 'VARCHAR', event_name: 'VARCHAR',
                                        user_pseudo_id: 'VARCHAR', ga_session_id: 'BIGINT',
                                        item_id: 'VARCHAR', quantity: 'BIGINT'}})) e
        LEFT JOIN items i USING (item_id)
        """
    )
    assert_matches(report, curated, expected)
    assert outcome_counts(report) == {
        "rows_in": 12,
        "ok": 8,
        "excluded": 2,  # session_start, page_view
        "unknown_event_type": 1,  # select_promotion: neither mapped nor excluded
        "invalid_timestamp": 1,
    }
    assert report.unused_columns == {"event_date", "platform"}
    first = curated.to_pylist()[0]
    assert first["event_ts"] == dt.datetime(2026, 11, 2, 0, 0, 1, 123456, tzinfo=dt.UTC)
    prices = {r["product_id"]: r["unit_price"] for r in curated.to_pylist()}
    assert prices == {
        "SKU_1": Decimal("24.95"),
        "SKU_2": Decimal("1012.50"),
        "SKU_3": Decimal("1.00"),
    }


def test_user_ids_are_hashed_with_the_salt_when_the_profile_says_so():
    import hashlib
    import hmac

    profile = PROFILES["rees46"].model_copy(update={"hash_user_ids": True})
    key = "events/source=rees46/a.csv"
    report = FileReport(key=key, kind="events")
    data = (SAMPLES / "rees46.csv").read_bytes()
    batches = list(
        clean_events_file(
            io.BytesIO(data), key, ProductHistory(), 0, report, profile=profile, salt=b"pepper"
        )
    )
    users = set(pa.concat_tables([b.curated for b in batches])["user_id"].to_pylist())
    digest = hmac.new(b"pepper", b"520088904", hashlib.sha256).hexdigest()[:32]
    assert digest in users and "520088904" not in users


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_single_byte_encodings_are_transcoded_and_undefined_bytes_reject_the_file(encoding):
    from retail_etl.domain.errors import FileRejected

    profile = PROFILES["uci_online_retail"].model_copy(
        update={
            "file": PROFILES["uci_online_retail"].file.model_copy(update={"encoding": encoding})
        }
    )
    key = "events/source=uci_online_retail/a.csv"
    report = FileReport(key=key, kind="events")
    batches = list(
        clean_events_file(
            (SAMPLES / "uci_online_retail.csv").open("rb"),
            key,
            ProductHistory(),
            0,
            report,
            profile=profile,
            block_bytes=256,
        )
    )
    assert sum(b.curated.num_rows for b in batches) == 11 and report.reconciles()
    if encoding == "cp1252":  # 0x81 is undefined in cp1252
        bad = (
            SAMPLES / "uci_online_retail.csv"
        ).read_bytes() + b"x,\x81,y,1,1/1/2011 1:00,1,1,UK\r\n"
        with pytest.raises(FileRejected) as err:
            list(
                clean_events_file(
                    io.BytesIO(bad),
                    key,
                    ProductHistory(),
                    0,
                    FileReport(key, "events"),
                    profile=profile,
                )
            )
        assert err.value.code == "invalid_encoding" and "line 18" in err.value.message
