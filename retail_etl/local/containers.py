"""Lambda containers for the local runtime: worker processes that invoke the real handlers.

In AWS each concurrent invocation runs in its own container (process), with module-level state
(clients, Powertools' batch processor) of its own. Worker processes give the local run the same
isolation and let two files be cleaned on two cores while the emulated AWS answers from the
parent process. Handlers are named by dotted path, exactly as the stack's `handler` property.
A container's logs and metrics (Powertools writes JSON to stdout) go to a log file, not the
terminal.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any


def _start_container(env: Mapping[str, str], log_file: str, modules: tuple[str, ...]) -> None:
    os.environ.update(env)
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout = open(log_file, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    for module in modules:  # the cold start, paid once per container as in Lambda
        importlib.import_module(module)


def _invoke(handler: str, event: dict) -> Any:
    from retail_etl.local.delivery import LambdaContext

    module, _, function = handler.rpartition(".")
    return getattr(importlib.import_module(module), function)(event, LambdaContext())


class LambdaContainers:
    """`workers` warm containers sharing one environment (the stack's Lambda variables)."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_file: Path,
        workers: int = 2,
        handlers: tuple[str, ...] = (),
    ) -> None:
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),  # never fork the emulator's threads
            initializer=_start_container,
            initargs=(dict(env), str(log_file), tuple({h.rpartition(".")[0] for h in handlers})),
        )
        for _ in range(workers):  # start every container now, while the caller drops files
            self.pool.submit(int)

    def submit(self, handler: str, event: dict) -> Future:
        return self.pool.submit(_invoke, handler, event)

    def invoke(self, handler: str, event: dict) -> Any:
        return self.submit(handler, event).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
