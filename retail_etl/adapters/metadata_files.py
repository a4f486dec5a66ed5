"""PyIceberg's Arrow file IO, keeping the tables' metadata files in memory once read or written.

Iceberg writes each metadata file once and never changes it: a commit writes a new table
metadata JSON, manifest list and manifests under new names, then moves the catalog's pointer.
So a metadata file read or written once has the same bytes for the life of the process. Without
this cache, every table load, scan and commit read the current manifest list and its manifests
again, each with two S3 requests (a HEAD for the size, then the GET). On the emulated run of
3 days x 1M events, that was a third of all requests.

Two things are never cached:
- the catalog's pointer, which says which metadata is current; a reader still learns of
  another writer's commit at once;
- data files, which are large and read once.

The catalogs load this class by name, through PyIceberg's `py-io-impl` property (`tables.py`).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from types import TracebackType

from pyiceberg.io import InputFile, InputStream, OutputFile, OutputStream
from pyiceberg.io.pyarrow import PyArrowFile, PyArrowFileIO

# the names Iceberg gives metadata files: v2 table metadata, manifest lists and manifests
METADATA_SUFFIXES = (".metadata.json", ".avro")
CACHE_BYTES = 64 << 20


def is_metadata(location: str) -> bool:
    return location.endswith(METADATA_SUFFIXES)


class MetadataCache:
    """Files' bytes by location, least recently used dropped first beyond `max_bytes`;
    thread-safe (a file's parts are published from several threads)."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._files: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, location: str) -> bytes | None:
        with self._lock:
            data = self._files.get(location)
            if data is not None:
                self._files.move_to_end(location)
            return data

    def put(self, location: str, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._files.pop(location, None)
            self._bytes += len(data) - (len(old) if old is not None else 0)
            self._files[location] = data
            while self._bytes > self.max_bytes:
                _, dropped = self._files.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._files.clear()
            self._bytes = 0

    def __contains__(self, location: str) -> bool:
        with self._lock:
            return location in self._files


CACHE = MetadataCache()  # one per process: a Glue catalog makes a new file IO per table load


class CachedMetadataFileIO(PyArrowFileIO):
    """`PyArrowFileIO` (data files, and metadata files the first time) with `CACHE` in front
    of the metadata files."""

    def new_input(self, location: str) -> InputFile:
        source = super().new_input(location)
        return _CachedInput(source) if is_metadata(location) else source

    def new_output(self, location: str) -> OutputFile:
        target = super().new_output(location)
        return _CachedOutput(target) if is_metadata(location) else target


class _CachedInput(InputFile):
    def __init__(self, source: PyArrowFile) -> None:
        super().__init__(source.location)
        self._source = source

    def _data(self) -> bytes:
        data = CACHE.get(self.location)
        if data is None:
            with self._source.open(seekable=False) as stream:
                data = stream.read()
            CACHE.put(self.location, data)
        return data

    def __len__(self) -> int:
        return len(self._data())

    def exists(self) -> bool:
        return self.location in CACHE or self._source.exists()

    def open(self, seekable: bool = True) -> InputStream:
        return io.BytesIO(self._data())


class _CachedOutput(OutputFile):
    """Writes go to the store; once the store has the whole file, its bytes go to the cache
    (the next commit reads the manifest list this one wrote, and sizes what it wrote)."""

    def __init__(self, target: PyArrowFile) -> None:
        super().__init__(target.location)
        self._target = target

    def __len__(self) -> int:
        data = CACHE.get(self.location)
        return len(data) if data is not None else len(self._target)

    def exists(self) -> bool:
        return self.location in CACHE or self._target.exists()

    def to_input_file(self) -> InputFile:
        return _CachedInput(self._target)

    def create(self, overwrite: bool = False) -> OutputStream:
        if not overwrite and self.location in CACHE:
            raise FileExistsError(f"Cannot create file, already exists: {self.location}")
        return _Tee(self._target.create(overwrite=overwrite), self.location)


class _Tee(OutputStream):
    """The store's output stream, with a copy of what was written for the cache."""

    def __init__(self, stream: OutputStream, location: str) -> None:
        self._stream = stream
        self._location = location
        self._copy = io.BytesIO()

    def write(self, b: bytes) -> int:
        self._copy.write(b)
        return self._stream.write(b)

    def tell(self) -> int:
        return self._stream.tell()

    def close(self) -> None:
        self._stream.close()  # the upload completes here; a failed one caches nothing
        CACHE.put(self._location, self._copy.getvalue())

    def __enter__(self) -> _Tee:
        return self

    def __exit__(
        self,
        exctype: type[BaseException] | None,
        excinst: BaseException | None,
        exctb: TracebackType | None,
    ) -> None:
        if exctype is None:
            self.close()
        else:
            self._stream.__exit__(exctype, excinst, exctb)
