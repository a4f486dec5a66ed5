"""The metadata file cache: Iceberg's metadata files are read from the store once per process,
data files every time, and the catalog's pointer is never cached."""

from __future__ import annotations

from collections import Counter
from unittest.mock import patch

import pytest
from pyiceberg.io.pyarrow import PyArrowFile

from retail_etl.adapters import metadata_files
from retail_etl.adapters.metadata_files import CACHE, CachedMetadataFileIO, MetadataCache
from retail_etl.adapters.tables import Lake, on_date
from tests.adapters.test_tables import REVENUE, rows


@pytest.fixture
def opened():
    """The kinds of file opened from the store ("metadata" or "data") while the test runs."""
    kinds: Counter = Counter()
    original = PyArrowFile.open

    def counting(self, seekable=True):
        kinds["metadata" if metadata_files.is_metadata(self.location) else "data"] += 1
        return original(self, seekable)

    with patch.object(PyArrowFile, "open", counting):
        yield kinds


@pytest.fixture
def lake(tmp_path):
    lake = Lake.on_disk(tmp_path, "retail")
    lake.ensure()
    lake.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "books", "tea"))
    return lake


def scan(lake: Lake) -> list[str]:
    """The table's rows through PyIceberg itself (the lake's scan cache would hide reads)."""
    return sorted(lake.table(REVENUE).scan().to_arrow()["category"].to_pylist())


def test_the_lake_reads_through_the_cached_file_io(lake):
    assert isinstance(lake.table(REVENUE).io, CachedMetadataFileIO)


def test_a_scan_of_an_unchanged_table_reads_its_metadata_once_and_its_data_each_time(lake, opened):
    CACHE.clear()
    assert scan(lake) == ["books", "tea"]
    first = dict(opened)
    assert first["metadata"] >= 3  # table metadata, manifest list, manifest
    assert scan(lake) == ["books", "tea"]
    assert opened["metadata"] == first["metadata"]
    assert opened["data"] == 2 * first["data"] > 0


def test_what_a_commit_writes_is_read_back_from_memory(lake, opened):
    lake.replace(REVENUE, on_date("2026-11-02"), rows=rows("2026-11-02", "toys"))
    location = lake.table(REVENUE).metadata_location
    assert location in CACHE
    assert scan(lake) == ["books", "tea", "toys"]
    assert opened["metadata"] == 0


def test_a_commit_through_another_catalog_is_seen_at_once(lake, tmp_path):
    other = Lake.on_disk(tmp_path, "retail")
    assert scan(lake) == ["books", "tea"]
    other.replace(REVENUE, on_date("2026-11-01"), rows=rows("2026-11-01", "wine"))
    assert scan(lake) == ["wine"]


def test_a_write_that_fails_caches_nothing(tmp_path):
    location = f"file://{tmp_path}/metadata/00000-snap.avro"
    output = CachedMetadataFileIO().new_output(location)
    with pytest.raises(RuntimeError), output.create() as stream:
        stream.write(b"half a manifest")
        raise RuntimeError("the writer died")
    assert location not in CACHE


def test_a_written_file_is_not_created_twice(tmp_path):
    output = CachedMetadataFileIO().new_output(f"file://{tmp_path}/metadata/v1.metadata.json")
    with output.create() as stream:
        stream.write(b"{}")
    assert len(output) == 2
    with pytest.raises(FileExistsError):
        output.create()


def test_the_cache_drops_the_least_recently_used_beyond_its_bound():
    cache = MetadataCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # now b is the least recently used
    cache.put("c", b"1234")
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    cache.put("huge", b"x" * 11)
    assert "huge" not in cache and "a" in cache
