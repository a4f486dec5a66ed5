"""Lambda containers for the local runtime: worker processes that invoke the real handlers.

In AWS each concurrent invocation runs in its own container (process), with module-level state
(clients, Powertools' batch processor) of its own. Worker processes give the local run the same
isolation and let two files be cleaned on two cores while the emulated AWS answers from the
parent process. Handlers are named by dotted path, exactly as the stack's `handler` property.
A container's logs and metrics (Powertools writes JSON to stdout) go to a log file, not the
terminal.

Each container is a pool of one process, so a container that dies (a segfault, the kernel's
OOM killer) breaks only its own invocation, as in Lambda: the caller gets `ContainerDied`,
the dead container is replaced by a fresh one and the other containers keep running.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any


class ContainerDied(RuntimeError):
    """The container's process died during an invocation (Lambda's Runtime.ExitError)."""


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
        self._new_pool = partial(
            ProcessPoolExecutor,
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),  # never fork the emulator's threads
            initializer=_start_container,
            initargs=(dict(env), str(log_file), tuple({h.rpartition(".")[0] for h in handlers})),
        )
        self._lock = threading.Lock()
        self.pools = [self._new_pool() for _ in range(workers)]
        self._busy = [0] * workers
        self.replaced = 0  # containers that died and were started again
        for pool in self.pools:  # start every container now, while the caller drops files
            pool.submit(int)

    def _replace(self, i: int, dead: ProcessPoolExecutor) -> ProcessPoolExecutor:
        with self._lock:
            if self.pools[i] is dead:
                self.pools[i] = self._new_pool()
                self.pools[i].submit(int)
                self.replaced += 1
            pool = self.pools[i]
        dead.shutdown(wait=False, cancel_futures=True)
        return pool

    def submit(self, handler: str, event: dict) -> Future:
        """Invoke on the least busy container; a container death fails only this future."""
        with self._lock:
            i = min(range(len(self.pools)), key=self._busy.__getitem__)
            self._busy[i] += 1
            pool = self.pools[i]
        try:
            inner = pool.submit(_invoke, handler, event)
        except BrokenProcessPool:  # died since its last invocation: start it again
            inner = self._replace(i, pool).submit(_invoke, handler, event)
        outer: Future = Future()

        def settle(done: Future) -> None:
            with self._lock:
                self._busy[i] -= 1
            if done.cancelled():
                outer.cancel()
                return
            exc = done.exception()
            if isinstance(exc, BrokenProcessPool):
                self._replace(i, pool)
                outer.set_exception(
                    ContainerDied(f"{handler}: the Lambda container process died ({exc})")
                )
            elif exc is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(done.result())

        inner.add_done_callback(settle)
        return outer

    def invoke(self, handler: str, event: dict) -> Any:
        return self.submit(handler, event).result()

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)
