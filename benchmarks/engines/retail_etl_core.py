"""The engine under test: retail_etl's domain core, through the local engine-free run."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from retail_etl.domain.aggregate import COLUMNS, DICTIONARY_COLUMNS, compute_aggregates
from retail_etl.local_core import LocalCore, process_all, read_curated


def clean_enrich(input_dir: Path, out_dir: Path) -> dict:
    reports = process_all(input_dir, LocalCore(out_dir))
    events = [r for r in reports if r.kind == "events"]
    return {
        "curated_rows": sum(r.rows_curated for r in events),
        "quarantined_rows": sum(r.quarantined_total for r in events),
        "duplicate_rows": sum(r.rows_duplicate for r in events),
    }


def aggregate(curated_dir: Path, out_dir: Path) -> dict:
    events = read_curated(
        curated_dir / "curated" / "events",
        columns=list(COLUMNS),
        dictionary_columns=DICTIONARY_COLUMNS,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, table in compute_aggregates(events).items():
        pq.write_table(table, out_dir / f"{name}.parquet")
        counts[name] = table.num_rows
    return counts
