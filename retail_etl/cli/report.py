"""`report`: written in the next commit."""

from __future__ import annotations

import argparse

from retail_etl.cli.common import UsageError


def cmd_report(args: argparse.Namespace) -> int:
    raise UsageError("report: not implemented yet")
