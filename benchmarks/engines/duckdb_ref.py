"""Reference engine in DuckDB: an independent, tuned implementation of docs/data-contract.md.

Used by the benchmark (`python -m benchmarks.run`) as the reference the core is measured
against, and by tests as an oracle for `retail_etl`.

How it works (benchmarks/README.md has the details and the figures)
* Python finds the files, orders them and reads each file's first non-blank line (the CSV
  header picks the columns; `_inputs.py`). DuckDB reads, inflates and parses every row.
* A file is read with DuckDB's CSV reader used as a line reader (no quoting, a delimiter that
  never occurs), so a physical line is one row. Each file becomes one table in one streaming
  statement: lines are split (CSV) or parsed (JSON Lines), cleaned and checked in contract
  order, and only the cleaned columns are kept (the raw line only for rows that may be
  quarantined). The table is written in file order, so `rowid + 1` is the line number. One
  regex per line sends the few lines that need it to the exact (slower) treatment.
* Then, per file, two small lookups (ids seen twice in the file; the product version of each
  (product, event date) pair, resolved once per pair against the history), one pass writes
  the curated Parquet and another the quarantine rows.
* Files run in parallel, one thread each with its own cursor; a Python thread beside them
  checks each file's bytes for what DuckDB's reader does not report (a corrupt or truncated
  gzip stream, a gzip bomb, a CR inside a line).
* Products files (small) run first and make the history; an events file of date F sees the
  versions with effective_date <= F, as it would have when it was processed.

Decisions where the contract leaves room are listed in `benchmarks/README.md`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb

from benchmarks.engines._inputs import (
    FIELDS,
    MAX_LINE_BYTES,
    STRAY_CR_MARK,
    WS,
    InputFile,
    StreamCheck,
    check_stream,
    curated_events_dir,
    discover,
    preflight,
    regex_escape,
    reset_dir,
    write_marked,
)
from retail_etl.domain.contract import (
    AGGREGATES,
    DERIVED_ID_PREFIX,
    EVENT_TYPES,
    MAX_QUANTITY,
    TOP_VIEWED_LIMIT,
    FileError,
)

# DuckDB's own memory cap (it spills to a temporary folder beyond it).
MEMORY_LIMIT = "1GB"
CORES = os.cpu_count() or 1

LINE_DELIMITER = "\x1f\x1e\x1d\x1c"  # never occurs in text: each line is one column
JSON_SAMPLE_LINES = 1000  # the lines whose keys give a JSON file's spellings
MAX_PRICE_CENTS = 10**12 - 1  # decimal(12,2)
MAX_REVENUE_CENTS = 10**14 - 1  # decimal(14,2)
# Timestamp forms of contract §2 on the trimmed value, range checks included where a regex
# can make them (the day of the month is checked by the cast, which fails on 2026-02-29).
ISO_RE = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9](\.[0-9]{1,9})?)?(Z| UTC|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?"
)
US_RE = (
    r"(0[1-9]|1[0-2])/(0[1-9]|[12][0-9]|3[01])/[0-9]{4} ([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?"
)
EPOCH_RE = r"[0-9]{1,13}"
WINDOW_US = (946_684_800_000_000, 4_102_444_800_000_000)  # [2000-01-01, 2100-01-01) UTC
# RFC 4180 fields: "…" with "" inside, or no quote at all.
CSV_FIELD = r'"(?:[^"]|"")*"|[^,"]*'
# What DuckDB's JSON parser allows but JSON does not: trailing commas, NaN and Infinity.
JSON_LENIENT_RE = r",\s*[\]}]|[Nn][Aa][Nn]|[Ii][Nn][Ff]"
JSON_STRING_RE = r'"(?:[^"\\]|\\.)*"'
PRICE_RE = r"([0-9]{1,30})(?:\.([0-9]{1,30}))?"
_WS_TEST = " OR ".join(f"c = {ord(c)}" for c in WS)


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Macros are only ever applied to column references: an argument is pasted wherever the
# macro uses it, so passing an expression would evaluate it several times. Costly tests sit
# in CASE branches: in a SELECT list DuckDB evaluates both sides of AND and OR on every row,
# while a CASE branch runs only on the rows that reach it.
MACROS = f"""
-- A code point of Unicode White_Space (printable ASCII is decided by the first test; a list
-- of constants with IN would be planned as a join).
CREATE OR REPLACE MACRO is_ws(c) AS NOT (c > 32 AND c < 133) AND ({_WS_TEST});
-- Trimmed text, NULL when empty. trim() with a character list is slow, so it only runs on
-- values that start or end with white space.
CREATE OR REPLACE MACRO clean_text(s) AS CASE
    WHEN ord(s) BETWEEN 33 AND 132 AND ord(s[-1]) BETWEEN 33 AND 132 THEN s
    WHEN s = '' THEN NULL
    WHEN is_ws(ord(s)) OR is_ws(ord(s[-1])) THEN nullif(trim(s, {_sql_str(WS)}), '')
    ELSE s END;
-- A line is blank when it is empty or only white space (a line that does not start with
-- white space is not blank).
CREATE OR REPLACE MACRO is_blank(s) AS CASE
    WHEN s IS NULL THEN true WHEN is_ws(ord(s)) THEN trim(s, {_sql_str(WS)}) = '' ELSE false END;

-- CSV: a field's value ("…" unquoted, "" read as ").
CREATE OR REPLACE MACRO csv_value(x) AS
    CASE WHEN ord(x) = 34 THEN replace(substr(x, 2, length(x) - 2), '""', '"') ELSE x END;

-- JSON Lines: a line that DuckDB's parser reads as one object (strictness is checked apart).
CREATE OR REPLACE MACRO json_object(line) AS CASE
    WHEN ord(line) <> 123 AND NOT is_ws(ord(line)) THEN false
    WHEN ord(line) <> 123 AND NOT starts_with(ltrim(line, ' \t\r\n'), '{{') THEN false
    ELSE json_valid(line) END;
