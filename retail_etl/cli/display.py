"""Terminal tables for the commands' reports (rich)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.table import Table

from retail_etl.domain.contract import EVENT_REASONS, OWN_PRICE_REASONS, PRODUCT_REASONS
from retail_etl.local.run import RunReport
from retail_etl.local.runtime import UNCHANGED


def files_table(report: RunReport, title: str) -> Table:
    table = Table(title=f"{title}: rows_in = curated + quarantined + duplicate, per file")
    for col in ("file", "status", "rows_in", "curated", "quarantined", "duplicate", "ok", "s"):
        table.add_column(col, justify="left" if col in ("file", "status") else "right")
    for f in report.files:
        d = f.to_dict()
        status = d["status"]
        if d["status"] == UNCHANGED and d["last_status"]:
            status += f" (was {d['last_status']})"
        if d["error_code"]:
            status += f": {d['error_code']}"
        quarantined = sum(d["rows_quarantined"].values())
        table.add_row(
            d["key"],
            status,
            str(d["rows_in"]),
            str(d["rows_curated"]),
            str(quarantined),
            str(d["rows_duplicate"]),
            "yes" if d["reconciles"] else "NO",
            f"{d['duration_s']:.2f}",
        )
    return table


def quarantine_table(report: RunReport) -> Table:
    totals = report.quarantine
    table = Table(title="Quarantined rows by reason")
    for col in ("kind", "reason", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    events = (*EVENT_REASONS, *(r for r in OWN_PRICE_REASONS if r not in EVENT_REASONS))
    for kind, reasons in (("events", events), ("products", PRODUCT_REASONS)):
        for reason in reasons:
            table.add_row(kind, reason, str(totals[f"{kind}/{reason}"]))
    return table


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


def rows_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    table = Table(title=title)
    for name in columns:
        table.add_column(name)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table
