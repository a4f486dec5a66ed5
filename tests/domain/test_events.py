import datetime as dt
import io
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_etl.domain.contract import DERIVED_ID_PREFIX, EVENT_REASONS
from retail_etl.domain.events import clean_events_file, derive_ids, release_parked
from retail_etl.domain.id_hash import hash_column
from retail_etl.domain.report import FileReport
from tests.conftest import clean_text, history_of

HEADER = "event_id,user_id,product_id,event_type,event_timestamp,quantity,session_id\n"
GOOD = "e1,U1,P1,view,2026-11-01T10:00:00Z,,s1"


def one(row: str, catalog, header: str = HEADER):
    report, curated, quarantine = clean_text(header + row + "\n", catalog)
    assert report.reconciles()
    return report, curated, quarantine


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("e1,,P1,view,2026-11-01T10:00:00Z,,", "missing_user_id"),
        ("e1,  ,P1,view,2026-11-01T10:00:00Z,,", "missing_user_id"),
        ("e1,U1,,view,2026-11-01T10:00:00Z,,", "missing_product_id"),
        ("e1,U1,P1,,2026-11-01T10:00:00Z,,", "missing_event_type"),
        ("e1,U1,P1,click,2026-11-01T10:00:00Z,,", "unknown_event_type"),
        ("e1,U1,P1,view,,,", "missing_timestamp"),
        ("e1,U1,P1,view,2026-02-30T10:00:00Z,,", "invalid_timestamp"),
        ("e1,U1,P1,view,2026-11-01T10:00:00Z,0,", "invalid_quantity"),
        ("e1,U1,P1,view,2026-11-01T10:00:00Z,-2,", "invalid_quantity"),
        ("e1,U1,P1,view,2026-11-01T10:00:00Z,1.5,", "invalid_quantity"),
        ("e1,U1,P1,view,2026-11-01T10:00:00Z,abc,", "invalid_quantity"),
        ("e1,U1,P1,view,2026-11-01T10:00:00Z,10001,", "invalid_quantity"),
        ("e1,U1,P1,view,2026-11-01T10:00:00Z,00000000000000000000,", "invalid_quantity"),
        ("e1,U1,P9,view,2026-11-01T10:00:00Z,,", "unknown_product"),
        ("e1,U1,P1,view", "malformed_row"),
        # two defects: the first check in contract order decides
        (",,P1,click,bad,0,", "missing_user_id"),
        ("e1,U1,P1,click,bad,0,", "unknown_event_type"),
        ("e1,U1,P9,view,bad,,", "invalid_timestamp"),
        ("e1,U1,P9,view,2026-11-01T10:00:00Z,0,", "invalid_quantity"),
    ],
)
def test_each_rule_quarantines_with_one_reason_and_the_original_line(row, reason, catalog):
    report, curated, quarantine = one(row, catalog)
    assert curated.num_rows == 0
    assert dict(report.rows_quarantined) == {reason: 1}
    assert quarantine["reason"].to_pylist() == [reason]
    assert quarantine["raw_record"].to_pylist() == [row]
    assert quarantine["line_number"].to_pylist() == [2]
    assert quarantine["source_file"].to_pylist() == ["events/dt=2026-11-01/f.csv"]


def test_unknown_product_rows_keep_product_and_date_so_they_can_be_re_enriched(catalog):
    _, _, quarantine = one("e1,U1,P9,view,2026-10-30T23:59:59Z,,", catalog)
    assert quarantine["product_id"].to_pylist() == ["P9"]
    assert quarantine["event_date"].to_pylist() == [dt.date(2026, 10, 30)]


def test_a_valid_row_is_curated_with_normalized_values(catalog):
    row = " e1 , U1 ,P1, PURCHASE ,2026-11-01T10:00:00.123456+01:00,3, s1 "
    report, curated, _ = one(row, catalog)
    assert report.rows_curated == 1
    got = curated.to_pylist()[0]
    assert got["event_id"] == "e1"
    assert got["user_id"] == "U1"
    assert got["event_type"] == "purchase"
    assert got["event_ts"] == dt.datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)
    assert got["event_date"] == dt.date(2026, 11, 1)
    assert got["session_id"] == "s1"
    assert got["quantity"] == 3
    assert (got["product_name"], got["category"]) == ("Phone", "electronics")
    assert got["unit_price"] == Decimal("199.99")
    assert got["revenue"] == Decimal("599.97")
    assert got["source_file"] == "events/dt=2026-11-01/f.csv"
    assert got["event_id_hash"] == hash_column(pa.array(["e1"]))[0]


