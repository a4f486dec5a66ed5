"""One local run: drop a folder's files, run the daily workflow, report what happened.

The report's row counts are the true ones (`operations/counts.py`): where each file's rows
are once the daily workflow has run, so rows a products file released are curated, and rows
a replay landed have left the quarantine.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retail_etl.ingest import KINDS
from retail_etl.local.runtime import UNCHANGED, FileOutcome, LocalPipeline
from retail_etl.local.workflow import DailyRun
from retail_etl.operations.counts import FileCounts, Totals, pipeline_counts, totals, version_counts
from retail_etl.operations.offending import OffendingValue, top_offending


@dataclass
class RunReport:
    files: list[FileOutcome]
    ignored: list[str]
    dead_letters: int
    daily: DailyRun | None
    timings: dict[str, float] = field(default_factory=dict)
    # each file's rows where they are now, by key (a file the DLQ took has none)
    counts: dict[str, FileCounts] = field(default_factory=dict)
    offending: list[OffendingValue] = field(default_factory=list)

    @property
    def processed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status != UNCHANGED]

    def counts_of(self, f: FileOutcome) -> FileCounts:
        return self.counts.get(f.key) or FileCounts(f.key, f.kind, "", f.status)

    def ok_file(self, f: FileOutcome) -> bool:
        """Landed and reconciled; a failed file (or one the DLQ took) is never ok."""
        return f.landed and self.counts_of(f).reconciles()

    @property
    def quarantine(self) -> Counter:
        """Rows of this run's files quarantined now, by `kind/reason` (no zeros)."""
        totals: Counter = Counter()
        for f in self.files:
            for reason, rows in self.counts_of(f).quarantined.items():
                totals[f"{f.kind}/{reason}"] += rows
        return +totals

    @property
    def totals(self) -> Totals:
        dates = len(self.daily.dates) if self.daily else 0
        return totals([self.counts_of(f) for f in self.files], dates)

    @property
    def event_rows(self) -> int:
        return sum(f.record.rows_in for f in self.processed if f.kind == "events" and f.record)

    @property
    def ok(self) -> bool:
        """Every file landed and reconciles, and nothing is waiting in the DLQ."""
        return not self.dead_letters and all(self.ok_file(f) for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        rows = self.event_rows
        ingest_s = self.timings.get("ingest_s", 0.0)
        return {
            "ok": self.ok,
            "files": [self._file_dict(f) for f in self.files],
            "ignored": self.ignored,
            "dead_letters": self.dead_letters,
            "quarantine": dict(sorted(self.quarantine.items())),
            "daily": None
            if self.daily is None
            else {
                "run_date": self.daily.run_date,
                "dates": self.daily.dates,
                "marked_clean": self.daily.marked_clean,
                "still_dirty": self.daily.still_dirty,
            },
            "totals": self.totals.to_dict(),
            "offending_values": [o.__dict__ for o in self.offending],
            "event_rows": rows,
            "timings": self.timings,
            "event_rows_per_s": round(rows / self.timings["total_s"]) if rows else 0,
            "ingest_event_rows_per_s": round(rows / ingest_s) if rows and ingest_s else 0,
        }

    def _file_dict(self, f: FileOutcome) -> dict[str, Any]:
        c = self.counts_of(f)
        return {
            **f.to_dict(),
            "rows_curated": c.curated,
            "rows_duplicate": c.duplicate,
            "rows_quarantined": c.quarantined,
            "rows_released": c.released,
            "rows_replayed": c.replayed,
            "reconciles": c.reconciles(),
            "ok": self.ok_file(f),
        }


def ignored_files(input_dir: Path) -> list[str]:
    """Files under the input folder that no producer prefix covers (never dropped)."""
    return sorted(
        p.relative_to(input_dir).as_posix()
        for p in input_dir.rglob("*")
        if p.is_file() and p.relative_to(input_dir).parts[0] not in KINDS
    )


def run_folder(pipeline: LocalPipeline, input_dir: Path) -> RunReport:
    """Drop every file under `input_dir`, then run the daily workflow for the dirty dates."""
    return _run(pipeline, lambda: pipeline.drop(input_dir), ignored_files(input_dir))


def run_files(pipeline: LocalPipeline, files: dict[str, bytes]) -> RunReport:
    """Put new files (replays) into the raw bucket, then run the daily workflow."""
    return _run(pipeline, lambda: pipeline.ingest(files), [])


def _run(
    pipeline: LocalPipeline, ingest: Callable[[], list[FileOutcome]], ignored: list[str]
) -> RunReport:
    started = time.perf_counter()
    files = ingest()
    ingest_s = time.perf_counter() - started
    daily = pipeline.run_daily()
    timings = {"ingest_s": ingest_s, **(daily.timings if daily else {})}
    raw = pipeline.settings.raw_bucket
    current = pipeline_counts(pipeline.ledger, pipeline.lake, pipeline.store, raw)
    counts = {f.key: version_counts(f.record, current) for f in files if f.record}
    offending = top_offending(pipeline.lake, pipeline.store, raw, [f.key for f in files])
    timings["total_s"] = time.perf_counter() - started
    return RunReport(files, ignored, pipeline.dead_letters(), daily, timings, counts, offending)
