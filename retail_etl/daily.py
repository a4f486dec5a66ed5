"""The daily workflow's steps, as the state machine runs them: plan → aggregate → load → mark.

Each step is a plain function over adapters, so the Lambda handlers, the local runtime and
the tests call the same code. Dates are ISO strings at the edges (Step Functions JSON).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import pyarrow as pa

from retail_etl.adapters.ledger import DynamoLedger
from retail_etl.adapters.objects import ObjectStore
from retail_etl.adapters.warehouse import LoadRequest
from retail_etl.config import Settings
from retail_etl.domain.aggregate import COLUMNS, compute_aggregates
from retail_etl.ingest import CURATED_EVENTS, PRODUCT_HISTORY

AGGREGATES_PREFIX = "aggregates"


@dataclass(frozen=True)
class DayPlan:
    date: str
    curated_bytes: int
    engine: str  # "lambda" or "glue"
    dirty_seq: int  # the ledger change this run covers (0: not dirty, the run date itself)


def default_run_date(today: dt.date | None = None) -> dt.date:
    """The business date a daily run covers by default: yesterday, UTC."""
    return (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)


def curated_prefix(day: str) -> str:
    return f"{CURATED_EVENTS}/event_date={day}/"


def aggregate_prefix(name: str, day: str) -> str:
    return f"{AGGREGATES_PREFIX}/{name}/event_date={day}/"


def plan(
    run_date: dt.date, settings: Settings, store: ObjectStore, ledger: DynamoLedger
) -> list[DayPlan]:
    """The run date plus every date the ledger marks dirty, each with its engine."""
    dirty = ledger.dirty_dates()
    days = sorted(set(dirty) | {run_date})
    out = []
    for day in days:
        size = sum(store.sizes(settings.curated_bucket, curated_prefix(day.isoformat())).values())
        engine = "glue" if size > settings.glue_threshold_bytes else "lambda"
        out.append(DayPlan(day.isoformat(), size, engine, dirty.get(day, 0)))
    return out


def read_curated_day(day: str, settings: Settings, session=None) -> pa.Table:
    """One date's curated events, read with awswrangler into Arrow-backed columns."""
    import awswrangler as wr

    path = f"s3://{settings.curated_bucket}/{curated_prefix(day)}"
    if not wr.s3.list_objects(path, boto3_session=session):
        from retail_etl.domain.contract import CURATED_EVENTS as SCHEMA

        return SCHEMA.empty_table().select(list(COLUMNS))
    frame = wr.s3.read_parquet(
        path, columns=list(COLUMNS), dtype_backend="pyarrow", boto3_session=session
    )
    return pa.Table.from_pandas(frame, preserve_index=False)


def aggregate_day(day: str, settings: Settings, store: ObjectStore) -> dict[str, int]:
    """Aggregate one date and replace that date's objects of each aggregate, nothing else."""
    events = read_curated_day(day, settings)
    counts = {}
    for name, table in compute_aggregates(events).items():
        prefix = aggregate_prefix(name, day)
        stale = store.list(settings.analytics_bucket, prefix)
        store.put_parquet(settings.analytics_bucket, f"{prefix}part-0.parquet", table)
        store.delete(
            settings.analytics_bucket, [k for k in stale if not k.endswith("part-0.parquet")]
        )
        counts[name] = table.num_rows
    return counts


def load_request(days: list[str], settings: Settings, store: ObjectStore) -> LoadRequest:
    """S3 locations of the dates' curated events and aggregates (only those that exist)."""

    def source(table: str, day: dt.date | None) -> str | None:
        if table == "dim_product":
            return f"s3://{settings.curated_bucket}/{PRODUCT_HISTORY}"
        assert day is not None
        bucket, prefix = (
            (settings.curated_bucket, curated_prefix(day.isoformat()))
            if table == "fact_events"
            else (settings.analytics_bucket, aggregate_prefix(table, day.isoformat()))
        )
        return f"s3://{bucket}/{prefix}" if store.list(bucket, prefix) else None

    return LoadRequest([dt.date.fromisoformat(d) for d in days], source)


def mark_loaded(days: list[DayPlan], ledger: DynamoLedger) -> dict[str, list[str]]:
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
