"""`query`, `status`, `replay-quarantine`, `backfill`: `query` on the local run's state,
the others on the pipeline the target arguments name (`target.py`), written once for both."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import TYPE_CHECKING

from retail_etl.cli.common import UsageError, console, write_json
from retail_etl.cli.display import rows_table, totals_line, write_csv, write_json_rows
from retail_etl.cli.target import local_pipeline, open_pipeline

if TYPE_CHECKING:
    from retail_etl.operations.pipeline import DailyOutcome

MAX_QUERY_ROWS = 1000
MAX_BACKFILL_DAYS = 366


def cmd_query(args: argparse.Namespace) -> int:
    import duckdb

    try:
        columns, rows = _query_lake(args) if args.lake else _query_warehouse(args)
    except duckdb.Error as exc:
        raise UsageError(f"query failed: {str(exc).splitlines()[0]}") from exc
    shown = rows[:MAX_QUERY_ROWS]
    more = f" (first {MAX_QUERY_ROWS})" if len(rows) > MAX_QUERY_ROWS else ""
    if args.format == "csv":
        write_csv(sys.stdout, columns, shown)
    elif args.format == "json":
        write_json_rows(sys.stdout, columns, shown)
    else:
        console.print(rows_table(f"{len(shown)} row(s){more}", columns, shown))
    if more and args.format != "table":
        print(f"note: only the first {MAX_QUERY_ROWS} rows were written", file=sys.stderr)
    return 0


def _query_warehouse(args: argparse.Namespace) -> tuple[list[str], list[tuple]]:
    import duckdb

    if not args.warehouse.is_file():
        raise UsageError(f"no warehouse at {args.warehouse} (run `retail-etl run` first)")
    with duckdb.connect(str(args.warehouse), read_only=True) as con:
        result = con.execute(args.sql)
        return [c[0] for c in result.description or []], result.fetchmany(MAX_QUERY_ROWS + 1)


def _query_lake(args: argparse.Namespace) -> tuple[list[str], list[tuple]]:
    """SQL over the lake's tables (quarantine, parked_events, curated_events, …) as the
    local run left them, by their catalog names, as Athena sees them in AWS."""
    from retail_etl.operations.report import ALL_TABLES, DuckDBOverLake

    with local_pipeline(args, read_only=True, quiet=True) as p:
        engine = DuckDBOverLake(p.lake, ALL_TABLES)
    try:
        return engine.execute(args.sql, MAX_QUERY_ROWS + 1)
    finally:
        engine.close()


def cmd_status(args: argparse.Namespace) -> int:
    from retail_etl.operations.status import pipeline_status

    with open_pipeline(args, read_only=True) as p:
        status = pipeline_status(p.ledger, p.dead_letters(), p.lake, p.store, p.settings.raw_bucket)
    console.print(
        rows_table("File versions by status", ["status", "files"], status.files_by_status.items())
    )
    console.print(
        rows_table("Rows, each input row once, where it is now", ["", "rows"], status.rows.items())
    )
    if status.quarantine:
        rows = [(*k.split("/", 1), n) for k, n in status.quarantine.items()]
        console.print(rows_table("Quarantined rows by reason", ["kind", "reason", "rows"], rows))
    if status.offending:
        rows = [(o.reason, repr(o.value), o.rows) for o in status.offending]
        console.print(rows_table("Top offending values", ["reason", "value", "rows"], rows))
    if status.problems:
        columns = ["key", "status", "error_code", "error", "attempts"]
        rows = [[p[c] for c in columns] for p in status.problems]
        console.print(rows_table("Files whose newest version did not land", columns, rows))
    console.print(
        f"dates waiting for the daily workflow: {', '.join(status.dirty_dates) or 'none'}"
    )
    console.print(f"messages in the dead-letter queue: {status.dead_letters}")
    if status.totals:
        console.print(totals_line(status.totals))
    write_json(args.json, status.to_dict())
    return 0 if not status.problems and not status.dead_letters else 1


def cmd_replay(args: argparse.Namespace) -> int:
    from retail_etl.cli.pipeline import show_run
    from retail_etl.operations.replay import build_replays

    kinds = [args.kind] if args.kind else ["events", "products"]
    with open_pipeline(args) as p:
        replays = build_replays(p.store, p.settings.raw_bucket, p.lake, args.reason, kinds)
        if not replays:
            console.print("nothing to replay: every chosen quarantined row was replayed already")
            return 0
        replayed = p.replay(replays)
    for f in replayed.files:
        console.print(f"dropped {f.key} ({f.rows} rows of {f.source_file})")
    if replayed.run is None:
        console.print(f"{len(replayed.files)} replay file(s) dropped; the pipeline ingests them")
    else:
        show_run(replayed.run, "Replayed quarantine")
    write_json(args.json, replayed.to_dict())
    return 0 if replayed.ok else 1


def _dates(args: argparse.Namespace) -> list[dt.date]:
    if args.to < args.from_:
        raise UsageError(f"--to {args.to} is before --from {args.from_}")
    days = (args.to - args.from_).days + 1
    if days > MAX_BACKFILL_DAYS:
        raise UsageError(f"{days} days asked; backfill at most {MAX_BACKFILL_DAYS} at a time")
    return [args.from_ + dt.timedelta(days=i) for i in range(days)]


def cmd_backfill(args: argparse.Namespace) -> int:
    dates = _dates(args)
    failed = 0
    with open_pipeline(args) as p:
        for day in dates:  # oldest first, one at a time, like the DAG
            outcome = p.run_daily(day, wait=not args.no_wait)
            failed += not outcome.ok
            console.print(_daily_line(outcome))
    return 1 if failed else 0


def _daily_line(outcome: DailyOutcome) -> str:
    line = f"{outcome.run_date}: {outcome.status}"
    if outcome.aggregated is not None:
        line += f", aggregated and loaded {', '.join(outcome.aggregated) or 'nothing'}"
    return f"{line} {outcome.execution}" if outcome.execution else line