def test_non_purchases_carry_the_price_but_no_revenue_and_quantity_defaults_to_one(catalog):
    _, curated, _ = one(GOOD, catalog)
    got = curated.to_pylist()[0]
    assert (got["quantity"], got["unit_price"], got["revenue"]) == (1, Decimal("199.99"), None)


def test_timestamp_aliases_are_accepted(catalog):
    for alias in ("event_time", "timestamp", "EVENT_TIME"):
        header = f"user_id,product_id,event_type,{alias}\n"
        report, _curated, _ = one("U1,P1,view,2026-11-01T10:00:00Z", catalog, header)
        assert report.rows_curated == 1, alias


def test_duplicates_by_event_id_are_counted_and_the_first_is_kept(catalog):
    rows = [GOOD, "e1,U2,P2,view,2026-11-01T11:00:00Z,,", "e2,U1,P1,view,2026-11-01T10:00:00Z,,"]
    report, curated, quarantine = clean_text(HEADER + "\n".join(rows), catalog)
    assert (report.rows_curated, report.rows_duplicate, quarantine.num_rows) == (2, 1, 0)
    assert curated["user_id"].to_pylist() == ["U1", "U1"]


def test_a_duplicate_of_an_invalid_row_is_not_a_duplicate(catalog):
    rows = ["e1,,P1,view,2026-11-01T10:00:00Z,,", GOOD]
    report, _curated, _ = clean_text(HEADER + "\n".join(rows), catalog)
    assert (report.rows_curated, report.rows_duplicate) == (1, 0)


def test_rows_without_event_id_get_content_ids_so_identical_rows_are_duplicates(catalog):
    header = "user_id,product_id,event_type,event_timestamp,quantity\n"
    rows = [
        "U1,P1,view,2026-11-01T10:00:00Z,1",
        "U1,P1,view,1793527200,",  # the same instant and quantity, written differently
        "U1,P1,view,2026-11-01T10:00:01Z,1",
    ]
    report, curated, _ = clean_text(header + "\n".join(rows), catalog)
    assert (report.rows_curated, report.rows_duplicate) == (2, 1)
    ids = curated["event_id"].to_pylist()
    assert all(
        i.startswith(DERIVED_ID_PREFIX) and len(i) == len(DERIVED_ID_PREFIX) + 32 for i in ids
    )
    _, again, _ = clean_text(header + "\n".join(rows), catalog)
    assert again["event_id"].to_pylist() == ids


def test_duplicates_across_chunks_of_one_file_are_found(catalog):
    rows = [f"e{i},U1,P1,view,2026-11-01T10:00:00Z,," for i in range(200)] * 2
    report, _curated, _ = clean_text(HEADER + "\n".join(rows), catalog, block_bytes=256)
    assert (report.rows_in, report.rows_curated, report.rows_duplicate) == (400, 200, 200)


def test_late_events_land_in_their_own_dates(catalog):
    rows = [
        GOOD,
        "e2,U1,P1,view,2026-10-29T23:59:59Z,,",
        "e3,U1,P1,view,2026-10-31T23:30:00-01:00,,",
    ]
    report, curated, _ = clean_text(HEADER + "\n".join(rows), catalog)
    # grouped by date (each date's rows one slice of the batch), in file order within one
    assert curated["event_id"].to_pylist() == ["e2", "e1", "e3"]
    assert curated["event_date"].to_pylist() == [
        dt.date(2026, 10, 29),
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 1),
    ]
    assert report.event_dates == {dt.date(2026, 11, 1), dt.date(2026, 10, 29)}


def test_enrichment_is_point_in_time():
    history = history_of(
        ("P1", "Phone", "electronics", 1000, dt.date(2026, 11, 2)),
        ("P1", "Phone v2", "phones", 1200, dt.date(2026, 11, 4)),
        ("P1", "Phone v3", "phones", 1500, dt.date(2026, 11, 6)),
    )
    rows = [f"e{d},U1,P1,purchase,2026-11-{d:02d}T12:00:00Z,2," for d in (1, 2, 3, 4, 5, 6, 7)]
    _, curated, _ = clean_text(HEADER + "\n".join(rows), history)
    got = [(r["product_name"], r["unit_price"], r["revenue"]) for r in curated.to_pylist()]
    assert got == [
        ("Phone", Decimal("10.00"), Decimal("20.00")),  # before the first version: the first
        ("Phone", Decimal("10.00"), Decimal("20.00")),
        ("Phone", Decimal("10.00"), Decimal("20.00")),
        ("Phone v2", Decimal("12.00"), Decimal("24.00")),
        ("Phone v2", Decimal("12.00"), Decimal("24.00")),
        ("Phone v3", Decimal("15.00"), Decimal("30.00")),
        ("Phone v3", Decimal("15.00"), Decimal("30.00")),
    ]


