"""Per-file reconciliation: every record is curated, quarantined with a reason, a duplicate, or
excluded by its source profile."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field


class FileStatus:
    DONE = "DONE"
    FAILED_PERMANENT = "FAILED_PERMANENT"
    # a newer version of the same key was in the raw bucket when this one was ready: its
    # rows are counted but not published (the newer version's output replaces it)
    SUPERSEDED = "SUPERSEDED"


@dataclass
class FileReport:
    """What processing one file did; the ledger stores it and the CLI prints it."""

    key: str
    kind: str  # "events" or "products"
    rows_in: int = 0
    rows_curated: int = 0
    rows_duplicate: int = 0
    rows_quarantined: Counter = field(default_factory=Counter)
    # rows a source profile excludes (event types or row filters it lists): counted, not kept
    rows_excluded: int = 0
    # columns the file has that neither its profile nor the contract reads (never silent)
    unused_columns: set[str] = field(default_factory=set)
    source: str | None = None  # the profile of a `source=NAME` key
    event_dates: set[dt.date] = field(default_factory=set)
    # products files: parked unknown_product events this file's products released
    rows_released: int = 0
    status: str = FileStatus.DONE
    error_code: str | None = None
    error_message: str | None = None
    duration_s: float = 0.0
    # the publish alone: dirty marks, one commit per table, dirty marks again
    publish_s: float = 0.0

    @classmethod
    def rejected(cls, key: str, kind: str, error) -> FileReport:
        """A file rejected as a whole (`FileRejected`): nothing of it was published, so none
        of its rows count as processed."""
        return cls(
            key=key,
            kind=kind,
            status=FileStatus.FAILED_PERMANENT,
            error_code=error.code,
            error_message=error.message,
        )

    @property
    def quarantined_total(self) -> int:
        return sum(self.rows_quarantined.values())

    def reconciles(self) -> bool:
        """rows_in = rows_curated + rows_quarantined + rows_duplicate + rows_excluded."""
        return self.rows_in == (
            self.rows_curated + self.quarantined_total + self.rows_duplicate + self.rows_excluded
        )

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "kind": self.kind,
            "status": self.status,
            "rows_in": self.rows_in,
            "rows_curated": self.rows_curated,
            "rows_duplicate": self.rows_duplicate,
            "rows_quarantined": dict(sorted(self.rows_quarantined.items())),
            "rows_excluded": self.rows_excluded,
            "unused_columns": sorted(self.unused_columns),
            "source": self.source,
            "rows_released": self.rows_released,
            "event_dates": sorted(d.isoformat() for d in self.event_dates),
            "error_code": self.error_code,
            "error_message": self.error_message,
            "duration_s": round(self.duration_s, 3),
            "publish_s": round(self.publish_s, 3),
        }
