"""The engine under test: retail_etl's own ingest path and aggregation, on local resources
(`retail_etl.local.direct`: the same `Ingestor` the Lambda runs, an Iceberg lake on disk)."""

from __future__ import annotations

import sqlite3  # noqa: F401  (imported by SQLAlchemy's dialect at its first connection)
from pathlib import Path

import pyarrow.parquet as pq

# The lake's catalog (PyIceberg's SQL catalog, SQLAlchemy and the SQLite dialect SQLAlchemy
# would import on the first connection, 0.01-0.03 s; sqlite3 above) is imported with this module, as
# duckdb_ref imports duckdb with its own: a stage's wall_s times its work, and imports are in
# process_s for both engines. Lake.on_disk imports it lazily (the Lambdas never use it).
import pyiceberg.catalog.sql  # noqa: F401
import sqlalchemy.dialects.sqlite  # noqa: F401

from retail_etl.domain import lake
from retail_etl.domain.aggregate import DICTIONARY_COLUMNS, aggregate_parts
from retail_etl.local.direct import DirectPipeline, open_lake
from retail_etl.memory import configure_memory

configure_memory()  # as the Lambda handlers and the command line do


def clean_enrich(input_dir: Path, out_dir: Path) -> dict:
    reports = DirectPipeline(input_dir, out_dir).ingest_all()
    events = [r for r in reports if r.kind == "events"]
    return {
        "curated_rows": sum(r.rows_curated for r in events),
        "quarantined_rows": sum(r.quarantined_total for r in events),
        "duplicate_rows": sum(r.rows_duplicate for r in events),
    }


def aggregate(curated_dir: Path, out_dir: Path) -> dict:
    """The aggregates over every curated row, read from the lake's current data files, file
    by file."""
    parts = open_lake(curated_dir, create=False).file_readers(
        lake.CURATED_EVENTS, dictionary_columns=DICTIONARY_COLUMNS
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, table in aggregate_parts(parts).items():
        pq.write_table(table, out_dir / f"{name}.parquet")
        counts[name] = table.num_rows
    return counts
