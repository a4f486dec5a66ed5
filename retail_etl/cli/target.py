"""Where an operator command acts: the one place that tells a deployed stack (`--stack`, with
`--profile`/`--region`) from a local run's folder (`--out`). The commands get a `Pipeline`
(`operations/pipeline.py`) and never ask which one it is."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from retail_etl.cli.common import UsageError, spinner
from retail_etl.local.state import LEDGER_JSON

if TYPE_CHECKING:
    from retail_etl.local.runtime import LocalPipeline
    from retail_etl.operations.deployed import DeployedStack
    from retail_etl.operations.pipeline import Pipeline


@contextmanager
def open_pipeline(args: argparse.Namespace, read_only: bool = False) -> Iterator[Pipeline]:
    """The pipeline `args` names; `read_only`: the command only reads it (a local run's
    state is then not written back)."""
    if args.stack:
        yield deployed_stack(args)
        return
    from retail_etl.local.operated import LocalRun

    with local_pipeline(args, read_only=read_only) as pipeline:
        yield LocalRun(pipeline)


@contextmanager
def local_pipeline(
    args: argparse.Namespace, read_only: bool = False, quiet: bool = False
) -> Iterator[LocalPipeline]:
    """The local run's state in `args.out`, restored into a fresh emulator, its tables too.
    `quiet`: no progress lines, so stdout carries only the result (`query --format csv|json`)."""
    from retail_etl.local.runtime import LocalPipeline

    if not (args.out / LEDGER_JSON).is_file():
        raise UsageError(f"no local run state in {args.out} (run `retail-etl run` first)")
    with (
        spinner(f"restoring the local run in {args.out} …", quiet) as progress,
        LocalPipeline(args.out, progress=progress, read_only=read_only, tables=True) as pipeline,
    ):
        yield pipeline


def deployed_stack(args: argparse.Namespace) -> DeployedStack:
    from botocore.exceptions import BotoCoreError, ClientError

    from retail_etl.operations.deployed import DeployedStack, StackNotFound

    try:
        return DeployedStack.connect(args.stack, args.profile, args.region)
    except (StackNotFound, BotoCoreError, ClientError, KeyError) as exc:
        raise UsageError(f"cannot reach stack {args.stack}: {exc}") from exc
