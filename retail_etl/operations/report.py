"""The data behind `retail-etl report`: what one page shows, as typed records.

The same SQL runs on two engines: locally on DuckDB over the lake's tables read with PyIceberg
(the Iceberg tables of the run's folder), on a deployed stack on Athena over the same tables
in the Glue catalog. So the statements below stay in the dialect both speak (no DuckDB-only or
Trino-only functions; dates and timestamps cast to VARCHAR, decimals read back exactly). The
file ledger and its true counts come from the ledger and the tables (`counts.py`), as in
`status`. Rendering is elsewhere (`retail_etl/report/`): this module knows no HTML.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from retail_etl.adapters.ledger import Ledger
from retail_etl.adapters.objects import Store
from retail_etl.adapters.tables import Lake
from retail_etl.domain import lake
from retail_etl.operations.counts import FileCounts, Totals, pipeline_counts

WINDOW_DAYS = 30  # the charts show the last 30 event dates that have data
TOP_SPENDERS = 10

Row = dict[str, Any]


class SqlEngine(Protocol):
    """Runs one SELECT over the pipeline's tables (by their catalog names); rows as dicts."""

    def rows(self, sql: str) -> list[Row]: ...


@dataclass(frozen=True)
class CategoryRevenue:
    event_date: str
    category: str
    revenue: Decimal
    purchases: int
    units: int


@dataclass(frozen=True)
class TopProduct:
    event_date: str
    rank: int
    product_id: str
    product_name: str
    category: str
    views: int


@dataclass(frozen=True)
class MultiPurchaseUser:
    event_date: str
    user_id: str
    purchases: int
    total_spend: Decimal


@dataclass(frozen=True)
class QuarantineDay:
    event_date: str  # the event's, else its file's dt= date; "" when neither is known
    reason: str
    rows: int


@dataclass(frozen=True)
class Freshness:
    latest_event: str | None  # the newest curated event's timestamp
    last_ingested: str | None  # when the newest curated row was written
    last_file_claimed: str | None  # the newest file version the ledger saw
    dirty_dates: list[str]  # changed since their last load: the warehouse is behind on these
    generated_at: str


@dataclass(frozen=True)
class ReportData:
    source: str  # "local run in out/" or "stack RetailEtl-prod"
    revenue: list[CategoryRevenue]
    top_products: list[TopProduct]
    multi_purchase_users: list[MultiPurchaseUser]  # the top spenders of the window
    multi_purchase_per_day: dict[str, int]  # event date -> users with 2+ purchases
    quarantine: list[QuarantineDay]
    files: list[FileCounts]
    totals: Totals
    freshness: Freshness
    notes: list[str] = field(default_factory=list)


def _window(table: str) -> str:
    """The last WINDOW_DAYS dates of a table (both engines accept `date - INTERVAL 'n' DAY`)."""
    return f"event_date > (SELECT max(event_date) FROM {table}) - INTERVAL '{WINDOW_DAYS}' DAY"


