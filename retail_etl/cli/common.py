"""What every command shares: the console, the one-line user error, the JSON report."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

console = Console(highlight=False)
if not console.is_terminal:  # piped or in CI: don't squeeze tables into 80 columns
    console = Console(highlight=False, width=150)


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


def write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"report written to {path}")


@contextmanager
def spinner(message: str):
    """A live status line on a terminal; one plain line per step when piped (CI logs)."""
    if console.is_terminal:
        with console.status(message) as status:
            yield status.update
    else:
        console.print(message)
        yield lambda text: console.print(f"  {text}")
