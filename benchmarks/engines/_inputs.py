"""The reference engine's file layer: which files, in which order, and the checks that need
only a file's first lines (format, empty file, the CSV header).

Nothing here reads a whole file: the rows are read, inflated and parsed by DuckDB
(`duckdb_ref.py`). The first non-blank line is read with Python's `gzip`/`open` because a
CSV header decides which columns the SQL picks, and it costs one block per file.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import re
import shutil
import time
import zlib
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from retail_etl.domain.contract import (
    EVENT_REQUIRED,
    EVENT_TIMESTAMP_ALIASES,
    PRODUCT_REQUIRED,
    FileError,
)

# Unicode White_Space: what "trimmed" and "blank" mean (Python's str.strip() minus the
# separators \x1c-\x1f, which are not White_Space).
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
_BOM = "\ufeff"
_BLOCK = 8 << 20
_FIRST_BLOCK = 64 << 10
_STRAY_CR = re.compile(rb"\r(?!\n)")
_CR_RUN_BEFORE_LF = re.compile(rb"\r+\n")
# Written for a CR inside a line (`write_marked`); never occurs in text.
STRAY_CR_MARK = "\x1c\x1d\x1e\x1f"
# Bounds of contract §1 (`ReadLimits`): the longest line, and how far a gzip stream may inflate.
MAX_LINE_BYTES = 16 << 20
MAX_INFLATION = 200
INFLATION_FLOOR = 64 << 20


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
    # set by `preflight`
    error: str | None = None
    header_line: int = 0  # 1-based physical line of the CSV header (0 for JSON Lines)
    header: list[str] = field(default_factory=list)  # normalized CSV column names
    cr_only: bool = False  # the first line ends with a bare CR: every CR ends a line
    marked: Path | None = None  # a copy to read instead, CRs inside lines marked

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
    `ingested_at` increases with the order.
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


def preflight(f: InputFile) -> InputFile:
    """The whole-file checks that need only the first non-blank line: `unsupported_format`,
    `empty_file`, a CSV header's `invalid_header` and `missing_columns`, and
    `invalid_encoding` or `corrupt_compression` met on the way. The rest of the file is
    checked by DuckDB's reader and by `check_stream`."""
    if f.fmt is None:
        f.error = FileError.UNSUPPORTED_FORMAT
        return f
    try:
        first = first_record_line(f)
    except UnicodeDecodeError:
        f.error = (check_stream(f).error if f.gz else None) or FileError.INVALID_ENCODING
        return f
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        f.error = FileError.CORRUPT_COMPRESSION
        return f
    if first is None:
        f.error = FileError.EMPTY_FILE
        return f
    if f.fmt == "csv":
        f.header_line, line = first
        try:
            names = next(csv.reader([line]), [])
        except csv.Error:  # a stray CR, a field over the csv module's limit
            f.error = FileError.INVALID_HEADER
            return f
        f.header = [n.strip(WS).lower() for n in names]
        present = set(f.header)
        if any(not present.intersection(group) for group in REQUIRED_GROUPS[f.kind]):
            f.error = FileError.MISSING_COLUMNS
    return f


def first_record_line(f: InputFile) -> tuple[int, str] | None:
    """(1-based line number, text) of the first non-blank line, else None; sets `cr_only`."""
    opener = gzip.open if f.gz else open
    with opener(f.path, "rb") as stream:
        for n, raw in enumerate(_raw_lines(stream, f), start=1):
            line = raw.decode("utf-8").removesuffix("\r")
            if n == 1:
                line = line.removeprefix(_BOM)
            if line.strip(WS):
                return n, line
    return None


def _raw_lines(stream, f: InputFile) -> Iterator[bytes]:
    """The stream's lines without their LF (or CR, when the first line end is a bare CR)."""
    rest, first = b"", True
    while block := stream.read(_FIRST_BLOCK):
        if first:  # the first line end decides (one read: a header is shorter than that)
            lf, cr = block.find(b"\n"), block.find(b"\r")
            f.cr_only = cr >= 0 and (lf < 0 or cr < lf) and block[cr + 1 : cr + 2] != b"\n"
            first = False
        lines = (rest + block).split(b"\r" if f.cr_only else b"\n")
        rest = lines.pop()
        yield from lines
    yield rest


@dataclass
class StreamCheck:
    """What DuckDB's line reader cannot tell about a file's bytes (see `check_stream`)."""

    error: str | None = None  # corrupt_compression | compression_bomb
    stray_cr: bool = False  # a CR inside a line, outside a file of CR line ends


def check_stream(f: InputFile) -> StreamCheck:
    """Read a file's bytes beside DuckDB's read, for what its reader does not report.

    * gzip: DuckDB's reader returns whatever it could inflate of a truncated or corrupt
      stream, so the stream is checked here (CRC and length included); a bomb is a stream
      that, once more than `INFLATION_FLOOR` bytes are out, has inflated to more than
      `MAX_INFLATION` times the compressed bytes read so far (contract §1).
    * A CR that does not end a line (not followed by LF, or CRs before an LF): DuckDB's
      reader would end the line there, so such a file is read again from `write_marked`.
    """
    check = StreamCheck()
    inflated, carry = 0, b""
    try:
        with open(f.path, "rb") as raw, _opened(raw, f) as stream:
            while block := stream.read(_BLOCK):
                inflated += len(block)
                if f.gz and inflated > INFLATION_FLOOR and inflated > MAX_INFLATION * raw.tell():
                    check.error = FileError.COMPRESSION_BOMB
                    return check
                if not f.cr_only and not check.stray_cr and (carry or b"\r" in block):
                    data = carry + block  # a CR ending a block is judged with the next one
                    carry = data[-1:] if data.endswith(b"\r") else b""
                    check.stray_cr = _STRAY_CR.search(data[: len(data) - len(carry)]) is not None
    except (OSError, EOFError, zlib.error):  # gzip.BadGzipFile is an OSError
        check.error = FileError.CORRUPT_COMPRESSION
    return check


def write_marked(f: InputFile, dest: Path) -> None:
    """The file's bytes, inflated, with CRs before a line's LF (or at the end) dropped and
    every other CR written as `STRAY_CR_MARK`, so DuckDB's reader keeps the lines whole."""
    carry = b""
    with open(f.path, "rb") as raw, _opened(raw, f) as stream, open(dest, "wb") as out:
        while block := stream.read(_BLOCK):
            data = carry + block
            body = data.rstrip(b"\r")
            carry = data[len(body) :]
            out.write(_mark(body))  # CRs at the very end are dropped


def _mark(data: bytes) -> bytes:
    return _CR_RUN_BEFORE_LF.sub(b"\n", data).replace(b"\r", STRAY_CR_MARK.encode())


def _opened(raw, f: InputFile):
    return gzip.GzipFile(fileobj=raw, mode="rb") if f.gz else nullcontext(raw)


def regex_escape(text: str) -> str:
    """`text` as a literal in an RE2 regex."""
    return "".join("\\" + c if c in "\\.^$|?*+()[]{}" else c for c in text)


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