QUERIES: dict[str, str] = {
    "revenue": f"""
        SELECT CAST(event_date AS VARCHAR) AS event_date, category,
               CAST(revenue AS VARCHAR) AS revenue, purchases, units
        -- event_date as VARCHAR: ISO dates sort the same as text
        FROM daily_category_revenue WHERE {_window("daily_category_revenue")}
        ORDER BY event_date, category""",
    "top_products": f"""
        SELECT CAST(event_date AS VARCHAR) AS event_date, rank, product_id, product_name,
               category, views
        FROM daily_top_viewed_products WHERE {_window("daily_top_viewed_products")}
        ORDER BY event_date, rank""",
    "multi_purchase_per_day": f"""
        SELECT CAST(event_date AS VARCHAR) AS event_date, count(*) AS users
        FROM daily_multi_purchase_users WHERE {_window("daily_multi_purchase_users")}
        GROUP BY event_date ORDER BY event_date""",
    "top_spenders": f"""
        SELECT CAST(event_date AS VARCHAR) AS event_date, user_id, purchases,
               CAST(total_spend AS VARCHAR) AS spend
        FROM daily_multi_purchase_users WHERE {_window("daily_multi_purchase_users")}
        ORDER BY total_spend DESC, event_date, user_id LIMIT {TOP_SPENDERS}""",
    # rows quarantined again inside a replay file are the same input rows a second time;
    # a row with no valid event date counts on its file's drop date (the key's dt=), if any
    "quarantine": """
        SELECT coalesce(CAST(event_date AS VARCHAR),
                        regexp_extract(source_file, 'dt=([0-9]{4}-[0-9]{2}-[0-9]{2})', 1),
                        '') AS event_date, reason,
               count(*) AS row_count
        FROM quarantine WHERE source_file NOT LIKE '%/replay/%'
        GROUP BY 1, 2
        UNION ALL
        SELECT CAST(event_date AS VARCHAR), 'unknown_product', count(*)
        FROM parked_events GROUP BY 1
        ORDER BY 1, 2""",
    "freshness": """
        SELECT CAST(max(event_ts) AS VARCHAR) AS latest_event,
               CAST(max(ingested_at) AS VARCHAR) AS last_ingested
        FROM curated_events""",
}


