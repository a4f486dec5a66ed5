"""`report`: one static HTML page from a local run's folder or a deployed stack (Athena)."""

from __future__ import annotations

import argparse
from pathlib import Path

from retail_etl.cli.common import UsageError, console
from retail_etl.cli.operate import deployed_stack, local_pipeline


def cmd_report(args: argparse.Namespace) -> int:
    from retail_etl.operations.report import Athena, AthenaError, DuckDBOverLake, build_report
    from retail_etl.report.html import render

    if args.stack:
        stack = deployed_stack(args)
        s = stack.settings
        engine = Athena(stack.session.client("athena"), s.glue_database, stack.athena_workgroup)
        try:
            data = build_report(
                f"stack {args.stack}", engine, stack.ledger, stack.lake, stack.store, s.raw_bucket
            )
        except AthenaError as exc:
            raise UsageError(f"Athena query failed: {exc}") from exc
        path = args.html or Path(f"{args.stack}-report.html")
    else:
        with local_pipeline(args, read_only=True, tables=True) as p:
            engine = DuckDBOverLake(p.lake)
            try:
                data = build_report(
                    f"local run in {args.out}",
                    engine,
                    p.ledger,
                    p.lake,
                    p.store,
                    p.settings.raw_bucket,
                )
            finally:
                engine.close()
        path = args.html or args.out / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    t = data.totals
    console.print(
        f"report written to {path}: {len(data.files)} file(s), {t.dates_loaded} date(s) loaded, "
        f"{t.quarantined:,} row(s) quarantined; open it in a browser (no server needed)"
    )
    return 0
