"""The aggregates agree exactly across pandas, Spark (Glue job) and the Athena SQL (on DuckDB)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlglot

from retail_etl.adapters.files import local_writer
from retail_etl.domain import contract as c
from retail_etl.domain.aggregate import compute_aggregates
from retail_etl.generator import generate_dataset
from retail_etl.local.direct import run_direct
from tests.conftest import export_lake

REPO = Path(__file__).resolve().parents[2]
ATHENA_SQL = REPO / "sql" / "athena" / "daily_aggregates.sql"


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("agg")
    generate_dataset(local_writer(root / "in"), days=3, events_per_day=8000, seed=11)
    run = run_direct(root / "in", root / "out")
    return export_lake(run.lake, root / "tables") / "curated_events"


def day_files(curated: Path, day: str) -> list[str]:
    """A date's data files, as the manifest PrepareGlue writes lists them."""
    return sorted(str(p) for p in (curated / f"event_date={day}").glob("*.parquet"))


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("retail-etl-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


def pandas_path(curated: Path) -> dict[str, pa.Table]:
    files = ds.dataset(curated, format="parquet", partitioning=None, schema=c.CURATED_EVENTS)
    return compute_aggregates(files.to_table())


def athena_sql_on_duckdb(curated: Path) -> dict[str, pa.Table]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA retail")
    con.execute(
        "CREATE VIEW retail.curated_events AS SELECT * FROM "
        f"read_parquet('{curated}/*/*.parquet', hive_partitioning = false)"
    )
    script = ATHENA_SQL.read_text().replace("${database}", "retail")
    for statement in sqlglot.transpile(script, read="athena", write="duckdb"):
        con.execute(statement)
    order = {
        "daily_category_revenue": "event_date, category",
        "daily_top_viewed_products": "event_date, rank",
        "daily_multi_purchase_users": "event_date, user_id",
    }
    return {
        name: con.execute(f"SELECT * FROM retail.v_{name} ORDER BY {order[name]}")
        .fetch_arrow_table()
        .cast(schema)
        for name, schema in c.AGGREGATES.items()
    }


def dates(curated: Path) -> list[str]:
    return sorted(p.name.split("=", 1)[1] for p in curated.iterdir())


@pytest.fixture(scope="module")
def spark_output(spark, curated, tmp_path_factory) -> Path:
    """The Glue job run once per date, as the state machine runs it (one Spark run per date
    costs seconds, so the tests share these runs)."""
    out = tmp_path_factory.mktemp("spark")
    spark_path(spark, curated, out)
    return out


def spark_path(spark, curated: Path, out: Path) -> dict[str, pa.Table]:
    from glue_jobs.aggregate_day import run

    for day in dates(curated):
        run(spark, day_files(curated, day), str(out), day)
    return spark_tables(curated, out)


def spark_tables(curated: Path, out: Path) -> dict[str, pa.Table]:
    result = {}
    for name, schema in c.AGGREGATES.items():
        parts = [
            pq.read_table(out / name / f"event_date={day}", schema=schema)
            for day in dates(curated)
            if (out / name / f"event_date={day}").exists()
        ]
        result[name] = pa.concat_tables(parts).combine_chunks()
    return result


def test_pandas_and_the_athena_views_agree_exactly(curated):
    ours, sql = pandas_path(curated), athena_sql_on_duckdb(curated)
    for name in c.AGGREGATES:
        assert ours[name].num_rows > 0
        assert ours[name].equals(sql[name]), name


def test_the_glue_job_agrees_with_pandas_row_for_row(curated, spark_output):
    ours, theirs = pandas_path(curated), spark_tables(curated, spark_output)
    for name in c.AGGREGATES:
        assert theirs[name].schema == c.AGGREGATES[name]
        assert ours[name].equals(theirs[name]), name


def test_the_glue_job_replaces_only_its_own_date(spark, curated, spark_output, tmp_path):
    from glue_jobs.aggregate_day import run

    days = dates(curated)
    shutil.copytree(spark_output, tmp_path, dirs_exist_ok=True)
    other = tmp_path / "daily_category_revenue" / f"event_date={days[0]}"
    before = sorted(p.name for p in other.iterdir())
    run(spark, day_files(curated, days[-1]), str(tmp_path), days[-1])
    assert sorted(p.name for p in other.iterdir()) == before
    assert dt.date.fromisoformat(days[-1])


@pytest.fixture(scope="module")
def boundary_curated(tmp_path_factory) -> Path:
    """Curated events carrying the largest unit price and revenues the contract's types hold."""
    from tests.conftest import clean_text, history_of

    history = history_of(
        ("TOP", "Island", "land", 999_999_999_999, dt.date(2026, 11, 1)),
        ("EDGE", "Ship", "boats", 9_999_999_999, dt.date(2026, 11, 1)),
        ("CENT", "Pin", "boats", 1, dt.date(2026, 11, 1)),
    )
    header = "event_id,user_id,product_id,event_type,event_timestamp,quantity,session_id\n"
    rows = [
        "e1,U1,TOP,purchase,2026-11-01T10:00:00Z,100,",
        "e2,U1,TOP,purchase,2026-11-01T11:00:00Z,100,",
        "e3,U2,EDGE,purchase,2026-11-01T12:00:00Z,10000,",
        "e4,U2,CENT,purchase,2026-11-01T13:00:00Z,1,",
        "e5,U3,TOP,view,2026-11-01T13:00:00Z,10000,",
        "e6,U3,TOP,purchase,2026-11-01T13:00:00Z,101,",  # would not fit: quarantined
    ]
    report, curated, _ = clean_text(header + "\n".join(rows) + "\n", history)
    assert report.rows_quarantined == {"amount_out_of_range": 1}
    root = tmp_path_factory.mktemp("boundary") / "curated"
    (root / "event_date=2026-11-01").mkdir(parents=True)
    pq.write_table(curated, root / "event_date=2026-11-01" / "part.parquet")
    return root


def test_the_largest_amounts_aggregate_exactly_on_every_engine(spark, boundary_curated, tmp_path):
    """pandas, Spark and the Athena SQL on DuckDB agree to the cent at the types' edges."""
    from decimal import Decimal

    ours = pandas_path(boundary_curated)
    revenue = {r["category"]: r["revenue"] for r in ours["daily_category_revenue"].to_pylist()}
    assert revenue == {
        "land": Decimal("1999999999998.00"),
        "boats": Decimal("999999999900.01"),
    }
    for theirs in (
        athena_sql_on_duckdb(boundary_curated),
        spark_path(spark, boundary_curated, tmp_path),
    ):
        for name in c.AGGREGATES:
            assert ours[name].equals(theirs[name]), name
