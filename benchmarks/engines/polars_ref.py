"""Reference engine in polars: an independent implementation of docs/data-contract.md.

Same semantics as `duckdb_ref` (see its docstring and `benchmarks/README.md`), written the way
a polars user would: every file is read as lines with polars' CSV reader (a separator byte
absent from the file, no quoting, so each physical line is one row), CSV records are split
with string expressions, JSON Lines are parsed by `read_ndjson`, and cleaning, deduplication
and the point-in-time join (`join_asof`) are lazy frame operations. Plain Python only computes
the md5 of derived event ids and looks at the rare JSON lines the fast reader cannot judge on
its own (invalid JSON inside a block, a value that may hide a boolean, object or array, lone
surrogate escapes, a file with several spellings of one key).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import polars as pl
import pyarrow as pa

from benchmarks.engines._inputs import (
    FIELDS,
    WS,
    InputFile,
    Prepared,
    cents_to_decimal,
    curated_events_dir,
    decimal_from_cents,
    discover,
    preflight,
    regex_escape,
    reset_dir,
    write_table,
)
from retail_etl.domain.contract import (
    AGGREGATES,
    CURATED_EVENTS,
    DERIVED_ID_PREFIX,
    EVENT_TYPES,
    MAX_QUANTITY,
    MONEY_SUM,
    PRICE,
    PRODUCT_HISTORY,
    QUARANTINE,
    REVENUE,
    TOP_VIEWED_LIMIT,
)

RELEASE_WAITING = True  # see duckdb_ref.RELEASE_WAITING

ISO_RE = (
    r"^(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})[T ](?P<h>[0-9]{2}):(?P<mi>[0-9]{2})"
    r"(?::(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,9}))?)?(?P<z>Z| UTC|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
)
US_RE = (
    r"^(?P<mo>[0-9]{2})/(?P<d>[0-9]{2})/(?P<y>[0-9]{4}) (?P<h>[0-9]{2}):(?P<mi>[0-9]{2})"
    r"(?::(?P<s>[0-9]{2}))?$"
)
EPOCH_RE = r"^[0-9]{1,13}$"
WINDOW_US = (946_684_800_000_000, 4_102_444_800_000_000)
US_PER_DAY = 86_400_000_000
CSV_LINE_RE = r'^(?:"(?:[^"]|"")*"|[^,"]*)(?:,(?:"(?:[^"]|"")*"|[^,"]*))*$'
CSV_FIELD_RE = r',(?:"(?:[^"]|"")*"|[^,"]*)'
JSON_WS = " \t\r\n"
SURROGATE_ESCAPE_RE = r"\\u[dD][89a-fA-F]"
JSON_BLOCK_ROWS = 1 << 16
JSON_PYTHON_ROWS = 256


# ---------------------------------------------------------------------------------------
# Reading lines


def _lines(p: Prepared) -> pl.DataFrame:
    """One row per physical line: line_no (1-based), line (CR of CRLF removed, NULL if empty)."""
    data = p.data or b""
    if not data:
        return pl.DataFrame(schema={"line_no": pl.Int64, "line": pl.String})
    sep = next((chr(b) for b in range(1, 32) if b not in (9, 10, 13) and bytes([b]) not in data),
               None)  # fmt: skip
    if sep is None:  # every control character occurs: split in Python
        text = [line.removesuffix(b"\r").decode() or None for line in data.split(b"\n")]
        if data.endswith(b"\n"):
            text.pop()
        df = pl.DataFrame({"line": text}, schema={"line": pl.String})
        return df.with_row_index("line_no", offset=1).with_columns(pl.col("line_no").cast(pl.Int64))
    df = pl.read_csv(
        io.BytesIO(data), has_header=False, separator=sep, quote_char=None,
        new_columns=["line"], schema={"line": pl.String}, comment_prefix=None,
        missing_utf8_is_empty_string=False, raise_if_empty=False,
    )  # fmt: skip
    return df.with_row_index("line_no", offset=1).with_columns(pl.col("line_no").cast(pl.Int64))


def _not_blank(col: str = "line") -> pl.Expr:
    return pl.col(col).is_not_null() & (pl.col(col).str.strip_chars(WS) != "")


def _clean(col: str) -> pl.Expr:
    text = pl.col(col).str.strip_chars(WS)
    return pl.when(text != "").then(text).otherwise(None)


# ---------------------------------------------------------------------------------------
# CSV


def _csv_values(p: Prepared, fields: tuple[str, ...]) -> pl.DataFrame:
    lines = _lines(p).filter((pl.col("line_no") > p.header_line) & _not_blank())
    plain = ~pl.col("line").str.contains('"', literal=True)
    unquote = (
        pl.when(pl.element().str.starts_with('"'))
        .then(pl.element().str.slice(1, pl.element().str.len_chars() - 2)
              .str.replace_all('""', '"', literal=True))
        .otherwise(pl.element())
    )  # fmt: skip
    simple = lines.lazy().filter(plain).with_columns(fields=pl.col("line").str.split(","))
    quoted = (
        lines.lazy()
        .filter(~plain)
        .with_columns(
            fields=pl.when(pl.col("line").str.contains(CSV_LINE_RE))
            .then((pl.lit(",") + pl.col("line")).str.extract_all(CSV_FIELD_RE)
                  .list.eval(pl.element().str.slice(1)).list.eval(unquote))
            .otherwise(None)
        )
    )  # fmt: skip
    values = []
    for name in fields:
        idx = p.column_index(name)
        values.append(
            pl.col("fields").list.get(idx - 1, null_on_oob=True).alias(name)
            if idx
            else pl.lit(None, pl.String).alias(name)
        )
    ncols = len(p.header)
    return (
        pl.concat([simple, quoted])
        .select(
            pl.lit(p.file.seq, pl.Int32).alias("file_id"),
            "line_no",
            "line",
            (pl.col("fields").is_null() | (pl.col("fields").list.len() != ncols)).alias(
                "malformed"
            ),
            *values,
        )
        .collect()
    )


# ---------------------------------------------------------------------------------------
# JSON Lines


def _reject_constant(name: str):
    raise ValueError(name)


def _python_record(line: str, fields: tuple[str, ...]) -> dict | None:
    """Exact reading of one JSON line: field -> text, or None when the line is malformed."""
    try:
        pairs = json.loads(
            line,
            object_pairs_hook=lambda kv: kv,
            parse_int=str,
            parse_float=str,
            parse_constant=_reject_constant,
        )  # numbers are taken as written
    except ValueError:
        return None
    if not isinstance(pairs, list):
        return None
    out: dict = {}
    for key, value in pairs:
        name = key.strip(WS).lower()
        if name in fields and name not in out:
            out[name] = value
    for value in out.values():
        if isinstance(value, bool | dict | list):
            return None
        if isinstance(value, str) and any("\ud800" <= ch <= "\udfff" for ch in value):
            return None  # a lone surrogate escape is not text
    return out


def _python_rows(block: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
    records = [_python_record(line, fields) for line in block["line"].to_list()]
    return pl.DataFrame(
        {
            "line_no": block["line_no"],
            "line": block["line"],
            "malformed": [r is None for r in records],
            **{n: [None if r is None else r.get(n) for r in records] for n in fields},
        },
        schema={"line_no": pl.Int64, "line": pl.String, "malformed": pl.Boolean,
                **dict.fromkeys(fields, pl.String)},
    )  # fmt: skip


def _json_block(
    block: pl.DataFrame, fields: tuple[str, ...], spellings: dict[str, list[str]]
) -> pl.DataFrame:
    """Parse lines that look like objects. Every contract key is read as a string, which keeps
    integers' digits; lines where a contract key holds a non-integer number (the reader would
    reformat it: numbers are taken as written), a value that may hide a boolean, an object or
    an array, or a lone surrogate escape are read again in Python. Blocks the fast reader
    refuses (invalid JSON somewhere) are split until the bad lines are found."""
    if any(len(spellings.get(n, [])) > 1 for n in fields):
        return _python_rows(block, fields)  # which spelling comes first is per object
    schema = {spellings[n][0]: pl.String for n in fields if n in spellings}
    try:
        body = block.select(pl.col("line").str.join("\n")).item().encode()
        parsed = pl.read_ndjson(io.BytesIO(body), schema=schema or {"_": pl.String})
        if parsed.height != block.height:
            raise ValueError("row count")
    except Exception:
        if block.height <= JSON_PYTHON_ROWS:
            return _python_rows(block, fields)
        half = block.height // 2
        return pl.concat(
            [_json_block(block[:half], fields, spellings),
             _json_block(block[half:], fields, spellings)]
        )  # fmt: skip
    values = parsed.select(
        pl.col(spellings[n][0]).alias(n) if n in spellings else pl.lit(None, pl.String).alias(n)
        for n in fields
    )
    unsure = pl.any_horizontal(
        pl.col(n).is_in(["true", "false"]) | pl.col(n).str.contains(r"^[\[{]") for n in fields
    ).fill_null(False)
    reread = SURROGATE_ESCAPE_RE
    if schema:
        keys = "|".join(regex_escape(k) for k in schema)
        reread += rf'|"(?:{keys})"\s*:\s*-?[0-9]+[.eE]'
    ambiguous = values.select(unsure).to_series() | block["line"].str.contains(reread)
    result = values.with_columns(
        line_no=block["line_no"], line=block["line"], malformed=pl.lit(False)
    )
    if ambiguous.any():
        exact = _python_rows(block.filter(ambiguous), fields)
        result = pl.concat([result.filter(~ambiguous), exact.select(result.columns)])
    return result


def _json_spellings(data: bytes, fields: tuple[str, ...]) -> dict[str, list[str]]:
    """Contract field -> the spellings of its key in the file (case and padding vary)."""
    names = "|".join(fields)
    found = (
        pl.Series([data.decode()])
        .str.extract_all(rf'"(\s*(?i:{names})\s*)"\s*:')
        .explode()
        .drop_nulls()
        .unique()
        .to_list()
    )
    spellings: dict[str, list[str]] = {}
    for match in sorted(found):
        key = match[1 : match.rindex('"')]
        spellings.setdefault(key.strip(WS).lower(), []).append(key)
    return spellings


def _json_values(p: Prepared, fields: tuple[str, ...]) -> pl.DataFrame:
    lines = _lines(p).filter(_not_blank())
    stripped = pl.col("line").str.strip_chars(JSON_WS)
    looks_ok = stripped.str.starts_with("{") & stripped.str.ends_with("}")
    candidates = lines.filter(looks_ok)
    spellings = _json_spellings(p.data or b"", fields)
    parts = [
        _json_block(candidates.slice(i, JSON_BLOCK_ROWS), fields, spellings)
        for i in range(0, candidates.height, JSON_BLOCK_ROWS)
    ]
    parts.append(
        lines.filter(~looks_ok).select(
            "line_no",
            "line",
            pl.lit(True).alias("malformed"),
            *[pl.lit(None, pl.String).alias(n) for n in fields],
        )
    )
    columns = ["line_no", "line", "malformed", *fields]
    return pl.concat([part.select(columns) for part in parts]).select(
        pl.lit(p.file.seq, pl.Int32).alias("file_id"), *columns
    )


def _raw(prepared: list[Prepared], kind: str) -> pl.DataFrame:
    fields = FIELDS[kind]
    frames = []
    for p in prepared:
        if p.file.kind == kind and p.error is None:
            frames.append((_csv_values if p.file.fmt == "csv" else _json_values)(p, fields))
            p.data = None  # the bytes are no longer needed
    if not frames:
        return pl.DataFrame(
            schema={"file_id": pl.Int32, "line_no": pl.Int64, "line": pl.String,
                    "malformed": pl.Boolean, **dict.fromkeys(fields, pl.String)}
        )  # fmt: skip
    return pl.concat(frames)


# ---------------------------------------------------------------------------------------
# Field rules


def _num(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Int64, strict=False).fill_null(0)


def _clock_us(y, mo, d, h, mi, s) -> pl.Expr:
    """UTC microseconds of a wall-clock time; null when a field is out of range.

    Arguments are column expressions (they are repeated below)."""
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    dim = (
        pl.when(mo == 2).then(pl.when(leap).then(29).otherwise(28))
        .when(mo.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    )  # fmt: skip
    yy = y - (mo <= 2).cast(pl.Int64)
    days = (
        (yy // 400) * 146097 + (yy % 400) * 365 + (yy % 400) // 4 - (yy % 400) // 100
        + (153 * ((mo + 9) % 12) + 2) // 5 + d - 1 - 719468
    )  # fmt: skip
    ok = (
        y.is_between(1999, 2100) & mo.is_between(1, 12) & (d >= 1) & (d <= dim)
        & (h <= 23) & (mi <= 59) & (s <= 59)
    )  # fmt: skip
    return pl.when(ok).then(((days * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000)


def _with_timestamp_us(frame: pl.LazyFrame, col: str, out: str) -> pl.LazyFrame:
    """Add `out`: the timestamp text in `col` as UTC microseconds, null when invalid.

    Each step materializes columns, so the regexes run once per row."""
    parts = ("y", "mo", "d", "h", "mi", "s")
    text = pl.col(col)
    frame = frame.with_columns(
        _is_epoch=text.str.contains(EPOCH_RE),
        _iso=text.str.extract_groups(ISO_RE),
        _us=text.str.extract_groups(US_RE),
    )
    iso, us = pl.col("_iso").struct.field, pl.col("_us").struct.field
    zone = iso("z").fill_null("").str.replace(":", "", literal=True)
    frame = frame.with_columns(
        *[_num(pl.coalesce(iso(k), us(k))).alias(f"_{k}") for k in parts],
        _iso_ok=iso("y").is_not_null(),
        _us_ok=us("y").is_not_null(),
        _frac=_num(iso("f").fill_null("").str.slice(0, 6).str.pad_end(6, "0")),
        _zs=pl.when(zone.str.starts_with("+")).then(1)
        .when(zone.str.starts_with("-")).then(-1).otherwise(0),
        _zh=_num(zone.str.slice(1, 2)),
        _zm=_num(zone.str.slice(3, 2)),
        _epoch=text.cast(pl.Int64, strict=False),
    )  # fmt: skip
    c = pl.col
    local = _clock_us(*(c(f"_{k}") for k in parts))
    frame = frame.with_columns(
        _raw=pl.when(c("_is_epoch")).then(
            pl.when(c("_epoch") < 100_000_000_000).then(c("_epoch") * 1_000_000)
            .otherwise(c("_epoch") * 1000))
        .when(c("_iso_ok") & (c("_zh") <= 23) & (c("_zm") <= 59))
        .then(local + c("_frac") - c("_zs") * (c("_zh") * 3600 + c("_zm") * 60) * 1_000_000)
        .when(c("_us_ok")).then(local)
    )  # fmt: skip
    in_window = c("_raw").is_between(WINDOW_US[0], WINDOW_US[1], closed="left")
    return frame.with_columns(pl.when(in_window).then(c("_raw")).alias(out)).drop(
        "_is_epoch", "_iso", "_us", *[f"_{k}" for k in parts], "_iso_ok", "_us_ok", "_frac",
        "_zs", "_zh", "_zm", "_epoch", "_raw",
    )  # fmt: skip


def _quantity(col: str) -> pl.Expr:
    q = pl.col(col)
    digits = q.str.strip_chars_start("0")
    value = digits.cast(pl.Int32, strict=False)
    ok = q.str.contains(r"^[0-9]+$") & digits.str.len_chars().is_between(1, 5)
    return pl.when(q.is_null()).then(1).when(ok & (value <= MAX_QUANTITY)).then(value)


def _price_cents(col: str) -> pl.Expr:
    p = pl.col(col)
    whole = p.str.extract(r"^([0-9]+)", 1).cast(pl.Int64, strict=False)
    frac = p.str.extract(r"\.([0-9]+)$", 1).fill_null("")
    cents = (
        whole * 100
        + frac.str.slice(0, 2).str.pad_end(2, "0").cast(pl.Int64, strict=False)
        + (frac.str.slice(2, 1) >= "5").cast(pl.Int64)
    )
    ok = p.str.contains(r"^[0-9]{1,10}(\.[0-9]+)?$") & (cents < 1_000_000_000_000)
    return pl.when(ok).then(cents)


def _md5_ids(content: pl.Series) -> pl.Series:
    return pl.Series(
        [DERIVED_ID_PREFIX + hashlib.md5(c.encode()).hexdigest() for c in content.to_list()],
        dtype=pl.String,
    )


# ---------------------------------------------------------------------------------------
# Cleaning


def _files_frame(files: list[InputFile]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file_id": [f.seq for f in files],
            "file_dt": [f.dt for f in files],
            "source_file": [f.key for f in files],
            "ingested_at_us": [f.ingested_at_us for f in files],
        },
        schema={"file_id": pl.Int32, "file_dt": pl.Date, "source_file": pl.String,
                "ingested_at_us": pl.Int64},
    )  # fmt: skip


def _clean_products(raw: pl.DataFrame, files: pl.DataFrame) -> dict[str, pl.DataFrame]:
    checked = (
        raw.lazy()
        .with_columns(
            product_id=_clean("product_id"),
            product_name=_clean("product_name"),
            category=_clean("category"),
            price_text=_clean("price"),
            stock_text=_clean("stock_level"),
        )
        .with_columns(
            price_cents=_price_cents("price_text"),
            stock_level=pl.when(pl.col("stock_text").str.contains(r"^[0-9]+$")).then(
                pl.col("stock_text").cast(pl.Int64, strict=False)
            ),
        )
        .with_columns(
            reason=pl.when(pl.col("malformed"))
            .then(pl.lit("malformed_row"))
            .when(pl.col("product_id").is_null())
            .then(pl.lit("missing_product_id"))
            .when(pl.col("category").is_null())
            .then(pl.lit("missing_category"))
            .when(pl.col("price_text").is_null())
            .then(pl.lit("missing_price"))
            .when(pl.col("price_cents").is_null())
            .then(pl.lit("invalid_price"))
            .when(pl.col("stock_text").is_not_null() & pl.col("stock_level").is_null())
            .then(pl.lit("invalid_stock_level"))
        )
        .collect()
    )
    valid = (
        checked.filter(pl.col("reason").is_null())
        .join(files, on="file_id")
        .rename({"file_dt": "effective_date"})
        .sort("file_id", "line_no")
        .with_columns(last=pl.struct("file_id", "product_id").is_last_distinct())
    )
    versions = valid.filter(pl.col("last")).drop("last")
    hist = versions.filter(pl.struct("product_id", "effective_date").is_last_distinct())
    return {
        "checked": checked,
        "duplicates": valid.filter(~pl.col("last")),
        "versions": versions,
        "hist": hist.sort("product_id", "effective_date"),
        "earliest": hist.sort("effective_date").filter(pl.col("product_id").is_first_distinct()),
        "first_defined": versions.filter(pl.col("product_id").is_first_distinct()),
    }


def _clean_events(raw: pl.DataFrame, files: pl.DataFrame, products: dict) -> dict:
    checked = (
        raw.lazy()
        .with_columns(
            given_id=_clean("event_id"),
            user_id=_clean("user_id"),
            product_id=_clean("product_id"),
            event_type=_clean("event_type").str.to_lowercase(),
            ts_text=pl.coalesce(
                _clean("event_timestamp"), _clean("event_time"), _clean("timestamp")
            ),
            quantity_text=_clean("quantity"),
            session_id=_clean("session_id"),
        )
        .pipe(_with_timestamp_us, "ts_text", "ts_us")
        .with_columns(quantity=_quantity("quantity_text"))
        .drop("event_id", "event_timestamp", "event_time", "timestamp")
        .with_columns(
            reason=pl.when(pl.col("malformed"))
            .then(pl.lit("malformed_row"))
            .when(pl.col("user_id").is_null())
            .then(pl.lit("missing_user_id"))
            .when(pl.col("product_id").is_null())
            .then(pl.lit("missing_product_id"))
            .when(pl.col("event_type").is_null())
            .then(pl.lit("missing_event_type"))
            .when(~pl.col("event_type").is_in(EVENT_TYPES))
            .then(pl.lit("unknown_event_type"))
            .when(pl.col("ts_text").is_null())
            .then(pl.lit("missing_timestamp"))
            .when(pl.col("ts_us").is_null())
            .then(pl.lit("invalid_timestamp"))
            .when(pl.col("quantity").is_null())
            .then(pl.lit("invalid_quantity"))
        )
        .collect()
    )
    valid = checked.filter(pl.col("reason").is_null()).select(
        "file_id", "line_no", "given_id", "event_type", "ts_us", "user_id", "product_id",
        "session_id", "quantity",
    )  # fmt: skip
    need_id = valid["given_id"].is_null()
    if need_id.any():
        content = valid.filter(need_id).select(
            pl.concat_str(
                "user_id", "product_id", "event_type", pl.col("ts_us").cast(pl.String),
                pl.col("quantity").cast(pl.String), pl.col("session_id").fill_null(""),
                separator="\x1f",
            )
        ).to_series()  # fmt: skip
        derived = pl.Series("event_id", [None] * valid.height, dtype=pl.String)
        derived = derived.scatter(need_id.arg_true(), _md5_ids(content))
        valid = valid.with_columns(event_id=pl.coalesce("given_id", derived))
    else:
        valid = valid.with_columns(event_id=pl.col("given_id"))
    valid = (
        valid.lazy()
        .sort("file_id", "line_no")
        .with_columns(first=pl.struct("file_id", "event_id").is_first_distinct())
        .join(files.lazy(), on="file_id")
        .with_columns(event_date=(pl.col("ts_us") // US_PER_DAY).cast(pl.Int32).cast(pl.Date))
        .collect()
    )
    kept = valid.filter(pl.col("first")).with_columns(
        lookup_date=pl.min_horizontal("event_date", "file_dt")
    )
    version = ["product_name", "category", "price_cents"]
    hist = products["hist"].select("product_id", "effective_date", *version)
    earliest = products["earliest"].select(
        "product_id", pl.col("effective_date").alias("e_eff"),
        *[pl.col(c).alias(f"e_{c}") for c in version],
    )  # fmt: skip
    first = products["first_defined"].select(
        "product_id", pl.lit(True).alias("f_found"), *[pl.col(c).alias(f"f_{c}") for c in version]
    )
    enriched = (
        kept.lazy()
        .sort("lookup_date")
        .join_asof(
            hist.lazy().sort("effective_date").rename({"effective_date": "h_eff"}),
            left_on="lookup_date",
            right_on="h_eff",
            by="product_id",
            strategy="backward",
            check_sortedness=False,
        )
        .join(earliest.lazy(), on="product_id", how="left")
        .join(first.lazy(), on="product_id", how="left")
        .with_columns(
            via=pl.when(pl.col("h_eff").is_not_null())
            .then(pl.lit("asof"))
            .when(pl.col("e_eff") <= pl.col("file_dt"))
            .then(pl.lit("earliest"))
            .when(pl.col("f_found").fill_null(False) & pl.lit(RELEASE_WAITING))
            .then(pl.lit("released"))
        )
        .with_columns(
            pl.when(pl.col("via") == "asof")
            .then(pl.col(c))
            .when(pl.col("via") == "earliest")
            .then(pl.col(f"e_{c}"))
            .otherwise(pl.col(f"f_{c}"))
            .alias(c)
            for c in version
        )
        .collect()
    )
    return {"checked": checked, "valid": valid, "enriched": enriched}


# ---------------------------------------------------------------------------------------
# Output


def _utc(us: pl.Series) -> pa.Array:
    return us.to_arrow().cast(pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def _decimal(cents: pl.Series, type_: pa.Decimal128Type) -> pa.Array:
    valid = cents.is_not_null().to_numpy() if cents.null_count() else None
    return decimal_from_cents(cents.fill_null(0).cast(pl.Int64).to_numpy(), valid, type_)


def _write_curated(enriched: pl.DataFrame, out_dir: Path) -> None:
    events_dir = out_dir / "curated" / "events"
    reset_dir(events_dir)
    df = enriched.lazy().filter(pl.col("via").is_not_null()).select(
        "event_id", "event_type", "ts_us", "event_date", "user_id", "product_id", "session_id",
        "quantity", "product_name", "category", "price_cents", "source_file", "ingested_at_us",
        revenue_cents=pl.when(pl.col("event_type") == "purchase").then(
            pl.col("price_cents") * pl.col("quantity").cast(pl.Int64)
        ),
    ).collect()  # fmt: skip
    file_schema = CURATED_EVENTS.remove(CURATED_EVENTS.get_field_index("event_date"))
    for (day,), part in df.partition_by("event_date", as_dict=True).items():
        table = pa.table(
            {
                "event_id": part["event_id"].to_arrow(),
                "event_type": part["event_type"].to_arrow(),
                "event_ts": _utc(part["ts_us"]),
                "user_id": part["user_id"].to_arrow(),
                "product_id": part["product_id"].to_arrow(),
                "session_id": part["session_id"].to_arrow(),
                "quantity": part["quantity"].to_arrow(),
                "product_name": part["product_name"].to_arrow(),
                "category": part["category"].to_arrow(),
                "unit_price": _decimal(part["price_cents"], PRICE),
                "revenue": _decimal(part["revenue_cents"], REVENUE),
                "source_file": part["source_file"].to_arrow(),
                "ingested_at": _utc(part["ingested_at_us"]),
            }
        )
        write_table(table, file_schema, events_dir / f"event_date={day}" / "part-0.parquet")


def _write_side_outputs(products: dict, events: dict, out_dir: Path) -> None:
    hist = products["hist"].sort("product_id", "effective_date")
    write_table(
        pa.table(
            {
                "product_id": hist["product_id"].to_arrow(),
                "product_name": hist["product_name"].to_arrow(),
                "category": hist["category"].to_arrow(),
                "price": _decimal(hist["price_cents"], PRICE),
                "stock_level": hist["stock_level"].to_arrow(),
                "effective_date": hist["effective_date"].to_arrow(),
                "source_file": hist["source_file"].to_arrow(),
                "ingested_at": _utc(hist["ingested_at_us"]),
            }
        ),
        PRODUCT_HISTORY,
        out_dir / "curated" / "products" / "history.parquet",
    )
    checked = events["checked"]
    q_events = pl.concat(
        [
            checked.filter(pl.col("reason").is_not_null()).select(
                "file_id", "line_no", "reason", "line",
                pl.when(~pl.col("malformed")).then(pl.col("product_id")).alias("product_id"),
                pl.when(pl.col("reason") == "invalid_quantity")
                .then((pl.col("ts_us") // US_PER_DAY).cast(pl.Int32).cast(pl.Date))
                .alias("event_date"),
            ),
            events["enriched"].filter(pl.col("via").is_null() | (pl.col("via") == "released"))
            .join(checked.select("file_id", "line_no", "line"), on=["file_id", "line_no"])
            .select(
                "file_id", "line_no", pl.lit("unknown_product").alias("reason"), "line",
                "product_id", "event_date",
            ),
        ]
    )  # fmt: skip
    q_products = (
        products["checked"]
        .filter(pl.col("reason").is_not_null())
        .select(
            "file_id", "line_no", "reason", "line",
            pl.when(~pl.col("malformed")).then(pl.col("product_id")).alias("product_id"),
            pl.lit(None, pl.Date).alias("event_date"),
        )
    )  # fmt: skip
    for kind, q in (("events", q_events), ("products", q_products)):
        q = q.join(products["files"], on="file_id").sort("source_file", "line_no")
        write_table(
            pa.table(
                {
                    "source_file": q["source_file"].to_arrow(),
                    "line_number": q["line_no"].to_arrow(),
                    "reason": q["reason"].to_arrow(),
                    "raw_record": q["line"].to_arrow(),
                    "product_id": q["product_id"].to_arrow(),
                    "event_date": q["event_date"].to_arrow(),
                    "quarantined_at": _utc(q["ingested_at_us"]),
                }
            ),
            QUARANTINE,
            out_dir / "quarantine" / f"kind={kind}" / "part-0.parquet",
        )


def clean_enrich(input_dir: Path, out_dir: Path) -> dict:
    """Clean and enrich every dropped file under `input_dir` into `out_dir` (see duckdb_ref)."""
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = discover(input_dir)
    prepared = [preflight(f, want_data=True) for f in files]
    rejected = sum(p.error is not None for p in prepared)
    files_df = _files_frame(files)
    products = _clean_products(_raw(prepared, "products"), files_df)
    products["files"] = files_df
    events = _clean_events(_raw(prepared, "events"), files_df, products)
    _write_curated(events["enriched"], out_dir)
    _write_side_outputs(products, events, out_dir)
    enriched, checked = events["enriched"], events["checked"]
    via = enriched["via"]
    waiting, released = int(via.is_null().sum()), int((via == "released").sum())
    return {
        "curated_rows": enriched.height - waiting - released,
        "quarantined_rows": int(checked["reason"].is_not_null().sum()) + waiting + released,
        "duplicate_rows": int((~events["valid"]["first"]).sum()),
        "released_rows": released,
        "products": {
            "curated_rows": products["versions"].height,
            "quarantined_rows": int(products["checked"]["reason"].is_not_null().sum()),
            "duplicate_rows": products["duplicates"].height,
        },
        "rejected_files": rejected,
    }


# ---------------------------------------------------------------------------------------
# Aggregates


def aggregate(curated_dir: Path, out_dir: Path) -> dict:
    """The three daily aggregates of the curated events, one Parquet file each in `out_dir`."""
    events_dir = curated_events_dir(Path(curated_dir))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["event_id", "event_type", "event_date", "user_id", "product_id", "product_name",
               "category", "quantity", "revenue", "ingested_at", "source_file"]  # fmt: skip
    if any(events_dir.rglob("*.parquet")):
        events = pl.scan_parquet(
            events_dir / "**" / "*.parquet", hive_partitioning=True,
            hive_schema={"event_date": pl.Date},
        ).select(columns)  # fmt: skip
    else:
        events = pl.LazyFrame(schema={
            "event_id": pl.String, "event_type": pl.String, "event_date": pl.Date,
            "user_id": pl.String, "product_id": pl.String, "product_name": pl.String,
            "category": pl.String, "quantity": pl.Int32, "revenue": pl.Decimal(14, 2),
            "ingested_at": pl.Datetime("us", "UTC"), "source_file": pl.String,
        })  # fmt: skip
    # An event_id in several files counts once: the copy processed first. Only the ids that
    # occur more than once need ordering.
    events = events.with_columns(revenue_cents=(pl.col("revenue") * 100).cast(pl.Int64)).collect()
    repeated = events["event_id"].is_duplicated()
    d = pl.concat(
        [
            events.filter(~repeated),
            events.filter(repeated)
            .sort("source_file")
            .unique(subset="event_id", keep="first", maintain_order=True),
        ]
    ).lazy()
    purchases = d.filter(pl.col("event_type") == "purchase")
    tables = {
        "daily_category_revenue": purchases.group_by("event_date", "category")
        .agg(
            revenue=pl.col("revenue_cents").sum(),
            purchases=pl.len().cast(pl.Int64),
            units=pl.col("quantity").cast(pl.Int64).sum(),
        )
        .sort("event_date", "category"),
        "daily_top_viewed_products": d.filter(pl.col("event_type") == "view")
        .group_by("event_date", "product_id")
        .agg(
            views=pl.len().cast(pl.Int64),
            product_name=pl.col("product_name").max(),
            category=pl.col("category").max(),
        )
        .sort(["event_date", "views", "product_id"], descending=[False, True, False])
        .with_columns(rank=(pl.int_range(pl.len()).over("event_date") + 1).cast(pl.Int32))
        .filter(pl.col("rank") <= TOP_VIEWED_LIMIT),
        "daily_multi_purchase_users": purchases.group_by("event_date", "user_id")
        .agg(purchases=pl.len().cast(pl.Int64), total_spend=pl.col("revenue_cents").sum())
        .filter(pl.col("purchases") >= 2)
        .sort("event_date", "user_id"),
    }
    rows = {}
    for name, schema in AGGREGATES.items():
        df = tables[name].collect()
        table = df.to_arrow()
        for money in ("revenue", "total_spend"):
            if money in df.columns:
                i = table.schema.get_field_index(money)
                table = table.set_column(i, money, cents_to_decimal(table[money], MONEY_SUM))
        write_table(table, schema, out_dir / f"{name}.parquet")
        rows[name] = df.height
    return rows
