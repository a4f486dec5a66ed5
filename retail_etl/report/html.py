"""The report as one static HTML page: inline CSS and SVG, no script, no external resource.

It opens from a file (or an e-mail attachment, or an S3 object) in any browser, offline, and
looks the same in a year: nothing is fetched. Sections follow what an operator asks in order:
is the data fresh and did everything land (freshness, totals), what does it say (revenue,
top products, multi-purchase users), what was rejected (quarantine per day), and which file
is which (the ledger).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from html import escape

from retail_etl.operations.counts import FileCounts
from retail_etl.operations.report import ReportData
from retail_etl.report import svg

MAX_LEDGER_ROWS = 500

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1040px;
       color: #1b1b1b; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
.muted { color: #666; } .totals { font-family: ui-monospace, monospace; background: #f4f4f4;
         padding: 8px 10px; border-radius: 4px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 12px; min-width: 180px; }
.card b { display: block; font-size: 15px; }
table { border-collapse: collapse; width: 100%; margin-top: 8px; }
th, td { border-bottom: 1px solid #e6e6e6; padding: 4px 8px; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.legend { margin: 4px 0; } .key { margin-right: 14px; white-space: nowrap; }
.key i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
.status { padding: 1px 6px; border-radius: 3px; font-size: 12px; }
.DONE { background: #d9f2e3; } .SUPERSEDED { background: #e8e8e8; }
.FAILED_PERMANENT, .DEAD_LETTERED { background: #fbdada; } .IN_PROGRESS, .RELEASED {
  background: #fff1c7; }
svg.chart { max-width: 100%; height: auto; display: block; }
"""


def render(data: ReportData) -> str:
    sections = [
        _header(data),
        _freshness(data),
        _revenue(data),
        _top_products(data),
        _multi_purchase(data),
        _quarantine(data),
        _ledger(data.files),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>retail-etl report: {escape(data.source)}</title>"
        f"<style>{CSS}</style></head><body>" + "\n".join(sections) + "</body></html>\n"
    )


def _header(data: ReportData) -> str:
    t = data.totals
    line = (
        f"FILES ok={t.files_ok} failed={t.files_failed} | ROWS in={t.rows_in:,} "
        f"curated={t.curated:,} quarantined={t.quarantined:,} duplicate={t.duplicate:,} "
        f"excluded={t.excluded:,} | DATES loaded={t.dates_loaded}"
    )
    notes = "".join(f'<p class="muted">{escape(n)}</p>' for n in data.notes)
    return (
        f'<h1>retail-etl report</h1><p class="muted">{escape(data.source)}, generated '
        f"{escape(data.freshness.generated_at)}</p>"
        f'<p class="totals" id="totals">{escape(line)}</p>{notes}'
    )


def _freshness(data: ReportData) -> str:
    f = data.freshness
    cards = [
        ("newest event", f.latest_event or "none yet"),
        ("newest curated row written", f.last_ingested or "none yet"),
        ("newest file claimed", f.last_file_claimed or "none yet"),
        (
            "dates waiting for the daily workflow",
            ", ".join(f.dirty_dates) if f.dirty_dates else "none: the warehouse is current",
        ),
    ]
    body = "".join(
        f'<div class="card"><span class="muted">{escape(k)}</span><b>{escape(v)}</b></div>'
        for k, v in cards
    )
    return f'<h2 id="freshness">Data freshness</h2><div class="cards">{body}</div>'


def _series(
    points: Iterable[tuple[str, str, Decimal | int]],
) -> tuple[list[str], dict[str, list[Decimal | int]]]:
    """(column, series, value) points as the columns in order and one list per series."""
    points = list(points)
    columns = sorted({c for c, _, _ in points})
    index = {c: i for i, c in enumerate(columns)}
    series: dict[str, list[Decimal | int]] = defaultdict(lambda: [0] * len(columns))
    for column, name, value in points:
        series[name][index[column]] += value
    return columns, dict(sorted(series.items()))


