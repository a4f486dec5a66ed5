"""Turn a raw file (CSV or JSON Lines, maybe gzipped) into bounded chunks of string columns.

Each chunk keeps the physical line number of every record, so quarantined rows can point at
their line, and lists the records that could not be parsed (`malformed_row`). Lines are found
with numpy over the block's bytes and parsing is done by pyarrow's CSV and JSON readers, so
the cost per row stays in C; only malformed lines are looked at one by one.

Hostile bytes end in a decision, never a crash (`ReadLimits`): a line longer than the limit
rejects the file (`line_too_long`) before it is held in memory, a gzip stream that inflates far
beyond any real export is rejected (`compression_bomb`), a JSON line nested deeper than the
limit is `malformed_row` before pyarrow's recursive parser sees it, and a carriage return that
does not end a line makes its line `malformed_row` (a file whose lines all end with a bare CR is
read as such).
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from retail_etl.domain.contract import FileError
from retail_etl.domain.errors import FileRejected
from retail_etl.domain.json_text import KEY, keys, only_keys, quote_numbers, whole

DEFAULT_BLOCK_BYTES = 8 << 20
DEFAULT_MAX_LINE_BYTES = 16 << 20
_CR = 13
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BOM = b"\xef\xbb\xbf"
_NL = 10
_NULL = pa.scalar(None, pa.string())
_SPACE_CHAR, _DEL = 32, 127  # a line starting between them holds a printable character
_GUESS_LINES = 64  # lines looked at to guess a JSON key's type (`_first_values`)


@dataclass(frozen=True)
class ReadLimits:
    """Bounds that keep one hostile file from exhausting memory or crashing a parser.

    `max_line_bytes`: longest line (without its newline) a file may have; a longer one rejects
    the file as `line_too_long`, so no more than this plus one block is ever held.
    `max_json_depth`: deepest nesting of objects and arrays in a JSON line; deeper lines are
    `malformed_row` (pyarrow's JSON parser recurses and can overflow the C stack).
    `max_inflation`: decompressed bytes per compressed byte of a `.gz` file, checked once
    `inflation_floor` bytes are out; real exports compress 5-20x, a gzip bomb about 1000x.
    """

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_json_depth: int = 64
    max_inflation: int = 200
    inflation_floor: int = 64 << 20


DEFAULT_LIMITS = ReadLimits()


@dataclass(frozen=True)
class TextFormat:
    """How a file's text is written: the contract's defaults, or a source profile's.

    `encoding` other than UTF-8 is one of the single-byte encodings a profile may declare
    (cp1252, latin-1, iso-8859-15): the stream is transcoded to UTF-8 block by block, so
    memory stays bounded and every check after it sees UTF-8.
    """

    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"


DEFAULT_TEXT = TextFormat()


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
    # the block's lines, and each row's line among them: a row's raw text is taken only
    # when it is quarantined, not copied for every row
    _lines: _Lines
    _rows: np.ndarray
    # every column name (normalized) the file has so far: the CSV header, the JSON keys
    names: tuple[str, ...] = ()

    @property
    def num_rows(self) -> int:
        return len(self.line_numbers)

    def raw_records(self, rows: np.ndarray) -> pa.Array:
        """The original text of the given rows, as written (for quarantine)."""
        return self._lines.at(self._rows[rows])

    def select(self, rows: np.ndarray, columns: dict[str, pa.Array]) -> Chunk:
        """The given rows only, with `columns` (already of those rows) as its columns."""
        return Chunk(
            columns,
            self.line_numbers[rows],
            self.malformed_lines,
            self._lines,
            self._rows[rows],
            self.names,
        )


def text_column(chunk: Chunk, name: str) -> pa.Array:
    """A contract column trimmed, with empty values as nulls (absent column: all nulls)."""
    values = chunk.columns.get(name)
    if values is None:
        return pa.nulls(chunk.num_rows, pa.string())
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), _NULL, trimmed)


def normalize_name(name: str) -> str:
    return name.strip().lower()


class _CountingReader(io.RawIOBase):
    """A read-only stream that counts the bytes taken from the one it wraps."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class _Transcoded:
    """A byte stream in a single-byte encoding, read as UTF-8 (bounded: one block at a time).

    cp1252 leaves five byte values undefined: one of them rejects the file
    (`invalid_encoding`), as a non-UTF-8 byte does in a UTF-8 file."""

    def __init__(self, stream, encoding: str, key: str) -> None:
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(encoding)("strict")
        self.encoding = encoding
        self.key = key
        self.lines = 1

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        try:
            text = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            line = self.lines + data.count(b"\n", 0, exc.start)
            raise FileRejected(
                FileError.INVALID_ENCODING, f"{self.key}: line {line} is not {self.encoding}"
            ) from exc
        self.lines += data.count(b"\n")
        return text.encode("utf-8")


def _line_ends_cr_only(data: bytes, final: bool) -> bool | None:
    """Whether the first line end is a bare CR; None while no line end has been seen."""
    lf, cr = data.find(b"\n"), data.find(b"\r")
    if cr < 0 or (0 <= lf < cr):
        return False if lf >= 0 else None
    if cr + 1 < len(data):
        return data[cr + 1] != _NL
    return None if not final else False


def _read_into(stream, view: memoryview, key: str) -> int:
    """Fill `view` from the stream (fewer bytes only at its end); how many bytes came."""
    filled = 0
    direct = hasattr(stream, "readinto")  # else (a transcoding stream) read and copied
    try:
        while filled < len(view):
            if direct:
                got = stream.readinto(view[filled:])
            else:
                data = stream.read(len(view) - filled)
                got = len(data)
                view[filled : filled + got] = data
            if not got:
                break
            filled += got
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
        raise FileRejected(
            FileError.CORRUPT_COMPRESSION, f"{key}: gzip stream is corrupt or truncated ({exc})"
        ) from exc
    return filled


def _too_long(key: str, line_no: int, limits: ReadLimits) -> FileRejected:
    return FileRejected(
        FileError.LINE_TOO_LONG,
        f"{key}: line {line_no} is longer than {limits.max_line_bytes} bytes",
    )


def _check_line_lengths(block: bytes, line_no: int, key: str, limits: ReadLimits) -> None:
    """Reject the file at the first complete line of the block that is over the limit."""
    if len(block) <= limits.max_line_bytes:
        return
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == _NL)
    lengths = np.diff(ends, prepend=-1) - 1
    over = np.flatnonzero(lengths > limits.max_line_bytes)
    if len(over):
        raise _too_long(key, line_no + int(over[0]), limits)


