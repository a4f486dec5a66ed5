"""Reference engine in DuckDB SQL: an independent implementation of docs/data-contract.md.

Used by the benchmark (`python -m benchmarks.run`) and by tests as an oracle for `retail_etl`.

How it works
* The file layer (which files, in which order, whole-file errors, the CSV header) is shared
  with the polars engine (`_inputs.py`). Every accepted file is then loaded into one table
  with DuckDB's CSV reader used as a line reader (no quoting, a delimiter that never occurs),
  so a line's physical number is its row position and a malformed record is simply a line
  that does not parse: nothing is skipped behind our back.
* CSV records are split in SQL (`string_split`, or an RFC 4180 regex for lines with quotes);
  JSON Lines are parsed once each with `from_json` into the raw JSON of every contract key.
  Then one set-based query per kind applies the checks in contract order. Each step adds
  columns to the previous one, so no expression (and no regex) is evaluated twice per row.
* Within-file duplicates and "last valid row wins" are hash aggregates; enrichment is an ASOF
  join on the product history. A products file is effective from its `dt`, and a date's
  products are processed before its events, so an events file of date F sees exactly the
  versions with effective_date <= F.

Decisions where the contract leaves room are listed in `benchmarks/README.md`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import duckdb

from benchmarks.engines._inputs import (
    FIELDS,
    WS,
    Prepared,
    curated_events_dir,
    discover,
    preflight,
    regex_escape,
    reset_dir,
    write_table,
)
from retail_etl.domain.contract import (
    AGGREGATES,
    DERIVED_ID_PREFIX,
    EVENT_TYPES,
    MAX_QUANTITY,
    PRODUCT_HISTORY,
    QUARANTINE,
    TOP_VIEWED_LIMIT,
    FileError,
)

# An event whose product is unknown when its file is processed is quarantined (and parked); a
# later products file that defines the product releases it into the curated zone, enriched
# with the version in force on its event_date (contract §2 "Parked events"). Its quarantine
# row stays, and it counts in `released_rows`, not in `curated_rows`.
RELEASE_WAITING = True

LINE_DELIMITER = "\x1f\x1e\x1d\x1c"  # never occurs in text: each line is one column
# Timestamp forms of contract §2, on the trimmed value.
ISO_RE = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?(Z| UTC|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
)
US_RE = r"^([0-9]{2})/([0-9]{2})/([0-9]{4}) ([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?$"
EPOCH_RE = r"[0-9]{1,13}"
WINDOW_US = (946_684_800_000_000, 4_102_444_800_000_000)  # [2000-01-01, 2100-01-01) UTC
# RFC 4180 fields: "…" with "" inside, or no quote at all.
CSV_FIELD = r'"(?:[^"]|"")*"|[^,"]*'
# What DuckDB's JSON parser allows but JSON does not: trailing commas, NaN and Infinity.
JSON_LENIENT_RE = r",\s*[\]}]|[Nn][Aa][Nn]|[Ii][Nn][Ff]"
JSON_STRING_RE = r'"(?:[^"\\]|\\.)*"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Macros are only ever applied to column references: an argument is pasted wherever the
# macro uses it, so passing an expression would evaluate it several times.
MACROS = f"""
-- Trimmed text, NULL when empty. trim() with a character list is slow, so it only runs on
-- values that start or end with white space.
CREATE OR REPLACE MACRO clean_text(s) AS CASE
    WHEN s = '' THEN NULL
    WHEN contains({_sql_str(WS)}, left(s, 1)) OR contains({_sql_str(WS)}, right(s, 1))
    THEN nullif(trim(s, {_sql_str(WS)}), '')
    ELSE s END;
CREATE OR REPLACE MACRO is_blank(s) AS s IS NULL OR clean_text(s) IS NULL;

-- CSV: a field's value ("…" unquoted, "" read as ").
CREATE OR REPLACE MACRO csv_value(x) AS
    CASE WHEN starts_with(x, '"') THEN replace(substr(x, 2, length(x) - 2), '""', '"') ELSE x END;

