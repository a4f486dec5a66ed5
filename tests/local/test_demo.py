"""The demo end to end on the emulated pipeline, checked against the generator's manifest and
an independent DuckDB implementation of the contract over the same raw files."""

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.engines import duckdb_ref
from retail_etl.domain import lake
from retail_etl.domain.contract import AGGREGATES
from retail_etl.generator.late import LATE_EVENTS_PER_DATE
from retail_etl.local.demo import run_demo
from retail_etl.local.runtime import UNCHANGED

ORDER = {
    "daily_category_revenue": "event_date, category",
    "daily_top_viewed_products": "event_date, rank",
    "daily_multi_purchase_users": "event_date, user_id",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("demo"), days=2, events_per_day=1500, seed=3)


def test_every_dropped_file_lands_and_reconciles_exactly_as_the_manifest_says(demo):
    files = {f.key: f.to_dict() for f in demo.first.files}
    assert sorted(files) == sorted(demo.manifest["files"])
    for key, expected in demo.manifest["files"].items():
        got = files[key]
        assert got["status"] == "DONE" and got["reconciles"], key
        assert (got["rows_in"], got["rows_curated"], got["rows_duplicate"]) == (
            expected["rows_in"],
            expected["rows_curated"],
            expected["rows_duplicate"],
        ), key
        assert {r: n for r, n in got["rows_quarantined"].items() if n} == {
            r: n for r, n in expected["rows_quarantined"].items() if n
        }, key
    assert demo.first.ok and demo.first.dead_letters == 0


def test_quarantine_counts_by_reason_equal_the_injected_mess(demo):
    expected = {
        f"{kind}/{reason}": rows
        for kind in ("events", "products")
        for reason, rows in demo.manifest["totals"][kind]["rows_quarantined"].items()
        if rows
    }
    assert dict(demo.first.quarantine) == expected


def test_the_warehouse_aggregates_equal_an_independent_duckdb_computation(demo, tmp_path):
    duckdb_ref.clean_enrich(demo.input_dir, tmp_path / "curated")  # the late file included
    duckdb_ref.aggregate(tmp_path / "curated", tmp_path / "aggregates")
    with duckdb.connect(str(demo.out_dir / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        for name, schema in AGGREGATES.items():
            got = con.execute(
                f"SELECT * FROM retail.{name} ORDER BY {ORDER[name]}"
            ).fetch_arrow_table()
            reference = tmp_path / "aggregates" / f"{name}.parquet"
            expected = pq.read_table(reference).to_pandas()
            expected = expected.sort_values(ORDER[name].split(", ")).reset_index(drop=True)
            assert got.num_rows > 0, name
            assert got.cast(schema).equals(
                pa.Table.from_pandas(expected, schema, preserve_index=False)
            ), name


def test_the_warehouse_facts_per_date_equal_the_manifest_plus_the_late_events(demo):
    expected = dict(demo.manifest["curated_by_event_date"])
    for day in demo.late_dates:
        expected[day] = expected.get(day, 0) + LATE_EVENTS_PER_DATE
    with duckdb.connect(str(demo.out_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT CAST(event_date AS VARCHAR), count(*) FROM retail.fact_events GROUP BY 1"
        ).fetchall()
        distinct = con.execute("SELECT count(DISTINCT event_id) FROM retail.fact_events").fetchone()
    assert dict(rows) == expected
    assert distinct[0] == sum(expected.values())


def test_a_second_pass_processes_nothing_new(demo):
    assert [f.status for f in demo.second.files] == [UNCHANGED] * len(demo.manifest["files"])
    assert demo.second.daily is None
    assert demo.redelivered == len(demo.manifest["files"])
    assert demo.reprocessed_on_redelivery == 0


def test_a_late_file_re_aggregates_exactly_the_dates_of_its_events(demo):
    processed = [f for f in demo.late.files if f.status != UNCHANGED]
    assert [f.key for f in processed] == [demo.late_key]
    assert processed[0].record.event_dates == demo.late_dates
    assert demo.late.daily.aggregated == demo.late_dates
    assert demo.late.daily.still_dirty == []


def test_the_output_folder_holds_the_zones_the_warehouse_and_the_ledger(demo):
    out = demo.out_dir
    # every Iceberg table: data files, metadata, and its current metadata file in catalog.json
    catalog = json.loads((out / "catalog.json").read_text())
    for spec in lake.TABLES.values():
        assert any((out / spec.prefix / "data").rglob("*.parquet")), spec.name
        current = catalog[spec.name].removeprefix("s3://").split("/", 1)[1]
        assert (out / current).is_file(), spec.name
    ledger = json.loads((out / "ledger.json").read_text())
    done = [i for i in ledger if i["pk"].startswith("file#") and i["status"] == "DONE"]
    assert len(done) == len(demo.manifest["files"]) + 1  # and the late file


def test_the_demo_command_reports_every_step_of_the_demo(demo, monkeypatch, capsys, tmp_path):
    """`retail-etl demo` prints and writes what `run_demo` did: the demo of this module, run
    once for both (the command adds no step of its own)."""
    from retail_etl.cli import main

    monkeypatch.setattr("retail_etl.local.demo.run_demo", lambda *args, **kwargs: demo)
    report = tmp_path / "demo.json"
    code = main(["demo", "--days", "2", "--events-per-day", "1500", "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0
    last_day = max(demo.first.daily.aggregated)
    assert f"retail.daily_top_viewed_products for {last_day}" in out
    assert "0 file(s) processed again" in out
    data = json.loads(report.read_text())
    keys = [f["key"] for f in data["first_run"]["files"]]
    assert [k for k in keys if k.startswith("products/")] == sorted(
        k for k in demo.manifest["files"] if k.startswith("products/")
    )
    assert data["first_run"]["ok"]
    assert data["first_run"]["quarantine"]["events/unknown_product"] > 0
    assert data["second_pass"]["run"]["daily"] is None
    assert data["late_run"]["daily"]["dates"][0]["date"] == demo.late_dates[0]
