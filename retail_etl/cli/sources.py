"""`sources infer` and `sources check`: fit a shop's own export in minutes (docs/sources.md).

* `python -m retail_etl sources infer FILE [--name NAME]` prints a proposed profile (YAML)
  from the first MiB of the file;
* `python -m retail_etl sources check --sources DIR FILE [--name NAME]` dry-runs a profile of
  DIR over FILE: counts per outcome, unused columns, the values most often rejected.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import zlib
from pathlib import Path

from retail_etl.cli.common import UsageError, console, write_json

DEFAULT_SOURCES = Path("sources")


def add_parser(sub) -> None:
    sources = sub.add_parser("sources", help="source profiles: propose one, dry-run one")
    actions = sources.add_subparsers(dest="sources_command", required=True)
    infer = actions.add_parser("infer", help="print a proposed profile (YAML) for a file")
    infer.add_argument("file", type=Path)
    infer.add_argument("--name", help="the source's name (default: from the file name)")
    infer.add_argument(
        "--kind",
        choices=["events", "products"],
        help="what the file holds (default: from an events/ or products/ folder, else events)",
    )
    check = actions.add_parser("check", help="dry-run a profile over a file, write nothing")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--sources", type=Path, default=DEFAULT_SOURCES, help="profiles folder (default sources)"
    )
    check.add_argument("--name", help="the profile (default: the file path's source=NAME folder)")
    check.add_argument("--kind", choices=["events", "products"])
    check.add_argument("--json", type=Path, help="also write the result as JSON here")


def _kind(path: Path, given: str | None) -> str:
    if given:
        return given
    parts = path.as_posix().split("/")
    for kind in ("events", "products"):
        if kind in parts:
            return kind
    return "events"


def _sample(path: Path, limit: int) -> bytes:
    if not path.is_file():
        raise UsageError(f"file not found: {path}")
    with path.open("rb") as raw:
        if path.name.lower().endswith(".gz"):
            try:
                with gzip.GzipFile(fileobj=raw) as inflated:
                    return inflated.read(limit)
            except (OSError, EOFError, zlib.error) as exc:
                raise UsageError(f"{path}: not valid gzip ({exc})") from exc
        return raw.read(limit)


def cmd_infer(args: argparse.Namespace) -> int:
    from retail_etl.domain.infer import SAMPLE_BYTES, propose, validate
    from retail_etl.domain.profile import ProfileError

    text = propose(
        _sample(args.file, SAMPLE_BYTES), args.file.name, args.name, _kind(args.file, args.kind)
    )
    sys.stdout.write(text)
    try:
        validate(text)
    except ProfileError as exc:
        print(f"error: the proposal is incomplete; edit it:\n{exc}", file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from retail_etl.adapters.sources import load_profiles
    from retail_etl.domain.dry_run import check_file
    from retail_etl.domain.errors import FileRejected
    from retail_etl.domain.profile import ProfileError, source_of

    try:
        profiles = load_profiles(args.sources)
    except ProfileError as exc:
        raise UsageError(str(exc)) from exc
    if not args.file.is_file():
        raise UsageError(f"file not found: {args.file}")
    name = args.name or source_of(args.file.as_posix())
    if name is None:
        raise UsageError("which profile? give --name NAME or a path with a source=NAME folder")
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise UsageError(f"no profile {name!r} in {args.sources} (known: {known})")
    kind = _kind(args.file, args.kind)
    key = f"{kind}/source={name}/{args.file.name}"
    with args.file.open("rb") as stream:
        try:
            result = check_file(stream, key, kind, profiles[name])
        except FileRejected as exc:
            console.print(f"[red]the whole file would be rejected: {exc}[/red]")
            return 1
    out = result.to_dict()
    _show(out)
    write_json(args.json, out)
    return 0 if out["reconciles"] else 1


def _show(out: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{out['key']} through profile {out['source']} (dry run)")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    table.add_row("rows_in", str(out["rows_in"]))
    table.add_row("curated", str(out["rows_curated"]))
    table.add_row("duplicate", str(out["rows_duplicate"]))
    table.add_row("excluded", str(out["rows_excluded"]))
    for reason, rows in out["rows_quarantined"].items():
        note = " (waits for a products file)" if reason == "unknown_product" else ""
        table.add_row(f"quarantined: {reason}{note}", str(rows))
    console.print(table)
    unused = ", ".join(out["unused_columns"]) or "none"
    console.print(f"columns no mapping uses: {unused}")
    for column, values in out["unknown_values"].items():
        shown = ", ".join(f"{json.dumps(v)} ×{n}" for v, n in values)
        console.print(f"top rejected values of {column}: {shown}")


def cmd_sources(args: argparse.Namespace) -> int:
    return {"infer": cmd_infer, "check": cmd_check}[args.sources_command](args)
