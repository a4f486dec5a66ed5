"""What both reference engines share: finding the dropped files, whole-file checks, output.

Only the file layer lives here (which files, in which order, whether a file is rejected as a
whole, where its header is); the row-level rules of docs/data-contract.md are implemented by
each engine on its own, so the two engines and `retail_etl` check each other.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import re
import shutil
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from retail_etl.domain.contract import (
    EVENT_REQUIRED,
    EVENT_TIMESTAMP_ALIASES,
    PRODUCT_REQUIRED,
    FileError,
)

# Unicode White_Space: what "trimmed" and "blank" mean (Python's str.strip(), Rust's
# char::is_whitespace and Arrow's utf8_trim_whitespace agree on these).
WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

EVENT_FIELDS = (
    "event_id",
    "user_id",
    "product_id",
    "event_type",
    *EVENT_TIMESTAMP_ALIASES,
    "quantity",
    "session_id",
)
PRODUCT_FIELDS = ("product_id", "product_name", "category", "price", "stock_level")
FIELDS = {"events": EVENT_FIELDS, "products": PRODUCT_FIELDS}
REQUIRED_GROUPS = {
    "events": [(n,) for n in EVENT_REQUIRED[:3]] + [EVENT_TIMESTAMP_ALIASES],
    "products": [(n,) for n in PRODUCT_REQUIRED],
}

_KEY = re.compile(r"^(events|products)/dt=(\d{4}-\d{2}-\d{2})/([^/]+)$")
_FORMATS = {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl", "json": "jsonl"}
_BOM = b"\xef\xbb\xbf"
_BLOCK = 16 << 20


@dataclass
class InputFile:
    """One dropped file, with its place in processing order (`seq`)."""

    seq: int
    kind: str  # "events" | "products"
    dt: dt.date
    key: str  # relative to the input folder, forward slashes
    path: Path
    fmt: str | None  # "csv" | "jsonl" | None (unsupported extension)
    gz: bool
    ingested_at_us: int = 0


@dataclass
class Prepared:
    """A file after the whole-file checks: rejected (`error`) or ready to be read."""

    file: InputFile
    error: str | None = None
    read_path: Path | None = None  # plain (decompressed) bytes, for readers that take a path
    data: bytes | None = None  # decompressed bytes without BOM, when asked for
    header_line: int = 0  # 1-based physical line of the CSV header (0 for JSON Lines)
    header: list[str] = field(default_factory=list)  # normalized CSV column names

    def column_index(self, name: str) -> int | None:
        """1-based position of the first column with that name, else None."""
        try:
            return self.header.index(name) + 1
        except ValueError:
            return None


def discover(input_dir: Path) -> list[InputFile]:
    """The events and products files under `input_dir` in processing order.

    Order: `dt` ascending; within a date, products files before events files; then by key.
    Files whose key is not `<kind>/dt=YYYY-MM-DD/<name>` (e.g. manifest.json) are ignored.
    `ingested_at` increases with the order, so "smallest (ingested_at, source_file)" means
    "processed first".
    """
    found = []
    for path in input_dir.rglob("*"):
        if not path.is_file():
            continue
        key = path.relative_to(input_dir).as_posix()
        m = _KEY.match(key)
        if not m:
            continue
        name = m.group(3).lower()
        gz = name.endswith(".gz")
        stem = name[:-3] if gz else name
        ext = stem.rsplit(".", 1)[-1] if "." in stem else ""
        found.append(
            InputFile(0, m.group(1), dt.date.fromisoformat(m.group(2)), key, path,
                      _FORMATS.get(ext), gz)
        )  # fmt: skip
    found.sort(key=lambda f: (f.dt, f.kind != "products", f.key))
    base_us = time.time_ns() // 1000
    for seq, f in enumerate(found):
        f.seq = seq
        f.ingested_at_us = base_us + seq
    return found


def _blocks(f: InputFile) -> Iterator[bytes]:
    """The file's (decompressed) bytes in blocks; raises EOFError/OSError/zlib.error."""
    opener = gzip.open if f.gz else open
    with opener(f.path, "rb") as stream:
        while block := stream.read(_BLOCK):
            yield block


def regex_escape(text: str) -> str:
    """`text` as a literal in both RE2 (DuckDB) and Rust (polars) regexes: only the
    metacharacters common to both are escaped."""
    return "".join("\\" + c if c in "\\.^$|?*+()[]{}" else c for c in text)


def is_blank(line: str) -> bool:
    return not line.strip(WS)


