import gzip
import io
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_etl.domain import json_text, reading
from retail_etl.domain.contract import FileError
from retail_etl.domain.errors import FileRejected
from retail_etl.domain.reading import (
    CsvReader,
    FileFormat,
    JsonLinesReader,
    ReadLimits,
    iter_chunks,
    json_depth,
)

WANTED = ("a", "b", "c")
REQUIRED = (("a",),)


def read(data: bytes, key: str = "events/x.csv", block_bytes: int = 1 << 20):
    chunks = list(iter_chunks(io.BytesIO(data), key, WANTED, REQUIRED, block_bytes))
    rows, malformed = [], []
    for ch in chunks:
        cols = {k: v.to_pylist() for k, v in ch.columns.items()}
        for i, line in enumerate(ch.line_numbers.tolist()):
            rows.append((line, tuple(cols.get(n, [None] * ch.num_rows)[i] for n in WANTED)))
        malformed += ch.malformed_lines
    return rows, malformed


def test_csv_header_is_matched_case_insensitively_after_trimming_and_extra_columns_ignored():
    rows, _ = read(b" A ,x,B\n1,ignored,2\n")
    assert rows == [(2, ("1", "2", None))]


def test_bom_crlf_blank_lines_and_missing_final_newline_are_tolerated():
    data = b"\xef\xbb\xbfa,b\r\n1,2\r\n\r\n  \r\n3,4"
    rows, malformed = read(data)
    assert rows == [(2, ("1", "2", None)), (5, ("3", "4", None))]
    assert malformed == []


def test_rows_with_the_wrong_field_count_are_malformed_with_their_line_numbers():
    rows, malformed = read(b"a,b\n1,2\n1,2,3\n\ngarbage\n5,6\n")
    assert [r[0] for r in rows] == [2, 6]
    assert malformed == [(3, "1,2,3"), (5, "garbage")]


def test_quoted_commas_are_values_and_open_quotes_are_malformed():
    rows, malformed = read(b'a,b\n"x,y",2\n"open,3\nnext",4\n')
    assert rows == [(2, ("x,y", "2", None))]
    assert [m[0] for m in malformed] == [3, 4]


def test_duplicate_header_names_keep_the_first_column():
    rows, _ = read(b"a,A,b\n1,9,2\n")
    assert rows == [(2, ("1", "2", None))]


def test_block_boundaries_do_not_change_rows_or_line_numbers():
    lines = [b"a,b"] + [f"{i},{i * 2}".encode() for i in range(500)] + [b"bad"]
    data = b"\n".join(lines) + b"\n"
    assert read(data, block_bytes=37) == read(data)


def test_gzip_is_decompressed_by_extension():
    rows, _ = read(gzip.compress(b"a\n1\n"), key="events/x.csv.gz")
    assert rows == [(2, ("1", None, None))]


@pytest.mark.parametrize(
    ("data", "key", "code"),
    [
        (
            gzip.compress(b"a\n" + b"1\n" * 5000, mtime=0)[:-20],
            "e/x.csv.gz",
            FileError.CORRUPT_COMPRESSION,
        ),
        (b"not gzip at all", "e/x.csv.gz", FileError.CORRUPT_COMPRESSION),
        (b"a,b\n1,\xff\xfe\n", "e/x.csv", FileError.INVALID_ENCODING),
        (b'{"a": "\xff"}\n', "e/x.jsonl", FileError.INVALID_ENCODING),
        (b"", "e/x.csv", FileError.EMPTY_FILE),
        (b"\n \n", "e/x.jsonl", FileError.EMPTY_FILE),
        (b"b,c\n1,2\n", "e/x.csv", FileError.MISSING_COLUMNS),
        (b"a;b\n1;2\n", "e/x.csv.gz", FileError.CORRUPT_COMPRESSION),
        (b"a,b\n1,2\n", "e/x.parquet", FileError.UNSUPPORTED_FORMAT),
        (b"a,b\n1,2\n", "e/x", FileError.UNSUPPORTED_FORMAT),
    ],
)
def test_whole_file_errors_are_specific(data, key, code):
    with pytest.raises(FileRejected) as info:
        read(data, key=key)
    assert info.value.code == code
    assert key in info.value.message


