"""What an operator asks first: which files landed, which did not and why, what waits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from retail_etl.adapters.ledger import DONE, SUPERSEDED, DynamoLedger


@dataclass
class PipelineStatus:
    files_by_status: dict[str, int]
    rows: dict[str, int]
    problems: list[dict[str, Any]]  # every file neither DONE nor SUPERSEDED, with its error
    dirty_dates: list[str]
    dead_letters: int

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def pipeline_status(ledger: DynamoLedger, dead_letters: int) -> PipelineStatus:
    files = ledger.files()
    rows: Counter = Counter()
    problems = []
    for record in files:
        if record.status == SUPERSEDED:
            continue  # its rows were replaced by a newer version's
        rows["in"] += record.rows_in
        rows["curated"] += record.rows_curated
        rows["duplicate"] += record.rows_duplicate
        rows["quarantined"] += record.rows_quarantined_total
        rows["excluded"] += record.rows_excluded  # by a source profile
        if record.status != DONE:
            problems.append(
                {
                    "key": record.key,
                    "version": record.version,
                    "status": record.status,
                    "error_code": record.error_code or None,
                    "error": record.error_message or record.last_error or None,
                    "attempts": record.attempts,
                }
            )
    return PipelineStatus(
        dict(sorted(Counter(r.status for r in files).items())),
        dict(rows),
        problems,
        [d.isoformat() for d in sorted(ledger.dirty_dates())],
        dead_letters,
    )
