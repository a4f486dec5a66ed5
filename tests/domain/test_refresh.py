"""Re-enriching a date: curated and parked follow the current history, in three safe steps."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from retail_etl.domain import contract as c
from retail_etl.domain.refresh import demoted, re_enriched, still_parked
from tests.conftest import history_of

DAY = dt.date(2026, 11, 1)
EVENTS = (
    "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
    "e1,U1,P1,purchase,2026-11-01T10:00:00Z,2\n"
    "e2,U1,P2,view,2026-11-01T11:00:00Z,\n"
    "e3,U2,P9,purchase,2026-11-01T12:00:00Z,1\n"
)


def split(history):
    """An events file cleaned against `history`: (curated, parked)."""
    import io

    from retail_etl.domain.events import clean_events_file
    from retail_etl.domain.report import FileReport

    report = FileReport(key="events/dt=2026-11-01/a.csv", kind="events")
    batches = list(clean_events_file(io.BytesIO(EVENTS.encode()), report.key, history, 1, report))
    curated = pa.concat_tables([c.CURATED_EVENTS.empty_table(), *(b.curated for b in batches)])
    parked = pa.concat_tables([c.PARKED_EVENTS.empty_table(), *(b.parked for b in batches)])
    return curated, parked


def refreshed(curated, parked, history):
    """The three steps in their order, as `daily.refresh_day` commits them."""
    if (new := demoted(curated, parked, history)) is not None:
        parked = new
    if (new := re_enriched(curated, parked, history)) is not None:
        curated = new
    if (new := still_parked(parked, curated)) is not None:
        parked = new
    return curated, parked


def test_a_product_defined_later_moves_its_events_from_parked_to_curated_repriced():
    before = history_of(("P1", "Phone", "tech", 10_000, DAY), ("P2", "Book", "books", 500, DAY))
    curated, parked = split(before)
    assert parked["event_id"].to_pylist() == ["e3"]
    after = history_of(
        ("P1", "Phone", "tech", 9_000, DAY),
        ("P2", "Book", "books", 500, DAY),
        ("P9", "Lamp", "home", 1_299, DAY),
    )
    curated, parked = refreshed(curated, parked, after)
    revenue = {r["event_id"]: str(r["revenue"]) for r in curated.to_pylist()}
    assert revenue == {"e1": "180.00", "e2": "None", "e3": "12.99"}
    assert parked.num_rows == 0
    # the refresh equals a clean run against the final history
    clean_curated, clean_parked = split(after)
    assert sorted(curated.drop(["ingested_at"]).to_pylist(), key=str) == sorted(
        clean_curated.drop(["ingested_at"]).to_pylist(), key=str
    )
    assert clean_parked.num_rows == 0


def test_a_removed_product_sends_its_events_back_to_parked_and_nothing_is_lost():
    history = history_of(("P1", "Phone", "tech", 10_000, DAY), ("P2", "Book", "books", 500, DAY))
    curated, parked = split(history)
    without_p2 = history_of(("P1", "Phone", "tech", 10_000, DAY))
    curated, parked = refreshed(curated, parked, without_p2)
    assert curated["event_id"].to_pylist() == ["e1"]
    assert sorted(parked["event_id"].to_pylist()) == ["e2", "e3"]


def test_an_unchanged_history_changes_nothing():
    history = history_of(("P1", "Phone", "tech", 10_000, DAY), ("P2", "Book", "books", 500, DAY))
    curated, parked = split(history)
    assert demoted(curated, parked, history) is None
    assert re_enriched(curated, parked, history) is None
    assert still_parked(parked, curated) is None


def test_a_half_done_refresh_is_finished_by_the_next_one():
    """A crash between step 2 and 3 leaves a released row in both tables: no double count."""
    before = history_of(("P1", "Phone", "tech", 10_000, DAY), ("P2", "Book", "books", 500, DAY))
    curated, parked = split(before)
    after = history_of(
        ("P1", "Phone", "tech", 10_000, DAY),
        ("P2", "Book", "books", 500, DAY),
        ("P9", "Lamp", "home", 1_299, DAY),
    )
    half = re_enriched(curated, parked, after)  # parked still holds e3
    assert half["event_id"].to_pylist().count("e3") == 1
    again, left = refreshed(half, parked, after)
    assert sorted(again["event_id"].to_pylist()) == ["e1", "e2", "e3"]
    assert left.num_rows == 0


def test_the_same_event_of_another_file_version_is_another_row():
    history = history_of(("P1", "Phone", "tech", 10_000, DAY))
    curated, parked = split(history)  # e2 (P2) and e3 (P9) parked
    newer = parked.set_column(
        parked.schema.get_field_index("ingested_at"),
        "ingested_at",
        pa.array([2] * parked.num_rows, pa.int64()).cast(c.UTC_US),
    )
    assert still_parked(newer, curated) is None  # never mistaken for a row curated holds