def test_wrong_delimiter_names_the_missing_columns():
    with pytest.raises(FileRejected, match="lacks required column"):
        read(b"x;y\n1;2\n")


def test_header_only_file_has_no_rows_and_is_not_an_error():
    assert read(b"a,b\n") == ([], [])


@pytest.mark.parametrize("ext", ["jsonl", "ndjson", "json", "JSONL.GZ", "csv", "CSV"])
def test_formats_come_from_the_extension(ext):
    fmt = FileFormat.from_key(f"events/dt=2026-11-01/f.{ext}")
    assert fmt.kind == ("csv" if ext.lower() == "csv" else "jsonl")
    assert fmt.gzip == ext.lower().endswith(".gz")


def test_json_lines_accept_numbers_for_strings_and_match_keys_case_insensitively():
    rows, malformed = read(b'{"A": 42, " b ": "x", "other": [1]}\n{"a": 1.0}\n', key="e/x.jsonl")
    assert rows == [(1, ("42", "x", None)), (2, ("1.0", None, None))]
    assert malformed == []


def test_json_lines_that_are_not_objects_or_carry_booleans_or_objects_are_malformed():
    data = (
        b'{"a": "1"}\n[1,2]\n{"a": "2", "b": true}\n{"a": {"x": 1}}\n{"a": \n"str"\n\n{"a": "3"}\n'
    )
    rows, malformed = read(data, key="e/x.jsonl")
    assert rows == [(1, ("1", None, None)), (8, ("3", None, None))]
    assert [m[0] for m in malformed] == [2, 3, 4, 5, 6]


def test_json_lines_with_mixed_value_types_in_a_column_are_all_read():
    data = b'{"a": "x"}\n{"a": 5}\n{"a": null, "b": "y"}\n{}\n'
    rows, malformed = read(data, key="e/x.jsonl")
    assert rows == [
        (1, ("x", None, None)),
        (2, ("5", None, None)),
        (3, (None, "y", None)),
        (4, (None, None, None)),
    ]
    assert malformed == []


def test_json_block_boundaries_do_not_change_rows():
    data = b"".join(f'{{"a": "{i}", "b": {i}}}\n'.encode() for i in range(300)) + b'{"a":\n'
    assert read(data, key="e/x.jsonl", block_bytes=50) == read(data, key="e/x.jsonl")


# Keys and values chosen to trip a count of `":`: spellings of one key, values equal to a key
# or holding `":`, escaped quotes, white space before a colon, nested objects.
_KEYS = st.sampled_from(["a", "A", " a ", "b", "other", "x\\", 'q"', "é", "n", "a.b", "a|b"])
_VALUES = st.one_of(
    st.integers(-5, 10**12),
    st.sampled_from(["a", "b", 'x": 1', "x\\", '"a":', "", "é"]),
    st.none(),
    st.dictionaries(_KEYS, st.integers(0, 9), max_size=2),
)


def _one_spelling_each(obj: dict) -> dict:
    """The object with one spelling of each contract key (the first), so that which one
    wins is not in question here."""
    out, names = {}, set()
    for k, v in obj.items():
        if k.strip().lower() not in names:
            out[k] = v
            names.add(k.strip().lower())
    return out


def _lines(objects) -> st.SearchStrategy:
    return st.lists(st.tuples(objects, st.sampled_from([":", " :", ": "])), min_size=1, max_size=40)


_ANY_LINES = _lines(st.dictionaries(_KEYS, _VALUES, max_size=4))
_LINES = _lines(st.dictionaries(_KEYS, _VALUES, max_size=4).map(_one_spelling_each))


def _jsonl(lines) -> bytes:
    return b"".join(
        json.dumps(obj, ensure_ascii=False, separators=(",", colon)).encode() + b"\n"
        for obj, colon in lines
    )


@settings(max_examples=60, deadline=None)
@given(_ANY_LINES, st.integers(20, 400))
def test_json_key_scan_finds_every_key_of_each_block(lines, block_bytes):
    data = _jsonl(lines)
    reader, found = JsonLinesReader(WANTED), {}
    blocks = [data[i : i + block_bytes] for i in range(0, len(data), block_bytes)]
    for block in blocks:
        here = set(json_text.KEY.findall(block))
        found.update(dict.fromkeys(here))
        # every key of the block, and no key that is not in the file so far
        assert here <= set(reader._block_keys(block)) <= set(found)