def iter_line_blocks(
    stream: BinaryIO,
    fmt: FileFormat,
    key: str,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    limits: ReadLimits = DEFAULT_LIMITS,
    encoding: str = "utf-8",
) -> Iterator[tuple[int, _Lines]]:
    """Yield (number of the block's first line, the block's whole lines) with bounded size.

    Lines end with LF (or CRLF); when a file's first line end is a bare CR, every CR is one.
    """
    compressed = _CountingReader(stream) if fmt.gzip else None
    source = gzip.GzipFile(fileobj=compressed, mode="rb") if compressed else stream
    if encoding != "utf-8":
        source = _Transcoded(source, encoding, key)
    inflated = 0
    carry = b""
    line_no = 1
    first = True
    cr_only: bool | None = None
    while True:
        # The carried part of a line, then the next bytes read into the same buffer, which
        # is cut after its last line end and handed on as it is. The block is neither joined
        # to the carry nor sliced nor scanned by bytes methods, which hold the GIL (0.3 s per
        # million events, while the other file's thread waited); reading into it and numpy's
        # count of its line ends do not.
        buf = bytearray(len(carry) + block_bytes)
        buf[: len(carry)] = carry
        got = _read_into(source, memoryview(buf)[len(carry) :], key)
        del buf[len(carry) + got :]
        if compressed is not None:
            inflated += got
            if inflated > limits.inflation_floor and inflated > limits.max_inflation * max(
                compressed.count, 1
            ):
                raise FileRejected(
                    FileError.COMPRESSION_BOMB,
                    f"{key}: {compressed.count} gzip bytes inflated to more than {inflated} "
                    f"(over {limits.max_inflation}x)",
                )
        if first:
            first = False
            if buf.startswith(_BOM):
                del buf[: len(_BOM)]
        if cr_only is None:
            cr_only = _line_ends_cr_only(buf, final=not got)
        if cr_only:
            buf = buf.replace(b"\r", b"\n")
        if not got:
            if buf:
                if len(buf) > limits.max_line_bytes:
                    raise _too_long(key, line_no, limits)
                yield line_no, _Lines.of(buf)
            return
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > limits.max_line_bytes:
                raise _too_long(key, line_no, limits)
            carry = bytes(buf)
            continue
        carry = bytes(buf[cut + 1 :])
        del buf[cut + 1 :]
        _check_line_lengths(buf, line_no, key, limits)
        block = _Lines.of(buf)
        if len(carry) > limits.max_line_bytes:
            raise _too_long(key, line_no + len(block), limits)
        yield line_no, block
        line_no += len(block)


