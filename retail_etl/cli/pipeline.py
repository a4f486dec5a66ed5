"""`generate`, `run` and `demo`: data in, the emulated pipeline over it, the report out."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from retail_etl.cli.common import UsageError, console, spinner, write_json
from retail_etl.cli.display import (
    daily_table,
    files_table,
    quarantine_table,
    rows_table,
    totals_line,
)
from retail_etl.local.run import RunReport

TOP_QUERIES = {
    "daily_category_revenue": "ORDER BY revenue DESC, category",
    "daily_top_viewed_products": "ORDER BY rank",
    "daily_multi_purchase_users": "ORDER BY total_spend DESC, user_id",
}


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


def show_run(report: RunReport, title: str) -> None:
    console.print(files_table(report, title))
    if report.ignored:
        console.print(f"not dropped (outside events/ and products/): {', '.join(report.ignored)}")
    quarantine = quarantine_table(report)
    console.print(quarantine if quarantine else "No row is quarantined.")
    for line in source_notes(report):
        console.print(line)
    daily = daily_table(report)
    console.print(daily if daily else "Daily workflow: no date changed, nothing to aggregate.")
    if report.dead_letters:
        console.print(f"[red]{report.dead_letters} message(s) in the dead-letter queue[/red]")
    t = report.timings
    rows = report.event_rows
    rate = f" ({rows / t['total_s']:,.0f} event rows/s end to end)" if rows else ""
    console.print(
        f"{len(report.processed)} file(s) processed, {rows:,} event rows in {t['total_s']:.1f} s"
        f"{rate}: ingest {t['ingest_s']:.1f} s, aggregate {t.get('aggregate_s', 0):.1f} s, "
        f"state to disk {t.get('mirror_s', 0):.1f} s, warehouse load {t.get('load_s', 0):.1f} s"
    )
    console.print(totals_line(report.totals))


def source_notes(report: RunReport) -> list[str]:
    """Per file: the source profile, rows it excluded, columns nothing read (never silent)."""
    notes = []
    for f in report.processed:
        d = f.to_dict()
        parts = []
        if d.get("source"):
            parts.append(f"profile {d['source']}")
        if d.get("rows_excluded"):
            parts.append(f"{d['rows_excluded']} row(s) excluded by the profile")
        if d.get("unused_columns"):
            parts.append(f"columns not used: {', '.join(d['unused_columns'])}")
        if parts:
            notes.append(f"{d['key']}: {'; '.join(parts)}")
    return notes


def cmd_run(args: argparse.Namespace) -> int:
    from retail_etl.local.dropped import discover
    from retail_etl.local.run import run_folder
    from retail_etl.local.runtime import WAREHOUSE, LocalPipeline

    if not args.input.is_dir():
        raise UsageError(f"input folder not found: {args.input}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out must be a folder: {args.out} is a file")
    settings = _with_sources(getattr(args, "sources", None))  # a bad profile is told first
    if not discover(args.input):
        raise UsageError(
            f"nothing to drop in {args.input}: files go under {args.input}/events/ and "
            f"{args.input}/products/, e.g. events/dt=2026-11-01/events.csv and "
            "products/dt=2026-11-01/products.csv (CSV or JSON Lines, optionally .gz)"
        )
    warehouse = args.out / WAREHOUSE
    with (
        spinner(f"running {args.input} through the emulated pipeline …") as progress,
        LocalPipeline(
            args.out, settings=settings, workers=args.workers, progress=progress
        ) as pipeline,
    ):
        report = run_folder(pipeline, args.input)
    show_run(report, f"Run of {args.input}")
    made = ["the Iceberg tables' files", "ledger.json"]
    if report.daily is not None:
        made.insert(0, f"the warehouse ({WAREHOUSE}, {len(report.daily.dates)} date(s) loaded)")
    elif warehouse.is_file():
        made.insert(0, f"the warehouse ({WAREHOUSE}, unchanged: no date changed)")
    else:
        made.append(f"no warehouse yet: no file landed rows for any date, so no {WAREHOUSE}")
    console.print(f"in {args.out}: {', '.join(made)}")
    write_json(args.json, report.to_dict())
    if not report.ok:
        console.print("[red]some files did not land: see their status above[/red]")
    return 0 if report.ok else 1


def _with_sources(folder: Path | None):
    """The local settings with the source profiles folder, validated before anything runs."""
    from dataclasses import replace

    from retail_etl.adapters.sources import load_profiles
    from retail_etl.config import Settings
    from retail_etl.domain.profile import ProfileError

    try:
        load_profiles(folder)
    except ProfileError as exc:
        raise UsageError(f"invalid source profiles:\n{exc}") from exc
    settings = Settings.for_environment()
    return replace(settings, sources_dir=str(folder.resolve())) if folder else settings


def show_aggregates(warehouse: Path, day: str) -> None:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table, order in TOP_QUERIES.items():
            result = con.execute(
                f"SELECT * FROM retail.{table} WHERE event_date = ? {order} LIMIT 10", [day]
            )
            columns = [c[0] for c in result.description]
            title = f"retail.{table} for {day}"
            console.print(rows_table(title, columns, result.fetchall()))


def cmd_demo(args: argparse.Namespace) -> int:
    from retail_etl.local.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="retail-etl-demo-") as tmp:
        root = args.keep or Path(tmp)
        with spinner("demo: generating data and running the emulated pipeline …") as progress:
            try:
                demo = run_demo(root, args.days, args.events_per_day, args.seed, 2, progress)
            except ValueError as exc:  # the generator's argument checks
                raise UsageError(str(exc)) from exc
        show_run(demo.first, "First run")
        last_day = max(demo.first.daily.aggregated) if demo.first.daily else None
        if last_day:
            console.print(f"The warehouse as the demo leaves it, {last_day}, first 10 rows:")
            show_aggregates(demo.out_dir / "warehouse.duckdb", last_day)
        second = demo.second
        console.print(
            f"Second pass: {len(second.processed)} file(s) uploaded (unchanged bytes are not "
            f"re-dropped); {demo.redelivered} S3 events delivered again, "
            f"{demo.reprocessed_on_redelivery} file(s) processed again (the ledger skips them); "
            f"dates re-aggregated: {'none' if second.daily is None else second.daily.aggregated}"
        )
        late = demo.late
        aggregated = late.daily.aggregated if late.daily else []
        console.print(
            f"Late file {demo.late_key} with events of {', '.join(demo.late_dates)}: "
            f"{len(late.processed)} file(s) processed, dates re-aggregated and reloaded: "
            f"{', '.join(aggregated) or 'none'}"
        )
        console.print(f"demo finished in {demo.timings['total_s']:.1f} s")
        if args.keep:
            console.print(f"input and output kept in {root}")
        write_json(args.json, demo_dict(demo))
        ok = demo.first.ok and not second.processed and not demo.reprocessed_on_redelivery
        return 0 if ok and aggregated == demo.late_dates else 1


def demo_dict(demo) -> dict:
    return {
        "input": str(demo.input_dir),
        "output": str(demo.out_dir),
        "first_run": demo.first.to_dict(),
        "second_pass": {
            "run": demo.second.to_dict(),
            "redelivered": demo.redelivered,
            "reprocessed_on_redelivery": demo.reprocessed_on_redelivery,
        },
        "late_file": {"key": demo.late_key, "event_dates": demo.late_dates},
        "late_run": demo.late.to_dict(),
        "timings": demo.timings,
    }
