"""The values behind a quarantine reason: which event types, which timestamps were rejected.

"312 rows unknown_event_type" says something is wrong; "`click` 300, `Purchase ` 12" says
what to fix (a producer's new type, or a synonym for a source profile). The quarantine keeps
each row's original record (`raw_record`, the line as written), so the offending field is
read back from it: by the file's CSV header, or by the JSON object's key, matched like the
cleaner matches columns (trimmed, case-insensitive, the timestamp's aliases).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass

from pyiceberg.expressions import In

from retail_etl.adapters.objects import Store
from retail_etl.adapters.tables import Lake
from retail_etl.domain import lake
from retail_etl.domain.contract import EVENT_TIMESTAMP_ALIASES, Reason
from retail_etl.operations.replay import header_line

# the reasons whose rows are rejected for one field's value, and that field's names
FIELDS: dict[str, tuple[str, ...]] = {
    Reason.UNKNOWN_EVENT_TYPE: ("event_type",),
    Reason.INVALID_TIMESTAMP: EVENT_TIMESTAMP_ALIASES,
}
SHOWN = 5
MAX_VALUE_CHARS = 40


@dataclass(frozen=True)
class OffendingValue:
    reason: str
    value: str  # as written (trimmed to MAX_VALUE_CHARS), "" when the field was empty
    rows: int


def top_offending(
    tables: Lake,
    store: Store,
    raw_bucket: str,
    keys: list[str] | None = None,
    shown: int = SHOWN,
) -> list[OffendingValue]:
    """The most frequent offending values per reason in `FIELDS`, over the files `keys`
    (every file when None), most rows first, ties by value."""
    where = In("reason", list(FIELDS))
    rows = tables.read(lake.QUARANTINE, where, ("source_file", "reason", "raw_record"))
    counts: dict[str, Counter] = {reason: Counter() for reason in FIELDS}
    headers: dict[str, list[str] | None] = {}
    wanted = None if keys is None else set(keys)
    for source, reason, raw in zip(
        rows["source_file"].to_pylist(),
        rows["reason"].to_pylist(),
        rows["raw_record"].to_pylist(),
        strict=True,
    ):
        if wanted is not None and source not in wanted:
            continue
        if source not in headers:
            headers[source] = _header(store, raw_bucket, source)
        counts[reason][field_value(raw, headers[source], FIELDS[reason])] += 1
    out = []
    for reason, values in counts.items():
        ranked = sorted(values.items(), key=lambda item: (-item[1], item[0]))
        out += [OffendingValue(reason, value, n) for value, n in ranked[:shown]]
    return out


def _header(store: Store, bucket: str, key: str) -> list[str] | None:
    """A CSV file's column names, normalised; None for JSON Lines or an unreadable file."""
    if ".csv" not in key.rpartition("/")[2]:
        return None
    try:
        line = header_line(store, bucket, key).lstrip("\ufeff")
    except Exception:  # the raw object expired or is unreadable: show whole records instead
        return None
    return [name.strip().lower() for name in next(csv.reader([line]), [])]


def field_value(raw: str, header: list[str] | None, names: tuple[str, ...]) -> str:
    """The first of `names` in one raw record; the record itself when it cannot be parsed."""
    value: object = None
    if header is not None:
        cells = next(csv.reader([raw]), [])
        for name in names:
            if name in header and header.index(name) < len(cells):
                value = cells[header.index(name)]
                break
    else:
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if isinstance(record, dict):
            lowered = {str(k).strip().lower(): v for k, v in record.items()}
            value = next((lowered[n] for n in names if n in lowered), None)
    text = raw if value is None else str(value)
    return text[:MAX_VALUE_CHARS]
