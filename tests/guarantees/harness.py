"""A pipeline for the fault campaign: the real ingest and daily steps, with a crash at any AWS
call on demand.

S3 and DynamoDB are moto (in-process), the Iceberg catalog is PyIceberg's SQL catalog on a
SQLite file with the tables' files on local disk (fast, and its commits are checked as Glue's
are), and the warehouse is a DuckDB file running the Redshift SQL. Every boto3 call and every
Iceberg commit passes through `Faults`, which can kill the running attempt before or after
any of them: from then on every call of that attempt fails, as if the process had died, and
the harness then does what AWS would do (the message is redelivered, the task retried).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import patch

import boto3
from moto import mock_aws
from pyiceberg.catalog.sql import SqlCatalog

from retail_etl import daily
from retail_etl.adapters.ledger import DynamoLedger
from retail_etl.adapters.objects import ObjectStore
from retail_etl.adapters.tables import Lake
from retail_etl.adapters.warehouse import DuckDBWarehouse
from retail_etl.config import Settings
from retail_etl.domain import lake
from retail_etl.ingest import FileBusy, Ingestor, ObjectRef
from retail_etl.local.account import provision_storage

RUN_DATE = dt.date(2026, 11, 3)
WAREHOUSE_TABLES = (
    "fact_events",
    "dim_product",
    "daily_category_revenue",
    "daily_top_viewed_products",
    "daily_multi_purchase_users",
)
# columns that record when something was processed, not what the inputs say
PROCESSING_TIME = {"ingested_at", "quarantined_at"}


FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


@contextmanager
def emulated_account() -> Iterator[None]:
    """In-process moto with fake credentials, for code that runs outside a test function
    (session fixtures, the dry run that finds the crash points)."""
    with patch.dict(os.environ, FAKE_AWS), mock_aws():
        yield


class Crash(Exception):
    """The injected death of an attempt."""


@dataclass(frozen=True)
class CrashPoint:
    step: str  # "ingest:<key>#<n>" or a daily step name
    call: str  # "s3.PutObject", "iceberg.commit:curated_events", …
    when: str  # "before" or "after" the call takes effect


@dataclass
class Faults:
    armed: CrashPoint | None = None
    step: str = ""
    fired: bool = False
    dead: bool = False
    calls: dict[str, list[str]] = field(default_factory=dict)

    def enter(self, step: str) -> None:
        self.step, self.dead = step, False
        self.calls.setdefault(step, [])

    def hook(self, call: str, when: str) -> None:
        if self.dead:
            raise Crash(f"{call} after the attempt died")
        if when == "before":
            self.calls.setdefault(self.step, []).append(call)
        point = CrashPoint(self.step, call, when)
        if not self.fired and self.armed == point:
            self.fired = self.dead = True
            raise Crash(f"crash {when} {call} in {self.step}")

    def instrument(self, client) -> None:
        def before(model, **_):
            self.hook(f"{model.service_model.service_name}.{model.name}", "before")

        def after(model, **_):
            self.hook(f"{model.service_model.service_name}.{model.name}", "after")

        client.meta.events.register("before-call", before)
        client.meta.events.register("after-call", after)


class CrashingSqlCatalog(SqlCatalog):
    """PyIceberg's SQL catalog with every commit passed through `Faults`."""

    faults: Faults

    def commit_table(self, table, requirements, updates):
        name = f"iceberg.commit:{table.name()[-1]}"
        self.faults.hook(name, "before")
        response = super().commit_table(table, requirements, updates)
        self.faults.hook(name, "after")
        return response