@dataclass(frozen=True)
class _Lines:
    """A block's lines: its bytes and where each line starts (then where the last one ends:
    line i is `data[bounds[i]:bounds[i + 1]]`, its line end included).

    Their text without the LF or CRLF ends (`text`, `at`) is made only where it is needed:
    the checks every line goes through look at the bytes with numpy (`first_bytes`,
    `last_bytes`), and only the lines those cannot settle are trimmed and looked at by
    Arrow (trimming a whole 8 MiB block costs 5-10 ms, and a block has several checks)."""

    data: bytes
    bounds: np.ndarray

    @classmethod
    def of(cls, data: bytes) -> _Lines:
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NL) + 1
        if len(data) and data[-1] != _NL:
            ends = np.append(ends, len(data))
        return cls(data, np.concatenate(([0], ends)))

    def __len__(self) -> int:
        return len(self.bounds) - 1

    @functools.cached_property
    def codes(self) -> np.ndarray:
        """The block's bytes, as numpy sees them (no copy)."""
        return np.frombuffer(self.data, dtype=np.uint8)

    @functools.cached_property
    def has_cr(self) -> bool:
        return b"\r" in self.data

    @functools.cached_property
    def raw(self) -> pa.Array:
        """Every line with its line end, laid over the block's bytes (no line copied)."""
        offsets = pa.py_buffer(self.bounds.astype(np.int32))
        return pa.Array.from_buffers(
            pa.string(), len(self), [None, offsets, pa.py_buffer(self.data)]
        )

    @functools.cached_property
    def text(self) -> pa.Array:
        """Every line without its line end (and the CRs before it)."""
        return pc.utf8_rtrim(self.raw, "\r\n")

    def at(self, rows: np.ndarray) -> pa.Array:
        """The text of the given lines (as `text` has them)."""
        if len(rows) == len(self) and (rows == np.arange(len(self))).all():
            return self.text
        return pc.utf8_rtrim(self.raw.take(pa.array(rows, type=pa.int64())), "\r\n")

    def among(self, texts: pa.Array) -> np.ndarray:
        """Lines whose text is one of `texts`: only the lines of one of their lengths are
        compared."""
        lengths = self.ends - self.bounds[:-1]
        rows = np.flatnonzero(np.isin(lengths, pc.binary_length(texts).to_numpy()))
        hit = np.zeros(len(self), dtype=bool)
        hit[rows] = _mask(pc.is_in(self.at(rows), value_set=texts))
        return hit

    def line(self, i: int) -> str:
        return self.at(np.array([i]))[0].as_py()

    def first_bytes(self) -> np.ndarray:
        """Each line's first byte (its line end for an empty line)."""
        return self.codes[self.bounds[:-1]]

    @functools.cached_property
    def ends(self) -> np.ndarray:
        """Where each line's text ends: before its LF and the CRs ahead of it (what `text`
        trims), found by stepping back over those bytes for the lines that still end in one."""
        codes = self.codes
        ends, starts = self.bounds[1:].copy(), self.bounds[:-1]
        rows = np.arange(len(self))
        while len(rows):
            rows = rows[ends[rows] > starts[rows]]
            last = codes[ends[rows] - 1]
            rows = rows[(last == _NL) | (last == _CR)]
            ends[rows] -= 1
        return ends

    def last_bytes(self) -> np.ndarray:
        """Each line's last byte before its line end (its first byte for an empty line)."""
        codes = self.codes
        return codes[np.maximum(self.ends - 1, self.bounds[:-1])]

    def blank(self) -> np.ndarray:
        """Lines of white space only. A line starting with a printable ASCII character is not
        blank: only the others (a few) are trimmed to be sure."""
        first = self.first_bytes()
        maybe = np.flatnonzero((first <= _SPACE_CHAR) | (first >= _DEL))
        blank = np.zeros(len(self), dtype=bool)
        blank[maybe] = _mask(pc.equal(pc.utf8_trim_whitespace(self.at(maybe)), ""))
        return blank

    def stray_cr(self) -> np.ndarray:
        """Lines holding a carriage return that does not end them (pyarrow's parsers would take
        it for a line end and shift every record after it): a CR followed by anything but a
        CR or LF. A block of LF line ends without any CR, the usual case, is not scanned."""
        stray = np.zeros(len(self), dtype=bool)
        if not self.has_cr:
            return stray
        codes = self.codes
        after = np.flatnonzero(codes[:-1] == _CR) + 1
        after = after[(codes[after] != _CR) & (codes[after] != _NL)]
        stray[np.searchsorted(self.bounds, after, side="right") - 1] = True
        return stray

    def join(self, keep: np.ndarray) -> bytes:
        """The kept lines as bytes, each followed by a newline (what the parsers are given).

        Without a carriage return in the block, each run of kept lines is one slice of the
        block, line ends included: a few slices joined, however many lines. Otherwise every
        kept line is joined without its line end, as trimmed (a run would keep a CR that
        the parsers take for a line end)."""
        if self.has_cr:
            return _join(self.text, keep)
        if keep.all():
            return self.data if self.data.endswith(b"\n") or not self.data else self.data + b"\n"
        edges = np.diff(np.concatenate(([0], keep.astype(np.int8), [0])))
        starts = self.bounds[np.flatnonzero(edges == 1)].tolist()
        ends = self.bounds[np.flatnonzero(edges == -1)].tolist()
        view = memoryview(self.data)
        out = b"".join([view[a:b] for a, b in zip(starts, ends, strict=True)])
        return out if not out or out.endswith(b"\n") else out + b"\n"


