"""How the pipeline's processes allocate memory: set once at start, in every process that runs
the pipeline's steps (the Lambda handlers, the command line, the benchmark's engine).

Two costs pull against each other: peak RSS (a Lambda's memory, the 1 GiB budget of
benchmarks/README.md) and page faults, which are not cheap: on the 2-core benchmark machine
first touching 400 MB of fresh pages takes 0.3-0.8 s of kernel time, and cleaning 5M events
faulted in 9 GB of pages (2.3M faults, 8 s of system time) while Arrow held at most 320 MiB
live, because every freed buffer went straight back to the kernel.

* Arrow's buffers come from jemalloc. pyarrow's default pool (mimalloc) keeps freed pages for
  reuse without limit (cleaning 5M events peaked at 1,093-1,179 MiB of RSS); jemalloc returns
  them after `JEMALLOC_DECAY_MS`, long enough that the next blocks of a file reuse them (faults
  down to about 1M, system time to 4 s) and short enough to keep the 5M run under its 1 GiB:
  peaks of 936 and 952 MiB at 1 s, against 1,001-1,060 MiB at 3 s and 1,099 MiB at 10 s, in
  the same wall time (a decay of 0: 638 MiB, but 14.9 s instead of 11.4-12.2 s). On a day the
  machine ran three times slower, 900-923 MiB at either decay.
* glibc (numpy's arrays, Python's large objects) gets `GLIBC_ARENAS` arenas instead of up to
  eight per core: every thread that allocates would otherwise keep an arena of freed memory
  of its own (about 200 MiB retained, not in use, at the peak of the same run).
* Python's cyclic collector scans every tracked object at each full collection: the objects
  alive at start (the modules imported, about 160k) are frozen out of its scans. A full
  collection in the middle of an ingest held the GIL for 0.15 s (both threads stopped);
  ingesting 1M events spent 0.18-0.19 s in collections, 0.02-0.03 s with them frozen.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import platform
from dataclasses import dataclass

import pyarrow as pa

JEMALLOC_DECAY_MS = 1000
GLIBC_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt(3)'s parameter number, from glibc's malloc.h


@dataclass(frozen=True)
class MemorySetup:
    """What `configure_memory` could set on this platform."""

    arrow_pool: str  # the backend of Arrow's default pool
    jemalloc_decay_ms: int | None  # None: pyarrow built without jemalloc
    glibc_arenas: int | None  # None: not glibc (macOS, musl)
    frozen_objects: int  # objects the cyclic collector no longer scans


def configure_memory() -> MemorySetup:
    """Choose jemalloc for Arrow, bound glibc's arenas and freeze the objects alive so far out
    of the cyclic collector's scans; call it after the imports, before starting threads."""
    decay = None
    with contextlib.suppress(NotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(JEMALLOC_DECAY_MS)
        decay = JEMALLOC_DECAY_MS
    gc.freeze()
    return MemorySetup(
        pa.default_memory_pool().backend_name, decay, _bound_glibc_arenas(), gc.get_freeze_count()
    )


def _bound_glibc_arenas() -> int | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return GLIBC_ARENAS if libc.mallopt(_M_ARENA_MAX, GLIBC_ARENAS) == 1 else None
