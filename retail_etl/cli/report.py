"""`report`: one static HTML page from the pipeline the target arguments name: a local run's
folder (DuckDB over its tables) or a deployed stack (Athena)."""

from __future__ import annotations

import argparse

from retail_etl.cli.common import UsageError, console
from retail_etl.cli.target import open_pipeline


def cmd_report(args: argparse.Namespace) -> int:
    from retail_etl.operations.report import AthenaError, build_report
    from retail_etl.report.html import render

    with open_pipeline(args, read_only=True) as p, p.sql_engine() as engine:
        try:
            data = build_report(
                p.description, engine, p.ledger, p.lake, p.store, p.settings.raw_bucket
            )
        except AthenaError as exc:
            raise UsageError(f"Athena query failed: {exc}") from exc
        path = args.html or p.report_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    t = data.totals
    console.print(
        f"report written to {path}: {len(data.files)} file(s), {t.dates_loaded} date(s) loaded, "
        f"{t.quarantined:,} row(s) quarantined; open it in a browser (no server needed)"
    )
    return 0
