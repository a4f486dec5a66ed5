"""The daily workflow's steps, as the state machine runs them:
plan → for each date: refresh, aggregate (Lambda, or Glue then publish) → load → mark loaded.

Each step is a plain function over adapters, so the Lambda handlers, the local runtime and
the tests call the same code. Dates are ISO strings at the edges (Step Functions JSON).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass

import pyarrow as pa

from retail_etl.adapters.ledger import Ledger
from retail_etl.adapters.objects import Store
from retail_etl.adapters.tables import DataFile, Lake, on_date
from retail_etl.adapters.warehouse import FileSet, LoadRequest
from retail_etl.config import Settings
from retail_etl.domain import lake
from retail_etl.domain.aggregate import COLUMNS, compute_aggregates
from retail_etl.domain.catalog import ProductHistory
from retail_etl.domain.refresh import demoted, re_enriched, still_parked


@dataclass(frozen=True)
class DayPlan:
    date: str
    curated_bytes: int
    engine: str  # "lambda" or "glue"
    dirty_seq: int  # the ledger change this run covers (0: not dirty, the run date itself)


def default_run_date(today: dt.date | None = None) -> dt.date:
    """The business date a daily run covers by default: yesterday, UTC."""
    return (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)


def plan(run_date: dt.date, settings: Settings, tables: Lake, ledger: Ledger) -> list[DayPlan]:
    """The run date plus every date the ledger marks dirty, each with its engine. The dirty
    counters are read before any data, so a change committed after this read keeps its date
    dirty for the next run (see `mark_loaded`)."""
    dirty = ledger.dirty_dates()
    days = sorted(set(dirty) | {run_date})
    # each table planned once for every date (its manifests read once, not once a date)
    files = [
        tables.data_files_by_date(spec, [d.isoformat() for d in days])
        for spec in (lake.CURATED_EVENTS, lake.PARKED_EVENTS)
    ]
    out = []
    for day in days:
        size = sum(f.size for by_date in files for f in by_date[day.isoformat()])
        engine = "glue" if size > settings.glue_threshold_bytes else "lambda"
        out.append(DayPlan(day.isoformat(), size, engine, dirty.get(day, 0)))
    return out


def refresh_day(day: str, tables: Lake) -> pa.Table:
    """Re-enrich one date against the current product history (`domain/refresh.py`): the
    date's curated rows then are what one clean run over the current files gives. Returns
    them."""
    history = ProductHistory(tables.read(lake.PRODUCT_HISTORY))
    where = on_date(day)

    def curated() -> pa.Table:
        return tables.read(lake.CURATED_EVENTS, where)

    def parked() -> pa.Table:
        return tables.read(lake.PARKED_EVENTS, where)

    # A first look decides which of the three commits can be needed; each one re-reads what
    # it changes, and a change after this look marks the date dirty again anyway.
    first_parked = parked()
    if demoted(curated(), first_parked, history) is not None:
        tables.rewrite(lake.PARKED_EVENTS, where, lambda p: demoted(curated(), p, history))
        first_parked = None
    rows = tables.rewrite(lake.CURATED_EVENTS, where, lambda c: re_enriched(c, parked(), history))
    if first_parked is None or first_parked.num_rows:
        tables.rewrite(lake.PARKED_EVENTS, where, lambda p: still_parked(p, rows))
    return rows


def aggregate_day(day: str, tables: Lake) -> dict[str, int]:
    """Refresh one date, then replace that date's rows of each aggregate (one commit each)."""
    events = refresh_day(day, tables)
    return publish_aggregates(day, tables, compute_aggregates(events.select(list(COLUMNS))))


def publish_aggregates(day: str, tables: Lake, results: dict[str, pa.Table]) -> dict[str, int]:
    """Replace a date's rows of each aggregate table (one commit each; none when the rows are
    already those)."""
    counts = {}
    for name, rows in results.items():
        spec = lake.AGGREGATES[name]
        new = rows.cast(spec.schema)
        tables.rewrite(
            spec, on_date(day), lambda current, new=new: None if current.equals(new) else new
        )
        counts[name] = rows.num_rows
    return counts


def prepare_glue(day: str, settings: Settings, store: Store, tables: Lake) -> dict:
    """For a date the Glue job aggregates: refresh it, then write the manifest of its
    current curated data files for the job, and say where its output goes."""
    refresh_day(day, tables)
    files = tables.data_files(lake.CURATED_EVENTS, on_date(day))
    manifest = _write_manifest(settings, store, f"glue/{day}", files)
    output = f"s3://{settings.analytics_bucket}/{lake.GLUE_OUTPUT_PREFIX}/{day}/{uuid.uuid4().hex}/"
    return {"date": day, "manifest": manifest, "output_path": output}


def publish_glue_output(day: str, output_path: str, tables: Lake) -> dict[str, int]:
    """Commit the Glue job's aggregates of a date to the aggregate tables."""
    import awswrangler as wr

    results = {}
    for name, spec in lake.AGGREGATES.items():
        path = f"{output_path.rstrip('/')}/{name}/event_date={day}/"
        if wr.s3.list_objects(path):
            frame = wr.s3.read_parquet(path, dtype_backend="pyarrow")
            rows = pa.Table.from_pandas(frame, preserve_index=False)
        else:
            rows = spec.schema.empty_table()
        results[name] = rows.select(spec.schema.names).cast(spec.schema)
    return publish_aggregates(day, tables, results)


def _write_manifest(settings: Settings, store: Store, name: str, files: list[DataFile]) -> str:
    """A Redshift COPY manifest (Parquet needs each file's content_length) in the analytics
    bucket; the same JSON tells the Glue job which files to read."""
    body = {
        "entries": [
            {"url": f.path, "mandatory": True, "meta": {"content_length": f.size}} for f in files
        ]
    }
    key = f"{lake.MANIFESTS_PREFIX}/{name}/{uuid.uuid4().hex}.manifest"
    store.put_object(settings.analytics_bucket, key, json.dumps(body).encode())
    return f"s3://{settings.analytics_bucket}/{key}"


def load_request(days: list[str], settings: Settings, store: Store, tables: Lake) -> LoadRequest:
    """The current data files of each date's facts and aggregates, and of the product history,
    each set with a COPY manifest (tables with no rows for a date are skipped)."""
    sources: dict[tuple[str, str | None], FileSet] = {}
    specs = {"fact_events": lake.CURATED_EVENTS, **lake.AGGREGATES}
    for table, spec in specs.items():
        for day, files in tables.data_files_by_date(spec, days).items():
            if files:
                manifest = _write_manifest(settings, store, f"{table}/{day}", files)
                sources[(table, day)] = FileSet(manifest, [f.path for f in files])
    files = tables.data_files(lake.PRODUCT_HISTORY)
    if files:
        manifest = _write_manifest(settings, store, "dim_product", files)
        sources[("dim_product", None)] = FileSet(manifest, [f.path for f in files])
    return LoadRequest(
        [dt.date.fromisoformat(d) for d in days],
        lambda table, day: sources.get((table, day.isoformat() if day else None)),
    )


def mark_loaded(days: list[DayPlan], ledger: Ledger) -> dict[str, list[str]]:
    """Record the loads; a date that changed again meanwhile stays dirty for the next run."""
    clean, dirty = [], []
    for day in days:
        if day.dirty_seq == 0:
            continue
        done = ledger.mark_loaded(dt.date.fromisoformat(day.date), day.dirty_seq)
        (clean if done else dirty).append(day.date)
    return {"clean": clean, "still_dirty": dirty}


def as_json(plans: list[DayPlan]) -> list[dict]:
    return [asdict(p) for p in plans]