-- JSON Lines: a line must be one object in strict JSON.
CREATE OR REPLACE MACRO json_object_ok(line) AS CASE
    WHEN NOT starts_with(ltrim(line, ' \t\r\n'), '{{') THEN false
    WHEN NOT json_valid(line) THEN false
    WHEN regexp_matches(line, {_sql_str(JSON_LENIENT_RE)}) THEN NOT regexp_matches(
        regexp_replace(line, {_sql_str(JSON_STRING_RE)}, '""', 'g'), {_sql_str(JSON_LENIENT_RE)})
    ELSE true END;
-- j is the raw JSON text of one value: an object, an array or a boolean is not accepted.
CREATE OR REPLACE MACRO json_bad(j) AS coalesce(left(j, 1) IN ('{{', '[', 't', 'f'), false);
-- Strings as they are; null as NULL; numbers as written. The parser re-serializes numbers, so
-- a line with a non-integer number in a contract field is parsed again with its numbers quoted
-- (see `_json_select`); what reaches this macro unquoted is an integer, whose digits are exact.
CREATE OR REPLACE MACRO json_text(j) AS CASE
    WHEN starts_with(j, '"') THEN
        CASE WHEN contains(j, '\\') THEN j ->> '$' ELSE substr(j, 2, length(j) - 2) END
    WHEN j IS NULL OR j = 'null' OR json_bad(j) THEN NULL
    ELSE j END;
-- A number that is not written as an integer (so its re-serialized text may differ).
CREATE OR REPLACE MACRO json_inexact(j) AS coalesce(
    (starts_with(j, '-') OR left(j, 1) BETWEEN '0' AND '9')
    AND (contains(j, '.') OR contains(j, 'e') OR contains(j, 'E')), false);