-- A value that is trimmed only when its line may need it (`slow`, see `_csv_fields`).
CREATE OR REPLACE MACRO field_text(s, slow) AS
    CASE WHEN slow THEN clean_text(s) ELSE nullif(s, '') END;
-- j is the raw JSON text of one value: an object, an array or a boolean is not accepted.
CREATE OR REPLACE MACRO json_bad(j) AS
    coalesce(ord(j) = 123 OR ord(j) = 91 OR ord(j) = 116 OR ord(j) = 102, false);
-- Strings as they are; null as NULL; numbers as written. The parser re-serializes numbers, so
-- a line with a non-integer number in a contract field is parsed again with its numbers quoted
-- (see `_json_fields`); what reaches this macro unquoted is an integer, whose digits are exact.
CREATE OR REPLACE MACRO json_text(j) AS CASE
    WHEN ord(j) = 34 THEN
        CASE WHEN contains(j, '\\') THEN j ->> '$' ELSE substr(j, 2, length(j) - 2) END
    WHEN j = 'null' OR json_bad(j) THEN NULL
    ELSE j END;
-- A number that is not written as an integer (so its re-serialized text may differ).
CREATE OR REPLACE MACRO json_inexact(j) AS CASE
    WHEN ord(j) = 45 OR ord(j) BETWEEN 48 AND 57
    THEN contains(j, '.') OR contains(j, 'e') OR contains(j, 'E') ELSE false END;

-- Epoch microseconds of a timestamp in ISO form with its seconds (see `_events_table`): with an
-- offset it is cast as TIMESTAMPTZ; without one (Z, UTC or none) it is read as UTC.
CREATE OR REPLACE MACRO iso_us(ts) AS CASE
    WHEN contains(ts[20:], '+') OR contains(ts[20:], '-') THEN epoch_us(TRY_CAST(ts AS TIMESTAMPTZ))
    WHEN ends_with(ts, 'Z') THEN epoch_us(TRY_CAST(ts[:-2] AS TIMESTAMP))
    WHEN ends_with(ts, ' UTC') THEN epoch_us(TRY_CAST(ts[:-5] AS TIMESTAMP))
    ELSE epoch_us(TRY_CAST(ts AS TIMESTAMP)) END;
CREATE OR REPLACE MACRO epoch_digits_us(n) AS
    CASE WHEN n < 100000000000 THEN n * 1000000 ELSE n * 1000 END;
CREATE OR REPLACE MACRO in_window(us) AS
    CASE WHEN us >= {WINDOW_US[0]} AND us < {WINDOW_US[1]} THEN us END;

-- quantity: digits, 1-{MAX_QUANTITY}; missing means 1; NULL when invalid.
CREATE OR REPLACE MACRO parse_quantity(q) AS CASE
    WHEN q IS NULL THEN 1
    WHEN regexp_full_match(q, '[0-9]+') AND TRY_CAST(q AS INTEGER) BETWEEN 1 AND {MAX_QUANTITY}
    THEN TRY_CAST(q AS INTEGER) END;
-- price: cents rounded half-up from the text (never through a float), as HUGEINT so that a
-- well-formed price too large for decimal(12,2) is still a number (amount_out_of_range).
CREATE OR REPLACE MACRO price_cents(whole, frac) AS
    CAST(whole AS HUGEINT) * 100 + coalesce(TRY_CAST(rpad(left(frac, 2), 2, '0') AS HUGEINT), 0)
    + CASE WHEN substr(frac, 3, 1) >= '5' THEN 1 ELSE 0 END;
