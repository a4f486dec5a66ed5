"""The warehouse load: DuckDB for real, Redshift's Data API with stubbed statement states."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from retail_etl.adapters.files import local_writer
from retail_etl.adapters.warehouse import (
    Copy,
    DuckDBWarehouse,
    FileSet,
    LoadFailed,
    LoadRequest,
    LoadTimedOut,
    RedshiftWarehouse,
    Statement,
    ddl,
    load_statements,
    split_sql,
)
from retail_etl.generator import generate_dataset
from retail_etl.local.direct import run_direct
from tests.conftest import export_lake

GOLDEN = Path(__file__).parent / "golden"
TABLES = (
    "fact_events",
    "dim_product",
    "daily_category_revenue",
    "daily_top_viewed_products",
    "daily_multi_purchase_users",
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    generate_dataset(local_writer(root / "in"), days=2, events_per_day=3000, seed=5)
    run = run_direct(root / "in", root / "out")
    return export_lake(run.lake, root / "tables")


def request_for(lake: Path, dates) -> LoadRequest:
    def source(table: str, day: dt.date | None) -> FileSet | None:
        if table == "dim_product":
            return FileSet("unused", sorted(str(p) for p in lake.glob("product_history/*")))
        folder = (
            lake / "curated_events" if table == "fact_events" else lake / table
        ) / f"event_date={day.isoformat()}"
        files = sorted(str(p) for p in folder.glob("*.parquet"))
        return FileSet("unused", files) if files else None

    return LoadRequest(sorted(dates), source)


def lake_dates(lake: Path) -> list[dt.date]:
    return sorted(
        dt.date.fromisoformat(p.name.split("=")[1]) for p in (lake / "curated_events").iterdir()
    )


def snapshot(wh: DuckDBWarehouse) -> dict[str, list]:
    return {t: wh.query(f"SELECT * FROM retail.{t} ORDER BY ALL").fetchall() for t in TABLES}


def test_a_load_fills_every_table_with_exact_decimals(lake, tmp_path):
    wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    wh.load(request_for(lake, lake_dates(lake)))
    counts = {t: wh.query(f"SELECT count(*) FROM retail.{t}").fetchone()[0] for t in TABLES}
    assert all(n > 0 for n in counts.values())
    revenue = wh.query(
        "SELECT sum(revenue) FROM retail.fact_events WHERE event_type = 'purchase'"
    ).fetchone()[0]
    by_category = wh.query("SELECT sum(revenue) FROM retail.daily_category_revenue").fetchone()[0]
    assert revenue == by_category
    assert str(revenue).count(".") == 1 and len(str(revenue).split(".")[1]) == 2
    types = dict(wh.query("DESCRIBE retail.fact_events").fetchall()[i][:2] for i in range(14))
    assert types["unit_price"] == "DECIMAL(12,2)"


def test_facts_of_files_written_before_event_id_hash_existed_load_with_a_null_hash(lake, tmp_path):
    """The trailing column the contract gained: the old files' rows load with NULL (FILLRECORD
    on Redshift, by name on DuckDB), the newer files' with their hash."""
    copy = tmp_path / "tables"
    shutil.copytree(lake, copy)
    day = lake_dates(copy)[0]
    (file,) = (copy / "curated_events" / f"event_date={day.isoformat()}").glob("*")
    rows = pq.ParquetFile(file).read()
    half = rows.num_rows // 2
    pq.write_table(rows.slice(0, half).drop_columns(["event_id_hash"]), file)  # the old file
    pq.write_table(rows.slice(half), file.with_name("newer.parquet"))
    wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    wh.load(request_for(copy, [day]))
    nulls, hashed = wh.query(
        "SELECT count(*) FILTER (event_id_hash IS NULL), count(event_id_hash) "
        "FROM retail.fact_events"
    ).fetchone()
    assert (nulls, hashed) == (half, rows.num_rows - half)


def test_loading_the_same_dates_twice_gives_the_same_warehouse(lake, tmp_path):
    wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    request = request_for(lake, lake_dates(lake))
    wh.load(request)
    first = snapshot(wh)
    wh.load(request)
    assert snapshot(wh) == first


def test_a_load_replaces_only_its_own_dates(lake, tmp_path):
    wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    dates = lake_dates(lake)
    wh.load(request_for(lake, dates))
    before = wh.query(
        "SELECT count(*) FROM retail.fact_events WHERE event_date = ?", [dates[0]]
    ).fetchone()
    wh.load(request_for(lake, dates[-1:]))
    after = wh.query(
        "SELECT count(*) FROM retail.fact_events WHERE event_date = ?", [dates[0]]
    ).fetchone()
    assert before == after


def test_a_load_that_fails_half_way_leaves_the_previous_rows_intact(lake, tmp_path):
    wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    dates = lake_dates(lake)
    wh.load(request_for(lake, dates))
    before = snapshot(wh)
    broken = tmp_path / "broken"
    shutil.copytree(lake, broken)
    day = dates[-1].isoformat()
    target = next((broken / "daily_multi_purchase_users" / f"event_date={day}").iterdir())
    target.write_bytes(b"not parquet")  # the fourth table of the transaction cannot be read
    with pytest.raises(Exception, match=r"(?i)parquet|magic|invalid"):
        wh.load(request_for(broken, dates))
    assert snapshot(wh) == before