-- Calendar arithmetic (H. Hinnant's days_from_civil), exact for the years we accept.
CREATE OR REPLACE MACRO days_from_civil(y, m, d) AS
    ((y - (m <= 2)::INTEGER) // 400) * 146097
    + ((y - (m <= 2)::INTEGER) % 400) * 365 + ((y - (m <= 2)::INTEGER) % 400) // 4
    - ((y - (m <= 2)::INTEGER) % 400) // 100
    + (153 * ((m + 9) % 12) + 2) // 5 + d - 1 - 719468;
CREATE OR REPLACE MACRO days_in_month(y, m) AS CASE
    WHEN m = 2 THEN CASE WHEN (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0 THEN 29 ELSE 28 END
    WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END;
-- Microseconds of a wall-clock time read as UTC; NULL when a field is out of range. Years
-- outside 1999-2100 can never fall in the window, whatever the zone.
CREATE OR REPLACE MACRO clock_us(y, mo, d, h, mi, s) AS CASE
    WHEN y BETWEEN 1999 AND 2100 AND mo BETWEEN 1 AND 12 AND d BETWEEN 1 AND days_in_month(y, mo)
         AND h <= 23 AND mi <= 59 AND s <= 59
    THEN ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi)::BIGINT * 60000000
         + s::BIGINT * 1000000 END;
CREATE OR REPLACE MACRO in_window(us) AS
    CASE WHEN us >= {WINDOW_US[0]} AND us < {WINDOW_US[1]} THEN us END;
CREATE OR REPLACE MACRO int_part(x) AS TRY_CAST(nullif(x, '') AS INTEGER);

-- quantity: digits, 1-{MAX_QUANTITY}; missing means 1; NULL when invalid.
CREATE OR REPLACE MACRO parse_quantity(q) AS CASE
    WHEN q IS NULL THEN 1
    WHEN regexp_full_match(q, '0*[0-9]{{1,5}}')
         AND TRY_CAST(q AS INTEGER) BETWEEN 1 AND {MAX_QUANTITY}
    THEN TRY_CAST(q AS INTEGER) END;
-- price: cents rounded half-up from the text (never through a float).
CREATE OR REPLACE MACRO price_cents(whole, frac) AS
    TRY_CAST(whole AS BIGINT) * 100 + TRY_CAST(rpad(left(frac, 2), 2, '0') AS BIGINT)
    + CASE WHEN substr(frac, 3, 1) >= '5' THEN 1 ELSE 0 END;
CREATE OR REPLACE MACRO cents_dec(c) AS CAST(c AS DECIMAL(18, 0)) * 0.01;
"""


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(MACROS)
    return con


# ---------------------------------------------------------------------------------------
# Loading


def _load(con: duckdb.DuckDBPyConnection, prepared: list[Prepared]) -> None:
    """`files`: every file; `rec`: the records (non-blank lines after any CSV header) of the
    accepted files, with their physical line numbers and, for JSON, whether they parse."""
    con.execute("CREATE TEMP TABLE lines (file_id INTEGER, line VARCHAR)")
    rows = []
    total = 0
    for p in prepared:
        f = p.file
        base = None
        if p.error is None:
            base = total
            try:  # one statement per file: a file that fails leaves nothing behind
                con.execute(
                    f"""INSERT INTO lines SELECT {f.seq}, line FROM read_csv(
                        {_sql_str(str(p.read_path))}, columns = {{'line': 'VARCHAR'}},
                        header = false, delim = {_sql_str(LINE_DELIMITER)}, quote = '',
                        escape = '', auto_detect = false, strict_mode = false,
                        max_line_size = 67108864)"""
                )
            except duckdb.InvalidInputException as exc:
                if "unicode" not in str(exc).lower():
                    raise
                p.error, base = FileError.INVALID_ENCODING, None  # DuckDB checks UTF-8
            total = con.execute("SELECT count(*) FROM lines").fetchone()[0]
        rows.append((f.seq, f.kind, f.fmt, f.dt.isoformat(), f.key, f.ingested_at_us, p.error,
                     base, p.header_line))  # fmt: skip
    con.execute(
        """CREATE TEMP TABLE files (file_id INTEGER, kind VARCHAR, fmt VARCHAR, dt DATE,
           key VARCHAR, ingested_at TIMESTAMPTZ, error VARCHAR, base BIGINT,
           header_line BIGINT)"""
    )
    for r in rows:  # literals, not parameters: binding parameters imports pandas
        values = ", ".join("NULL" if v is None else _sql_str(str(v)) for v in r)
        con.execute(f"""INSERT INTO files SELECT c0::INTEGER, c1, c2, c3::DATE, c4,
                        make_timestamp(c5::BIGINT), c6, c7::BIGINT, c8::BIGINT
                        FROM (VALUES ({values})) v(c0, c1, c2, c3, c4, c5, c6, c7, c8)""")
    con.execute(
        """
        CREATE TEMP TABLE rec AS
        SELECT file_id, line_no, line,
               CASE WHEN fmt = 'jsonl' THEN json_object_ok(line) END AS json_ok
        FROM (SELECT l.file_id, l.rowid - f.base + 1 AS line_no, l.line, f.fmt, f.header_line
              FROM lines l JOIN files f USING (file_id))
        WHERE line_no > header_line AND NOT is_blank(line);
        DROP TABLE lines;
        SET preserve_insertion_order = false;
        """
    )


def _csv_select(p: Prepared, fields: tuple[str, ...]) -> str:
    """The fields of a CSV file's records. Lines without quotes are split on commas; lines
    with quotes must match the file's record pattern (RFC 4180, as many fields as the header),
    whose groups capture the wanted columns."""
    ncols = len(p.header)
    wanted = {p.column_index(n): n for n in reversed(fields) if p.column_index(n)}
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
        idx = p.column_index(name)
        values.append(
            f'CASE WHEN quoted THEN csv_value(q."{name}") ELSE fields[{idx}] END AS "{name}"'
            if idx
            else f'NULL::VARCHAR AS "{name}"'
        )
    record = f"""SELECT file_id, line_no, quoted,
            CASE WHEN NOT quoted THEN string_split(line, ',') END AS fields,
            CASE WHEN quoted AND regexp_matches(line, {_sql_str(pattern)})
                 THEN regexp_extract(line, {_sql_str(pattern)}, {groups}) END AS q
        FROM (SELECT *, contains(line, '"') AS quoted FROM rec WHERE file_id = {p.file.seq})"""
    if not wanted:
        record = record.replace(f", {groups}) END AS q", ") END AS q")
    return f"""SELECT file_id, line_no,
            CASE WHEN quoted THEN q IS NULL ELSE len(fields) <> {ncols} END AS malformed,
            {", ".join(values)}
        FROM ({record})"""


def _json_select(p: Prepared, fields: tuple[str, ...], spellings: dict[str, list[str]]) -> str:
    """The contract fields of a JSON Lines file; keys match case-insensitively.

    One `from_json` per line extracts the raw JSON of every contract key; with several
    spellings of a key in the file, the first one in each object wins (read by path instead).
    Numbers are taken as written: a line with a non-integer number in a contract field is
    parsed again with those numbers quoted, since the parser re-serializes numbers."""
    keys = sorted({k for name in fields for k in spellings.get(name, [])})
    if not keys:
        nulls = ", ".join(f'NULL::VARCHAR AS "{n}"' for n in fields)
        return f"""SELECT file_id, line_no, NOT json_ok AS malformed, {nulls}
            FROM rec WHERE file_id = {p.file.seq}"""
    mixed = any(len(spellings.get(name, [])) > 1 for name in fields)
    schema = _sql_str(json.dumps(dict.fromkeys(keys, "JSON")))

    def parse(line: str) -> str:
        return f"json_keys({line})" if mixed else f"from_json({line}, {schema})"

    def value(name: str, line: str, parsed: str) -> str:
        found = spellings.get(name, [])
        if not found:
            return "NULL::VARCHAR"
        if not mixed:
            return f'CAST({parsed}."{found[0]}" AS VARCHAR)'
        wanted = ", ".join(_sql_str(k) for k in found)
        first = f"list_filter({parsed}, lambda k: k IN ({wanted}))[1]"
        return f"CAST(json_extract({line}, '$.\"' || {first} || '\"') AS VARCHAR)"

    number = "|".join(regex_escape(k) for k in keys)
    requote = _sql_str(f'("(?:{number})"\\s*:\\s*)(-?[0-9][0-9.eE+-]*)')
    first = ", ".join(f'{value(n, "line", "s1")} AS "j_{n}"' for n in fields)
    inexact = " OR ".join(f'json_inexact("j_{n}")' for n in fields)
    again = ", ".join(
        f'CASE WHEN again THEN {value(n, "line2", "s2")} ELSE "j_{n}" END AS "j_{n}"'
        for n in fields
    )
    values = ", ".join(f'json_text("j_{n}") AS "{n}"' for n in fields)
    bad = " OR ".join(f'json_bad("j_{n}")' for n in fields)
    return f"""SELECT file_id, line_no, NOT json_ok OR {bad} AS malformed, {values}
        FROM (SELECT file_id, line_no, json_ok, {again}
        FROM (SELECT *, CASE WHEN again THEN {parse("line2")} END AS s2
        FROM (SELECT *, CASE WHEN again THEN regexp_replace(line, {requote}, '\\1"\\2"', 'g')
                        END AS line2
        FROM (SELECT *, coalesce(json_ok AND ({inexact}), false) AS again
        FROM (SELECT file_id, line_no, line, json_ok, {first}
        FROM (SELECT *, CASE WHEN json_ok THEN {parse("line")} END AS s1
              FROM rec WHERE file_id = {p.file.seq}))))))"""


def _json_spellings(
    con: duckdb.DuckDBPyConnection, files: list[Prepared]
) -> dict[int, dict[str, list[str]]]:
    """Per JSON file: contract field -> the spellings of its key found in the file."""
    out: dict[int, dict[str, list[str]]] = {p.file.seq: {} for p in files}
    if not files:
        return out
    ids = ", ".join(str(p.file.seq) for p in files)
    rows = con.execute(
        f"""SELECT DISTINCT file_id, unnest(CASE WHEN json_ok THEN json_keys(line) END) AS k
            FROM rec WHERE file_id IN ({ids}) ORDER BY ALL"""
    ).fetchall()
    for file_id, key in rows:
        out[file_id].setdefault(key.strip(WS).lower(), []).append(key)
    return out


def _raw_table(
    con: duckdb.DuckDBPyConnection, name: str, kind: str, prepared: list[Prepared]
) -> None:
    """`name`: one row per record of the accepted files of `kind`, with the raw field texts
    (a table, not a view: the cleaning macros must see columns, not expressions)."""
    fields = FIELDS[kind]
    mine = [p for p in prepared if p.file.kind == kind and p.error is None]
    spellings = _json_spellings(con, [p for p in mine if p.file.fmt == "jsonl"])
    selects = [
        _csv_select(p, fields)
        if p.file.fmt == "csv"
        else _json_select(p, fields, spellings[p.file.seq])
        for p in mine
    ]
    if not selects:
        cols = ", ".join(f'NULL::VARCHAR AS "{n}"' for n in fields)
        selects = [
            "SELECT NULL::INTEGER AS file_id, NULL::BIGINT AS line_no, "
            f"NULL::BOOLEAN AS malformed, {cols} WHERE false"
        ]
    con.execute(f"CREATE TEMP TABLE {name} AS " + "\nUNION ALL BY NAME\n".join(selects))


# ---------------------------------------------------------------------------------------
# Cleaning


def _clean_products(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        r"""
        CREATE TEMP TABLE p_clean AS
        WITH c AS (
            SELECT file_id, line_no, malformed,
                   clean_text(product_id) AS product_id, clean_text(product_name) AS product_name,
                   clean_text(category) AS category, clean_text(price) AS price_text,
                   clean_text(stock_level) AS stock_text
            FROM p_raw),
        m AS (SELECT *, regexp_extract(price_text, '^([0-9]{1,10})(?:\.([0-9]+))?$',
                                       ['whole', 'frac']) AS pm FROM c),
        v AS (SELECT *,
                CASE WHEN pm.whole <> '' THEN price_cents(pm.whole, pm.frac) END AS cents,
                CASE WHEN regexp_full_match(stock_text, '[0-9]+')
                     THEN TRY_CAST(stock_text AS BIGINT) END AS stock_level
              FROM m),
        w AS (SELECT * EXCLUDE (cents, pm),
                     CASE WHEN cents < 1000000000000 THEN cents END AS price_cents FROM v)
        SELECT *, CASE
            WHEN malformed THEN 'malformed_row'
            WHEN product_id IS NULL THEN 'missing_product_id'
            WHEN category IS NULL THEN 'missing_category'
            WHEN price_text IS NULL THEN 'missing_price'
            WHEN price_cents IS NULL THEN 'invalid_price'
            WHEN stock_text IS NOT NULL AND stock_level IS NULL THEN 'invalid_stock_level'
            END AS reason
        FROM w
        """
    )
    con.execute(
        """
        -- Within a file the last valid row of a product wins; earlier ones are duplicates.
        CREATE TEMP TABLE p_versions AS
        SELECT p.*, f.dt AS effective_date, f.key AS source_file, f.ingested_at
        FROM p_clean p JOIN files f USING (file_id)
        WHERE p.reason IS NULL
        QUALIFY row_number() OVER (PARTITION BY p.file_id, p.product_id
                                   ORDER BY p.line_no DESC) = 1;
        -- One version per (product, effective date): the file processed last wins.
        CREATE TEMP TABLE hist AS
        SELECT * FROM p_versions
        QUALIFY row_number() OVER (PARTITION BY product_id, effective_date
                                   ORDER BY file_id DESC) = 1;
        CREATE TEMP TABLE earliest AS
        SELECT * FROM hist
        QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY effective_date) = 1;
        -- The version a waiting event gets when the first file defining its product comes.
        CREATE TEMP TABLE first_defined AS
        SELECT * FROM p_versions
        QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY file_id) = 1;
        """
    )


def _clean_events(con: duckdb.DuckDBPyConnection) -> None:
    types = ", ".join(_sql_str(t) for t in EVENT_TYPES)
    iso = _sql_str(ISO_RE)
    us = _sql_str(US_RE)
    con.execute(
        f"""
        CREATE TEMP TABLE e_clean AS
        WITH c AS (
            SELECT file_id, line_no, malformed,
                   clean_text(event_id) AS given_id, clean_text(user_id) AS user_id,
                   clean_text(product_id) AS product_id,
                   lower(clean_text(event_type)) AS event_type,
                   coalesce(clean_text(event_timestamp), clean_text(event_time),
                            clean_text("timestamp")) AS ts_text,
                   clean_text(quantity) AS quantity_text, clean_text(session_id) AS session_id
            FROM e_raw),
        -- timestamp: which form, and its parts
        t0 AS (SELECT *, regexp_full_match(ts_text, {_sql_str(EPOCH_RE)}) AS is_epoch FROM c),
        t1 AS (SELECT *, CASE WHEN NOT is_epoch THEN regexp_extract(ts_text, {iso},
                             ['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'z']) END AS iso
               FROM t0),
        t2 AS (SELECT *, CASE WHEN iso.y = '' THEN regexp_extract(
                             ts_text, {us}, ['mo', 'd', 'y', 'h', 'mi', 's']) END AS usf
               FROM t1),
        t3 AS (SELECT * EXCLUDE (iso, usf),
                   int_part(coalesce(nullif(iso.y, ''), usf.y)) AS y,
                   int_part(coalesce(nullif(iso.mo, ''), usf.mo)) AS mo,
                   int_part(coalesce(nullif(iso.d, ''), usf.d)) AS d,
                   int_part(coalesce(nullif(iso.h, ''), usf.h)) AS h,
                   int_part(coalesce(nullif(iso.mi, ''), usf.mi)) AS mi,
                   coalesce(int_part(coalesce(nullif(iso.s, ''), usf.s)), 0) AS s,
                   coalesce(int_part(rpad(left(iso.f, 6), 6, '0')), 0) AS frac,
                   CASE left(iso.z, 1) WHEN '+' THEN 1 WHEN '-' THEN -1 ELSE 0 END AS zs,
                   coalesce(int_part(substr(replace(iso.z, ':', ''), 2, 2)), 0) AS zh,
                   coalesce(int_part(substr(replace(iso.z, ':', ''), 4, 2)), 0) AS zm,
                   CASE WHEN is_epoch THEN TRY_CAST(ts_text AS BIGINT) END AS epoch
               FROM t2),
        t4 AS (SELECT *, CASE
                   WHEN is_epoch THEN CASE WHEN epoch < 100000000000 THEN epoch * 1000000
                                           ELSE epoch * 1000 END
                   WHEN zh <= 23 AND zm <= 59
                   THEN clock_us(y, mo, d, h, mi, s) + frac
                        - zs * (zh * 3600 + zm * 60)::BIGINT * 1000000
                   END AS ts_raw
               FROM t3),
        v AS (SELECT file_id, line_no, malformed, given_id, user_id, product_id, event_type,
                     ts_text, quantity_text, session_id, in_window(ts_raw) AS ts_us,
                     parse_quantity(quantity_text) AS quantity
              FROM t4),
        r AS (SELECT *, CASE
            WHEN malformed THEN 'malformed_row'
            WHEN user_id IS NULL THEN 'missing_user_id'
            WHEN product_id IS NULL THEN 'missing_product_id'
            WHEN event_type IS NULL THEN 'missing_event_type'
            WHEN event_type NOT IN ({types}) THEN 'unknown_event_type'
            WHEN ts_text IS NULL THEN 'missing_timestamp'
            WHEN ts_us IS NULL THEN 'invalid_timestamp'
            WHEN quantity IS NULL THEN 'invalid_quantity'
            END AS reason FROM v)
        SELECT *, CASE WHEN reason IS NULL THEN coalesce(given_id,
                {_sql_str(DERIVED_ID_PREFIX)} || md5(concat_ws(chr(31), user_id, product_id,
                    event_type, CAST(ts_us AS VARCHAR), CAST(quantity AS VARCHAR),
                    coalesce(session_id, ''))))
            END AS event_id
        FROM r
        """
    )
    release = "fd.product_id IS NOT NULL" if RELEASE_WAITING else "false"
    con.execute(
        f"""
        -- Checks 1-8 passed; the first row of each event_id in its file is kept.
        CREATE TEMP TABLE e_kept AS
        SELECT e.file_id, e.line_no, e.event_id, e.event_type, e.ts_us, e.user_id,
               e.product_id, e.session_id, e.quantity, f.dt AS file_dt, f.key AS source_file,
               f.ingested_at, CAST(make_timestamp(e.ts_us) AS DATE) AS event_date
        FROM e_clean e JOIN files f USING (file_id)
        WHERE e.reason IS NULL
        QUALIFY row_number() OVER (PARTITION BY e.file_id, e.event_id ORDER BY e.line_no) = 1;

        -- The version for each (product, event date, file date): resolved once per key, as
        -- few keys as products times dates, then joined to the events.
        CREATE TEMP TABLE versions AS
        WITH keys AS (
            SELECT DISTINCT product_id, event_date, file_dt,
                   least(event_date, file_dt) AS lookup_date
            FROM e_kept),
        j AS (
            SELECT k.product_id, k.event_date, k.file_dt,
                CASE WHEN h.product_id IS NOT NULL THEN 'asof'
                     WHEN e0.effective_date <= k.file_dt THEN 'earliest'
                     WHEN {release} THEN 'released' END AS via,
                h.product_name AS h_name, h.category AS h_cat, h.price_cents AS h_price,
                e0.product_name AS e_name, e0.category AS e_cat, e0.price_cents AS e_price,
                fd.product_name AS f_name, fd.category AS f_cat, fd.price_cents AS f_price
            FROM keys k
            ASOF LEFT JOIN hist h
                ON k.product_id = h.product_id AND k.lookup_date >= h.effective_date
            LEFT JOIN earliest e0 ON k.product_id = e0.product_id
            LEFT JOIN first_defined fd ON k.product_id = fd.product_id)
        SELECT product_id, event_date, file_dt, via,
            CASE via WHEN 'asof' THEN h_name WHEN 'earliest' THEN e_name ELSE f_name END
                AS product_name,
            CASE via WHEN 'asof' THEN h_cat WHEN 'earliest' THEN e_cat ELSE f_cat END
                AS category,
            CASE via WHEN 'asof' THEN h_price WHEN 'earliest' THEN e_price ELSE f_price END
                AS price_cents
        FROM j;

        CREATE TEMP TABLE e_enriched AS
        SELECT k.*, v.via, v.product_name, v.category, v.price_cents
        FROM e_kept k JOIN versions v USING (product_id, event_date, file_dt)
        """
    )


# ---------------------------------------------------------------------------------------
# Output


def _write_outputs(con: duckdb.DuckDBPyConnection, out_dir: Path) -> None:
    events_dir = out_dir / "curated" / "events"
    reset_dir(events_dir)
    con.execute(
        f"""
        COPY (
            SELECT event_id, event_type, CAST(make_timestamp(ts_us) AS TIMESTAMPTZ) AS event_ts,
                   event_date, user_id, product_id, session_id, quantity, product_name, category,
                   CAST(cents_dec(price_cents) AS DECIMAL(12, 2)) AS unit_price,
                   CASE WHEN event_type = 'purchase'
                        THEN CAST(cents_dec(price_cents) * quantity AS DECIMAL(14, 2)) END
                       AS revenue,
                   source_file, ingested_at
            FROM e_enriched WHERE via IS NOT NULL
        ) TO {_sql_str(str(events_dir))}
        (FORMAT parquet, PARTITION_BY (event_date), OVERWRITE_OR_IGNORE true)
        """
    )
    history = con.execute(
        """SELECT product_id, product_name, category,
                  CAST(cents_dec(price_cents) AS DECIMAL(12, 2)) AS price, stock_level,
                  effective_date, source_file, ingested_at
           FROM hist ORDER BY product_id, effective_date"""
    ).fetch_arrow_table()
    write_table(history, PRODUCT_HISTORY, out_dir / "curated" / "products" / "history.parquet")
    for kind, query in {
        "events": """
            WITH q AS (
                SELECT file_id, line_no, reason,
                       CASE WHEN NOT malformed THEN product_id END AS product_id,
                       CASE WHEN reason = 'invalid_quantity'
                            THEN CAST(make_timestamp(ts_us) AS DATE) END AS event_date
                FROM e_clean WHERE reason IS NOT NULL
                UNION ALL
                SELECT file_id, line_no, 'unknown_product', product_id, event_date
                FROM e_enriched WHERE via IS NULL OR via = 'released')
            SELECT f.key AS source_file, q.line_no AS line_number, q.reason,
                   r.line AS raw_record, q.product_id, q.event_date,
                   f.ingested_at AS quarantined_at
            FROM q JOIN rec r USING (file_id, line_no) JOIN files f USING (file_id)
            ORDER BY source_file, line_number""",
        "products": """
            SELECT f.key AS source_file, p.line_no AS line_number, p.reason,
                   r.line AS raw_record,
                   CASE WHEN NOT p.malformed THEN p.product_id END AS product_id,
                   NULL::DATE AS event_date, f.ingested_at AS quarantined_at
            FROM p_clean p JOIN rec r USING (file_id, line_no) JOIN files f USING (file_id)
            WHERE p.reason IS NOT NULL
            ORDER BY source_file, line_number""",
    }.items():
        table = con.execute(query).fetch_arrow_table()
        write_table(table, QUARANTINE, out_dir / "quarantine" / f"kind={kind}" / "part-0.parquet")


def _counts(con: duckdb.DuckDBPyConnection) -> dict:
    """Events counted at ingest (rows_in = curated + quarantined + duplicate per file), plus the
    waiting events released later; products; rejected files."""
    e = con.execute(
        """SELECT
            (SELECT count(*) FROM e_enriched WHERE via IN ('asof', 'earliest')),
            (SELECT count(*) FROM e_clean WHERE reason IS NOT NULL)
              + (SELECT count(*) FROM e_enriched WHERE via IS NULL OR via = 'released'),
            (SELECT count(*) FROM e_clean WHERE reason IS NULL)
              - (SELECT count(*) FROM e_kept),
            (SELECT count(*) FROM e_enriched WHERE via = 'released'),
            (SELECT count(*) FROM p_versions),
            (SELECT count(*) FROM p_clean WHERE reason IS NOT NULL),
            (SELECT count(*) FROM p_clean WHERE reason IS NULL)
              - (SELECT count(*) FROM p_versions),
            (SELECT count(*) FROM files WHERE error IS NOT NULL)"""
    ).fetchone()
    return {
        "curated_rows": e[0],
        "quarantined_rows": e[1],
        "duplicate_rows": int(e[2]),
        "released_rows": e[3],
        "products": {"curated_rows": e[4], "quarantined_rows": e[5], "duplicate_rows": e[6]},
        "rejected_files": e[7],
    }


def clean_enrich(input_dir: Path, out_dir: Path) -> dict:
    """Clean and enrich every dropped file under `input_dir` into `out_dir`.

    Writes `curated/events/event_date=…/*.parquet`, `curated/products/history.parquet` and
    `quarantine/kind=events|products/part-0.parquet`; returns the events' row counts (plus the
    products' counts and the number of rejected files).
    """
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = _connect()
    with tempfile.TemporaryDirectory(dir=out_dir, prefix="_tmp") as tmp:
        prepared = [preflight(f, tmp_dir=Path(tmp), check_utf8=False) for f in discover(input_dir)]
        _load(con, prepared)
    _raw_table(con, "p_raw", "products", prepared)
    _raw_table(con, "e_raw", "events", prepared)
    _clean_products(con)
    _clean_events(con)
    con.execute("DROP TABLE p_raw; DROP TABLE e_raw")
    _write_outputs(con, out_dir)
    counts = _counts(con)
    con.close()
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


def aggregate(curated_dir: Path, out_dir: Path) -> dict:
    """The three daily aggregates of the curated events, one Parquet file each in `out_dir`."""
    events_dir = curated_events_dir(Path(curated_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = _connect()
    if any(events_dir.rglob("*.parquet")):
        source = f"""read_parquet({_sql_str(str(events_dir / "**" / "*.parquet"))},
                     hive_partitioning = true, hive_types = {{'event_date': DATE}})"""
    else:
        source = """(SELECT NULL::VARCHAR AS event_id, NULL::VARCHAR AS event_type,
                     NULL::DATE AS event_date, NULL::VARCHAR AS user_id,
                     NULL::VARCHAR AS product_id, NULL::VARCHAR AS product_name,
                     NULL::VARCHAR AS category, NULL::INTEGER AS quantity,
                     NULL::DECIMAL(14, 2) AS revenue, NULL::TIMESTAMPTZ AS ingested_at,
                     NULL::VARCHAR AS source_file WHERE false)"""
    # An event_id in several files counts once: the copy processed first.
    con.execute(
        f"""CREATE TEMP TABLE d AS
            SELECT event_id, event_type, event_date, user_id, product_id, product_name,
                   category, quantity, revenue
            FROM {source}
            QUALIFY row_number() OVER (PARTITION BY event_id
                                       ORDER BY source_file) = 1"""
    )
    rows = {}
    for name, schema in AGGREGATES.items():
        table = con.execute(AGGREGATE_SQL[name]).fetch_arrow_table()
        write_table(table, schema, out_dir / f"{name}.parquet")
        rows[name] = table.num_rows
    con.close()
    return rows