def test_json_key_scan_counts_a_block_of_keys_met_before_without_the_regex(monkeypatch):
    reader = JsonLinesReader(WANTED)
    reader._block_keys(b'{"a": 1, "other": {"b": 2}}\n')
    monkeypatch.setattr(reading, "KEY", re.compile(b"(?!)"))  # finds nothing
    monkeypatch.setattr(reading, "keys", lambda body: None)  # leaves it to the regex
    assert reader._block_keys(b'{"other": {"b": "a"}, "a": 3}\n') == [b"a", b"other", b"b"]
    assert reader._block_keys(b'{"new": 1}\n') == []  # a new key: the scan's answer


def test_json_key_scan_takes_known_keys_literally_not_as_patterns():
    reader = JsonLinesReader(WANTED)
    reader._block_keys(b'{"a.b": 1, "c|d": 2}\n')
    assert reader._block_keys(b'{"aXb": 1}\n') == [b"aXb"]
    assert reader._block_keys(b'{"c": 1}\n') == [b"c"]
    assert reader._block_keys(b'{"c|d": 1, "a.b": 2}\n') == [b"a.b", b"c|d", b"aXb", b"c"]


def _mixed_blocks(*later: bytes) -> bytes:
    """A first block whose `a` mixes JSON types (the file's inferred read is given up), then
    `later`, one block each at block_bytes=40."""
    return b'{"a": 1, "b": "x"}\n{"a": "2", "b": "y"}\n' + b"".join(later)


def _read_counting_scans(data: bytes, monkeypatch) -> tuple[list, tuple[str, ...], int]:
    """Rows, the key names the last chunk reports, and how many blocks the key scan read."""
    scanned = []
    block_keys = JsonLinesReader._block_keys

    def counted(self, body):
        scanned.append(body)
        return block_keys(self, body)

    monkeypatch.setattr(JsonLinesReader, "_block_keys", counted)
    chunks = list(iter_chunks(io.BytesIO(data), "e/x.jsonl", WANTED, REQUIRED, 40))
    rows = [
        tuple(ch.columns.get(n, pa.nulls(ch.num_rows)).to_pylist()) for ch in chunks for n in WANTED
    ]
    return rows, chunks[-1].names, len(scanned)


def test_json_blocks_of_known_contract_keys_show_their_other_keys_without_the_key_scan(
    monkeypatch,
):
    data = _mixed_blocks(b'{"b": "z", "a": 3}\n{"a": 4, "o": 1}\n', b'{"a": "5", "o": 2}\n')
    rows, names, scans = _read_counting_scans(data, monkeypatch)
    assert rows[3:6] == [("3", "4"), ("z", None), (None, None)]  # a, b, c of the 2nd block
    assert rows[6:] == [("5",), (None,), (None,)]
    assert names == ("a", "b", "o")
    assert scans == 1  # the first block only: the file's keys were not known before


def test_json_keys_are_scanned_again_once_another_key_cannot_be_inferred(monkeypatch):
    data = _mixed_blocks(b'{"a": 3, "o": [1]}\n{"a": 4, "o": {}}\n', b'{"a": 5, "C": "new"}\n')
    rows, names, scans = _read_counting_scans(data, monkeypatch)
    assert rows[3:] == [("3", "4"), (None, None), (None, None), ("5",), (None,), ("new",)]
    assert names == ("a", "b", "o", "c")
    assert scans == 3


def test_a_new_spelling_of_a_contract_key_is_read_after_the_known_keys_were_inferred():
    data = _mixed_blocks(b'{"a": 5, "C": "new"}\n', b'{"a": 6, "other": [1]}\n', b'{"a": 7}\n')
    rows, _ = read(data, key="e/x.jsonl", block_bytes=40)
    assert [r for _, r in rows][2:] == [("5", None, "new"), ("6", None, None), ("7", None, None)]


