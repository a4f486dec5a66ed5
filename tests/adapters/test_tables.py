"""The Iceberg adapter on PyIceberg's SQL catalog: commits, reads and the scan cache."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retail_etl.adapters.tables import Lake, from_source, on_date
from retail_etl.domain import lake

REVENUE = lake.AGGREGATES["daily_category_revenue"]


def rows(day: str, *categories: str) -> pa.Table:
    n = len(categories)
    return pa.table(
        {
            "event_date": [dt.date.fromisoformat(day)] * n,
            "category": list(categories),
            "revenue": pa.array([f"{i}.25" for i in range(1, n + 1)]).cast(pa.decimal128(14, 2)),
            "purchases": [i for i in range(1, n + 1)],
            "units": [2 * i for i in range(1, n + 1)],
        }
    ).cast(REVENUE.schema, safe=False)


@pytest.fixture
def two_lakes(tmp_path):
    """Two Lake objects on one catalog, as two Lambda containers would be."""
    first = Lake.on_disk(tmp_path, "retail")
    first.ensure()
    return first, Lake.on_disk(tmp_path, "retail")


def test_a_read_sees_a_commit_made_through_another_lake(two_lakes):
    mine, theirs = two_lakes
    theirs.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "books"))
    assert mine.read(REVENUE)["category"].to_pylist() == ["books"]
    theirs.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "toys", "tea"))
    assert sorted(mine.read(REVENUE)["category"].to_pylist()) == ["tea", "toys"]


def test_reads_of_one_snapshot_are_served_once_and_a_commit_ends_that(two_lakes):
    mine, _ = two_lakes
    mine.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "books"))
    first = mine.read(REVENUE, on_date("2026-11-01"))
    assert mine.read(REVENUE, on_date("2026-11-01")) is first
    assert mine.read(REVENUE, on_date("2026-11-02")) is not first
    mine.rewrite(REVENUE, on_date("2026-11-01"), lambda current: rows("2026-11-01", "tea"))
    assert mine.read(REVENUE, on_date("2026-11-01"))["category"].to_pylist() == ["tea"]


def test_a_rewrite_that_changes_nothing_makes_no_snapshot(two_lakes):
    mine, _ = two_lakes
    mine.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "books"))
    before = mine.table(REVENUE).current_snapshot().snapshot_id
    kept = mine.rewrite(REVENUE, on_date("2026-11-01"), lambda current: None)
    assert kept["category"].to_pylist() == ["books"]
    assert mine.table(REVENUE).current_snapshot().snapshot_id == before


def test_the_current_data_files_hold_exactly_the_current_rows(two_lakes):
    mine, _ = two_lakes
    mine.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "books", "tea"))
    mine.replace(REVENUE, on_date("2026-11-02"), rows=rows("2026-11-02", "toys"))
    mine.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "tea"))

    def read(where=None, **options) -> pa.Table:
        readers = mine.file_readers(REVENUE, where, **options)
        return pa.concat_tables([read(["category"]) for read in readers])

    direct = read(dictionary_columns=("category",))
    assert direct.schema.field("category").type == pa.dictionary(pa.int32(), pa.string())
    assert sorted(direct["category"].cast(pa.string()).to_pylist()) == ["tea", "toys"]
    assert read(on_date("2026-11-02"))["category"].to_pylist() == ["toys"]
    assert mine.file_readers(lake.CURATED_EVENTS, from_source("none")) == []


def test_the_data_files_of_several_dates_planned_at_once_are_each_dates_own(two_lakes):
    mine, _ = two_lakes
    mine.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "books", "tea"))
    mine.replace(REVENUE, on_date("2026-11-03"), rows=rows("2026-11-03", "toys"))
    by_date = mine.data_files_by_date(REVENUE, ["2026-11-01", "2026-11-02", "2026-11-03"])
    assert by_date == {
        day: mine.data_files(REVENUE, on_date(day))
        for day in ("2026-11-01", "2026-11-02", "2026-11-03")
    }
    assert [sum(f.rows for f in by_date[d]) for d in sorted(by_date)] == [2, 0, 1]


def events(day: str, *sources: str) -> pa.Table:
    """Curated rows of one date, one per source file named."""
    n = len(sources)
    when = dt.datetime.fromisoformat(f"{day}T12:00:00+00:00")
    price = pa.array(["1.50"] * n).cast(lake.CURATED_EVENTS.schema.field("unit_price").type)
    columns = {
        "event_id": [f"e{i}" for i in range(n)],
        "event_type": ["view"] * n,
        "event_ts": [when] * n,
        "event_date": [dt.date.fromisoformat(day)] * n,
        "user_id": ["u"] * n,
        "product_id": ["p"] * n,
        "session_id": ["s"] * n,
        "quantity": [1] * n,
        "product_name": ["tea"] * n,
        "category": ["food"] * n,
        "unit_price": price,
        "revenue": pa.nulls(n),
        "source_file": list(sources),
        "ingested_at": [when] * n,
        "event_id_hash": list(range(n)),
    }
    return pa.table(columns).cast(lake.CURATED_EVENTS.schema, safe=False)


def test_a_table_made_before_a_column_existed_gains_it_and_its_old_files_read_it_as_nulls(
    tmp_path,
):
    """As Iceberg's schema evolution has it: the column is added on the table's first load
    by a writer that knows it, and the files written before hold no value for it."""
    spec = lake.CURATED_EVENTS
    old_schema = pa.schema([f for f in spec.schema if f.name != "event_id_hash"])
    before = dataclasses.replace(spec, schema=old_schema)
    old = Lake.on_disk(tmp_path, "retail")
    old.ensure([before])
    old_rows = events("2026-11-01", "events/a.csv").drop_columns(["event_id_hash"])
    old.replace(before, from_source("events/a.csv"), rows=old_rows)

    now = Lake.on_disk(tmp_path, "retail")
    assert "event_id_hash" in now.table(spec).schema().column_names
    now.replace(spec, from_source("events/b.csv"), rows=events("2026-11-01", "events/b.csv"))
    by_file = {r["source_file"]: r["event_id_hash"] for r in now.read(spec).to_pylist()}
    assert by_file == {"events/a.csv": None, "events/b.csv": 0}
    read = [r(["source_file", "event_id_hash"]) for r in now.file_readers(spec)]
    assert sorted(pa.concat_tables(read).to_pylist(), key=lambda r: r["source_file"]) == [
        {"source_file": "events/a.csv", "event_id_hash": None},
        {"source_file": "events/b.csv", "event_id_hash": 0},
    ]


def test_rows_by_source_file_are_counted_from_statistics_and_mixed_files_are_read(two_lakes):
    mine, _ = two_lakes
    a, b, c = (f"events/dt=2026-11-01/part-{i}.csv" for i in range(3))
    # one data file per source file, as ingest writes them
    mine.replace(lake.CURATED_EVENTS, from_source(a), rows=events("2026-11-01", a, a, a))
    mine.replace(lake.CURATED_EVENTS, from_source(b), rows=events("2026-11-02", b))
    # a date rewritten as a whole, as the refresh does: one data file with two source files
    mine.replace(lake.CURATED_EVENTS, on_date("2026-11-03"), rows=events("2026-11-03", b, c, c))
    read = mine.read(lake.CURATED_EVENTS, columns=("source_file",))
    oracle = Counter(read["source_file"].to_pylist())
    assert mine.count_by(lake.CURATED_EVENTS, "source_file") == oracle == {a: 3, b: 2, c: 2}
    assert mine.count_by(lake.CURATED_EVENTS, "source_file", [a, c]) == {a: 3, c: 2}
    assert mine.count_by(lake.CURATED_EVENTS, "source_file", ["other"]) == {}


def test_a_rewrite_of_rows_not_there_yet_is_rebuilt_on_a_commit_made_meanwhile(two_lakes):
    mine, theirs = two_lakes
    seen = []

    def change(current: pa.Table) -> pa.Table:
        seen.append(current.num_rows)
        if len(seen) == 1:  # another writer commits the date while this one computes
            theirs.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "books"))
        return rows("2026-11-01", "tea")

    mine.rewrite(REVENUE, on_date("2026-11-01"), change)
    assert seen == [0, 1]
    assert mine.read(REVENUE)["category"].to_pylist() == ["tea"]


def test_a_part_writes_columns_distinct_per_row_without_a_dictionary(two_lakes):
    mine, _ = two_lakes
    rows = events("2026-11-01", *["events/dt=2026-11-01/a.csv"] * 3)
    part = mine.write_part(lake.CURATED_EVENTS, rows, "a")
    footer = pq.read_metadata(part.path.removeprefix("file://")).row_group(0)
    encodings = {
        footer.column(i).path_in_schema: footer.column(i).encodings
        for i in range(footer.num_columns)
    }
    for name in lake.CURATED_EVENTS.schema.names:
        dictionary = "RLE_DICTIONARY" in encodings[name]
        assert dictionary == (name not in lake.CURATED_EVENTS.distinct_per_row), name
    mine.replace(lake.CURATED_EVENTS, on_date("2026-11-01"), [part])
    assert mine.read(lake.CURATED_EVENTS).equals(rows)


def test_a_part_is_stored_whole_through_put_when_the_lake_has_one(tmp_path):
    stored: list[str] = []

    def put(url: str, data: bytes) -> None:  # as one S3 PutObject would
        path = Path(url.removeprefix("file://"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stored.append(url)

    plain = Lake.on_disk(tmp_path, "retail")
    plain.ensure()
    putting = Lake(plain.catalog, plain.namespace, plain.roots, put=put)
    rows = events("2026-11-01", "events/dt=2026-11-01/a.csv")
    part = putting.write_part(lake.CURATED_EVENTS, rows, "a")
    assert stored == [part.path]
    putting.replace(lake.CURATED_EVENTS, on_date("2026-11-01"), [part])
    assert plain.read(lake.CURATED_EVENTS).equals(rows)


def test_tables_keep_exact_source_file_statistics_and_no_bounds_of_the_id_hash(two_lakes):
    mine, _ = two_lakes
    curated = mine.table(lake.CURATED_EVENTS).properties
    assert curated["write.metadata.metrics.column.source_file"] == "full"
    assert curated["write.metadata.metrics.column.event_id_hash"] == "counts"
    revenue = mine.table(REVENUE).properties
    assert not any(key.startswith("write.metadata.metrics.column.") for key in revenue)
