"""The pipeline's own steps on local resources (`retail_etl.local.direct`)."""

import datetime as dt
import gzip
from pathlib import Path

import pytest

from retail_etl.domain import lake
from retail_etl.domain.report import FileStatus
from retail_etl.local.direct import open_lake, run_direct
from retail_etl.local.dropped import discover, largest_first, waves

PRODUCTS = "product_id,product_name,category,price\nP1,Phone,electronics,100.00\nP2,Book,books,5\n"
EVENTS = (
    "event_id,user_id,product_id,event_type,event_timestamp,quantity\n"
    "e1,U1,P1,view,2026-11-01T10:00:00Z,\n"
    "e2,U1,P1,purchase,2026-11-01T10:01:00Z,2\n"
    "e3,U1,P2,purchase,2026-10-31T10:01:00Z,1\n"
    "e4,U1,P9,view,2026-11-01T10:00:00Z,\n"
)


def drop(root: Path, key: str, text: str | bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    drop(root, "products/dt=2026-11-01/p.csv", PRODUCTS)
    drop(root, "events/dt=2026-11-01/a.csv", EVENTS)
    return root


RUN_DATE = dt.date(2026, 11, 1)


def test_files_are_taken_by_date_then_products_before_events_then_by_path(tmp_path):
    for key in [
        "events/dt=2026-11-02/b.csv",
        "events/dt=2026-11-01/z.csv",
        "products/dt=2026-11-02/p.csv",
        "events/dt=2026-11-01/a.csv",
        "products/dt=2026-11-01/p.csv",
        "other/ignored.csv",
    ]:
        drop(tmp_path, key, "x")
    assert [f.key for f in discover(tmp_path)] == [
        "products/dt=2026-11-01/p.csv",
        "events/dt=2026-11-01/a.csv",
        "events/dt=2026-11-01/z.csv",
        "products/dt=2026-11-02/p.csv",
        "events/dt=2026-11-02/b.csv",
    ]


def test_a_run_fills_curated_quarantine_history_and_aggregates(inbox, tmp_path):
    run = run_direct(inbox, tmp_path / "out", run_date=RUN_DATE)
    assert all(r.reconciles() and r.status == FileStatus.DONE for r in run.reports)
    assert run.dirty_dates == {dt.date(2026, 11, 1), dt.date(2026, 10, 31)}
    curated = run.lake.read(lake.CURATED_EVENTS)
    assert sorted(curated["event_id"].to_pylist()) == ["e1", "e2", "e3"]
    parked = run.lake.read(lake.PARKED_EVENTS)
    assert parked["event_id"].to_pylist() == ["e4"]  # waits for P9
    assert run.lake.read(lake.QUARANTINE).num_rows == 0
    assert sorted(run.lake.read(lake.PRODUCT_HISTORY)["product_id"].to_pylist()) == ["P1", "P2"]
    revenue = run.lake.read(lake.AGGREGATES["daily_category_revenue"])
    assert sorted(revenue["category"].to_pylist()) == ["books", "electronics"]


def test_the_lake_outlives_the_run_and_a_second_run_replaces_rather_than_adds(inbox, tmp_path):
    out = tmp_path / "out"
    first = run_direct(inbox, out, run_date=RUN_DATE).lake.read(lake.CURATED_EVENTS)
    run_direct(inbox, out, run_date=RUN_DATE)
    again = open_lake(out).read(lake.CURATED_EVENTS)
    key = ["event_id", "category", "revenue", "source_file"]
    assert sorted(again.select(key).to_pylist(), key=str) == sorted(
        first.select(key).to_pylist(), key=str
    )


def test_a_file_rejected_half_way_publishes_nothing(inbox, tmp_path):
    body = EVENTS.encode() + b"".join(
        f"x{i},U1,P1,view,2026-11-01T10:00:00Z,\n".encode() for i in range(50_000)
    )
    drop(inbox, "events/dt=2026-11-01/broken.csv.gz", gzip.compress(body)[:-200])
    run = run_direct(inbox, tmp_path / "out", block_bytes=4096, run_date=RUN_DATE)
    broken = next(r for r in run.reports if r.key.endswith("broken.csv.gz"))
    assert broken.status == FileStatus.FAILED_PERMANENT
    assert broken.error_code == "corrupt_compression"
    assert "broken.csv.gz" in broken.error_message
    assert (broken.rows_in, broken.rows_curated) == (0, 0)
    curated = run.lake.read(lake.CURATED_EVENTS)
    assert set(curated["source_file"].to_pylist()) == {"events/dt=2026-11-01/a.csv"}
    assert curated.num_rows == 3


def test_events_waiting_for_their_product_are_curated_once_a_later_file_defines_it(inbox, tmp_path):
    """P9's only version is effective from 2026-11-02, so it also governs the dates before."""
    drop(inbox, "products/dt=2026-11-02/p.csv", "product_id,category,price\nP9,lamps,7.50\n")
    run = run_direct(inbox, tmp_path / "out", run_date=RUN_DATE)
    products = next(r for r in run.reports if r.key == "products/dt=2026-11-02/p.csv")
    assert dt.date(2026, 11, 1) in products.event_dates  # the parked event's date is dirty
    curated = run.lake.read(lake.CURATED_EVENTS)
    assert sorted(curated["event_id"].to_pylist()) == ["e1", "e2", "e3", "e4"]
    e4 = next(r for r in curated.to_pylist() if r["event_id"] == "e4")
    assert (e4["category"], e4["source_file"]) == ("lamps", "events/dt=2026-11-01/a.csv")
    assert run.lake.read(lake.PARKED_EVENTS).num_rows == 0


def test_events_files_between_two_products_files_form_one_concurrent_wave(tmp_path):
    for key in [
        "products/dt=2026-11-01/p.csv",
        "events/dt=2026-11-01/a.csv",
        "events/dt=2026-11-01/b.csv",
        "products/dt=2026-11-02/p.csv",
        "events/dt=2026-11-02/c.csv",
    ]:
        drop(tmp_path, key, "x")
    assert [[f.key.split("/")[-1] for f in w] for w in waves(discover(tmp_path))] == [
        ["p.csv"],
        ["a.csv", "b.csv"],
        ["p.csv"],
        ["c.csv"],
    ]


def test_a_wave_starts_its_largest_files_first_counting_gzip_inflated(tmp_path):
    drop(tmp_path, "products/dt=2026-11-01/p.csv", "x")
    drop(tmp_path, "events/dt=2026-11-01/a.csv", "x" * 300)
    drop(tmp_path, "events/dt=2026-11-01/b.csv", "x" * 10)
    drop(tmp_path, "events/dt=2026-11-01/c.csv.gz", gzip.compress(b"x" * 5000))  # small on disk
    drop(tmp_path, "events/dt=2026-11-01/d.csv", "x" * 10)  # ties keep drop order
    concurrent = waves(discover(tmp_path))[1]
    assert [f.key.split("/")[-1] for f in largest_first(concurrent)] == [
        "c.csv.gz",
        "a.csv",
        "b.csv",
        "d.csv",
    ]


def test_source_keys_go_through_their_profiles_in_the_direct_run_too(tmp_path):
    samples = Path(__file__).parents[1] / "domain" / "samples"
    folder = tmp_path / "in" / "events" / "source=rees46" / "dt=2019-11-01"
    folder.mkdir(parents=True)
    (folder / "part.csv").write_bytes((samples / "rees46.csv").read_bytes())
    unknown = tmp_path / "in" / "events" / "source=nope" / "dt=2019-11-01"
    unknown.mkdir(parents=True)
    (unknown / "x.csv").write_text("a\n")
    run = run_direct(tmp_path / "in", tmp_path / "out", run_date=RUN_DATE)
    by_key = {r.key: r for r in run.reports}
    rees = by_key["events/source=rees46/dt=2019-11-01/part.csv"]
    assert (rees.rows_in, rees.rows_curated, rees.rows_excluded) == (15, 11, 1)
    assert rees.reconciles()
    assert by_key["events/source=nope/dt=2019-11-01/x.csv"].error_code == "unknown_source"
    assert run.lake.read(lake.CURATED_EVENTS).num_rows == 11


def test_an_events_file_of_a_source_runs_alone_since_its_rows_may_carry_products(tmp_path):
    for key in [
        "events/dt=2026-11-01/a.csv",
        "events/source=rees46/dt=2026-11-01/r.csv",
        "events/dt=2026-11-02/z.csv",
    ]:
        drop(tmp_path, key, "x")
    assert [[f.key.split("/")[-1] for f in w] for w in waves(discover(tmp_path))] == [
        ["a.csv"],
        ["r.csv"],
        ["z.csv"],
    ]
