"""Dry-run a source profile over one file (`python -m retail_etl sources check`).

The file goes through the same reading, mapping and cleaning as in the pipeline, against an
empty product history (so events without their own prices are `unknown_product`: they would
wait for a products file), and nothing is written. The result: counts per outcome, the
columns nothing reads, and per column the values most often rejected.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from retail_etl.domain import contract as c
from retail_etl.domain.catalog import ProductHistory
from retail_etl.domain.events import EventsBatch, clean_events_file
from retail_etl.domain.products import clean_products_file
from retail_etl.domain.profile import Profile
from retail_etl.domain.reading import Chunk, text_column
from retail_etl.domain.report import FileReport

DRY_RUN_SALT = b"sources-check-dry-run"  # hashing is shown, never with the real salt
# the contract column whose value a reason is about
REASON_COLUMN = {
    c.Reason.UNKNOWN_EVENT_TYPE: "event_type",
    c.Reason.INVALID_TIMESTAMP: "event_timestamp",
    c.Reason.INVALID_QUANTITY: "quantity",
    c.Reason.INVALID_PRICE: "unit_price",
    c.Reason.UNKNOWN_PRODUCT: "product_id",
}


@dataclass
class CheckResult:
    report: FileReport
    # contract column -> (value, rows) most often rejected, most frequent first
    unknown_values: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        r = self.report
        return {
            "key": r.key,
            "kind": r.kind,
            "source": r.source,
            "rows_in": r.rows_in,
            "rows_curated": r.rows_curated,
            "rows_duplicate": r.rows_duplicate,
            "rows_excluded": r.rows_excluded,
            "rows_quarantined": dict(sorted(r.rows_quarantined.items())),
            "reconciles": r.reconciles(),
            "unused_columns": sorted(r.unused_columns),
            "unknown_values": {k: [list(p) for p in v] for k, v in self.unknown_values.items()},
        }


def check_file(
    stream: BinaryIO, key: str, kind: str, profile: Profile | None, top: int = 5
) -> CheckResult:
    """Counts per outcome of `key` read through `profile` (None: the contract)."""
    report = FileReport(key=key, kind=kind, source=profile.name if profile else None)
    if kind == "products":
        clean_products_file(stream, key, 0, report, profile=profile)
        return CheckResult(report)
    rejected: dict[str, Counter] = {}

    def collect(chunk: Chunk, batch: EventsBatch) -> None:
        reasons = batch.quarantine["reason"].to_numpy(zero_copy_only=False)
        lines = batch.quarantine["line_number"].to_numpy()
        for reason, column in REASON_COLUMN.items():
            hit = lines[reasons == reason]
            # malformed lines are not rows of the chunk; every other reason's line is
            if not len(hit) or column not in chunk.columns:
                continue
            rows = np.searchsorted(chunk.line_numbers, hit)
            values = text_column(chunk, column).take(pa.array(rows)).to_pylist()
            counter = rejected.setdefault(column, Counter())
            counter.update("" if v is None else v.removeprefix("?") for v in values)

    salt = DRY_RUN_SALT if profile is not None and profile.hash_user_ids else None
    for _ in clean_events_file(
        stream, key, ProductHistory(), 0, report, profile=profile, salt=salt, on_batch=collect
    ):
        pass
    unknown = {col: counter.most_common(top) for col, counter in rejected.items()}
    return CheckResult(report, unknown)
