"""A local run's folder as the operator commands see it: the `Pipeline` of
`operations/pipeline.py` over a restored `LocalPipeline`, which it only calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retail_etl.adapters.ledger import DynamoLedger
from retail_etl.adapters.objects import ObjectStore
from retail_etl.adapters.tables import Lake
from retail_etl.config import Settings
from retail_etl.local.run import run_files
from retail_etl.local.runtime import LocalPipeline
from retail_etl.operations.pipeline import SUCCEEDED, DailyOutcome, Replayed
from retail_etl.operations.replay import ReplayFile
from retail_etl.operations.report import DuckDBOverLake

REPORT_HTML = "report.html"


class LocalRun:
    """The emulated pipeline restored from `pipeline.out_dir`; the caller enters and exits
    it (exiting writes the state back)."""

    def __init__(self, pipeline: LocalPipeline) -> None:
        self.pipeline = pipeline

    @property
    def description(self) -> str:
        return f"local run in {self.pipeline.out_dir}"

    @property
    def report_path(self) -> Path:
        return self.pipeline.out_dir / REPORT_HTML

    @property
    def settings(self) -> Settings:
        return self.pipeline.settings

    @property
    def ledger(self) -> DynamoLedger:
        return self.pipeline.ledger

    @property
    def lake(self) -> Lake:
        return self.pipeline.lake

    @property
    def store(self) -> ObjectStore:
        return self.pipeline.store

    def dead_letters(self) -> int:
        return self.pipeline.dead_letters()

    @contextmanager
    def sql_engine(self) -> Iterator[DuckDBOverLake]:
        """DuckDB over the tables' current rows: a local run's folder has no Athena."""
        engine = DuckDBOverLake(self.pipeline.lake)
        try:
            yield engine
        finally:
            engine.close()

    def replay(self, files: list[ReplayFile]) -> Replayed:
        """Ingested through the emulated pipeline now, then the daily workflow: its report."""
        return Replayed(files, run_files(self.pipeline, {f.key: f.data for f in files}))

    def run_daily(self, run_date: dt.date, wait: bool = True) -> DailyOutcome:
        run = self.pipeline.run_daily(run_date)  # with a run date, never None
        return DailyOutcome(run_date, SUCCEEDED, run.aggregated)
