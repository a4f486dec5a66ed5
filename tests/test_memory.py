import pyarrow as pa

from retail_etl.memory import use_jemalloc


def test_arrow_allocates_from_jemalloc_once_chosen():
    before = pa.default_memory_pool()
    try:
        use_jemalloc()
        assert pa.default_memory_pool().backend_name == "jemalloc"
        assert pa.array(["x"] * 1000).nbytes and pa.jemalloc_memory_pool().bytes_allocated() > 0
    finally:
        pa.set_memory_pool(before)
