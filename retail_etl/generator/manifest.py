"""The manifest: what a correct pipeline must count for every generated file.

Counts come from how each row was built (a base row, a defect, an inserted copy), never from
re-reading the files, so the manifest is an independent expectation for the cleaning code.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from retail_etl.domain.contract import EVENT_REASONS, PRODUCT_REASONS


@dataclass
class FileCounts:
    """Expected outcome of one file under the contract, in processing order."""

    kind: str  # "events" or "products"
    format: str
    gzip: bool
    dt: dt.date
    rows_in: int = 0
    rows_curated: int = 0
    rows_duplicate: int = 0
    rows_quarantined: dict[str, int] = field(default_factory=dict)
    late_events: int = 0
    has_event_id: bool = False
    features: dict[str, object] = field(default_factory=dict)
    curated_by_event_date: Counter[dt.date] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        reasons = EVENT_REASONS if self.kind == "events" else PRODUCT_REASONS
        self.rows_quarantined = {reason: 0 for reason in reasons} | self.rows_quarantined

    def check(self) -> None:
        """The reconciliation identity of the contract must hold by construction."""
        total = self.rows_curated + self.rows_duplicate + sum(self.rows_quarantined.values())
        if total != self.rows_in:
            raise AssertionError(f"generator bug: {self.rows_in} rows in, {total} accounted for")

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "format": self.format,
            "gzip": self.gzip,
            "dt": self.dt.isoformat(),
            "rows_in": self.rows_in,
            "rows_curated": self.rows_curated,
            "rows_duplicate": self.rows_duplicate,
            "rows_quarantined": dict(self.rows_quarantined),
            "late_events": self.late_events,
            "has_event_id": self.has_event_id,
            "features": self.features,
        }


def _totals(files: list[FileCounts], kind: str) -> dict[str, object]:
    chosen = [f for f in files if f.kind == kind]
    reasons = EVENT_REASONS if kind == "events" else PRODUCT_REASONS
    return {
        "files": len(chosen),
        "rows_in": sum(f.rows_in for f in chosen),
        "rows_curated": sum(f.rows_curated for f in chosen),
        "rows_duplicate": sum(f.rows_duplicate for f in chosen),
        "rows_quarantined": {r: sum(f.rows_quarantined[r] for f in chosen) for r in reasons},
    }


def build_manifest(
    files: dict[str, FileCounts], parameters: dict[str, object]
) -> dict[str, object]:
    """The manifest dict (JSON-ready): parameters, per-file counts, totals, curated per date."""
    by_date: Counter[dt.date] = Counter()
    for counts in files.values():
        by_date.update(counts.curated_by_event_date)
    return {
        **parameters,
        "files": {key: counts.as_dict() for key, counts in files.items()},
        "totals": {
            "events": _totals(list(files.values()), "events"),
            "products": _totals(list(files.values()), "products"),
        },
        "curated_by_event_date": {d.isoformat(): by_date[d] for d in sorted(by_date)},
    }