@settings(max_examples=50, deadline=None)
@given(_LINES, st.integers(30, 300))
def test_json_rows_do_not_depend_on_where_blocks_end(lines, block_bytes):
    data = _jsonl(lines)
    assert read(data, key="e/x.jsonl", block_bytes=block_bytes) == read(data, key="e/x.jsonl")


def test_json_text_that_looks_like_a_timestamp_is_read_as_written():
    data = b'{"a": "2026-11-02T23:18:14", "b": "2026-11-02"}\n'
    rows, malformed = read(data, key="e/x.jsonl")
    assert rows == [(1, ("2026-11-02T23:18:14", "2026-11-02", None))]
    assert malformed == []


def test_json_numbers_are_read_as_written_whether_or_not_a_column_mixes_types():
    mixed = b'{"a": 1793491202, "b": 2.0}\n{"a": "2026-11-01T00:00:00Z", "b": 2}\n'
    uniform = b'{"a": 1793491202, "b": 2.0}\n'
    assert read(mixed, key="e/x.jsonl")[0] == [
        (1, ("1793491202", "2.0", None)),
        (2, ("2026-11-01T00:00:00Z", "2", None)),
    ]
    assert read(uniform, key="e/x.jsonl")[0] == [(1, ("1793491202", "2.0", None))]


@pytest.mark.parametrize(
    ("block", "quoted"),
    [
        (b'{"o": {}}\n{"b": 7, "o": []}\n', False),
        (b'{"o": {}}\n{"b": 7, "o": []}\n{"b": "8"}\n', True),
    ],
)
def test_a_key_absent_from_a_blocks_first_line_is_guessed_by_its_first_value(
    block, quoted, monkeypatch
):
    """The integers of a key the block's first line lacks are read as integers, their digits
    exact; only a key whose values mix JSON types has its numbers quoted."""
    bodies = []
    quote_numbers = reading.quote_numbers
    monkeypatch.setattr(
        reading, "quote_numbers", lambda b, k: bodies.append(b) or quote_numbers(b, k)
    )
    # the second block's other key changes type: the third is read after a key scan
    data = _mixed_blocks(b'{"a": 3, "o": [1]}\n{"a": 4, "o": {}}\n', block)
    rows, _ = read(data, key="e/x.jsonl", block_bytes=40)
    assert [r for _, r in rows][4:6] == [(None, None, None), (None, "7", None)]
    assert any(b'"b": 7' in body for body in bodies) == quoted


def test_a_number_inside_a_string_value_is_left_alone():
    data = b'{"a": "x\\": 5, y", "b": 3}\n{"a": "z", "b": "w"}\n'
    rows, malformed = read(data, key="e/x.jsonl")
    assert rows == [(1, ('x": 5, y', "3", None)), (2, ("z", "w", None))]
    assert malformed == []


def test_a_quoted_number_stays_text_as_written():
    data = b'{"a": "007", "b": 7}\n{"a": "8", "b": 8}\n'
    assert read(data, key="e/x.jsonl")[0] == [(1, ("007", "7", None)), (2, ("8", "8", None))]


def test_json_lines_with_nan_or_lone_surrogates_are_malformed_not_a_crash():
    data = b'{"a": NaN}\n{"a": "F\\ud800"}\n{"a": Infinity}\n{"a": "ok"}\n'
    rows, malformed = read(data, key="e/x.jsonl")
    assert rows == [(4, ("ok", None, None))]
    assert [m[0] for m in malformed] == [1, 2, 3]


# Hostile bytes: every pattern ends as a row-level malformed_row or a whole-file code.


def read_with(data: bytes, key: str = "events/x.csv", **limits):
    chunks = iter_chunks(io.BytesIO(data), key, WANTED, REQUIRED, 1 << 16, ReadLimits(**limits))
    rows, malformed = [], []
    for ch in chunks:
        rows += ch.line_numbers.tolist()
        malformed += [line for line, _ in ch.malformed_lines]
    return rows, malformed


def rejected_code(data: bytes, key: str = "events/x.csv", **limits) -> str:
    with pytest.raises(FileRejected) as err:
        read_with(data, key, **limits)
    return err.value.code