def test_json_lines_events_are_cleaned_like_csv(catalog):
    text = (
        '{"event_id": "j1", "user_id": 42, "product_id": "P1", "event_type": "purchase",'
        ' "timestamp": 1793527200000, "quantity": 2}\n'
        '{"event_id": "j2", "user_id": "U1", "product_id": "P2", "event_type": "view",'
        ' "event_timestamp": "2026-11-01T01:00:00", "session_id": null}\n'
        '{"event_id": "j3", "user_id": "U1", "product_id": "P2", "event_type": "view",'
        ' "event_timestamp": true}\n'
        '{"event_id": "j4", "user\n'
    )
    report, curated, quarantine = clean_text(text, catalog, key="events/dt=2026-11-01/f.jsonl.gz")
    assert report.reconciles()
    assert curated["user_id"].to_pylist() == ["42", "U1"]
    assert curated["revenue"].to_pylist() == [Decimal("399.98"), None]
    assert quarantine["line_number"].to_pylist() == [3, 4]
    assert set(quarantine["reason"].to_pylist()) == {"malformed_row"}


field_values = st.sampled_from(
    [
        "",
        "U1",
        "P1",
        "P2",
        "P9",
        "view",
        "purchase",
        "click",
        "2026-11-01T10:00:00Z",
        "1793527200",
        "bad",
        "0",
        "2",
        "x,y",
        '"q"',
        "e1",
        "e2",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(field_values, min_size=5, max_size=8), max_size=40))
def test_every_row_is_curated_quarantined_or_duplicate(catalog, rows):
    text = HEADER + "".join(",".join(r) + "\n" for r in rows)
    report, curated, quarantine = clean_text(text, catalog)
    assert report.rows_in == len(rows)
    assert report.reconciles()
    assert curated.num_rows == report.rows_curated
    assert quarantine.num_rows == report.quarantined_total
    assert set(quarantine["reason"].to_pylist()) <= set(EVENT_REASONS)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(field_values, min_size=7, max_size=7), max_size=30))
def test_cleaning_is_deterministic_and_idempotent(catalog, rows):
    text = HEADER + "".join(",".join(r) + "\n" for r in rows)
    _, first, q1 = clean_text(text, catalog)
    _, second, q2 = clean_text(text, catalog)
    assert first.drop_columns(["ingested_at"]).equals(second.drop_columns(["ingested_at"]))
    assert q1.equals(q2)
    # Cleaning the curated output again changes nothing.
    columns = [
        "event_id",
        "user_id",
        "product_id",
        "event_type",
        "event_ts",
        "quantity",
        "session_id",
    ]
    sink = io.BytesIO()
    pacsv.write_csv(first.select(columns).rename_columns(HEADER.strip().split(",")), sink)
    report, again, q3 = clean_text(sink.getvalue().replace(b'"', b""), catalog)
    assert q3.num_rows == 0 and report.rows_duplicate == 0
    keep = [c for c in first.column_names if c not in ("ingested_at",)]
    assert again.select(keep).equals(first.select(keep))


def test_unknown_product_events_are_parked_and_released_once_the_product_is_known(catalog):
    rows = ["e1,U1,P9,purchase,2026-10-30T10:00:00Z,2,", "e2,U1,P1,view,2026-11-01T10:00:00Z,,"]
    batches = list(
        clean_events_file(
            io.BytesIO((HEADER + "\n".join(rows)).encode()),
            "events/dt=2026-11-01/f.csv",
            catalog,
            0,
            report := FileReport(key="k", kind="events"),
        )
    )
    assert report.rows_quarantined == {"unknown_product": 1}
    parked = batches[0].parked
    assert parked["event_id"].to_pylist() == ["e1"]
    assert parked["line_number"].to_pylist() == [2]
    still_unknown, parked_again = release_parked(parked, catalog)
    assert still_unknown.num_rows == 0 and parked_again.num_rows == 1
    history = history_of(
        ("P1", "Phone", "electronics", 19_999, dt.date(2026, 11, 1)),
        ("P9", "Lamp", "home", 1_000, dt.date(2026, 11, 5)),
    )
    released, left = release_parked(parked, history)
    assert left.num_rows == 0
    got = released.to_pylist()[0]
    assert (got["event_id"], got["category"], got["revenue"]) == ("e1", "home", Decimal("20.00"))
    assert got["event_id_hash"] == hash_column(pa.array(["e1"]))[0]  # hashed when released
    assert got["event_date"] == dt.date(2026, 10, 30)
    assert got["source_file"] == "events/dt=2026-11-01/f.csv"