def test_every_statement_transpiles_to_its_golden_duckdb_text():
    request = LoadRequest([dt.date(2026, 11, 1)], lambda t, d: manifest(t, d))
    statements = ddl() + [s for s in load_statements(request).statements if not isinstance(s, Copy)]
    rendered = "\n".join(DuckDBWarehouse.to_duckdb(s) + ";" for s in statements) + "\n"
    assert rendered == (GOLDEN / "duckdb_statements.sql").read_text()


def test_scripts_split_only_at_semicolons_outside_strings_names_and_comments():
    script = (
        "-- a comment; with a semicolon\n"
        "INSERT INTO t VALUES ('a;b');\n"
        '/* c; */ SELECT "x;y" FROM t -- the end;\n'
        ";\n"
    )
    assert split_sql(script) == ["INSERT INTO t VALUES ('a;b')", 'SELECT "x;y" FROM t']


class FakeDataApi:
    """The Redshift Data API, answering describe_statement from a script of states."""

    def __init__(self, states: list[str], error: str = "", load_errors=None) -> None:
        self.states, self.error = list(states), error
        self.batches: list[list[str]] = []
        self.load_errors = load_errors or []

    def batch_execute_statement(self, **kw):
        self.batches.append(kw["Sqls"])
        return {"Id": f"batch-{len(self.batches)}"}

    def execute_statement(self, **kw):
        return {"Id": "errors"}

    def describe_statement(self, Id):
        if Id == "errors":
            return {"Status": "FINISHED"}
        state = self.states.pop(0) if self.states else "STARTED"
        if state in ("FAILED", "ABORTED"):
            self.states.insert(0, state)  # a finished statement keeps its final state
        return {"Status": state, "Error": self.error}

    def get_statement_result(self, Id):
        return {
            "ColumnMetadata": [{"name": "file_name"}, {"name": "error_message"}],
            "Records": [[{"stringValue": f}, {"stringValue": m}] for f, m in self.load_errors],
        }


def redshift(api: FakeDataApi, max_polls: int = 5) -> RedshiftWarehouse:
    return RedshiftWarehouse(
        api, "wg", "dev", "arn:aws:iam::1:role/copy", max_polls=max_polls, sleep=lambda s: None
    )


def manifest(table: str, day: dt.date | None) -> FileSet:
    return FileSet(f"s3://lake/_manifests/{table}/{day}.manifest", [f"s3://lake/{table}/a.parquet"])


def request() -> LoadRequest:
    return LoadRequest([dt.date(2026, 11, 1)], manifest)


def test_redshift_load_runs_ddl_then_one_transaction_with_copy_from_a_manifest():
    api = FakeDataApi(["SUBMITTED", "STARTED", "FINISHED", "PICKED", "FINISHED"])
    redshift(api).load(request())
    ddl_batch, load_batch = api.batches
    assert ddl_batch[0] == "CREATE SCHEMA IF NOT EXISTS retail"
    copies = [s for s in load_batch if s.startswith("COPY ")]
    assert copies[0] == (
        "COPY stage_fact_events FROM 's3://lake/_manifests/fact_events/2026-11-01.manifest' "
        "IAM_ROLE 'arn:aws:iam::1:role/copy' FORMAT AS PARQUET MANIFEST FILLRECORD"
    )
    assert "DELETE FROM retail.fact_events WHERE event_date IN ('2026-11-01')" in load_batch
    assert not any(s.upper().startswith("TRUNCATE") for s in load_batch)


@pytest.mark.parametrize("state", ["FAILED", "ABORTED"])
def test_a_failed_or_aborted_statement_raises_with_the_first_load_errors(state):
    api = FakeDataApi(
        ["FINISHED", "STARTED", state],
        error="Load into table 'stage_fact_events' failed",
        load_errors=[("s3://lake/f.parquet", "Invalid digit, Value 'x'")],
    )
    with pytest.raises(LoadFailed) as info:
        redshift(api).load(request())
    message = str(info.value)
    assert state in message
    assert "stage_fact_events" in message
    assert "Invalid digit, Value 'x'" in message and "s3://lake/f.parquet" in message


def test_a_statement_that_never_finishes_times_out_after_the_poll_bound():
    api = FakeDataApi(["FINISHED"])  # then STARTED forever, as moto's Data API does
    with pytest.raises(LoadTimedOut, match="not finished after 5 polls"):
        redshift(api, max_polls=5).load(request())


def test_a_submitted_load_is_one_batch_and_a_failure_carries_the_load_errors():
    api = FakeDataApi(["FAILED"], error="Load failed", load_errors=[("f.parquet", "bad")])
    wh = redshift(api)
    statement = wh.submit_load(request())
    assert len(api.batches) == 1
    assert api.batches[0][0] == "CREATE SCHEMA IF NOT EXISTS retail"
    error = wh.failure(statement)
    assert isinstance(error, LoadFailed)
    assert "FAILED" in str(error) and "f.parquet" in str(error) and "bad" in str(error)


def test_polling_sleeps_between_describes_and_returns_the_statement_as_it_ended():
    api = FakeDataApi(["SUBMITTED", "STARTED", "ABORTED"], error="cancelled")
    sleeps: list[float] = []
    wh = RedshiftWarehouse(api, "wg", "dev", "role", poll_seconds=3.0, sleep=sleeps.append)
    assert wh.poll("batch-1") == Statement("batch-1", "ABORTED", "cancelled")
    assert sleeps == [3.0, 3.0]
    running = RedshiftWarehouse(FakeDataApi([]), "wg", "dev", "role", sleep=sleeps.append)
    assert running.poll("batch-1", max_polls=4).status == "STARTED"  # the bound, not an end
