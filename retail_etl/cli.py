"""Command line: `python -m retail_etl <command> --help`.

Entry points only parse arguments and call the core; a bad argument or path is one clear line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from retail_etl.domain.contract import EVENT_REASONS, PRODUCT_REASONS
from retail_etl.domain.report import FileStatus

console = Console(highlight=False)
if not console.is_terminal:  # piped or in CI: don't squeeze tables into 80 columns
    console = Console(highlight=False, width=150)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m retail_etl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a realistic, messy test dataset and its manifest")
    gen.add_argument("--out", required=True, help="a folder, or s3://bucket/prefix")
    gen.add_argument("--days", type=_positive, default=3)
    gen.add_argument("--events-per-day", type=_positive, default=20_000)
    gen.add_argument("--products", type=_positive, default=500)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--start-date", type=_date, default=dt.date(2026, 11, 1))
    gen.add_argument("--clean", action="store_true", help="inject no mess at all")

    demo = sub.add_parser("demo", help="generate a few days and run them through the core")
    demo.add_argument("--days", type=_positive, default=3)
    demo.add_argument("--events-per-day", type=_positive, default=20_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--keep", type=Path, help="keep input and output in this folder")
    demo.add_argument("--json", type=Path, help="also write the report as JSON here")
    return parser


def cmd_generate(args: argparse.Namespace) -> int:
    from retail_etl.adapters.files import writer_for
    from retail_etl.generator import MessConfig, generate_dataset

    mess = MessConfig.clean() if args.clean else MessConfig()
    try:
        manifest = generate_dataset(
            writer_for(args.out),
            days=args.days,
            events_per_day=args.events_per_day,
            products=args.products,
            seed=args.seed,
            start_date=args.start_date,
            mess=mess,
        )
    except ValueError as exc:  # the generator's argument checks
        raise UsageError(str(exc)) from exc
    events = manifest["totals"]["events"]
    console.print(
        f"wrote {len(manifest['files'])} files ({events['rows_in']} event rows) "
        f"and manifest.json to {args.out}"
    )
    return 0


def _reconciliation_table(reports) -> Table:
    table = Table(title="Per-file reconciliation (rows_in = curated + quarantined + duplicate)")
    for col in ("file", "status", "rows_in", "curated", "quarantined", "duplicate", "ok", "s"):
        table.add_column(col, justify="left" if col in ("file", "status") else "right")
    for r in reports:
        status = r.status if r.status == FileStatus.DONE else f"{r.status}: {r.error_code}"
        table.add_row(
            r.key,
            status,
            str(r.rows_in),
            str(r.rows_curated),
            str(r.quarantined_total),
            str(r.rows_duplicate),
            "yes" if r.reconciles() else "NO",
            f"{r.duration_s:.2f}",
        )
    return table


def _quarantine_table(reports) -> tuple[Table, Counter]:
    totals: Counter = Counter()
    for r in reports:
        totals.update({(r.kind, k): v for k, v in r.rows_quarantined.items()})
    table = Table(title="Quarantined rows by reason")
    for col in ("kind", "reason", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for kind, reasons in (("events", EVENT_REASONS), ("products", PRODUCT_REASONS)):
        for reason in reasons:
            table.add_row(kind, reason, str(totals[(kind, reason)]))
    return table, totals


def _arrow_table(title: str, table, limit: int = 10) -> Table:
    """An Arrow table for the terminal; long ones are cut to `limit` rows."""
    shown = f" (first {limit} of {table.num_rows})" if table.num_rows > limit else ""
    out = Table(title=title + shown)
    for name in table.column_names:
        out.add_column(name)
    for row in table.slice(0, limit).to_pylist():
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    return out


def cmd_demo(args: argparse.Namespace) -> int:
    import pyarrow.compute as pc

    from retail_etl.adapters.files import local_writer
    from retail_etl.generator import generate_dataset
    from retail_etl.local_core import LocalCore, run_core

    with tempfile.TemporaryDirectory(prefix="retail-etl-demo-") as tmp:
        root = args.keep or Path(tmp)
        input_dir, out_dir = root / "input", root / "output"
        console.print(
            f"Generating {args.days} day(s) x {args.events_per_day} events into {input_dir} …"
        )
        try:
            generate_dataset(
                local_writer(input_dir),
                days=args.days,
                events_per_day=args.events_per_day,
                seed=args.seed,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        with console.status("Cleaning and enriching files …") as status:
            run = run_core(
                input_dir,
                out_dir,
                progress=lambda r: status.update(f"processed {r.key}"),
            )
        console.print(_reconciliation_table(run.reports))
        quarantine, totals = _quarantine_table(run.reports)
        console.print(quarantine)
        last_day = max(run.dirty_dates)
        aggregates = LocalCore(out_dir).aggregate({last_day})
        for name, table in aggregates.items():
            day_rows = table.filter(pc.equal(table["event_date"], last_day))
            if name == "daily_multi_purchase_users":
                order = [("total_spend", "descending"), ("user_id", "ascending")]
                day_rows = day_rows.sort_by(order)
            console.print(_arrow_table(f"{name} for {last_day}", day_rows))
        rows = sum(r.rows_in for r in run.reports if r.kind == "events")
        secs = run.timings["clean_enrich_s"]
        console.print(
            f"{rows} event rows cleaned and enriched in {secs:.2f} s "
            f"({rows / secs:,.0f} rows/s); aggregation {run.timings['aggregate_s']:.2f} s"
        )
        if args.keep:
            console.print(f"Input and output kept in {root}")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "files": [r.to_dict() for r in run.reports],
                        "quarantine": {f"{k}/{r}": n for (k, r), n in sorted(totals.items())},
                        "timings": run.timings,
                    },
                    indent=2,
                )
            )
        ok = all(r.reconciles() for r in run.reports)
        return 0 if ok else 1


COMMANDS = {"generate": cmd_generate, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UsageError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