def test_quantity_with_leading_zeros_is_its_value(catalog):
    _, curated, _ = one("e1,U1,P1,purchase,2026-11-01T10:00:00Z,0000000000005,", catalog)
    assert curated["quantity"].to_pylist() == [5]


def test_a_revenue_that_does_not_fit_decimal_14_2_is_quarantined_at_the_boundary():
    """99,999,999.99 x 10,000 fits; 100,000,000.00 x 10,000 would have been written wrapped."""
    history = history_of(
        ("BIG", "Yacht", "boats", 10_000_000_000, dt.date(2026, 11, 1)),
        ("EDGE", "Ship", "boats", 9_999_999_999, dt.date(2026, 11, 1)),
        ("TOP", "Island", "land", 999_999_999_999, dt.date(2026, 11, 1)),
    )
    rows = [
        "e1,U1,BIG,purchase,2026-11-01T10:00:00Z,10000,",
        "e2,U1,EDGE,purchase,2026-11-01T10:00:00Z,10000,",
        "e3,U1,TOP,purchase,2026-11-01T10:00:00Z,100,",
        "e4,U1,TOP,purchase,2026-11-01T10:00:00Z,101,",
        "e5,U1,BIG,view,2026-11-01T10:00:00Z,10000,",  # no revenue, nothing to overflow
    ]
    report, curated, quarantine = clean_text(HEADER + "\n".join(rows) + "\n", history)
    assert report.reconciles()
    assert dict(report.rows_quarantined) == {"amount_out_of_range": 2}
    assert quarantine["line_number"].to_pylist() == [2, 5]
    assert quarantine["raw_record"].to_pylist() == [rows[0], rows[3]]
    assert quarantine["event_date"].to_pylist() == [dt.date(2026, 11, 1)] * 2
    got = {r["event_id"]: (r["unit_price"], r["revenue"]) for r in curated.to_pylist()}
    assert got == {
        "e2": (Decimal("99999999.99"), Decimal("999999999900.00")),
        "e3": (Decimal("9999999999.99"), Decimal("999999999999.00")),
        "e5": (Decimal("100000000.00"), None),
    }


def test_the_boundary_amounts_survive_parquet_exactly(tmp_path):
    import pyarrow.parquet as pq

    history = history_of(("TOP", "Island", "land", 999_999_999_999, dt.date(2026, 11, 1)))
    row = "e3,U1,TOP,purchase,2026-11-01T10:00:00Z,100,"
    _, curated, _ = clean_text(HEADER + row + "\n", history)
    pq.write_table(curated, tmp_path / "c.parquet")
    back = pq.read_table(tmp_path / "c.parquet")
    assert back["revenue"].to_pylist() == [Decimal("999999999999.00")]
    assert back["unit_price"].to_pylist() == [Decimal("9999999999.99")]


def test_a_parked_event_whose_revenue_would_not_fit_stays_parked():
    rows = ["e1,U1,P9,purchase,2026-11-01T10:00:00Z,10000,"]
    report = FileReport(key="k", kind="events")
    batches = list(
        clean_events_file(
            io.BytesIO((HEADER + "\n".join(rows) + "\n").encode()),
            "events/dt=2026-11-01/f.csv",
            history_of(("P1", "Phone", "electronics", 19_999, dt.date(2026, 11, 1))),
            0,
            report,
        )
    )
    parked = batches[0].parked
    huge = history_of(("P9", "Yacht", "boats", 10_000_000_000, dt.date(2026, 11, 1)))
    released, left = release_parked(parked, huge)
    assert released.num_rows == 0 and left["event_id"].to_pylist() == ["e1"]
    fair = history_of(("P9", "Yacht", "boats", 9_999_999_999, dt.date(2026, 11, 1)))
    released, left = release_parked(parked, fair)
    assert released["revenue"].to_pylist() == [Decimal("999999999900.00")]
    assert left.num_rows == 0


def test_derived_ids_are_those_earlier_versions_gave_the_same_content():
    # computed by the release that hashed with pandas: ids already in a lake must not change
    ids = derive_ids(
        pa.array(["U1", "U2"]),
        pa.array(["P2", "P3"]),
        pa.array(["view", "purchase"]),
        np.array([1793491202000000, 1793491203000000]),
        np.array([1, 2]),
        pa.array([None, "sess-1"]),
    )
    assert ids.to_pylist() == [
        "derived-dc7a3f46c662e1241112114ec588a4a5",
        "derived-1f4614efa2d3db5ae54176b116d097bd",
    ]
