"""Shared fixtures: fake AWS credentials for every test, and helpers to run the core on text."""

from __future__ import annotations

import datetime as dt
import gzip
import io

import pandas as pd
import pyarrow as pa
import pytest

from retail_etl.domain.catalog import ProductHistory
from retail_etl.domain.contract import CURATED_EVENTS, QUARANTINE
from retail_etl.domain.events import clean_events_file
from retail_etl.domain.report import FileReport

INGESTED_AT_US = 1_793_577_600_000_000  # 2026-11-02T00:00:00Z


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch):
    """No test may reach a real AWS endpoint or use real credentials."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)


def history_of(*rows: tuple[str, str, str, int, dt.date]) -> ProductHistory:
    """A product history from (product_id, name, category, price_cents, effective_date) rows."""
    history = ProductHistory()
    for pid, name, category, cents, effective in rows:
        versions = pd.DataFrame(
            {
                "product_id": [pid],
                "product_name": [name],
                "category": [category],
                "price_cents": [cents],
                "stock_level": pd.array([None], dtype="Int64"),
            }
        )
        history.upsert(versions, effective, f"products/dt={effective}/p.csv", INGESTED_AT_US)
    return history


@pytest.fixture
def catalog() -> ProductHistory:
    return history_of(
        ("P1", "Phone", "electronics", 19_999, dt.date(2026, 11, 1)),
        ("P2", "Book", "books", 1_250, dt.date(2026, 11, 1)),
    )


def clean_text(
    text: str | bytes,
    history: ProductHistory,
    key: str = "events/dt=2026-11-01/f.csv",
    block_bytes: int | None = None,
) -> tuple[FileReport, pa.Table, pa.Table]:
    """Run the events cleaner on a file's content; returns (report, curated, quarantine)."""
    data = text.encode() if isinstance(text, str) else text
    if key.endswith(".gz"):
        data = gzip.compress(data)
    report = FileReport(key=key, kind="events")
    kw = {"block_bytes": block_bytes} if block_bytes else {}
    batches = list(clean_events_file(io.BytesIO(data), key, history, INGESTED_AT_US, report, **kw))
    curated = pa.concat_tables([CURATED_EVENTS.empty_table(), *(b.curated for b in batches)])
    quarantine = pa.concat_tables([QUARANTINE.empty_table(), *(b.quarantine for b in batches)])
    return report, curated, quarantine


def export_lake(lake, folder):
    """Copy each table's current data files to `folder/<table>/[event_date=D/]`: the plain
    Parquet a COPY manifest or the Glue job's manifest lists (old snapshots' files left out)."""
    import shutil
    from pathlib import Path

    from retail_etl.domain.lake import TABLES

    for spec in TABLES.values():
        for f in lake.data_files(spec):
            source = Path(f.path.removeprefix("file://"))
            target = Path(folder) / spec.name
            if spec.partition:
                target /= source.parent.name  # event_date=YYYY-MM-DD
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / source.name)
    return Path(folder)


# Scheduling only (no effect on any result): xdist hands whole modules to its workers in
# collection order (`--no-loadscope-reorder` in the Makefile), so the modules that take
# longest start first and none is left running alone at the end. Measured with
# `--durations`; a module not listed keeps its place after these.
LONGEST_FIRST = (
    "tests/cli/test_run_is_a_function_of_the_files.py",
    "tests/guarantees/test_crashes_in_ingest.py",
    "tests/guarantees/test_arrival_orders.py",
    "tests/guarantees/test_crashes_in_daily.py",
    "tests/glue_jobs/test_aggregate_day.py",
    "tests/local/test_demo.py",
    "tests/cli/test_generate_and_demo.py",
    "tests/infra/test_stack.py",
    "tests/benchmarks/test_end_to_end_scenario.py",
    "tests/cli/test_run_and_operate.py",
    "tests/lambdas/test_ingest_handler.py",
)


def pytest_collection_modifyitems(items) -> None:
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