def _mask(values: pa.Array) -> np.ndarray:
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _malformed(lines: _Lines, bad: np.ndarray, line_numbers: np.ndarray):
    rows = np.flatnonzero(bad)
    texts = lines.at(rows).to_pylist() if len(rows) else []
    return list(zip(line_numbers[rows].tolist(), texts, strict=True))


def _join(lines: pa.Array, keep: np.ndarray) -> bytes:
    """The kept lines as bytes, each followed by a newline."""
    kept = lines.filter(pa.array(keep))
    if not len(kept):
        return b""
    # an empty last element puts the newline after the last line: one copy of the block
    kept = pa.concat_arrays([kept, pa.array([""], type=kept.type)])
    one_list = pa.ListArray.from_arrays(pa.array([0, len(kept)], type=pa.int32()), kept)
    return pc.binary_join(one_list, "\n")[0].as_buffer().to_pybytes()


class CsvReader:
    """Reads a CSV file block by block; the header decides the columns.

    pyarrow parses the records; its invalid-row callback only gives a row's text, so the lines
    it rejected are found again by text among the block's lines. The same text always parses
    the same way, so this is exact.
    """

    def __init__(
        self,
        wanted: tuple[str, ...],
        required: tuple[tuple[str, ...], ...],
        text: TextFormat = DEFAULT_TEXT,
    ) -> None:
        self.wanted = wanted
        self.required = required
        self.text = text
        self.names: list[str] | None = None

    def _header(self, text: str, key: str, line: int) -> None:
        try:
            dialect = {"delimiter": self.text.delimiter, "quotechar": self.text.quote}
            fields = next(csv.reader([text], **dialect))
        except csv.Error as exc:  # a stray CR, a field over csv's size limit
            raise FileRejected(
                FileError.INVALID_HEADER, f"{key}: header on line {line} is not CSV ({exc})"
            ) from exc
        names = [normalize_name(n) for n in fields]
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

    def chunk(self, first_line: int, block: _Lines, key: str) -> Chunk | None:
        data = block.data
        _check_utf8(data, first_line, key)
        blank = block.blank()
        line_numbers = first_line + np.arange(len(block), dtype=np.int64)
        body = data
        if self.names is None:
            nonblank = np.flatnonzero(~blank)
            if not len(nonblank):
                return None
            h = int(nonblank[0])
            self._header(block.line(h), key, int(line_numbers[h]))
            blank[: h + 1] = True
            for _ in range(h + 1):  # skip the header and the blank lines before it
                body = body[body.find(b"\n") + 1 :] if b"\n" in body else b""
        # A quote left open would make pyarrow join the next line into the record.
        open_quote = self._open_quote(block) | block.stray_cr()
        open_quote &= ~blank
        if open_quote.any():
            body = block.join(~blank & ~open_quote)
        rejected: list[str] = []
        table = self._parse(body, rejected, key, first_line)
        bad = open_quote
        if rejected:
            texts = pa.array([t.rstrip("\r") for t in rejected], type=pa.string())
            bad = bad | (block.among(texts) & ~blank)
        rows = np.flatnonzero(~blank & ~bad)
        if len(rows) != table.num_rows:  # never lose rows silently
            raise ValueError(f"{key}: {table.num_rows} parsed rows for {len(rows)} lines")
        columns = {n: table.column(n).combine_chunks() for n in table.column_names}
        names = tuple(n for n in self.names if not n.startswith("__duplicate_"))
        return Chunk(
            columns,
            line_numbers[rows],
            _malformed(block, bad, line_numbers),
            block,
            rows,
            names,
        )

    def _open_quote(self, block: _Lines) -> np.ndarray:
        """Lines with an odd number of quote characters: counted with numpy over the bytes
        (none to count in most blocks) when the quote is one byte, else by Arrow per line."""
        quote = self.text.quote.encode("utf-8")
        if len(quote) != 1:
            counts = pc.count_substring(block.text, self.text.quote)
            return _mask(pc.equal(pc.bit_wise_and(counts, 1), 1))
        odd = np.zeros(len(block), dtype=bool)
        if quote not in block.data:
            return odd
        codes = block.codes
        line = np.searchsorted(block.bounds, np.flatnonzero(codes == quote[0]), side="right") - 1
        return np.bincount(line, minlength=len(block)) % 2 == 1

    def _parse(self, body: bytes, rejected: list[str], key: str, first_line: int) -> pa.Table:
        assert self.names is not None
        include = [n for n in self.wanted if n in self.names]
        if not body.strip():
            return pa.table({n: pa.array([], type=pa.string()) for n in include})

        def on_invalid(row: pacsv.InvalidRow) -> str:
            if row.text.strip():
                rejected.append(row.text)
            return "skip"

        return pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(
                column_names=self.names, block_size=max(1 << 24, len(body) + 1)
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.text.delimiter,
                quote_char=self.text.quote,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(include, pa.string()),
                include_columns=include,
                strings_can_be_null=False,
            ),
        )


