"""Terminal tables for the commands' reports (rich)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TextIO

from rich.table import Table

from retail_etl.domain.contract import EVENT_REASONS, OWN_PRICE_REASONS, PRODUCT_REASONS
from retail_etl.local.run import RunReport
from retail_etl.local.runtime import UNCHANGED
from retail_etl.operations.counts import Totals


def files_table(report: RunReport, title: str) -> Table:
    """Each file's rows where they are now; `ok` = landed and reconciled."""
    table = Table(title=f"{title}: rows_in = curated + quarantined + duplicate, per file")
    for col in ("file", "status", "rows_in", "curated", "quarantined", "duplicate", "ok", "s"):
        table.add_column(col, justify="left" if col in ("file", "status") else "right")
    for f in report.files:
        d = f.to_dict()
        c = report.counts_of(f)
        status = d["status"]
        if d["status"] == UNCHANGED and d["last_status"]:
            status += f" (was {d['last_status']})"
        if d["error_code"]:
            status += f": {d['error_code']}"
        notes = []
        if c.released:
            notes.append(f"{c.released} released")
        if c.replayed:
            notes.append(f"{c.replayed} replayed")
        curated = f"{c.curated} ({', '.join(notes)})" if notes else str(c.curated)
        table.add_row(
            d["key"],
            status,
            str(c.rows_in),
            curated,
            str(c.quarantined_total),
            str(c.duplicate),
            "yes" if report.ok_file(f) else "NO",
            f"{d['duration_s']:.2f}",
        )
    return table


def quarantine_table(report: RunReport) -> Table | None:
    """The reasons that have rows (none at zero), with the top offending values where one
    field's value is the cause."""
    totals = report.quarantine
    if not totals:
        return None
    offending: dict[str, list[str]] = {}
    for o in report.offending:
        offending.setdefault(o.reason, []).append(f"{o.value!r} {o.rows}")
    table = Table(title="Quarantined rows by reason (where they are now)")
    for col in ("kind", "reason", "rows", "top offending values"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    events = (*EVENT_REASONS, *(r for r in OWN_PRICE_REASONS if r not in EVENT_REASONS))
    for kind, reasons in (("events", events), ("products", PRODUCT_REASONS)):
        for reason in reasons:
            rows = totals.get(f"{kind}/{reason}", 0)
            if rows:
                values = offending.get(reason, []) if kind == "events" else []
                table.add_row(kind, reason, str(rows), ", ".join(values))
    return table


def totals_line(totals: Totals) -> str:
    """The closing line, in the manner of dbt's `Done. PASS=… ERROR=…`."""
    t = totals
    return (
        f"Done. FILES ok={t.files_ok} failed={t.files_failed} | ROWS in={t.rows_in:,} "
        f"curated={t.curated:,} quarantined={t.quarantined:,} duplicate={t.duplicate:,} "
        f"excluded={t.excluded:,} | DATES loaded={t.dates_loaded}"
    )


def daily_table(report: RunReport) -> Table | None:
    if report.daily is None:
        return None
    table = Table(title=f"Daily workflow (run date {report.daily.run_date})")
    for col in ("event_date", "engine", "curated bytes", "aggregate rows", "loaded"):
        table.add_column(col)
    for day in report.daily.dates:
        table.add_row(
            day["date"],
            day["engine"],
            f"{day['curated_bytes']:,}",
            ", ".join(f"{k}={v}" for k, v in day["rows"].items()),
            "yes" if day["date"] not in report.daily.still_dirty else "yes, changed since",
        )
    return table


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def rows_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A result as a table; a column whose values are all numbers is right-aligned, so
    digits line up."""
    rows = list(rows)
    table = Table(title=title)
    for i, name in enumerate(columns):
        values = [row[i] for row in rows if row[i] is not None]
        numeric = bool(values) and all(is_number(v) for v in values)
        table.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def write_csv(out: TextIO, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """RFC 4180 CSV with a header; NULL is an empty field, decimals keep their digits."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)


def write_json_rows(out: TextIO, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A JSON array of objects. Decimals (money) are written as strings, so no cent is lost
    to a binary float; dates and timestamps as ISO-8601."""

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dt.date | dt.datetime | dt.time):
            return value.isoformat()
        return value

    records = [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]
    json.dump(records, out, indent=1, default=str)
    out.write("\n")