def _revenue(data: ReportData) -> str:
    columns, series = _series((r.event_date, r.category, r.revenue) for r in data.revenue)
    chart = svg.stacked_bars(columns, series, "daily revenue by category")
    return (
        '<h2 id="revenue">Daily revenue by category</h2>'
        f'<figure id="chart-revenue">{svg.legend(list(series))}{chart}</figure>'
    )


def _top_products(data: ReportData) -> str:
    if not data.top_products:
        return '<h2 id="top-products">Most viewed products</h2>' + svg.empty("top products")
    latest = max(p.event_date for p in data.top_products)
    day = [p for p in data.top_products if p.event_date == latest]
    chart = svg.horizontal_bars(
        [(f"{p.product_name or p.product_id} ({p.category})", p.views) for p in day],
        f"most viewed products on {latest}",
    )
    rows = [
        (p.event_date, p.rank, p.product_id, p.product_name, p.category, p.views)
        for p in sorted(data.top_products, key=lambda p: (p.event_date, -p.rank), reverse=True)
    ]
    table = _table(["event_date", "rank", "product_id", "name", "category", "views"], rows)
    return (
        f'<h2 id="top-products">Most viewed products, {escape(latest)}</h2>'
        f'<figure id="chart-top-products">{chart}</figure>'
        f"<details><summary>every day's top 3</summary>{table}</details>"
    )


def _multi_purchase(data: ReportData) -> str:
    days = data.multi_purchase_per_day
    chart = svg.stacked_bars(
        list(days), {"users": list(days.values())}, "users with two or more purchases per day"
    )
    rows = [
        (u.user_id, u.event_date, u.purchases, u.total_spend) for u in data.multi_purchase_users
    ]
    table = _table(["user_id", "event_date", "purchases", "total_spend"], rows)
    return (
        '<h2 id="multi-purchase">Users with two or more purchases in a day</h2>'
        f'<figure id="chart-multi-purchase">{chart}</figure>'
        f"<p>The biggest spenders among them:</p>{table}"
    )


def _quarantine(data: ReportData) -> str:
    points = [(q.event_date or "no date", q.reason, q.rows) for q in data.quarantine]
    columns, series = _series(points)
    chart = svg.stacked_bars(columns, series, "quarantined rows per day by reason")
    return (
        '<h2 id="quarantine">Quarantined rows per day, by reason</h2>'
        "<p class=\"muted\">By the event's date, or its file's drop date (<code>dt=</code>) when "
        "the row has no valid date; unknown_product rows wait for their product and are "
        "curated when it arrives.</p>"
        f'<figure id="chart-quarantine">{svg.legend(list(series))}{chart}</figure>'
    )


def _ledger(files: Sequence[FileCounts]) -> str:
    shown = list(files)[:MAX_LEDGER_ROWS]
    rows = []
    for f in shown:
        status = f'<span class="status {escape(f.status)}">{escape(f.status)}</span>'
        if f.error_code:
            status += f" {escape(f.error_code)}"
        cells = [
            f"<td>{escape(f.key)}</td><td>{status}</td>",
            *(
                f'<td class="num">{v:,}</td>'
                for v in (f.rows_in, f.curated, f.quarantined_total, f.duplicate)
            ),
            f"<td>{'yes' if f.ok else 'NO'}</td>",
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    more = (
        f'<p class="muted">first {MAX_LEDGER_ROWS} of {len(files)} files</p>'
        if len(files) > MAX_LEDGER_ROWS
        else ""
    )
    head = "".join(
        f'<th class="{"num" if n in ("rows_in", "curated", "quarantined", "duplicate") else ""}">'
        f"{n}</th>"
        for n in ("file", "status", "rows_in", "curated", "quarantined", "duplicate", "ok")
    )
    return (
        '<h2 id="ledger">Files in the ledger</h2><p class="muted">Each key\'s newest version, '
        "files that did not land first; rows where they are now.</p>"
        f'<table id="ledger-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def _table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    rows = list(rows)
    numeric = [
        bool(rows) and all(isinstance(r[i], int | Decimal) for r in rows)
        for i in range(len(columns))
    ]
    head = "".join(
        f'<th class="{"num" if numeric[i] else ""}">{escape(c)}</th>' for i, c in enumerate(columns)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if numeric[i] else ""}">{escape(str(v))}</td>'
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
