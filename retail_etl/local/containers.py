"""Lambda containers for the local runtime: worker processes that invoke the real handlers.

In AWS each concurrent invocation runs in its own container (process), with module-level state
(clients, Powertools' batch processor) of its own. Worker processes give the local run the same
isolation and let two files be cleaned on two cores while the emulated AWS answers from the
parent process. Handlers are named by dotted path, exactly as the stack's `handler` property.
A container's logs and metrics (Powertools writes JSON to stdout) go to a log file, not the
terminal. Containers are forked from multiprocessing's fork server, which has the handler
modules loaded (see `_context`).

Each container is a pool of one process, so a container that dies (a segfault, the kernel's
OOM killer) breaks only its own invocation, as in Lambda: the caller gets `ContainerDied`,
the dead container is replaced by a fresh one and the other containers keep running.

A container runs one invocation at a time, as in Lambda; invocations beyond the containers
wait in one queue and go to whichever container frees first (as throttled invocations are
retried onto the first free one), so a short task never waits behind a long one while
another container idles.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any


class ContainerDied(RuntimeError):
    """The container's process died during an invocation (Lambda's Runtime.ExitError)."""


def _start_container(env: Mapping[str, str], log_file: str, modules: tuple[str, ...]) -> None:
    os.environ.update(env)
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    log = open(log_file, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    # The loggers the fork server's imports created hold its stdout: point the descriptor
    # itself at the log file, so they write there too.
    os.dup2(log.fileno(), sys.stdout.fileno())
    sys.stdout = log
    for module in modules:  # loaded by the fork server already, unless a test's own
        importlib.import_module(module)


def _context(modules: tuple[str, ...]) -> multiprocessing.context.BaseContext:
    """Containers are forked from multiprocessing's fork server, never from this process (the
    emulator's threads would be copied mid-request). The server imports the handlers once,
    when the first containers start, so each container after it starts with them loaded, as
    a warm Lambda container would, instead of importing pyarrow and PyIceberg again (about
    2 CPU-seconds a container)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(modules))  # read when the server starts, once
    return context


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
        modules = tuple(sorted({h.rpartition(".")[0] for h in handlers}))
        self._new_pool = partial(
            ProcessPoolExecutor,
            max_workers=1,
            mp_context=_context(modules),
            initializer=_start_container,
            initargs=(dict(env), str(log_file), modules),
        )
        self._lock = threading.Lock()
        self.pools = [self._new_pool() for _ in range(workers)]
        self._busy = [False] * workers
        self._waiting: deque[tuple[str, dict, Future]] = deque()
        self.replaced = 0  # containers that died and were started again
        # Start every container now, from a thread: the first start waits for the fork server
        # to import the handlers (about 1.5 s), which overlaps the caller's provisioning
        # instead of delaying it. An invocation submitted meanwhile waits for its container.
        threading.Thread(
            target=lambda: [pool.submit(int) for pool in self.pools],
            name="container-start",
            daemon=True,
        ).start()

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
        """Invoke on a free container, or on the first one to free up; a container death
        fails only this future."""
        outer: Future = Future()
        with self._lock:
            self._waiting.append((handler, event, outer))
        self._dispatch()
        return outer

    def _dispatch(self) -> None:
        """Start waiting invocations on the free containers."""
        while True:
            with self._lock:
                free = [i for i, busy in enumerate(self._busy) if not busy]
                if not free or not self._waiting:
                    return
                i = free[0]
                handler, event, outer = self._waiting.popleft()
                if not outer.set_running_or_notify_cancel():
                    continue  # cancelled while it waited
                self._busy[i] = True
                pool = self.pools[i]
            self._start(i, pool, handler, event, outer)

    def _start(
        self, i: int, pool: ProcessPoolExecutor, handler: str, event: dict, outer: Future
    ) -> None:
        try:
            inner = pool.submit(_invoke, handler, event)
        except BrokenProcessPool:  # died since its last invocation: start it again
            pool = self._replace(i, pool)
            inner = pool.submit(_invoke, handler, event)

        def settle(done: Future) -> None:
            exc = None if done.cancelled() else done.exception()
            if isinstance(exc, BrokenProcessPool):
                self._replace(i, pool)
            with self._lock:
                self._busy[i] = False
            if done.cancelled():
                outer.set_exception(CancelledError(f"{handler}: the containers were closed"))
            elif isinstance(exc, BrokenProcessPool):
                outer.set_exception(
                    ContainerDied(f"{handler}: the Lambda container process died ({exc})")
                )
            elif exc is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(done.result())
            self._dispatch()

        inner.add_done_callback(settle)

    def invoke(self, handler: str, event: dict) -> Any:
        return self.submit(handler, event).result()

    def close(self) -> None:
        """Stop the containers once their invocations end; invocations still waiting for a
        container are cancelled."""
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
        for _, _, outer in waiting:
            outer.cancel()
        for pool in self.pools:
            # a container's heap dies with it: freezing it skips the final collections over
            # it (about a second each after a large run); a dead container takes nothing
            with suppress(BrokenProcessPool, RuntimeError):
                pool.submit(gc.freeze)
        for pool in self.pools:
            pool.shutdown(wait=True)
