"""Command line: `python -m retail_etl <command> --help`.

Entry points only parse arguments and call the runtime and operations; a bad argument, path
or query is one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from retail_etl.cli import sources as sources_cli
from retail_etl.cli.common import UsageError
from retail_etl.operations.replay import replayable_reasons

DEFAULT_OUT = Path("out")
REPLAYABLE = sorted(set(replayable_reasons("events")) | set(replayable_reasons("products")))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from exc


def _target(command: argparse.ArgumentParser) -> None:
    """Where an operator command acts: the local run's folder, or a deployed stack."""
    where = command.add_argument_group("target (the local run's state by default)")
    where.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="a local run's output folder (default: out)"
    )
    where.add_argument("--stack", help="a deployed stack instead, e.g. RetailEtl-prod")
    where.add_argument("--profile", help="AWS profile for --stack")
    where.add_argument("--region", help="AWS region for --stack")


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

    run = sub.add_parser(
        "run",
        help="drop a folder's files into the emulated pipeline and run the daily workflow",
        description="Drop every file under --input (events/…, products/…) into the emulated "
        "raw bucket in drop order, let the ingest Lambda process them, then aggregate and load "
        "every dirty date. --out keeps the warehouse (warehouse.duckdb), the Parquet zones and "
        "ledger.json; running again on the same --out continues from there.",
    )
    run.add_argument("--input", type=Path, required=True, help="folder of dropped files")
    run.add_argument("--out", type=Path, required=True, help="output and state folder")
    run.add_argument("--json", type=Path, help="also write the report as JSON here")
    run.add_argument("--workers", type=_positive, default=2, help="Lambda containers (default 2)")
    run.add_argument("--sources", type=Path, help="source profiles folder (default: sources/)")

    demo = sub.add_parser("demo", help="generate, run, re-run and a late file, end to end")
    demo.add_argument("--days", type=_positive, default=3)
    demo.add_argument("--events-per-day", type=_positive, default=20_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--keep", type=Path, help="keep input and output in this folder")
    demo.add_argument("--json", type=Path, help="also write the report as JSON here")

    query = sub.add_parser("query", help="run SQL on the local warehouse and print the result")
    query.add_argument("--warehouse", type=Path, default=DEFAULT_OUT / "warehouse.duckdb")
    query.add_argument("sql", help='e.g. "SELECT * FROM retail.daily_category_revenue"')

    status = sub.add_parser("status", help="files by status, failures, dirty dates, DLQ depth")
    _target(status)
    status.add_argument("--json", type=Path, help="also write the status as JSON here")

    replay = sub.add_parser(
        "replay-quarantine",
        help="send quarantined rows through the pipeline again as new raw files",
    )
    _target(replay)
    replay.add_argument(
        "--reason",
        action="append",
        choices=REPLAYABLE,
        help="only rows with this reason (repeatable; default all but unknown_product, which "
        "is released when its product arrives)",
    )
    replay.add_argument("--kind", choices=["events", "products"], help="only this kind")
    replay.add_argument("--json", type=Path, help="also write the report as JSON here")

    backfill = sub.add_parser(
        "backfill", help="re-aggregate and reload a range of dates, oldest first"
    )
    _target(backfill)
    backfill.add_argument("--from", dest="from_", type=_date, required=True)
    backfill.add_argument("--to", type=_date, required=True)
    backfill.add_argument(
        "--no-wait", action="store_true", help="--stack: start the executions, do not wait"
    )
    sources_cli.add_parser(sub)
    return parser


def _commands():
    from retail_etl.cli import operate, pipeline

    return {
        "generate": pipeline.cmd_generate,
        "run": pipeline.cmd_run,
        "demo": pipeline.cmd_demo,
        "query": operate.cmd_query,
        "status": operate.cmd_status,
        "replay-quarantine": operate.cmd_replay,
        "backfill": operate.cmd_backfill,
        "sources": sources_cli.cmd_sources,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _commands()[args.command](args)
    except (UsageError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
