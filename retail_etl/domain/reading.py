"""Turn a raw file (CSV or JSON Lines, maybe gzipped) into bounded chunks of string columns.

Each chunk keeps the physical line number of every record, so quarantined rows can point at
their line, and lists the records that could not be parsed (`malformed_row`). Lines are found
with numpy over the block's bytes and parsing is done by pyarrow's CSV and JSON readers, so
the cost per row stays in C; only malformed lines are looked at one by one.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from retail_etl.domain.contract import FileError
from retail_etl.domain.errors import FileRejected

DEFAULT_BLOCK_BYTES = 32 << 20
_BOM = b"\xef\xbb\xbf"
_NL, _CR, _COMMA, _QUOTE = 10, 13, 44, 34
_JSON_SCALARS = (str, int, float)
_NULL = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class FileFormat:
    """How a key's extension says the file is written."""

    kind: str  # "csv" or "jsonl"
    gzip: bool

    @classmethod
    def from_key(cls, key: str) -> FileFormat:
        name = key.rsplit("/", 1)[-1].lower()
        gz = name.endswith(".gz")
        if gz:
            name = name[:-3]
        ext = name.rsplit(".", 1)[-1] if "." in name else ""
        if ext == "csv":
            return cls("csv", gz)
        if ext in ("jsonl", "ndjson", "json"):
            return cls("jsonl", gz)
        raise FileRejected(
            FileError.UNSUPPORTED_FORMAT,
            f"{key}: extension must be .csv, .jsonl, .ndjson or .json, optionally .gz",
        )


@dataclass
class Chunk:
    """Records of one block: string columns (normalized names), line numbers, raw text."""

    columns: dict[str, pa.Array]
    line_numbers: np.ndarray  # int64, one per row of `columns`
    malformed_lines: list[tuple[int, str]]  # (line number, raw text)
    _data: bytes
    _starts: np.ndarray
    _ends: np.ndarray

    @property
    def num_rows(self) -> int:
        return len(self.line_numbers)

    def raw_records(self, rows: np.ndarray) -> list[str]:
        """The original text of the given rows, as written (for quarantine)."""
        data, starts, ends = self._data, self._starts, self._ends
        return [data[starts[i] : ends[i]].decode("utf-8", "replace") for i in rows.tolist()]


def text_column(chunk: Chunk, name: str) -> pa.Array:
    """A contract column trimmed, with empty values as nulls (absent column: all nulls)."""
    values = chunk.columns.get(name)
    if values is None:
        return pa.nulls(chunk.num_rows, pa.string())
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), _NULL, trimmed)


def normalize_name(name: str) -> str:
    return name.strip().lower()


def _open_decompressed(stream: BinaryIO, fmt: FileFormat) -> BinaryIO:
    return gzip.GzipFile(fileobj=stream, mode="rb") if fmt.gzip else stream


def _read(stream: BinaryIO, size: int, key: str) -> bytes:
    try:
        return stream.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        raise FileRejected(
            FileError.CORRUPT_COMPRESSION, f"{key}: gzip stream is corrupt or truncated ({exc})"
        ) from exc


