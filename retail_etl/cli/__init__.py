"""retail-etl: a batch ETL pipeline for retail user events, on AWS or on this machine.

Drop daily event and product files into it; they are cleaned, enriched, aggregated (revenue by
category, the most viewed products, users with several purchases a day) and loaded into a
warehouse. Locally every AWS service is emulated (moto) and a DuckDB file stands in for Redshift;
with --stack the operator commands act on a deployed stack. `retail-etl COMMAND --help` for
each command. A bad argument, path or query is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from retail_etl.cli import sources as sources_cli
from retail_etl.cli.common import UsageError, aws_access_message, is_aws_access_error
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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default after its help; a required option, an on/off flag and one
    whose help says what its absence means show none, rather than "(default: None)"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.required:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Every command's parser (subparsers inherit the class) uses `HelpFormatter`."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _target(command: argparse.ArgumentParser) -> None:
    """Where an operator command acts: the local run's folder, or a deployed stack."""
    where = command.add_argument_group("target (the local run's state by default)")
    where.add_argument("--out", type=Path, default=DEFAULT_OUT, help="a local run's output folder")
    where.add_argument("--stack", help="a deployed stack instead, e.g. RetailEtl-prod")
    where.add_argument("--profile", help="AWS profile for --stack (default: the usual chain)")
    where.add_argument("--region", help="AWS region for --stack (default: the profile's)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="retail-etl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser(
        "generate",
        help="write a realistic, messy test dataset and its manifest",
        description="Write events and products files in the layout `run` and the raw bucket "
        "expect (events/dt=…/, products/dt=…/), with realistic mess, plus manifest.json: the "
        "exact outcome the pipeline must produce. --out s3://… writes into a bucket with your "
        "AWS credentials (e.g. a deployed stack's raw bucket).",
    )
    gen.add_argument("--out", required=True, help="a folder, or s3://bucket/prefix")
    gen.add_argument("--days", type=_positive, default=3, help="consecutive days of events")
    gen.add_argument("--events-per-day", type=_positive, default=20_000, help="event rows per day")
    gen.add_argument("--products", type=_positive, default=500, help="products in the catalogue")
    gen.add_argument("--seed", type=int, default=0, help="random seed: same seed, same files")
    gen.add_argument(
        "--start-date",
        type=_date,
        default=dt.date(2026, 11, 1),
        metavar="YYYY-MM-DD",
        help="the first day",
    )
    gen.add_argument(
        "--clean", action="store_true", help="inject no mess at all (every row is valid)"
    )

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
    run.add_argument(
        "--workers", type=_positive, default=2, help="Lambda containers working at once"
    )
    run.add_argument(
        "--sources",
        type=Path,
        help="source profiles folder (default: the repository's sources/)",
    )

    demo = sub.add_parser(
        "demo",
        help="generate, run, re-run and a late file, end to end",
        description="Generate messy days, run them through the emulated pipeline, show that a "
        "second pass and a redelivery of every S3 event process nothing, then drop one late "
        "file and show that exactly its dates are re-aggregated.",
    )
    demo.add_argument("--days", type=_positive, default=3, help="days of generated events")
    demo.add_argument("--events-per-day", type=_positive, default=20_000, help="event rows per day")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the generated data")
    demo.add_argument(
        "--keep", type=Path, help="keep input and output in this folder (default: a temporary one)"
    )
    demo.add_argument("--json", type=Path, help="also write the report as JSON here")

    query = sub.add_parser("query", help="run SQL on the local warehouse and print the result")
    query.add_argument(
        "--warehouse",
        type=Path,
        default=DEFAULT_OUT / "warehouse.duckdb",
        help="the DuckDB file a local run loaded",
    )
    query.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="a table to read, or CSV / JSON (one object per row) for other tools",
    )
    query.add_argument(
        "--lake",
        action="store_true",
        help="query the lake's tables instead (quarantine, parked_events, curated_events, "
        "product_history, the aggregates) as the run in --out left them",
    )
    query.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="--lake: a local run's output folder"
    )
    query.add_argument(
        "sql",
        help='e.g. "SELECT * FROM retail.daily_category_revenue"; with --lake, '
        '"SELECT reason, count(*) FROM quarantine GROUP BY 1"',
    )

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
    backfill.add_argument(
        "--from",
        dest="from_",
        type=_date,
        required=True,
        metavar="YYYY-MM-DD",
        help="the first run date",
    )
    backfill.add_argument(
        "--to", type=_date, required=True, metavar="YYYY-MM-DD", help="the last run date"
    )
    backfill.add_argument(
        "--no-wait", action="store_true", help="--stack: start the executions, do not wait"
    )

    report = sub.add_parser(
        "report",
        help="one static HTML page: charts of the results, the quarantine and the ledger",
        description="Write one self-contained HTML page (charts inlined as SVG; opens with no "
        "server and no network): daily revenue by category, the most viewed products, "
        "multi-purchase users, quarantined rows by reason and day, every file in the ledger "
        "with its status, and how fresh the data is. From a local run's folder, or with "
        "--stack from a deployed stack through Athena.",
    )
    _target(report)
    report.add_argument(
        "--html",
        type=Path,
        help="where to write the page (default: OUT/report.html, or STACK-report.html)",
    )
    sources_cli.add_parser(sub)
    return parser


def _commands():
    from retail_etl.cli import operate, pipeline, report

    return {
        "generate": pipeline.cmd_generate,
        "run": pipeline.cmd_run,
        "demo": pipeline.cmd_demo,
        "query": operate.cmd_query,
        "status": operate.cmd_status,
        "replay-quarantine": operate.cmd_replay,
        "backfill": operate.cmd_backfill,
        "report": report.cmd_report,
        "sources": sources_cli.cmd_sources,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _commands()[args.command](args)
    except (UsageError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a local run's state survives even SIGKILL: run it again
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not is_aws_access_error(exc):
            raise  # a bug: the traceback is what a maintainer needs
        print(f"error: {aws_access_message(exc)}", file=sys.stderr)
        return 2
