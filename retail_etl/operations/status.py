"""What an operator asks first: which files landed, which did not and why, what waits.

The counts are the true ones (`counts.py`): each input row once, where it is now. A key whose
newest version landed is fine even if an older version failed (the producer sent a corrected
file); only keys whose newest version did not land are problems.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from retail_etl.adapters.ledger import Ledger
from retail_etl.adapters.objects import Store
from retail_etl.adapters.tables import Lake
from retail_etl.operations.counts import Totals, pipeline_counts
from retail_etl.operations.offending import OffendingValue, top_offending


@dataclass
class PipelineStatus:
    files_by_status: dict[str, int]  # every file version the ledger knows
    rows: dict[str, int]  # in, curated, quarantined, duplicate: each input row once
    problems: list[dict[str, Any]]  # keys whose newest version did not land, with the error
    dirty_dates: list[str]
    dead_letters: int
    quarantine: dict[str, int] = field(default_factory=dict)  # kind/reason -> rows, no zeros
    offending: list[OffendingValue] = field(default_factory=list)
    totals: Totals | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.__dict__.copy()
        out["offending"] = [o.__dict__ for o in self.offending]
        out["totals"] = self.totals.to_dict() if self.totals else None
        return out


def pipeline_status(
    ledger: Ledger, dead_letters: int, tables: Lake, store: Store, raw_bucket: str
) -> PipelineStatus:
    records = ledger.files()
    counts = pipeline_counts(ledger, tables, store, raw_bucket, records)
    totals = counts.totals(dates_loaded=0)
    problems = [
        {
            "key": f.key,
            "version": f.version,
            "status": f.status,
            "error_code": f.error_code or None,
            "error": f.error or None,
            "attempts": f.attempts,
        }
        for f in counts.problems()
    ]
    rows = {
        "in": totals.rows_in,
        "curated": totals.curated,
        "quarantined": totals.quarantined,
        "duplicate": totals.duplicate,
        "excluded": totals.excluded,
    }
    dirty = sorted(ledger.dirty_dates())
    loaded = sorted(ledger.known_dates() - set(dirty))
    return PipelineStatus(
        dict(sorted(Counter(r.status for r in records).items())),
        rows,
        problems,
        [d.isoformat() for d in dirty],
        dead_letters,
        dict(sorted((+counts.quarantine()).items())),
        top_offending(tables, store, raw_bucket),
        Totals(**{**totals.to_dict(), "dates_loaded": len(loaded)}),
    )