@pytest.mark.parametrize("key", ["events/x.csv", "events/x.jsonl"])
def test_a_file_whose_lines_end_with_a_bare_cr_is_read_line_by_line(key):
    body = b"a,b\r1,2\r3,4\r" if key.endswith(".csv") else b'{"a": "1"}\r{"a": "2"}\rnot json\r'
    rows, malformed = read_with(body, key)
    assert rows == ([2, 3] if key.endswith(".csv") else [1, 2])
    assert malformed == ([] if key.endswith(".csv") else [3])


def test_a_cr_only_file_split_across_reads_keeps_its_line_numbers():
    lines = [b"a,b"] + [f"{i},{i}".encode() for i in range(3000)]
    data = b"\r".join(lines) + b"\r"
    rows, malformed = read_with(data)
    assert rows == list(range(2, 3002)) and malformed == []


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b"a,b\n1,2\n3\r,4\n5,6\n", "events/x.csv"),
        (b"a,b\n1,2\n3,\r4\n5,6\n", "events/x.csv"),
        (b'a,b\n1,2\n"3\r",4\n5,6\n', "events/x.csv"),
        (b'{"a": "1"}\n{"a": "2"}\n{"a":\r"3"}\n{"a": "4"}\n', "events/x.jsonl"),
        (b'{"a": "1"}\r\n{"a": "2"}\r\n{"a": "3\r"}\r\n{"a": "4"}\r\n', "events/x.jsonl"),
    ],
)
def test_a_stray_cr_makes_only_its_own_line_malformed(body, key):
    rows, malformed = read_with(body, key)
    assert malformed == [3]
    assert rows == ([2, 4] if key.endswith(".csv") else [1, 2, 4])


def test_a_header_that_csv_cannot_parse_rejects_the_file():
    # the first line end is an LF, so the CR in the header does not end a line
    assert rejected_code(b"\na,b\rc\n1,2\n3,4\n") == FileError.INVALID_HEADER
    assert rejected_code(b"a," + b"x" * 200_000 + b"\n1,2\n") == FileError.INVALID_HEADER


def test_the_default_line_limit_is_16_mib():
    assert ReadLimits().max_line_bytes == 16 << 20


@pytest.mark.parametrize(
    "body",
    [
        b"a,b\n1,2\n" + b"x" * 5000 + b"\n3,4\n",  # a whole line inside one read
        b"a,b\n1,2\n" + b"x" * 5000,  # the last line, without its newline
        b"a," + b"b" * 5000 + b"\n1,2\n",  # the header
    ],
)
def test_a_line_over_the_limit_rejects_the_file_with_its_line_number(body):
    with pytest.raises(FileRejected) as err:
        read_with(body, max_line_bytes=1000)
    assert err.value.code == FileError.LINE_TOO_LONG
    assert "line 3 " in err.value.message or "line 1 " in err.value.message


def test_a_line_at_the_limit_is_read():
    rows, malformed = read_with(b"a,b\n1," + b"y" * 998 + b"\n", max_line_bytes=1000)
    assert rows == [2] and malformed == []


def test_a_gzip_stream_without_newlines_is_rejected_before_it_is_held_in_memory():
    """300 MiB of one line inflate from 300 KB; the reader stops at the limit, not at EOF."""
    import tracemalloc

    bomb = gzip.compress(b"a,b\n" + b"x" * (300 << 20), 6)
    tracemalloc.start()
    try:
        code = rejected_code(bomb, "events/x.csv.gz", max_line_bytes=4 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == FileError.LINE_TOO_LONG
    assert peak < 64 << 20


def test_a_gzip_bomb_of_short_lines_is_rejected_as_a_compression_bomb():
    bomb = gzip.compress(b"a,b\n" + b"\n" * (40 << 20), 9)
    code = rejected_code(bomb, "events/x.csv.gz", inflation_floor=8 << 20)
    assert code == FileError.COMPRESSION_BOMB


def test_an_ordinary_gzip_file_is_not_taken_for_a_bomb():
    body = b"a,b,c\n" + b"".join(f"{i},{i * 7919 % 10007},u{i}\n".encode() for i in range(200_000))
    rows, _ = read_with(gzip.compress(body), "events/x.csv.gz", inflation_floor=1 << 20)
    assert len(rows) == 200_000


@pytest.mark.parametrize(
    "line",
    [
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}",
        b"[" * 100_000,
        b"{" * 100_000,
    ],
)
def test_json_nested_deeper_than_the_limit_is_malformed_before_any_parser_sees_it(line):
    rows, malformed = read_with(b'{"a": "1"}\n' + line + b'\n{"a": "3"}\n', "events/x.jsonl")
    assert rows == [1, 3] and malformed == [2]