class JsonLinesReader:
    """Reads a JSON Lines file block by block; keys are matched case-insensitively."""

    def __init__(self, wanted: tuple[str, ...], max_depth: int = DEFAULT_LIMITS.max_json_depth):
        self.wanted = wanted
        self.max_depth = max_depth
        self.seen: dict[str, None] = {}  # every key (normalized) met so far, in order
        self._keys: dict[bytes, None] = {}  # every key the key scan found so far, as written
        self._inference_failed = False  # a block of this file was not exact as inferred
        self._scan_keys = False  # a block of this file could not show its keys by inference

    def _saw(self, names) -> None:
        for name in names:
            self.seen.setdefault(normalize_name(name), None)

    def _too_deep(self, block: _Lines) -> np.ndarray:
        """Lines nested deeper than the limit; only lines with more opening brackets than
        that are scanned (counted per line with numpy over the block's bytes)."""
        codes = block.codes
        opening = np.flatnonzero((codes == ord("{")) | (codes == ord("[")))
        if len(opening) <= self.max_depth:
            return np.zeros(len(block), dtype=bool)
        brackets = np.diff(np.searchsorted(opening, block.bounds))
        deep = brackets > self.max_depth
        for i in np.flatnonzero(deep).tolist():
            deep[i] = json_depth(block.line(i)) > self.max_depth
        return deep

    @staticmethod
    def _shapes(block: _Lines) -> tuple[np.ndarray, np.ndarray]:
        """Which lines are blank and which, trimmed, start with '{' and end with '}' (only
        those can be objects). Most lines show it by their first and last byte; only the
        others are trimmed to be sure."""
        braced = (block.first_bytes() == ord("{")) & (block.last_bytes() == ord("}"))
        rows = np.flatnonzero(~braced)
        trimmed = pc.utf8_trim_whitespace(block.at(rows))
        blank = np.zeros(len(block), dtype=bool)
        blank[rows] = _mask(pc.equal(trimmed, ""))
        braced[rows] = _mask(pc.starts_with(trimmed, "{")) & _mask(pc.ends_with(trimmed, "}"))
        return blank, braced

    def chunk(self, first_line: int, block: _Lines, key: str) -> Chunk | None:
        _check_utf8(block.data, first_line, key)
        blank, braced = self._shapes(block)
        if blank.all():
            return None
        line_numbers = first_line + np.arange(len(block), dtype=np.int64)
        # Never handed to a parser: too deep for pyarrow's stack, or split by a stray CR.
        hostile = ~blank & (self._too_deep(block) | block.stray_cr())
        # A line that does not start with '{' and end with '}' cannot be an object.
        ok = ~blank & braced & ~hostile
        odd = np.flatnonzero(~blank & ~ok & ~hostile)
        for i, text in zip(odd.tolist(), block.at(odd).to_pylist(), strict=True):
            ok[i] = _json_object(text) is not None
        rows = np.flatnonzero(ok)
        try:
            columns, row_ok = self._parse_fast(block.join(ok), len(rows))
        except (pa.ArrowInvalid, _NeedSlowPath):
            columns, row_ok = self._parse_slow(block.at(rows))
        ok[rows[~row_ok]] = False
        keep = pa.array(row_ok)
        columns = {n: a.filter(keep) for n, a in columns.items()}
        return Chunk(
            columns,
            line_numbers[rows[row_ok]],
            _malformed(block, ~blank & ~ok, line_numbers),
            block,
            rows[row_ok],
            tuple(self.seen),
        )

    def _read_json(self, body: bytes) -> pa.Table:
        """pyarrow's JSON reader, every contract value read as written.

        1. The whole block as it is: exact when no contract field comes out as a float or a
           guessed timestamp (integers keep their digits) and no key changes JSON type. Once
           a block of the file is not, the file's later blocks skip this read.
        2. Otherwise only the contract's keys, in every spelling the block uses, each with
           the JSON type of its first value, so other keys may change type freely. Once the
           file's keys are known, with one spelling per contract key, the block is read with
           those and every other key inferred: its columns then are its top-level keys, and
           unless one is a new spelling of a contract key no key scan (`_block_keys`) is
           needed. A file whose other keys cannot be inferred is scanned from then on.
        3. If a contract key mixes types, bare numbers after contract keys are quoted and all
           is read as text. A bare number inside a string value cannot be quoted into valid
           JSON: such a block fails and is read line by line instead.
        """
        if not self._inference_failed:  # the same file's next blocks are alike: not tried
            try:  # the common case: every field keeps one JSON type in the block
                table = pajson.read_json(io.BytesIO(body))
                self._saw(table.column_names)
                if not any(
                    normalize_name(f.name) in self.wanted
                    and (pa.types.is_floating(f.type) or pa.types.is_temporal(f.type))
                    for f in table.schema
                ):
                    return table
            except pa.ArrowInvalid:
                pass
            self._inference_failed = True
        spellings = self._contract_spellings()
        if spellings and not self._scan_keys:
            try:  # the contract's keys as known, any other inferred: columns are the block's keys
                table = self._read_spellings(body, spellings, unexpected="infer")
            except pa.ArrowInvalid:  # e.g. another key changes type: the key scan from now on
                self._scan_keys = True
            else:
                new = [n for n in table.column_names if n.encode("utf-8") not in self._keys]
                if not any(normalize_name(n) in self.wanted for n in new):
                    self._saw(new)
                    self._keys.update(dict.fromkeys(n.encode("utf-8") for n in new))
                    return table
        every = self._block_keys(body)
        self._saw(k.decode("utf-8") for k in every)
        spellings = [k for k in every if normalize_name(k.decode("utf-8")) in self.wanted]
        if not spellings:
            return pa.table({})
        return self._read_spellings(body, spellings, unexpected="ignore")

    def _contract_spellings(self) -> list[bytes]:
        """The contract keys among the keys met so far in the file, when each has one spelling
        (else none): a block read with those and every other key inferred shows its keys."""
        spellings = [k for k in self._keys if normalize_name(k.decode("utf-8")) in self.wanted]
        names = {normalize_name(k.decode("utf-8")) for k in spellings}
        return spellings if len(names) == len(spellings) else []

    def _read_spellings(self, body: bytes, spellings: list[bytes], unexpected: str) -> pa.Table:
        """The block's values of these keys, as text (steps 2 and 3 of `_read_json`);
        `unexpected` is what pyarrow does with any other key ("ignore" or "infer")."""
        names = [k.decode("utf-8") for k in spellings]
        first = _first_values(body, names)
        guessed = pa.schema([(n, _arrow_type(first.get(n))) for n in names])
        if all(t == pa.string() for t in guessed.types):
            guessed = None
        try:
            if guessed is not None:
                return self._read_with(body, guessed, unexpected)
        except pa.ArrowInvalid:
            pass
        quoted = quote_numbers(body, spellings)
        return self._read_with(quoted, pa.schema([(n, pa.string()) for n in names]), unexpected)

    def _block_keys(self, body: bytes) -> list[bytes]:
        """Every key `json_text.KEY` finds in the block: those keys in order of first
        appearance (`json_text.keys`), or every key met so far in the file when the block is
        known to use no other.

        That is known by counting: each `":` ends at most one `"key":` of the keys met (keys
        hold no quote), so the counts agree only if every key is one of them. It is used only
        with one spelling per contract key among them (their order then cannot matter); the
        other blocks are scanned.
        """
        known = self._keys
        if known:
            names = [normalize_name(k.decode("utf-8")) for k in known]
            contract = [n for n in names if n in self.wanted]
            if len(contract) == len(set(contract)) and only_keys(body, known):
                return list(known)
        every = keys(body)
        if every is None:  # a rare form: the regex itself
            every = list(dict.fromkeys(KEY.findall(body)))
        known.update(dict.fromkeys(every))
        return every

    @staticmethod
    def _read_with(body: bytes | pa.Buffer, schema: pa.Schema, unexpected: str) -> pa.Table:
        options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
        table = pajson.read_json(pa.BufferReader(body), parse_options=options)
        text = set(schema.names)  # the other keys (read as inferred) stay as they came
        columns = zip(table.column_names, table.columns, strict=True)
        return pa.table({n: c.cast(pa.string()) if n in text else c for n, c in columns})

    def _parse_fast(self, body: bytes, expected_rows: int):
        if not expected_rows:
            return {}, np.zeros(0, dtype=bool)
        table = self._read_json(body)
        if table.num_columns and table.num_rows != expected_rows:
            raise _NeedSlowPath
        columns: dict[str, pa.Array] = {}
        row_ok = np.ones(expected_rows, dtype=bool)
        for name, col in zip(table.column_names, table.columns, strict=True):
            norm = normalize_name(name)
            if norm not in self.wanted:
                continue
            col = col.combine_chunks()
            t = col.type
            if pa.types.is_string(t):
                values = col
            elif pa.types.is_integer(t):  # a JSON integer's digits are its exact text
                values = col.cast(pa.string())
            elif pa.types.is_null(t):
                values = pa.nulls(len(col), pa.string())
            else:  # booleans, objects, arrays: a non-null value makes the row malformed
                row_ok &= ~col.is_valid().to_numpy(zero_copy_only=False)
                values = pa.nulls(len(col), pa.string())
            # Keys that differ only in case or spaces are one column: the first given value wins.
            columns[norm] = pc.coalesce(columns[norm], values) if norm in columns else values
        return columns, row_ok

    def _parse_slow(self, row_lines: pa.Array):
        """One line at a time: used only for blocks with mixed JSON types or odd lines."""
        values: dict[str, list] = {n: [] for n in self.wanted}
        row_ok = np.ones(len(row_lines), dtype=bool)
        for r, text in enumerate(row_lines.to_pylist()):
            obj = _json_object(text)
            self._saw(obj or ())
            row: dict = {}
            for k, v in (obj or {}).items():
                norm = normalize_name(k)
                if norm in values and row.get(norm) is None:
                    row[norm] = v
            if obj is None or any(v is not None and not isinstance(v, str) for v in row.values()):
                row_ok[r] = False
                row = {}
            for n, col in values.items():
                v = row.get(n)
                col.append(v)
        columns = {n: pa.array(v, type=pa.string()) for n, v in values.items()}
        return columns, row_ok