def build_report(
    source: str,
    engine: SqlEngine,
    ledger: Ledger,
    tables: Lake,
    store: Store,
    raw_bucket: str,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> ReportData:
    """Every section's data, from one engine and the ledger."""
    q = {name: engine.rows(sql) for name, sql in QUERIES.items()}
    records = ledger.files()
    counts = pipeline_counts(ledger, tables, store, raw_bucket, records)
    dirty = sorted(d.isoformat() for d in ledger.dirty_dates())
    loaded = len(ledger.known_dates()) - len(dirty)
    claimed = max((r.started_at for r in records), default=0)
    fresh = q["freshness"][0] if q["freshness"] else {}
    return ReportData(
        source=source,
        revenue=[
            CategoryRevenue(
                r["event_date"],
                r["category"],
                Decimal(r["revenue"]),
                int(r["purchases"]),
                int(r["units"]),
            )
            for r in q["revenue"]
        ],
        top_products=[
            TopProduct(
                r["event_date"],
                int(r["rank"]),
                str(r["product_id"]),
                r["product_name"] or "",
                r["category"] or "",
                int(r["views"]),
            )
            for r in q["top_products"]
        ],
        multi_purchase_users=[
            MultiPurchaseUser(
                r["event_date"], str(r["user_id"]), int(r["purchases"]), Decimal(r["spend"])
            )
            for r in q["top_spenders"]
        ],
        multi_purchase_per_day={
            r["event_date"]: int(r["users"]) for r in q["multi_purchase_per_day"]
        },
        quarantine=[
            QuarantineDay(r["event_date"] or "", r["reason"], int(r["row_count"]))
            for r in q["quarantine"]
        ],
        files=sorted(counts.files.values(), key=lambda f: (f.landed, f.key)),
        totals=counts.totals(dates_loaded=loaded),
        freshness=Freshness(
            latest_event=fresh.get("latest_event") or None,
            last_ingested=fresh.get("last_ingested") or None,
            last_file_claimed=(
                dt.datetime.fromtimestamp(claimed, dt.UTC).isoformat(timespec="seconds")
                if claimed
                else None
            ),
            dirty_dates=dirty,
            generated_at=now().isoformat(timespec="seconds"),
        ),
    )


# engines --------------------------------------------------------------------------------------

REPORT_TABLES: dict[str, tuple[lake.LakeTable, tuple[str, ...]]] = {
    "daily_category_revenue": (lake.AGGREGATES["daily_category_revenue"], ("*",)),
    "daily_top_viewed_products": (lake.AGGREGATES["daily_top_viewed_products"], ("*",)),
    "daily_multi_purchase_users": (lake.AGGREGATES["daily_multi_purchase_users"], ("*",)),
    "quarantine": (lake.QUARANTINE, ("source_file", "event_date", "reason")),
    "parked_events": (lake.PARKED_EVENTS, ("event_date",)),
    "curated_events": (lake.CURATED_EVENTS, ("event_ts", "ingested_at")),
}


# `retail-etl query --lake`: every table, every column
ALL_TABLES: dict[str, tuple[lake.LakeTable, tuple[str, ...]]] = {
    name: (spec, ("*",)) for name, spec in lake.TABLES.items()
}


class DuckDBOverLake:
    """Lake tables' current rows (only the columns asked for) in an in-memory DuckDB, under
    their catalog names: a local run's folder has no Athena. (Its data folders also hold the
    files of older snapshots, so reading the Parquet directly would count replaced rows.)"""

    def __init__(
        self, tables: Lake, which: dict[str, tuple[lake.LakeTable, tuple[str, ...]]] | None = None
    ) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        for name, (spec, columns) in (which or REPORT_TABLES).items():
            self.con.register(name, tables.read(spec, None, columns))

    def execute(self, sql: str, limit: int | None = None) -> tuple[list[str], list[tuple]]:
        result = self.con.execute(sql)
        names = [c[0] for c in result.description or []]
        return names, result.fetchall() if limit is None else result.fetchmany(limit)

    def rows(self, sql: str) -> list[Row]:
        names, rows = self.execute(sql)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def close(self) -> None:
        self.con.close()


class AthenaError(Exception):
    """A report query failed in Athena (its state reason says why)."""


class Athena:
    """SELECTs through Athena in the stack's workgroup (which enforces its own result location
    and a bytes-scanned cap), in the Glue database of the lake."""

    def __init__(
        self,
        client: Any,
        database: str,
        workgroup: str,
        poll_seconds: float = 1.0,
        max_polls: int = 600,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.database = database
        self.workgroup = workgroup
        self.poll_seconds = poll_seconds
        self.max_polls = max_polls
        self.sleep = sleep

    def rows(self, sql: str) -> list[Row]:
        from botocore.exceptions import ClientError

        try:
            started = self.client.start_query_execution(
                QueryString=sql,
                QueryExecutionContext={"Database": self.database},
                WorkGroup=self.workgroup,
            )
        except ClientError as exc:  # e.g. no such workgroup: the stack is not (fully) deployed
            if exc.response["Error"]["Code"] != "InvalidRequestException":
                raise
            raise AthenaError(f"workgroup {self.workgroup}: {exc}") from exc
        execution = started["QueryExecutionId"]
        self._wait(execution)
        return self._results(execution)

    def _wait(self, execution: str) -> None:
        for _ in range(self.max_polls):
            status = self.client.get_query_execution(QueryExecutionId=execution)["QueryExecution"][
                "Status"
            ]
            if status["State"] == "SUCCEEDED":
                return
            if status["State"] in ("FAILED", "CANCELLED"):
                raise AthenaError(status.get("StateChangeReason", status["State"]))
            self.sleep(self.poll_seconds)
        raise AthenaError(f"query {execution} still running after {self.max_polls} polls")

    def _results(self, execution: str) -> list[Row]:
        """Every page; Athena's first row of a SELECT is the header."""
        pages = self.client.get_paginator("get_query_results").paginate(QueryExecutionId=execution)
        names: Sequence[str] | None = None
        out: list[Row] = []
        for page in pages:
            result = page["ResultSet"]
            if names is None:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                names = [c["Name"] for c in info]
                rows = result["Rows"][1:]
            else:
                rows = result["Rows"]
            for row in rows:
                values = [cell.get("VarCharValue") for cell in row["Data"]]
                out.append(dict(zip(names, values, strict=True)))
        return out