class Pipeline:
    """One emulated deployment (fresh names) with its lake, ledger and warehouse."""

    def __init__(self, root: Path, faults: Faults | None = None, lease_seconds: int = -5) -> None:
        self.faults = faults or Faults()
        name = f"c{uuid.uuid4().hex[:10]}"
        self.settings = Settings.for_prefix(name)
        provision_storage(self.settings)
        self.s3 = boto3.client("s3")
        self.faults.instrument(self.s3)
        dynamodb = boto3.client("dynamodb")
        self.faults.instrument(dynamodb)
        self.store = ObjectStore(self.s3)
        # By default a lease that has already run out: a dead attempt's claim and locks are
        # free for the retry at once (in AWS the retry comes after the lease; the outcome is
        # the same). Concurrency scenarios use a real lease.
        self.ledger = DynamoLedger(dynamodb, self.settings.ledger_table, lease_seconds)
        root.mkdir(parents=True, exist_ok=True)
        self.lake = Lake.on_disk(root, self.settings.glue_database, CrashingSqlCatalog)
        self.lake.catalog.faults = self.faults
        self.lake.ensure()
        self.ingestor = Ingestor(self.settings, self.store, self.ledger, self.lake)
        self.warehouse_path = root / "warehouse.duckdb"
        self.deliveries = 0

    # producers and S3 --------------------------------------------------------------------

    def upload(self, key: str, body: bytes) -> ObjectRef:
        self.faults.enter("upload")
        put = self.s3.put_object(Bucket=self.settings.raw_bucket, Key=key, Body=body)
        return ObjectRef(self.settings.raw_bucket, key, put["VersionId"])

    def deliver(self, ref: ObjectRef, tries: int = 50) -> None:
        """One SQS message: the handler is invoked until the message is done (each crash or
        busy answer is followed by the redelivery SQS makes, a busy one after a pause)."""
        self.deliveries += 1
        for _ in range(tries):
            self.faults.enter(f"ingest:{ref.key}#{self.deliveries}")
            try:
                self.ingestor.ingest(ref)
                return
            except Crash:
                continue
            except FileBusy:
                time.sleep(0.1)
        raise AssertionError(f"{ref.key} never succeeded in {tries} tries")

    # the daily workflow ------------------------------------------------------------------

    def _task(self, step: str, fn, *args, tries: int = 5):
        """A state machine task with its Retry: run again after a failure."""
        for _ in range(tries):
            self.faults.enter(step)
            try:
                return fn(*args)
            except Crash:
                continue
        raise AssertionError(f"{step} failed {tries} times")

    def run_daily(self) -> list[str]:
        plans = self._task("plan", daily.plan, RUN_DATE, self.settings, self.lake, self.ledger)
        for p in plans:
            self._task("aggregate_day", daily.aggregate_day, p.date, self.lake)
        self._task("load", self._load, [p.date for p in plans])
        self._task("mark_loaded", daily.mark_loaded, plans, self.ledger)
        return [p.date for p in plans]

    def _load(self, days: list[str]) -> None:
        request = daily.load_request(days, self.settings, self.store, self.lake)
        warehouse = DuckDBWarehouse(self.warehouse_path, locate=_local_path)
        try:
            warehouse.load(request)
        finally:
            warehouse.close()

    def settle(self) -> None:
        """Daily runs until no date is dirty (the scheduler's next runs)."""
        for _ in range(4):
            self.faults.enter("settle")
            if not self.ledger.dirty_dates():
                return
            self.run_daily()
        raise AssertionError("dates still dirty after four daily runs")

    # the outcome -------------------------------------------------------------------------

    def outcome(self) -> dict[str, Counter]:
        """Every warehouse and lake table as a multiset of rows, processing times left out."""
        out: dict[str, Counter] = {}
        import duckdb

        with duckdb.connect(str(self.warehouse_path), read_only=True) as con:
            for table in WAREHOUSE_TABLES:
                rows = con.execute(f"SELECT * FROM retail.{table}")
                names = [d[0] for d in rows.description]
                keep = [i for i, n in enumerate(names) if n not in PROCESSING_TIME]
                out[f"warehouse.{table}"] = Counter(
                    tuple(r[i] for i in keep) for r in rows.fetchall()
                )
        for spec in lake.TABLES.values():
            # parked rows keep no line number once demoted from curated: compare without it
            skip = PROCESSING_TIME | ({"line_number"} if spec is lake.PARKED_EVENTS else set())
            names = [n for n in spec.schema.names if n not in skip]
            rows = self.lake.read(spec).select(names).to_pylist()
            out[f"lake.{spec.name}"] = Counter(tuple(r.values()) for r in rows)
        return out


def _local_path(url: str) -> str:
    return url.removeprefix("file://")


def differences(got: dict[str, Counter], expected: dict[str, Counter]) -> dict[str, tuple]:
    """Per table, the rows only in `got` and only in `expected` (empty when identical)."""
    out = {}
    for name in expected:
        extra, missing = got[name] - expected[name], expected[name] - got[name]
        if extra or missing:
            out[name] = (
                sorted(extra.elements(), key=str)[:3],
                sorted(missing.elements(), key=str)[:3],
            )
    return out