class _NeedSlowPath(Exception):
    pass


def _first_values(body: bytes, names: list[str], lines: int = _GUESS_LINES) -> dict:
    """The first non-null value of each key among the block's first lines: a key absent or
    null on the first line (an optional quantity) is still guessed by its JSON type, so an
    integer column is read as integers rather than every number quoted (`quote_numbers`)."""
    found: dict = {}
    start = 0
    for _ in range(lines):
        end = body.find(b"\n", start)
        try:
            obj = json.loads(body[start : end if end >= 0 else len(body)])
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            found |= {n: obj[n] for n in names if n not in found and obj.get(n) is not None}
        if end < 0 or len(found) == len(names):
            break
        start = end + 1
    return found


def _arrow_type(value: object) -> pa.DataType:
    """The type to read a field as, from its first JSON value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return pa.int64()  # a bare JSON integer: its digits are its exact text
    return pa.string()


def _check_utf8(data: bytes, first_line: int, key: str) -> None:
    """Reject the file at the first line that is not UTF-8. Arrow validates the block in
    place; only a block that fails is decoded, to find where."""
    try:
        whole(data, pa.string()).validate(full=True)
        return
    except pa.ArrowInvalid:
        pass
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise FileRejected(FileError.INVALID_ENCODING, f"{key}: line {line} is not UTF-8") from exc


def json_depth(text: str) -> int:
    """The deepest nesting of objects and arrays in a JSON text (brackets in strings do not
    count), found without recursion."""
    skeleton = _JSON_STRING.sub("", text).encode("utf-8")
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    opens = (codes == ord("{")) | (codes == ord("["))
    closes = (codes == ord("}")) | (codes == ord("]"))
    steps = opens.astype(np.int64) - closes.astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_object(text: str) -> dict | None:
    """The line's object, numbers kept as their text (as the fast path reads them); None for
    anything that is not a JSON object, NaN and Infinity (not JSON) and lone surrogate
    escapes (not text) included."""
    try:
        obj = json.loads(text, parse_int=str, parse_float=str, parse_constant=_not_json)
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


_END = object()


def prefetched(items: Iterator[Chunk]) -> Iterator[Chunk]:
    """Read and parse the next block in a worker thread while the caller cleans this one.

    pyarrow and numpy release the GIL in their kernels, so on two cores the reading of a file
    overlaps its cleaning. One block ahead keeps memory bounded.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, items, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, items, _END)
            yield item


def iter_chunks(
    stream: BinaryIO,
    key: str,
    wanted: tuple[str, ...],
    required: tuple[tuple[str, ...], ...],
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    limits: ReadLimits = DEFAULT_LIMITS,
    text: TextFormat = DEFAULT_TEXT,
) -> Iterator[Chunk]:
    """Chunks of a file, parsed per its extension; raises FileRejected for whole-file errors.

    `required` lists groups of column names of which a CSV header must hold at least one each.
    `text` gives the CSV delimiter and quote and the encoding (a source profile's).
    """
    fmt = FileFormat.from_key(key)
    if fmt.kind == "csv":
        reader: CsvReader | JsonLinesReader = CsvReader(wanted, required, text)
    else:
        reader = JsonLinesReader(wanted, limits.max_json_depth)

    def chunks() -> Iterator[Chunk]:
        seen_any = False
        blocks = iter_line_blocks(stream, fmt, key, block_bytes, limits, text.encoding)
        for first_line, data in blocks:
            chunk = reader.chunk(first_line, data, key)
            if chunk is None:
                continue
            seen_any = True
            yield chunk
        if not seen_any:
            raise FileRejected(FileError.EMPTY_FILE, f"{key}: no records and no header")

    return prefetched(chunks())
