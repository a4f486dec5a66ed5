import gc
import platform

import pyarrow as pa

from retail_etl.memory import GLIBC_ARENAS, JEMALLOC_DECAY_MS, configure_memory


def test_arrow_allocates_from_jemalloc_with_a_decay_once_configured():
    before = pa.default_memory_pool()
    try:
        setup = configure_memory()
        assert setup.arrow_pool == pa.default_memory_pool().backend_name == "jemalloc"
        assert setup.jemalloc_decay_ms == JEMALLOC_DECAY_MS
        assert pa.array(["x"] * 1000).nbytes and pa.jemalloc_memory_pool().bytes_allocated() > 0
    finally:
        pa.set_memory_pool(before)


def test_glibc_arenas_are_bounded_where_glibc_allocates():
    setup = configure_memory()
    on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert setup.glibc_arenas == (GLIBC_ARENAS if on_glibc else None)


def test_objects_alive_at_start_are_left_out_of_the_collectors_scans():
    module_objects = len(gc.get_objects())
    setup = configure_memory()
    assert setup.frozen_objects >= module_objects
    # a frozen object may still be freed by its reference count (a thread of the test runner's
    # did, between the two counts): the count can only fall, nothing joins it after the freeze
    assert 0 < gc.get_freeze_count() <= setup.frozen_objects
    scanned = len(gc.get_objects())
    later = [[] for _ in range(10)]  # objects made afterwards are scanned as usual
    assert len(gc.get_objects()) >= scanned + len(later)