def preflight(
    f: InputFile, tmp_dir: Path | None = None, want_data: bool = False, check_utf8: bool = True
) -> Prepared:
    """Whole-file checks of the contract (§1): format, gzip, UTF-8, empty file, CSV header.

    With `tmp_dir`, a gzipped file is decompressed there and `read_path` points at the copy
    (a plain file's `read_path` is the file itself); with `want_data`, `data` holds the
    decompressed bytes without the BOM. With `check_utf8=False` only the lines read to find
    the header are checked: the caller's reader must reject the rest.
    """
    p = Prepared(f)
    if f.fmt is None:
        p.error = FileError.UNSUPPORTED_FORMAT
        return p
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    parts: list[bytes] = []
    sink = None
    bad_encoding = False
    try:
        if f.gz and tmp_dir is not None:
            p.read_path = tmp_dir / f"{f.seq:06d}.{f.fmt}"
            sink = open(p.read_path, "wb")  # noqa: SIM115 - closed in finally
        elif not f.gz:
            p.read_path = f.path
        for block in _blocks(f):
            if sink is not None:
                sink.write(block)
            if want_data:
                parts.append(block)
            if check_utf8 and not bad_encoding:  # keep reading: corrupt gzip wins
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    bad_encoding = True
        if check_utf8 and not bad_encoding:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                bad_encoding = True
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        p.error = FileError.CORRUPT_COMPRESSION
        return p
    finally:
        if sink is not None:
            sink.close()
    if bad_encoding:
        p.error = FileError.INVALID_ENCODING
        return p
    if want_data:
        data = b"".join(parts)
        p.data = data[len(_BOM) :] if data.startswith(_BOM) else data
    try:
        first = _first_record_line(p)
    except UnicodeDecodeError:
        p.error = FileError.INVALID_ENCODING
        return p
    if first is None:
        p.error = FileError.EMPTY_FILE
        return p
    if f.fmt == "csv":
        line_no, line = first
        p.header_line = line_no
        names = next(csv.reader([line]), [])
        p.header = [n.strip(WS).lower() for n in names]
        present = set(p.header)
        if any(not present.intersection(group) for group in REQUIRED_GROUPS[f.kind]):
            p.error = FileError.MISSING_COLUMNS
    return p


def _first_record_line(p: Prepared) -> tuple[int, str] | None:
    """(1-based line number, text) of the first non-blank line, else None."""
    lines = _data_lines(p.data) if p.data is not None else _file_lines(p.read_path, p.file)
    for n, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8").removesuffix("\r")
        if n == 1:
            line = line.removeprefix("\ufeff")
        if not is_blank(line):
            return n, line
    return None


def _data_lines(data: bytes) -> Iterator[bytes]:
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            yield data[start:]
            return
        yield data[start:end]
        start = end + 1


def _file_lines(plain: Path | None, f: InputFile) -> Iterator[bytes]:
    """Lines of the plain copy when there is one, else of the (maybe gzipped) file."""
    opener = gzip.open if plain is None and f.gz else open
    with opener(plain or f.path, "rb") as stream:
        for raw in stream:
            yield raw.removesuffix(b"\n")


# ---------------------------------------------------------------------------------------
# Output helpers


def decimal_from_cents(
    cents: np.ndarray, valid: np.ndarray | None, type_: pa.Decimal128Type
) -> pa.Array:
    """A scale-2 decimal array whose unscaled values are the given int64 cents (exact).

    A decimal128 stores its unscaled integer as 16 little-endian bytes, so the cents become
    decimals without any per-row conversion."""
    assert type_.scale == 2
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension
    validity, nulls = None, 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = int((~valid).sum())
    return pa.Array.from_buffers(
        type_, len(cents), [validity, pa.py_buffer(words.tobytes())], null_count=nulls
    )


def cents_to_decimal(cents: pa.Array, type_: pa.Decimal128Type) -> pa.Array:
    """`decimal_from_cents` for an Arrow integer array (nulls stay null)."""
    cents = cents.combine_chunks() if isinstance(cents, pa.ChunkedArray) else cents
    values = np.asarray(cents.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False))
    valid = cents.is_valid().to_numpy(zero_copy_only=False) if cents.null_count else None
    return decimal_from_cents(values, valid, type_)


def write_table(table: pa.Table, schema: pa.Schema, path: Path) -> None:
    """Write `table` with exactly `schema` (names, order and types)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.select(schema.names).cast(schema), path)


def reset_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def curated_events_dir(curated_dir: Path) -> Path:
    """The hive-partitioned events folder, given a clean_enrich output folder or the folder
    itself (`…/curated` or `…/curated/events`)."""
    for candidate in (curated_dir / "curated" / "events", curated_dir / "events"):
        if candidate.is_dir():
            return candidate
    return curated_dir