def test_json_with_many_brackets_but_shallow_nesting_is_read():
    wide = b'{"a": "1", "x": [' + b",".join([b"[1]"] * 500) + b'], "b": "[[[[[[[[["}'
    rows, malformed = read_with(wide + b"\n", "events/x.jsonl", max_json_depth=3)
    assert rows == [1] and malformed == []


def test_json_depth_ignores_brackets_inside_strings():
    assert json_depth('{"a": "[[[{{{", "b": [1, [2]]}') == 3
    assert json_depth('{"a": "\\"[[["}') == 1
    assert json_depth("not json") == 0


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=32).map(str.encode))
def test_a_block_is_rejected_for_encoding_exactly_when_python_cannot_decode_it(data):
    try:
        data.decode("utf-8")
        decodes = True
    except UnicodeDecodeError:
        decodes = False
    try:
        reading._check_utf8(data, 1, "e/x.jsonl")
        accepted = True
    except FileRejected as exc:
        assert exc.code == FileError.INVALID_ENCODING
        accepted = False
    assert accepted == decodes


_BLOCK_LINES = st.lists(st.sampled_from(["{}", '{"a": 1}', "x,y", "", "  ", "é"]), min_size=1)


@settings(max_examples=200, deadline=None)
@given(_BLOCK_LINES, st.booleans(), st.data())
def test_kept_lines_are_handed_to_the_parsers_as_they_are_joined_one_by_one(
    lines, last_newline, data
):
    text = ("\n".join(lines) + ("\n" if last_newline else "")).encode()
    if not text:  # a block holds at least one byte
        return
    block = reading._Lines.of(text)
    keep = data.draw(st.lists(st.booleans(), min_size=len(block.text), max_size=len(block.text)))
    keep = np.array(keep, dtype=bool)
    # every kept line once, in order, each followed by a newline
    assert block.join(keep) == reading._join(block.text, keep)


# Blocks of a few characters that the line checks treat specially: white space of both kinds
# (ASCII, Unicode), CRs anywhere, braces, quotes and printable text.
_BLOCK_TEXT = st.text(
    st.sampled_from([" ", "\t", "\r", "\n", "{", "}", '"', "a", ",", "\u00a0", "\u3000", "\x1c"]),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(_BLOCK_TEXT)
def test_line_checks_on_the_bytes_agree_with_arrow_on_each_trimmed_line(text):
    block = reading._Lines.of(text.encode("utf-8"))
    lines = pa.array([t.rstrip("\r\n") for t in text.split("\n")[: len(block)]], pa.string())
    assert block.text.to_pylist() == lines.to_pylist()
    lengths = (block.ends - block.bounds[:-1]).tolist()
    assert lengths == pc.binary_length(lines).to_pylist()
    trimmed = pc.utf8_trim_whitespace(lines)
    blank = pc.equal(trimmed, "").to_numpy(zero_copy_only=False)
    braced = pc.and_(pc.starts_with(trimmed, "{"), pc.ends_with(trimmed, "}"))
    quotes = pc.bit_wise_and(pc.count_substring(lines, '"'), 1)
    assert block.blank().tolist() == blank.tolist()
    assert block.stray_cr().tolist() == pc.match_substring(lines, "\r").to_pylist()
    shapes = JsonLinesReader._shapes(block)
    assert [m.tolist() for m in shapes] == [blank.tolist(), braced.to_pylist()]
    odd = CsvReader(WANTED, REQUIRED)._open_quote(block)
    assert odd.tolist() == pc.equal(quotes, 1).to_pylist()
    rows = np.arange(len(block))[::2]
    assert block.at(rows).to_pylist() == lines.take(pa.array(rows)).to_pylist()
    texts = pa.array([*lines.take(pa.array(rows[1::2])).to_pylist(), "a"], pa.string())
    assert block.among(texts).tolist() == pc.is_in(lines, value_set=texts).to_pylist()
