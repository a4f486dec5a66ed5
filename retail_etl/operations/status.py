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
    for item in files:
        if item.get("status") == SUPERSEDED:
            continue  # its rows were replaced by a newer version's
        rows["in"] += item.get("rows_in", 0)
        rows["curated"] += item.get("rows_curated", 0)
        rows["duplicate"] += item.get("rows_duplicate", 0)
        rows["quarantined"] += sum(item.get("rows_quarantined", {}).values())
        if item.get("status") != DONE:
            problems.append(
                {
                    "key": item.get("object_key"),
                    "version": item.get("version_id"),
                    "status": item.get("status"),
                    "error_code": item.get("error_code") or None,
                    "error": item.get("error_message") or item.get("last_error") or None,
                    "attempts": item.get("attempts", 0),
                }
            )
    return PipelineStatus(
        dict(sorted(Counter(i.get("status", "?") for i in files).items())),
        dict(rows),
        problems,
        [d.isoformat() for d in sorted(ledger.dirty_dates())],
        dead_letters,
    )