CREATE OR REPLACE MACRO cents_dec(c) AS CAST(c AS DECIMAL(18, 0)) * 0.01;
"""


def _connect(spill_dir: Path, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(
        config={
            "threads": threads,
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": str(spill_dir),
        }
    )
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    con.execute(MACROS)
    return con


# ---------------------------------------------------------------------------------------
# Reading: one SELECT per file giving, per physical line, its raw field texts


def _file_lines(f: InputFile) -> str:
    """`line` and `blank` per physical line; `stray`: the line held a CR that does not end it
    (read from the marked copy, see `check_stream`), which makes it malformed."""
    if f.marked is None:
        return f"SELECT line, is_blank(line) AS blank, false AS stray FROM {_lines(f)}"
    mark = _sql_str(STRAY_CR_MARK)
    return f"""SELECT line, is_blank(line) AS blank, contains(raw, {mark}) AS stray
        FROM (SELECT raw, replace(raw, {mark}, chr(13)) AS line
              FROM (SELECT line AS raw FROM {_lines(f)}))"""


def _lines(f: InputFile) -> str:
    """The file's physical lines, one VARCHAR row each, in order (NULL for an empty line).

    A line ends at LF or CRLF (DuckDB's reader told to expect CRLF takes LF alone too; left
    to detect the style from the first line, it would read an LF file's CRLF as two ends),
    or at every CR when the first line ends with a bare CR.
    """
    newline = r"\r" if f.cr_only else r"\r\n"
    compression = "gzip" if f.gz and f.marked is None else "none"
    return f"""read_csv({_sql_str(str(f.marked or f.path))}, columns = {{'line': 'VARCHAR'}},
        header = false, delim = {_sql_str(LINE_DELIMITER)}, quote = '', escape = '',
        auto_detect = false, strict_mode = false, max_line_size = {MAX_LINE_BYTES + 2},
        new_line = '{newline}', compression = '{compression}')"""


def _ws_class() -> str:
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WS) + "]"


# A CSV line whose values may need trimming: before its first quote (the wanted fields come
# before it, else the line takes the exact path anyway), white space at the start, the end,
# or next to a comma.
CSV_WS_RISK_RE = f'^(?:{_ws_class()}|[^"]*(?:,{_ws_class()}|{_ws_class()},|{_ws_class()}$))'


def _csv_fields(f: InputFile, fields: tuple[str, ...]) -> str:
    """Per line: `blank`, `malformed`, `slow` (values may need trimming) and the raw text of
    each field (NULL if absent).

    A line without quotes is split on commas. A line with quotes must match the file's record
    pattern (RFC 4180, as many fields as the header); its values come from the comma split
    as long as no quote comes before the last wanted column, else from the pattern's groups.
    """
    ncols = len(f.header)
    wanted = {f.column_index(n): n for n in reversed(fields) if f.column_index(n)}
    last = max(wanted, default=0)
    pattern = (
        "^"
        + ",".join(
            f"({CSV_FIELD})" if i in wanted else f"(?:{CSV_FIELD})" for i in range(1, ncols + 1)
        )
        + "$"
    )
    groups = "[" + ", ".join(_sql_str(wanted[i]) for i in sorted(wanted)) + "]"
    values = []
    for name in fields:
        idx = f.column_index(name)
        values.append(
            f'CASE WHEN q IS NULL THEN f[{idx}] ELSE csv_value(q."{name}") END AS "{name}"'
            if idx
            else f'NULL::VARCHAR AS "{name}"'
        )
    extract = f"regexp_extract(line, {_sql_str(pattern)}, {groups})" if wanted else "NULL"
    # the characters up to the end of the last wanted field, if no quote comes before it
    prefix = " + ".join(
        [f"coalesce(length(f[{i}]), 0)" for i in range(1, last + 1)] + [str(last - 1)]
    )
    risk = _sql_str(CSV_WS_RISK_RE)
    return f"""SELECT blank, line,
            CASE WHEN stray THEN true
                 WHEN quoted THEN NOT regexp_matches(line, {_sql_str(pattern)})
                 ELSE len(f) <> {ncols} END AS malformed,
            CASE WHEN blank THEN false WHEN q IS NOT NULL THEN true
                 ELSE regexp_matches(line, {risk}) END AS slow,
            {", ".join(values)}
        FROM (SELECT *, CASE WHEN NOT quoted OR blank THEN NULL
                  WHEN strpos(line, '"') <= {prefix} THEN {extract} END AS q
        FROM (SELECT line, blank, stray, contains(line, '"') AS quoted,
                     string_split(line, ',') AS f
              FROM ({_file_lines(f)})))"""


def _json_sample_keys(con: duckdb.DuckDBPyConnection, f: InputFile) -> list[str]:
    """The keys of the file's first objects: the spellings the fast path reads."""
    rows = con.execute(
        f"""SELECT DISTINCT unnest(json_keys(line)) AS k
            FROM (SELECT line FROM {_lines(f)} LIMIT {JSON_SAMPLE_LINES})
            WHERE starts_with(ltrim(line, ' \t\r\n'), '{{') AND json_valid(line) ORDER BY k"""
    ).fetchall()
    return [k for (k,) in rows]


def _other_spellings(name: str, chosen: str) -> str:
    """An RE2 pattern for `"key"` followed by a colon, where key is any spelling of `name`
    (case-insensitive, maybe padded with white space) other than `chosen`."""
    ws = _ws_class()
    word = f"(?i:{regex_escape(name)})"
    alternatives = [f"{ws}+{word}{ws}*", f"{word}{ws}+"]
    for i, c in enumerate(chosen):
        if c.lower() != c.upper():  # a letter: the first position whose case differs
            rest = chosen[i + 1 :]
            other = c.swapcase()
            tail = f"(?i:{regex_escape(rest)})" if rest else ""
            alternatives.append(f"{regex_escape(chosen[:i])}{regex_escape(other)}{tail}")
    return '"(?:' + "|".join(alternatives) + r')"\s*:'


def _json_fields(f: InputFile, fields: tuple[str, ...], sample: list[str]) -> str:
    """Per line: `blank`, `malformed`, `slow` (values may need trimming) and the text of each
    contract field (NULL if absent).

    The fast path is one `from_json` per line into text, with the key spellings of the file's
    first lines. One regex per line (`slow`, then `exact` for the few it flags) sends a line
    to the exact path when the fast one could get it wrong: another spelling of a contract key
    (the first in the object wins, found with `json_keys`), what DuckDB's parser accepts but
    JSON does not (trailing commas, NaN, Infinity: checked again outside strings), an escape,
    or a contract value that is not a string, null or integer (a boolean, object or array
    makes the line malformed; a non-integer number is read as written, by quoting it and
    parsing again, since the parser re-serializes numbers).
    """
    spellings = {n: [k for k in sample if k.strip(WS).lower() == n] for n in fields}
    mixed = any(len(ks) > 1 or (ks and ks[0] != ks[0].strip(WS)) for ks in spellings.values())
    chosen = {n: (ks[0] if ks else n) for n, ks in spellings.items()}
    order = sorted(fields, key=lambda n: chosen[n])
    ws = _ws_class()
    keys = "|".join(regex_escape(chosen[n]) for n in fields)
    exact = [JSON_LENIENT_RE, r"\\", rf'"(?:{keys})"\s*:\s*(?:[tf{{\[]|-?[0-9]+[.eE]|-0[^0-9])']
    exact += [_other_spellings(n, chosen[n]) for n in fields]
    trim = [f'"{ws}', f'[^:,\\[{{{ws[1:-1]}]{ws}+"']
    slow_re, exact_re = _sql_str("|".join(exact + trim)), _sql_str("|".join(exact))
    schema = _sql_str(json.dumps({chosen[n]: "VARCHAR" for n in order}))
    names = "|".join(regex_escape(n) for n in fields)
    requote = _sql_str(f'("(?i:{ws}*(?:{names}){ws}*)"\\s*:\\s*)(-?[0-9][0-9.eE+-]*)')

    def raw(name: str, line: str, keys: str) -> str:
        """The raw JSON of the first key in the object that means `name` (exact path)."""
        first = f"list_filter({keys}, lambda k: lower(trim(k, {_sql_str(WS)})) = '{name}')[1]"
        pointer = f"'/' || replace(replace({first}, '~', '~0'), '/', '~1')"
        return f"CAST(json_extract({line}, {pointer}) AS VARCHAR)"

    j1 = ", ".join(f'CASE WHEN exact THEN {raw(n, "line", "k")} END AS "j_{n}"' for n in fields)
    j2 = ", ".join(
        f'CASE WHEN again THEN {raw(n, "line2", "k2")} ELSE "j_{n}" END AS "j_{n}"' for n in fields
    )
    inexact = " OR ".join(f'json_inexact("j_{n}")' for n in fields)
    bad = " OR ".join(f'json_bad("j_{n}")' for n in fields)
    exact_struct = ", ".join(f'{_sql_ident(chosen[n])} := json_text("j_{n}")' for n in order)
    values = ", ".join(f'v.{_sql_ident(chosen[n])} AS "{n}"' for n in fields)
    is_exact = "true" if mixed else f"regexp_matches(line, {exact_re})"
    is_slow = "true" if mixed else f"regexp_matches(line, {slow_re})"
    return f"""SELECT blank, line, NOT blank AND (NOT ok OR bad) AS malformed, slow, {values}
        FROM (SELECT blank, line, ok, slow,
                     CASE WHEN exact THEN struct_pack({exact_struct}) ELSE s END AS v,
                     CASE WHEN exact THEN {bad} ELSE false END AS bad
        FROM (SELECT * EXCLUDE (j_{", j_".join(fields)}), {j2}
        FROM (SELECT *, CASE WHEN again THEN json_keys(line2) END AS k2
        FROM (SELECT *, CASE WHEN again THEN regexp_replace(line, {requote}, '\\1"\\2"', 'g')
                        END AS line2
        FROM (SELECT *, CASE WHEN exact AND ok THEN {inexact} ELSE false END AS again
        FROM (SELECT * EXCLUDE (k), {j1}
        FROM (SELECT *, CASE WHEN ok AND NOT exact THEN from_json(line, {schema}) END AS s,
                        CASE WHEN ok AND exact THEN json_keys(line) END AS k
        FROM (SELECT line, blank, slow, exact, CASE
                  WHEN NOT valid OR stray THEN false
                  WHEN NOT exact THEN true
                  WHEN NOT regexp_matches(line, {_sql_str(JSON_LENIENT_RE)}) THEN true
                  ELSE NOT regexp_matches(regexp_replace(line, {_sql_str(JSON_STRING_RE)}, '""',
                                                         'g'), {_sql_str(JSON_LENIENT_RE)})
                  END AS ok
        FROM (SELECT *, CASE WHEN slow THEN {is_exact} ELSE false END AS exact
        FROM (SELECT line, blank, stray,
                     CASE WHEN blank THEN false ELSE {is_slow} END AS slow,
                     CASE WHEN blank THEN false ELSE json_object(line) END AS valid
        FROM ({_file_lines(f)})))))))))))"""


def _fields(con: duckdb.DuckDBPyConnection, f: InputFile) -> str:
    fields = FIELDS[f.kind]
    if f.fmt == "csv":
        return _csv_fields(f, fields)
    return _json_fields(f, fields, _json_sample_keys(con, f))


def _inflated_size(f: InputFile) -> int:
    """A file's size once inflated (a gzip stream ends with it, modulo 4 GiB): the order in
    which files are handed to the threads, longest first."""
    size = f.path.stat().st_size
    if f.gz and size >= 4:
        with open(f.path, "rb") as stream:
            stream.seek(-4, 2)
            return max(size, int.from_bytes(stream.read(4), "little"))
    return size


def _load(
    con: duckdb.DuckDBPyConnection,
    f: InputFile,
    create: Callable[[duckdb.DuckDBPyConnection, InputFile], str],
    stream_check: Future[StreamCheck],
    spill_dir: Path,
) -> str | None:
    """Run `create` (which makes the file's table and returns its name) while the file's
    bytes are checked (`check_stream`); None, with `f.error` set, when the file is rejected.

    The gzip stream's own verdict wins (a corrupt stream is `corrupt_compression` even where
    its readable part is not UTF-8); DuckDB's reader rejects bytes that are not UTF-8 and
    lines over the limit; any other error is a bug and is raised. A file with a CR inside a
    line is read again from a copy in which that CR is marked.
    """
    failure = None
    try:
        table = create(con, f)
    except duckdb.Error as exc:
        failure = exc
    check = stream_check.result()
    if check.error is None and check.stray_cr and f.marked is None:
        con.execute(f"DROP TABLE IF EXISTS {_table(f)}")
        f.marked = spill_dir / f"marked-{f.seq}"
        write_marked(f, f.marked)
        done: Future[StreamCheck] = Future()
        done.set_result(StreamCheck())
        return _load(con, f, create, done, spill_dir)
    if check.error is None and failure is None:
        return table
    con.execute(f"DROP TABLE IF EXISTS {_table(f)}")
    if check.error is not None:
        f.error = check.error
    elif "Invalid unicode" in str(failure):
        f.error = FileError.INVALID_ENCODING
    elif "Maximum line size" in str(failure):
        f.error = FileError.LINE_TOO_LONG
    else:
        raise failure
    return None


def _table(f: InputFile) -> str:
    """The table of a file's lines, cleaned and checked."""
    return f"{'p' if f.kind == 'products' else 'e'}_{f.seq}"


# ---------------------------------------------------------------------------------------
# Products


def _products_table(con: duckdb.DuckDBPyConnection, f: InputFile) -> str:
    """`p_<seq>`: one row per physical line of a products file, cleaned and checked."""
    con.execute(
        f"""
        CREATE TABLE {_table(f)} AS
        WITH c AS (
            SELECT blank, line, malformed,
                   field_text(product_id, slow) AS product_id,
                   field_text(product_name, slow) AS product_name,
                   field_text(category, slow) AS category, field_text(price, slow) AS price_text,
                   field_text(stock_level, slow) AS stock_text
            FROM ({_fields(con, f)})),
        m AS (SELECT *, regexp_extract(price_text, {_sql_str("^" + PRICE_RE + "$")},
                                       ['whole', 'frac']) AS pm FROM c),
        v AS (SELECT * EXCLUDE (pm),
                CASE WHEN pm.whole <> '' THEN price_cents(pm.whole, pm.frac) END AS cents,
                CASE WHEN regexp_full_match(stock_text, '[0-9]+')
                     THEN TRY_CAST(stock_text AS BIGINT) END AS stock_level
              FROM m),
        r AS (SELECT *, CASE
            WHEN blank THEN NULL
            WHEN malformed THEN 'malformed_row'
            WHEN product_id IS NULL THEN 'missing_product_id'
            WHEN category IS NULL THEN 'missing_category'
            WHEN price_text IS NULL THEN 'missing_price'
            WHEN cents IS NULL THEN 'invalid_price'
            WHEN cents > {MAX_PRICE_CENTS} THEN 'amount_out_of_range'
            WHEN stock_text IS NOT NULL AND stock_level IS NULL THEN 'invalid_stock_level'
            END AS reason FROM v)
        SELECT blank, reason, CASE WHEN NOT malformed THEN product_id END AS product_id,
               product_name, category, CASE WHEN reason IS NULL THEN CAST(cents AS BIGINT) END
                   AS price_cents,
               stock_level, CASE WHEN reason IS NOT NULL THEN line END AS raw
        FROM r"""
    )
    return _table(f)


def _products(
    con: duckdb.DuckDBPyConnection,
    files: list[InputFile],
    checks: dict[int, Future[StreamCheck]],
    spill_dir: Path,
) -> None:
    """`p_rows` (every record), `hist` (one version per product and effective date), and the
    lookups the events need: `pkeys` (first effective date; whether a price is so large that
    a revenue may not fit) and `first_defined` (the version a parked event is released with)."""
    selects = []
    tables = [(f, _load(con, f, _products_table, checks[f.seq], spill_dir)) for f in files]
    for f, table in tables:
        if table is None:
            continue
        selects.append(
            f"""SELECT {f.seq} AS file_id, rowid + 1 AS line_no, {_sql_str(f.key)} AS source_file,
                       DATE '{f.dt}' AS effective_date,
                       make_timestamp({f.ingested_at_us})::TIMESTAMPTZ AS ingested_at,
                       * EXCLUDE (blank)
                FROM {table} WHERE rowid >= {f.header_line} AND NOT blank"""
        )
    if not selects:
        selects = [
            """SELECT NULL::INTEGER AS file_id, NULL::BIGINT AS line_no,
                   NULL::VARCHAR AS source_file, NULL::DATE AS effective_date,
                   NULL::TIMESTAMPTZ AS ingested_at, NULL::VARCHAR AS reason,
                   NULL::VARCHAR AS product_id, NULL::VARCHAR AS product_name,
                   NULL::VARCHAR AS category, NULL::BIGINT AS price_cents,
                   NULL::BIGINT AS stock_level, NULL::VARCHAR AS raw WHERE false"""
        ]
    con.execute("CREATE TABLE p_rows AS " + " UNION ALL ".join(selects))
    for _, table in tables:
        if table is not None:
            con.execute(f"DROP TABLE {table}")
    con.execute(
        f"""
        -- Within a file the last valid row of a product wins; earlier ones are duplicates.
        CREATE TABLE p_versions AS
        SELECT * EXCLUDE (reason, raw) FROM p_rows WHERE reason IS NULL
        QUALIFY row_number() OVER (PARTITION BY file_id, product_id ORDER BY line_no DESC) = 1;
        -- One version per (product, effective date): the file processed last wins.
        CREATE TABLE hist AS
        SELECT * FROM p_versions
        QUALIFY row_number() OVER (PARTITION BY product_id, effective_date
                                   ORDER BY file_id DESC) = 1;
        CREATE TABLE pkeys AS
        SELECT product_id, min(effective_date) AS first_date,
               max(price_cents) * {MAX_QUANTITY} > {MAX_REVENUE_CENTS} AS risky
        FROM hist GROUP BY product_id;
        -- The version a parked event gets when the first file defining its product comes.
        CREATE TABLE first_defined AS
        SELECT * FROM p_versions
        QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY file_id) = 1;
        """
    )


# ---------------------------------------------------------------------------------------
# Events


def _events_table(con: duckdb.DuckDBPyConnection, f: InputFile) -> str:
    """`e_<seq>`: one row per physical line of an events file, cleaned and checked (reasons
    1-8); the raw line is kept only where a quarantine row may need it."""
    types = ", ".join(_sql_str(t) for t in EVENT_TYPES)
    ts_shape = _sql_str(f"{ISO_RE}|{US_RE}|{EPOCH_RE}")
    con.execute(
        f"""
        CREATE TABLE {_table(f)} AS
        WITH c AS (
            SELECT blank, line, malformed,
                   field_text(event_id, slow) AS given_id, field_text(user_id, slow) AS user_id,
                   field_text(product_id, slow) AS product_id,
                   lower(field_text(event_type, slow)) AS event_type,
                   coalesce(field_text(event_timestamp, slow), field_text(event_time, slow),
                            field_text("timestamp", slow)) AS ts_text,
                   field_text(quantity, slow) AS quantity_text,
                   field_text(session_id, slow) AS session_id
            FROM ({_fields(con, f)})),
        r AS (SELECT *, CASE
            WHEN blank THEN NULL
            WHEN malformed THEN 'malformed_row'
            WHEN user_id IS NULL THEN 'missing_user_id'
            WHEN product_id IS NULL THEN 'missing_product_id'
            WHEN event_type IS NULL THEN 'missing_event_type'
            WHEN event_type NOT IN ({types}) THEN 'unknown_event_type'
            WHEN ts_text IS NULL THEN 'missing_timestamp'
            WHEN NOT regexp_full_match(ts_text, {ts_shape}) THEN 'invalid_timestamp'
            END AS reason0 FROM c),
        -- the forms told apart by cheap tests once the shape matched; ISO gets its seconds
        t1 AS (SELECT *,
                   CASE WHEN reason0 IS NULL AND NOT blank AND NOT contains(ts_text, '/')
                        THEN contains(ts_text, '-') END AS is_iso,
                   parse_quantity(quantity_text) AS quantity
               FROM r),
        t2 AS (SELECT *,
                   CASE WHEN is_iso THEN CASE WHEN ts_text[17:17] = ':' THEN ts_text
                                              ELSE concat(ts_text[:16], ':00', ts_text[17:]) END
                   END AS iso,
                   CASE WHEN NOT is_iso THEN CAST(ts_text AS BIGINT) END AS digits
               FROM t1),
        t3 AS (SELECT *, CASE
                   WHEN is_iso THEN iso_us(iso)
                   WHEN NOT is_iso THEN epoch_digits_us(digits)
                   WHEN reason0 IS NULL AND NOT blank THEN epoch_us(try_strptime(
                       ts_text, ['%m/%d/%Y %H:%M:%S', '%m/%d/%Y %H:%M']))
                   END AS ts_raw
               FROM t2),
        t AS (SELECT * EXCLUDE (is_iso, iso, digits, ts_raw), in_window(ts_raw) AS ts_us FROM t3),
        v AS (SELECT *, CASE
                  WHEN reason0 IS NOT NULL OR blank THEN reason0
                  WHEN ts_us IS NULL THEN 'invalid_timestamp'
                  WHEN quantity IS NULL THEN 'invalid_quantity' END AS reason
              FROM t)
        SELECT blank, reason,
               CASE WHEN reason IS NULL THEN coalesce(given_id,
                   {_sql_str(DERIVED_ID_PREFIX)} || md5(concat_ws(chr(31), user_id, product_id,
                       event_type, CAST(ts_us AS VARCHAR), CAST(quantity AS VARCHAR),
                       coalesce(session_id, ''))))
               END AS event_id,
               event_type, ts_us, CAST(make_timestamp(ts_us) AS DATE) AS event_date, user_id,
               CASE WHEN NOT malformed THEN product_id END AS product_id, session_id, quantity,
               CASE WHEN reason IS NOT NULL OR product_id NOT IN (
                        SELECT product_id FROM pkeys
                        WHERE first_date <= DATE '{f.dt}' AND NOT risky)
                    THEN line END AS raw
        FROM v"""
    )
    return _table(f)


def _outcomes(f: InputFile) -> str:
    """Every record of an events file with its outcome: a reason code, 'duplicate', or NULL
    (curated); `released` marks parked events curated later."""
    return f"""
        SELECT e.rowid + 1 AS line_no, e.*, p.via, p.product_name, p.category, p.price_cents,
            CASE
                WHEN e.reason IS NOT NULL THEN e.reason
                WHEN d.first_row IS NOT NULL AND d.first_row <> e.rowid THEN 'duplicate'
                WHEN p.via IS NULL OR p.via = 'released' THEN 'unknown_product'
                WHEN e.event_type = 'purchase'
                     AND p.price_cents * e.quantity > {MAX_REVENUE_CENTS}
                THEN 'amount_out_of_range'
            END AS outcome
        FROM e_{f.seq} e
        LEFT JOIN dup_{f.seq} d ON e.event_id = d.event_id
        LEFT JOIN pit_{f.seq} p ON e.product_id = p.product_id AND e.event_date = p.event_date
        WHERE e.rowid >= {f.header_line} AND NOT e.blank"""


def _lookups(con: duckdb.DuckDBPyConnection, f: InputFile) -> None:
    """`dup_<seq>`: ids that occur more than once among the records that passed checks 1-8
    (the first row is kept); `pit_<seq>`: the product version of every (product, event date)
    of the file, as it was when the file was processed (see README, "Point-in-time")."""
    con.execute(
        f"""
        CREATE TABLE dup_{f.seq} AS
        SELECT event_id, min(rowid) AS first_row FROM e_{f.seq}
        WHERE reason IS NULL AND rowid >= {f.header_line}
        GROUP BY event_id HAVING count(*) > 1;

        CREATE TABLE pit_{f.seq} AS
        WITH keys AS (
            SELECT DISTINCT product_id, event_date,
                   least(event_date, DATE '{f.dt}') AS lookup_date
            FROM e_{f.seq} WHERE reason IS NULL AND rowid >= {f.header_line}),
        j AS (
            SELECT k.product_id, k.event_date,
                CASE WHEN h.product_id IS NOT NULL THEN 'asof'
                     WHEN e0.effective_date <= DATE '{f.dt}' THEN 'earliest'
                     WHEN fd.product_id IS NOT NULL THEN 'released' END AS via,
                h.product_name AS h_name, h.category AS h_cat, h.price_cents AS h_price,
                e0.product_name AS e_name, e0.category AS e_cat, e0.price_cents AS e_price,
                fd.product_name AS f_name, fd.category AS f_cat, fd.price_cents AS f_price
            FROM keys k
            ASOF LEFT JOIN hist h
                ON k.product_id = h.product_id AND k.lookup_date >= h.effective_date
            LEFT JOIN (SELECT * FROM hist QUALIFY row_number() OVER (
                           PARTITION BY product_id ORDER BY effective_date) = 1) e0
                ON k.product_id = e0.product_id
            LEFT JOIN first_defined fd ON k.product_id = fd.product_id)
        SELECT product_id, event_date, via,
            CASE via WHEN 'asof' THEN h_name WHEN 'earliest' THEN e_name ELSE f_name END
                AS product_name,
            CASE via WHEN 'asof' THEN h_cat WHEN 'earliest' THEN e_cat ELSE f_cat END
                AS category,
            CASE via WHEN 'asof' THEN h_price WHEN 'earliest' THEN e_price ELSE f_price END
                AS price_cents
        FROM j;
        """
    )


def _events_file(
    con: duckdb.DuckDBPyConnection,
    f: InputFile,
    events_dir: Path,
    check: Future[StreamCheck],
    spill_dir: Path,
) -> dict:
    """Clean, deduplicate and enrich one events file; write its curated Parquet files and
    append its quarantine rows to `q_rows`. Returns its counts (none for a rejected file)."""
    if _load(con, f, _events_table, check, spill_dir) is None:
        return {}
    _lookups(con, f)
    key, at = _sql_str(f.key), f"make_timestamp({f.ingested_at_us})::TIMESTAMPTZ"
    con.execute(
        f"""
        COPY (
            SELECT event_id, event_type, make_timestamp(ts_us)::TIMESTAMPTZ AS event_ts,
                   event_date, user_id, product_id, session_id, quantity, product_name,
                   category, CAST(cents_dec(price_cents) AS DECIMAL(12, 2)) AS unit_price,
                   CASE WHEN event_type = 'purchase'
                        THEN CAST(cents_dec(price_cents * quantity) AS DECIMAL(14, 2)) END
                       AS revenue,
                   {key} AS source_file, {at} AS ingested_at
            FROM ({_outcomes(f)})
            WHERE outcome IS NULL OR (outcome = 'unknown_product' AND via IS NOT NULL
                AND (event_type <> 'purchase' OR price_cents * quantity <= {MAX_REVENUE_CENTS}))
        ) TO {_sql_str(str(events_dir))}
        (FORMAT parquet, PARTITION_BY (event_date), OVERWRITE_OR_IGNORE true,
         FILENAME_PATTERN 'part-{f.seq:05d}-{{i}}')
        """
    )
    con.execute(
        f"""
        INSERT INTO q_rows
        SELECT {key} AS source_file, line_no AS line_number, outcome AS reason,
               raw AS raw_record, product_id,
               CASE WHEN outcome IN ('invalid_quantity', 'unknown_product', 'amount_out_of_range')
                    THEN event_date END AS event_date,
               {at} AS quarantined_at
        FROM ({_outcomes(f)}) WHERE outcome IS NOT NULL AND outcome <> 'duplicate'
        """
    )
    counts = con.execute(
        f"""SELECT count(*) FILTER (outcome IS NULL),
                   count(*) FILTER (outcome IS NOT NULL AND outcome <> 'duplicate'),
                   count(*) FILTER (outcome = 'duplicate'),
                   count(*) FILTER (outcome = 'unknown_product' AND via IS NOT NULL
                       AND (event_type <> 'purchase'
                            OR price_cents * quantity <= {MAX_REVENUE_CENTS}))
            FROM ({_outcomes(f)})"""
    ).fetchone()
    con.execute(f"DROP TABLE e_{f.seq}; DROP TABLE dup_{f.seq}; DROP TABLE pit_{f.seq}")
    names = ("curated_rows", "quarantined_rows", "duplicate_rows", "released_rows")
    return dict(zip(names, counts, strict=True))


# ---------------------------------------------------------------------------------------
# Output


def _write_products(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    history = out_dir / "curated" / "products" / "history.parquet"
    history.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""COPY (SELECT product_id, product_name, category,
                         CAST(cents_dec(price_cents) AS DECIMAL(12, 2)) AS price, stock_level,
                         effective_date, source_file, ingested_at
                  FROM hist ORDER BY product_id, effective_date)
            TO {_sql_str(str(history))} (FORMAT parquet)"""
    )
    con.execute(
        """INSERT INTO q_rows
           SELECT source_file, line_no, reason, raw, product_id, NULL, ingested_at
           FROM p_rows WHERE reason IS NOT NULL"""
    )


def _write_quarantine(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    for kind in ("events", "products"):
        path = out_dir / "quarantine" / f"kind={kind}" / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"""COPY (SELECT * FROM q_rows WHERE starts_with(source_file, '{kind}/')
                      ORDER BY source_file, line_number)
                TO {_sql_str(str(path))} (FORMAT parquet)"""
        )


def clean_enrich(input_dir: Path, out_dir: Path) -> dict:
    """Clean and enrich every dropped file under `input_dir` into `out_dir`.

    Writes `curated/events/event_date=…/*.parquet`, `curated/products/history.parquet` and
    `quarantine/kind=events|products/part-0.parquet`; returns the events' row counts (plus the
    products' counts and the number of rejected files).
    """
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    events_dir = out_dir / "curated" / "events"
    reset_dir(events_dir)
    files = [preflight(f) for f in discover(input_dir)]
    accepted = [f for f in files if f.error is None]
    with (
        tempfile.TemporaryDirectory(dir=out_dir, prefix="_spill") as spill,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="check") as checker,
    ):
        checks = {f.seq: checker.submit(check_stream, f) for f in accepted}
        # Files in parallel, one statement on one thread each: measured on two cores, DuckDB's
        # own threads inside each statement on top of that cost more CPU for no gain.
        con = _connect(Path(spill), threads=1)
        con.execute(
            """CREATE TABLE q_rows (source_file VARCHAR, line_number BIGINT, reason VARCHAR,
                   raw_record VARCHAR, product_id VARCHAR, event_date DATE,
                   quarantined_at TIMESTAMPTZ)"""
        )
        _products(con, [f for f in accepted if f.kind == "products"], checks, Path(spill))
        events = [f for f in accepted if f.kind == "events"]
        events.sort(key=_inflated_size, reverse=True)  # the longest first

        def run(f: InputFile) -> dict:
            cursor = con.cursor()
            try:
                return _events_file(cursor, f, events_dir, checks[f.seq], Path(spill))
            finally:
                cursor.close()

        with ThreadPoolExecutor(max_workers=CORES) as pool:
            per_file = list(pool.map(run, events))
        _write_products(con, out_dir)
        _write_quarantine(con, out_dir)
        products = con.execute(
            """SELECT (SELECT count(*) FROM p_versions),
                      (SELECT count(*) FROM p_rows WHERE reason IS NOT NULL),
                      (SELECT count(*) FROM p_rows WHERE reason IS NULL)
                        - (SELECT count(*) FROM p_versions)"""
        ).fetchone()
        con.close()
    counts = {
        name: sum(c.get(name, 0) for c in per_file)
        for name in ("curated_rows", "quarantined_rows", "duplicate_rows", "released_rows")
    }
    counts["products"] = dict(
        zip(("curated_rows", "quarantined_rows", "duplicate_rows"), products, strict=True)
    )
    counts["rejected_files"] = sum(1 for f in files if f.error is not None)
    return counts


# ---------------------------------------------------------------------------------------
# Aggregates

AGGREGATE_SQL = {
    "daily_category_revenue": """
        SELECT event_date, category, CAST(sum(revenue) AS DECIMAL(18, 2)) AS revenue,
               count(*) AS purchases, CAST(sum(quantity) AS BIGINT) AS units
        FROM d WHERE event_type = 'purchase'
        GROUP BY event_date, category ORDER BY event_date, category""",
    "daily_top_viewed_products": f"""
        SELECT event_date, CAST(rank AS INTEGER) AS rank, product_id, product_name, category,
               views
        FROM (SELECT event_date, product_id, count(*) AS views,
                     max(product_name) AS product_name, max(category) AS category,
                     row_number() OVER (PARTITION BY event_date
                                        ORDER BY count(*) DESC, product_id) AS rank
              FROM d WHERE event_type = 'view' GROUP BY event_date, product_id)
        WHERE rank <= {TOP_VIEWED_LIMIT} ORDER BY event_date, rank""",
    "daily_multi_purchase_users": """
        SELECT event_date, user_id, count(*) AS purchases,
               CAST(sum(revenue) AS DECIMAL(18, 2)) AS total_spend
        FROM d WHERE event_type = 'purchase'
        GROUP BY event_date, user_id HAVING count(*) >= 2 ORDER BY event_date, user_id""",
}
_EMPTY_EVENTS = """(SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS event_type,
    NULL::DATE AS event_date, NULL::VARCHAR AS user_id, NULL::VARCHAR AS product_id,
    NULL::VARCHAR AS product_name, NULL::VARCHAR AS category, NULL::INTEGER AS quantity,
    NULL::DECIMAL(14, 2) AS revenue, NULL::VARCHAR AS source_file WHERE false)"""


def aggregate(curated_dir: Path, out_dir: Path) -> dict:
    """The three daily aggregates of the curated events, one Parquet file each in `out_dir`.

    An event_id in several files counts once: the copy from the first file in key order.
    Such ids are rare (files are deduplicated on their own), so one pass over the ids' 64-bit
    hashes finds the candidates, the ids themselves are compared for those only, and each
    aggregate reads the Parquet files directly, through an anti-join only when an id repeats.
    """
    events_dir = curated_events_dir(Path(curated_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source = _EMPTY_EVENTS
    if any(events_dir.rglob("*.parquet")):
        source = f"""read_parquet({_sql_str(str(events_dir / "**" / "*.parquet"))},
                     hive_partitioning = true, hive_types = {{'event_date': DATE}})"""
    with tempfile.TemporaryDirectory(dir=out_dir, prefix="_spill") as spill:
        con = _connect(Path(spill), threads=CORES)
        con.execute(
            f"""
            CREATE VIEW src AS SELECT * FROM {source};
            CREATE TABLE candidates AS
            SELECT hash(event_id) AS h FROM src GROUP BY h HAVING count(*) > 1;
            CREATE TABLE repeated AS
            SELECT event_id, min(source_file) AS first_file FROM src
            WHERE hash(event_id) IN (SELECT h FROM candidates)
            GROUP BY event_id HAVING count(*) > 1;
            """
        )
        if con.execute("SELECT count(*) FROM repeated").fetchone()[0]:
            con.execute(
                """CREATE VIEW d AS SELECT src.* FROM src LEFT JOIN repeated r USING (event_id)
                   WHERE r.first_file IS NULL OR src.source_file = r.first_file"""
            )
        else:
            con.execute("CREATE VIEW d AS SELECT * FROM src")
        rows = {}
        for name in AGGREGATES:
            path = out_dir / f"{name}.parquet"
            copied = con.execute(
                f"COPY ({AGGREGATE_SQL[name]}) TO {_sql_str(str(path))} (FORMAT parquet)"
            )
            rows[name] = copied.fetchone()[0]
        con.close()
    return rows
