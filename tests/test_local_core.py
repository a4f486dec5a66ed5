import datetime as dt
import gzip
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from retail_etl.domain.report import FileStatus
from retail_etl.local_core import discover, output_name, read_curated, run_core

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


def test_a_run_writes_curated_partitions_quarantine_history_and_aggregates(inbox, tmp_path):
    out = tmp_path / "out"
    run = run_core(inbox, out)
    assert all(r.reconciles() and r.status == FileStatus.DONE for r in run.reports)
    assert run.dirty_dates == {dt.date(2026, 11, 1), dt.date(2026, 10, 31)}
    curated = read_curated(out / "curated" / "events")
    assert sorted(curated["event_id"].to_pylist()) == ["e1", "e2", "e3"]
    assert (out / "curated/events/event_date=2026-10-31").is_dir()
    quarantine = ds.dataset(out / "quarantine", partitioning="hive").to_table()
    assert quarantine["reason"].to_pylist() == ["unknown_product"]
    assert (out / "curated/products/product_history.parquet").exists()
    revenue = ds.dataset(out / "aggregates/daily_category_revenue", format="parquet").to_table()
    assert sorted(revenue["category"].to_pylist()) == ["books", "electronics"]
    assert not (out / "_staging").exists() or not any((out / "_staging").iterdir())


def test_processing_the_same_files_again_replaces_their_output(inbox, tmp_path):
    out = tmp_path / "out"
    run_core(inbox, out)
    first = sorted(p.relative_to(out) for p in (out / "curated").rglob("*.parquet"))
    run_core(inbox, out)
    again = sorted(p.relative_to(out) for p in (out / "curated").rglob("*.parquet"))
    assert again == first
    assert read_curated(out / "curated" / "events").num_rows == 3


def test_a_file_rejected_half_way_leaves_no_curated_output(inbox, tmp_path):
    body = EVENTS.encode() + b"".join(
        f"x{i},U1,P1,view,2026-11-01T10:00:00Z,\n".encode() for i in range(50_000)
    )
    drop(inbox, "events/dt=2026-11-01/broken.csv.gz", gzip.compress(body)[:-200])
    out = tmp_path / "out"
    run = run_core(inbox, out, block_bytes=4096)
    broken = next(r for r in run.reports if r.key.endswith("broken.csv.gz"))
    assert broken.status == FileStatus.FAILED_PERMANENT
    assert broken.error_code == "corrupt_compression"
    assert "broken.csv.gz" in broken.error_message
    assert (broken.rows_in, broken.rows_curated) == (0, 0)
    names = {p.name for p in (out / "curated").rglob("*.parquet")}
    assert output_name("events/dt=2026-11-01/broken.csv.gz") not in names
    assert read_curated(out / "curated" / "events").num_rows == 3


def test_events_waiting_for_their_product_are_released_by_a_later_products_file(inbox, tmp_path):
    drop(inbox, "products/dt=2026-11-02/p.csv", "product_id,category,price\nP9,lamps,7.50\n")
    out = tmp_path / "out"
    run = run_core(inbox, out)
    products = next(r for r in run.reports if r.key == "products/dt=2026-11-02/p.csv")
    assert products.rows_released == 1
    assert products.event_dates == {dt.date(2026, 11, 1)}
    curated = read_curated(out / "curated" / "events")
    assert sorted(curated["event_id"].to_pylist()) == ["e1", "e2", "e3", "e4"]
    e4 = next(r for r in curated.to_pylist() if r["event_id"] == "e4")
    assert (e4["category"], e4["source_file"]) == ("lamps", "events/dt=2026-11-01/a.csv")
    assert not list((out / "parked").rglob("*.parquet"))


def test_source_keys_go_through_their_profiles_in_the_core_run_too(tmp_path):
    samples = Path(__file__).parent / "domain" / "samples"
    folder = tmp_path / "in" / "events" / "source=rees46" / "dt=2019-11-01"
    folder.mkdir(parents=True)
    (folder / "part.csv").write_bytes((samples / "rees46.csv").read_bytes())
    unknown = tmp_path / "in" / "events" / "source=nope" / "dt=2019-11-01"
    unknown.mkdir(parents=True)
    (unknown / "x.csv").write_text("a\n")
    run = run_core(tmp_path / "in", tmp_path / "out")
    by_key = {r.key: r for r in run.reports}
    rees = by_key["events/source=rees46/dt=2019-11-01/part.csv"]
    assert (rees.rows_in, rees.rows_curated, rees.rows_excluded) == (15, 11, 1)
    assert rees.reconciles()
    assert by_key["events/source=nope/dt=2019-11-01/x.csv"].error_code == "unknown_source"
