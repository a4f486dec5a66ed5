"""What the operator commands (`status`, `replay-quarantine`, `backfill`, `report`) need of a
pipeline, so each is written once: a deployed stack (`operations/deployed.py`) and a local
run's folder (`local/operated.py`) differ only in what they plug in here.

Where the two really differ, the typed results say so, not the commands: a local pipeline
ingests replay files and runs the daily workflow while the command waits, so it has the run's
report and the dates it loaded; a deployed stack ingests replay files on its own (the raw
bucket's notifications), and its daily runs are executions with an ARN and a final status.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from retail_etl.adapters.ledger import Ledger
from retail_etl.adapters.objects import Store
from retail_etl.adapters.tables import Lake
from retail_etl.config import Settings
from retail_etl.operations.replay import ReplayFile
from retail_etl.operations.report import SqlEngine

SUCCEEDED = "SUCCEEDED"
STARTED = "STARTED"  # an execution started and not waited for


class RunSummary(Protocol):
    """The report of a run that ingested files while the command waited (a local run's)."""

    @property
    def ok(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Replayed:
    """Replay files put into the raw bucket, and the run that ingested them when there was
    one (None: the pipeline ingests them on its own, as they arrive)."""

    files: list[ReplayFile]
    run: RunSummary | None = None

    @property
    def ok(self) -> bool:
        return self.run is None or self.run.ok

    def to_dict(self) -> dict[str, Any]:
        dropped = [{"key": f.key, "source_file": f.source_file, "rows": f.rows} for f in self.files]
        return {**(self.run.to_dict() if self.run else {"ok": True}), "replayed": dropped}


@dataclass(frozen=True)
class DailyOutcome:
    """One run date of the daily workflow."""

    run_date: dt.date
    status: str  # SUCCEEDED, STARTED (not waited for) or the execution's final status
    aggregated: list[str] | None = None  # the dates aggregated and loaded, when known here
    execution: str | None = None  # the state machine execution's ARN, when there is one

    @property
    def ok(self) -> bool:
        return self.status in (STARTED, SUCCEEDED)


class Pipeline(Protocol):
    """One pipeline's resources and the two actions the operator commands take on it."""

    @property
    def description(self) -> str:
        """What it is, for titles: "stack RetailEtl-prod", "local run in out"."""
        ...

    @property
    def report_path(self) -> Path:
        """Where `report` writes its page unless told otherwise."""
        ...

    @property
    def settings(self) -> Settings: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def lake(self) -> Lake: ...

    @property
    def store(self) -> Store: ...

    def dead_letters(self) -> int:
        """Messages waiting in the ingest dead-letter queue."""
        ...

    def sql_engine(self) -> AbstractContextManager[SqlEngine]:
        """SQL over the lake's tables by their catalog names, for `report`."""
        ...

    def replay(self, files: list[ReplayFile]) -> Replayed:
        """Put the replay files into the raw bucket as new objects."""
        ...

    def run_daily(self, run_date: dt.date, wait: bool = True) -> DailyOutcome:
        """Run the daily workflow for `run_date`; `wait`: until it ends, where it runs on
        its own (a local run always ends before this returns)."""
        ...