def iter_line_blocks(
    stream: BinaryIO, fmt: FileFormat, key: str, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Yield (number of the block's first line, bytes of whole lines) with bounded size."""
    source = _open_decompressed(stream, fmt)
    carry = b""
    line_no = 1
    first = True
    while True:
        buf = _read(source, block_bytes, key)
        if first:
            first = False
            if buf.startswith(_BOM):
                buf = buf[len(_BOM) :]
        if not buf:
            if carry:
                yield line_no, carry
            return
        buf = carry + buf
        cut = buf.rfind(b"\n")
        if cut < 0:
            carry = buf
            continue
        block, carry = buf[: cut + 1], buf[cut + 1 :]
        yield line_no, block
        line_no += block.count(b"\n")


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of each line (end excludes the newline and a trailing CR)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == _NL)
    ends = nl if len(data) == 0 or data[-1] == _NL else np.append(nl, len(data))
    starts = np.empty(len(ends), dtype=np.int64)
    if len(ends):
        starts[0] = 0
        starts[1:] = nl[: len(ends) - 1] + 1
    ends = ends.astype(np.int64)
    if len(ends):
        last = np.maximum(ends - 1, 0)
        has_cr = (ends > starts) & (arr[last] == _CR) if len(arr) else np.zeros(0, bool)
        ends = ends - has_cr
    return starts, ends


def _blank_lines(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lines that are empty or only whitespace."""
    blank = ends == starts
    short = np.flatnonzero(~blank & (ends - starts <= 8))
    for i in short.tolist():
        if not data[starts[i] : ends[i]].strip():
            blank[i] = True
    return blank


def _per_line_count(arr: np.ndarray, byte: int, starts: np.ndarray, ends: np.ndarray):
    cum = np.concatenate(([0], np.cumsum(arr == byte, dtype=np.int64)))
    return cum[ends] - cum[starts]


def _keep_lines(data: bytes, starts: np.ndarray, ends: np.ndarray, keep: np.ndarray) -> bytes:
    """The bytes of the kept lines, each followed by a newline."""
    parts = [data[s:e] for s, e in zip(starts[keep].tolist(), ends[keep].tolist(), strict=True)]
    return b"\n".join(parts) + b"\n" if parts else b""


class CsvReader:
    """Reads a CSV file block by block; the header decides the columns."""

    def __init__(self, wanted: tuple[str, ...], required: tuple[tuple[str, ...], ...]) -> None:
        self.wanted = wanted
        self.required = required
        self.names: list[str] | None = None

    def _header(self, line: bytes, key: str) -> None:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRejected(FileError.INVALID_ENCODING, f"{key}: header is not UTF-8") from exc
        names = [normalize_name(n) for n in next(csv.reader([text]))]
        seen: set[str] = set()
        unique = []
        for i, n in enumerate(names):
            unique.append(n if n not in seen else f"__duplicate_{i}")
            seen.add(n)
        missing = [" or ".join(group) for group in self.required if not seen.intersection(group)]
        if missing:
            raise FileRejected(
                FileError.MISSING_COLUMNS,
                f"{key}: header lacks required column(s) {', '.join(missing)}",
            )
        self.names = unique

    def chunk(self, first_line: int, data: bytes, key: str) -> Chunk | None:
        _check_utf8(data, first_line, key)
        starts, ends = _line_bounds(data)
        blank = _blank_lines(data, starts, ends)
        line_numbers = first_line + np.arange(len(starts), dtype=np.int64)
        if self.names is None:
            nonblank = np.flatnonzero(~blank)
            if not len(nonblank):
                return None
            h = nonblank[0]
            self._header(data[starts[h] : ends[h]], key)
            blank[: h + 1] = True
        assert self.names is not None
        arr = np.frombuffer(data, dtype=np.uint8)
        fields = _per_line_count(arr, _COMMA, starts, ends) + 1
        quotes = _per_line_count(arr, _QUOTE, starts, ends)
        ok = ~blank & (fields == len(self.names)) & (quotes == 0)
        for i in np.flatnonzero(~blank & (quotes > 0)).tolist():
            ok[i] = self._quoted_line_ok(data[starts[i] : ends[i]])
        bad = ~blank & ~ok
        malformed = [
            (int(line_numbers[i]), data[starts[i] : ends[i]].decode("utf-8"))
            for i in np.flatnonzero(bad).tolist()
        ]
        rows = np.flatnonzero(ok)
        body = data if not bad.any() and not blank.any() else _keep_lines(data, starts, ends, ok)
        columns = self._parse(body, key, first_line) if len(rows) else {}
        return Chunk(columns, line_numbers[rows], malformed, data, starts[rows], ends[rows])

    def _quoted_line_ok(self, line: bytes) -> bool:
        assert self.names is not None
        if line.count(b'"') % 2:
            return False  # an open quote: the value would span lines
        try:
            return len(next(csv.reader([line.decode("utf-8")]))) == len(self.names)
        except (UnicodeDecodeError, csv.Error):
            return False

    def _parse(self, body: bytes, key: str, first_line: int) -> dict[str, pa.Array]:
        assert self.names is not None
        include = [n for n in self.wanted if n in self.names]
        unexpected: list[str] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            unexpected.append(row.text)
            return "skip"

        try:
            table = pacsv.read_csv(
                io.BytesIO(body),
                read_options=pacsv.ReadOptions(column_names=self.names, block_size=1 << 26),
                parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(include, pa.string()),
                    include_columns=include,
                    strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) or "UTF-8" in str(exc):
                raise FileRejected(
                    FileError.INVALID_ENCODING,
                    f"{key}: bytes that are not UTF-8 in lines from {first_line}",
                ) from exc
            raise
        if unexpected:  # our line check and pyarrow disagree: never lose rows silently
            raise ValueError(f"{key}: CSV parser rejected lines the line check accepted")
        return {n: table.column(n).combine_chunks() for n in include}


class JsonLinesReader:
    """Reads a JSON Lines file block by block; keys are matched case-insensitively."""

    def __init__(self, wanted: tuple[str, ...]) -> None:
        self.wanted = wanted

    def chunk(self, first_line: int, data: bytes, key: str) -> Chunk | None:
        _check_utf8(data, first_line, key)
        starts, ends = _line_bounds(data)
        blank = _blank_lines(data, starts, ends)
        if blank.all():
            return None
        line_numbers = first_line + np.arange(len(starts), dtype=np.int64)
        arr = np.frombuffer(data, dtype=np.uint8)
        nonblank = ~blank
        ok = nonblank.copy()
        if len(arr):
            # A line that does not start with '{' and end with '}' cannot be an object.
            first_ok = arr[np.minimum(starts, len(arr) - 1)] == ord("{")
            last_ok = arr[np.maximum(ends - 1, 0)] == ord("}")
            ok &= first_ok & last_ok
        for i in np.flatnonzero(nonblank & ~ok).tolist():
            text = data[starts[i] : ends[i]].decode("utf-8")
            ok[i] = _json_object(text) is not None
        rows = np.flatnonzero(ok)
        try:
            columns, row_ok = self._parse_fast(_keep_lines(data, starts, ends, ok), len(rows))
        except (pa.ArrowInvalid, _NeedSlowPath):
            columns, row_ok = self._parse_slow(data, rows, starts, ends, line_numbers, key)
        ok[rows[~row_ok]] = False
        rows_kept = rows[row_ok]
        columns = {n: a.filter(pa.array(row_ok)) for n, a in columns.items()}
        bad = nonblank & ~ok
        malformed = [
            (int(line_numbers[i]), data[starts[i] : ends[i]].decode("utf-8"))
            for i in np.flatnonzero(bad).tolist()
        ]
        return Chunk(
            columns, line_numbers[rows_kept], malformed, data, starts[rows_kept], ends[rows_kept]
        )

    def _parse_fast(self, body: bytes, expected_rows: int):
        if not expected_rows:
            return {}, np.zeros(0, dtype=bool)
        table = pajson.read_json(io.BytesIO(body))
        if table.num_rows != expected_rows:
            raise _NeedSlowPath
        columns: dict[str, pa.Array] = {}
        row_ok = np.ones(expected_rows, dtype=bool)
        for name, col in zip(table.column_names, table.columns, strict=True):
            norm = normalize_name(name)
            if norm not in self.wanted:
                continue
            col = col.combine_chunks()
            t = col.type
            if pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
                values = col.cast(pa.string())
            elif pa.types.is_null(t):
                values = pa.nulls(len(col), pa.string())
            else:  # booleans, objects, arrays: a non-null value makes the row malformed
                row_ok &= ~col.is_valid().to_numpy(zero_copy_only=False)
                values = pa.nulls(len(col), pa.string())
            # Keys that differ only in case or spaces are one column: the first given value wins.
            columns[norm] = pc.coalesce(columns[norm], values) if norm in columns else values
        return columns, row_ok

    def _parse_slow(self, data, rows, starts, ends, line_numbers, key):
        """One line at a time: used only for blocks with mixed JSON types or odd lines."""
        values: dict[str, list] = {n: [] for n in self.wanted}
        row_ok = np.ones(len(rows), dtype=bool)
        for r, i in enumerate(rows.tolist()):
            obj = _json_object(data[starts[i] : ends[i]].decode("utf-8"))
            row: dict = {}
            for k, v in (obj or {}).items():
                norm = normalize_name(k)
                if norm in values and norm not in row:
                    row[norm] = v
            if obj is None or any(
                v is not None and (isinstance(v, bool) or not isinstance(v, _JSON_SCALARS))
                for v in row.values()
            ):
                row_ok[r] = False
                row = {}
            for n, col in values.items():
                v = row.get(n)
                col.append(None if v is None else _scalar_text(v))
        columns = {n: pa.array(v, type=pa.string()) for n, v in values.items()}
        return columns, row_ok


class _NeedSlowPath(Exception):
    pass


def _scalar_text(v: str | int | float) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return v if isinstance(v, str) else str(v)


def _check_utf8(data: bytes, first_line: int, key: str) -> None:
    """Reject the file at the first line that is not UTF-8 (decoding ASCII is a fast path)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise FileRejected(FileError.INVALID_ENCODING, f"{key}: line {line} is not UTF-8") from exc


def _json_object(text: str) -> dict | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def iter_chunks(
    stream: BinaryIO,
    key: str,
    wanted: tuple[str, ...],
    required: tuple[tuple[str, ...], ...],
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Iterator[Chunk]:
    """Chunks of a file, parsed per its extension; raises FileRejected for whole-file errors.

    `required` lists groups of column names of which a CSV header must hold at least one each.
    """
    fmt = FileFormat.from_key(key)
    reader = CsvReader(wanted, required) if fmt.kind == "csv" else JsonLinesReader(wanted)
    seen_any = False
    for first_line, data in iter_line_blocks(stream, fmt, key, block_bytes):
        chunk = reader.chunk(first_line, data, key)
        if chunk is None:
            continue
        seen_any = True
        yield chunk
    if not seen_any:
        raise FileRejected(FileError.EMPTY_FILE, f"{key}: no records and no header")
