"""Handlers for the container tests, imported inside the spawned worker processes."""

from __future__ import annotations

import os
import signal

from lambdas.ingest import handler as ingest


def die(event: dict, context) -> None:
    """What a segfault in a C extension does to a Lambda process."""
    os.kill(os.getpid(), signal.SIGSEGV)


def echo(event: dict, context) -> dict:
    return {"pid": os.getpid(), **event}


def ingest_or_die(event: dict, context) -> dict:
    """The real ingest handler, except that a file named `die.*` kills the process."""
    if any("/die." in record["body"] for record in event["Records"]):
        os.kill(os.getpid(), signal.SIGSEGV)
    return ingest.handler(event, context)
