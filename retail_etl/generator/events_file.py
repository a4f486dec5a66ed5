"""One events file: a day's rows for the file, the injected mess, and its CSV / JSON Lines bytes.

Rows are planned as integer arrays first (which base row a line shows, whether it is a copy, a
malformed line or a blank line, which field defect it carries), so the expected counts follow
from the plan. The text is then rendered chunk by chunk as byte matrices (see textmatrix); only
the few malformed lines are touched by Python code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from retail_etl.domain.contract import Reason
from retail_etl.generator import textmatrix as tm
from retail_etl.generator import timestamps
from retail_etl.generator.activity import DayActivity
from retail_etl.generator.config import EVENT_FIELD_DEFECTS, MessConfig
from retail_etl.generator.layout import EventsFilePlan
from retail_etl.generator.manifest import FileCounts

CHUNK_ROWS = 1 << 17
DEFECTS = tuple(EVENT_FIELD_DEFECTS)
_CODE = {kind: code for code, kind in enumerate(DEFECTS)}
BASE, DUPLICATE, MALFORMED, BLANK = 0, 1, 2, 3

TYPE_TEXTS = (
    "view",
    "add_to_cart",
    "wishlist",
    "purchase",
    "VIEW",
    "Add_To_Cart",
    "WishList",
    "PURCHASE",
    " view ",
    " add_to_cart",
    "wishlist ",
    " Purchase ",
)
UNKNOWN_TYPES = (
    "click",
    "refund",
    "PURCHASED",
    "page_view",
    "add-to-cart",
    "checkout",
    "remove_from_cart",
)
INVALID_QUANTITY_TEXT = ("0", "-2", "abc", "1.5", "20000", "10001", "+3", "2x", "1e2")
INVALID_QUANTITY_NUMBERS = ("0", "-2", "20000", "10001")
VALID_TYPE_VARIANT_RATE = 0.02
PADDED_USER_RATE = 0.01
DUPLICATE_DISTANCE = (100, 500)
_EXTRAS = {
    "channel": ('"web"', '"ios"', '"android"', '"web"', '"web"'),
    "user_agent": (
        '"Mozilla/5.0 (Windows NT 10.0; Win64; x64), Chrome/131.0"',
        '"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X), Safari/604.1"',
        "okhttp/4.12.0",
    ),
    "app_version": ('"5.2.1"', '"5.3.0"', '"6.0.0-beta"'),
    "context": ('{"ab": "B", "page": 3}', '{"ab": "A"}', "{}", '["promo", "newsletter"]', "null"),
}
_REQUIRED_STRINGS = ("user_id", "product_id", "event_type")


@dataclass(frozen=True)
class FileContext:
    """What rendering needs beyond the rows: the day and id widths."""

    day: dt.date
    product_id_width: int
    first_event_number: int
    first_unknown_product: int


@dataclass
class _Plan:
    """Every line of the file in written order."""

    source: np.ndarray  # base row the line shows
    kind: np.ndarray  # BASE, DUPLICATE, MALFORMED or BLANK
    number: np.ndarray  # event id number
    param: np.ndarray  # float in [0, 1): picks the form of malformed and blank lines


def _defects(rng: np.random.Generator, n: int, mess: MessConfig) -> np.ndarray:
    """Per base row: -1, or the code of its one field defect (disjoint random rows)."""
    defect = np.full(n, -1, dtype=np.int8)
    order = rng.permutation(n)
    at = 0
    for code, kind in enumerate(DEFECTS):
        count = min(round(getattr(mess, kind) * n), n - at)
        defect[order[at : at + count]] = code
        at += count
    return defect


def _plan_lines(
    rng: np.random.Generator,
    n: int,
    defect: np.ndarray,
    mess: MessConfig,
    blank_lines: int,
    first_number: int,
) -> _Plan:
    curated = np.flatnonzero(defect == -1)
    dup_count = min(round(mess.duplicate * n), len(curated))
    dup_source = (
        np.sort(rng.choice(curated, dup_count, replace=False)) if dup_count else curated[:0]
    )
    dup_anchor = np.minimum(dup_source + rng.integers(*DUPLICATE_DISTANCE, dup_count), n - 1)
    mal_count = round(mess.malformed_row * n) if n else 0
    mal_source = rng.integers(0, max(n, 1), mal_count)
    mal_anchor = rng.integers(-1, n, mal_count)
    blank_anchor = rng.integers(-1, n, blank_lines)

    source = np.concatenate([np.arange(n), dup_source, mal_source, np.zeros(blank_lines, int)])
    kind = np.repeat([BASE, DUPLICATE, MALFORMED, BLANK], [n, dup_count, mal_count, blank_lines])
    number = np.concatenate(
        [
            first_number + np.arange(n),
            first_number + dup_source,
            first_number + n + np.arange(mal_count),
            np.zeros(blank_lines, int),
        ]
    )
    key = np.concatenate(
        [2 * np.arange(n), 2 * dup_anchor + 1, 2 * mal_anchor + 1, 2 * blank_anchor + 1]
    )
    order = np.argsort(key, kind="stable")
    param = rng.random(len(source))
    return _Plan(source[order], kind[order].astype(np.int8), number[order], param[order])


class _Chunk:
    """Attributes of a run of lines, gathered from the base rows they show."""

    def __init__(self, base: dict[str, np.ndarray], plan: _Plan, lo: int, hi: int) -> None:
        src = plan.source[lo:hi]
        self.m = hi - lo
        self.kind = plan.kind[lo:hi]
        self.number = plan.number[lo:hi]
        self.param = plan.param[lo:hi]
        self.a = {name: values[src] for name, values in base.items()}
        self.a["defect"] = np.where(self.kind == BASE, self.a["defect"], -1)

    def has(self, kind: str) -> np.ndarray:
        return self.a["defect"] == _CODE[kind]

    def lit(self, text: str) -> np.ndarray:
        return tm.literal(text, self.m)


def _pick(texts: tuple[str, ...], variant: np.ndarray) -> np.ndarray:
    return tm.table(texts, variant % len(texts))


def _same(text: str, n: int) -> np.ndarray:
    return tm.table([text], np.zeros(n, dtype=np.intp))


def _overwrite(block: np.ndarray, rows: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Put the rows of the text matrix `texts` into `rows` of `block` (widened if needed)."""
    if not len(rows):
        return block
    if texts.shape[1] > block.shape[1]:
        pad = np.zeros((len(block), texts.shape[1] - block.shape[1]), dtype=np.uint8)
        block = tm.hstack([block, pad])
    block[rows] = 0
    block[rows, : texts.shape[1]] = texts
    return block


def _column(
    c: _Chunk, column: str, plan: EventsFilePlan, ctx: FileContext
) -> tuple[np.ndarray, np.ndarray]:
    """(text block, missing rows) of one column; JSON quoting is added by the caller."""
    a, m = c.a, c.m
    missing = np.zeros(m, dtype=bool)
    if column == "event_id":
        block = tm.hstack([c.lit(f"e-{ctx.day:%Y%m%d}-"), tm.digits(c.number, 9, zero_pad=False)])
    elif column == "user_id":
        if plan.integer_user_ids:
            block = tm.digits(a["user"], 7, zero_pad=False)
        else:
            pad = tm.table(["", " "], a["user_pad"])
            block = tm.hstack([pad, c.lit("U"), tm.digits(a["user"], 7), pad])
        missing = c.has("missing_user_id")
    elif column == "product_id":
        unknown = c.has("unknown_product")
        value = np.where(unknown, a["unknown_product"], a["product"] + 1)
        prefix = tm.table(["P", "PX"], unknown.astype(np.int8))
        width = ctx.product_id_width
        block = tm.hstack([prefix, tm.digits(value, width)])
        missing = c.has("missing_product_id")
    elif column == "event_type":
        code = a["event_type"].astype(np.int64)
        code = np.where(a["type_variant"], code + 4 * (1 + a["variant"] % 2), code)
        block = tm.table(TYPE_TEXTS, code)
        rows = np.flatnonzero(c.has("unknown_event_type"))
        block = _overwrite(block, rows, _pick(UNKNOWN_TYPES, a["variant"][rows]))
        missing = c.has("missing_event_type")
    elif column == "timestamp":
        block = timestamps.render(a["ts"], a["form"], a["variant"])
        rows = np.flatnonzero(c.has("invalid_timestamp"))
        if plan.epoch_numbers:
            texts = tuple(str(v) for v in timestamps.INVALID_EPOCH_NUMBERS)
        else:
            texts = timestamps.invalid_texts(ctx.day)
        block = _overwrite(block, rows, _pick(texts, a["variant"][rows]))
        missing = c.has("missing_timestamp")
    elif column == "quantity":
        block = tm.digits(a["quantity"], 5, zero_pad=False)
        rows = np.flatnonzero(c.has("invalid_quantity"))
        texts = INVALID_QUANTITY_NUMBERS if plan.format == "jsonl" else INVALID_QUANTITY_TEXT
        block = _overwrite(block, rows, _pick(texts, a["variant"][rows]))
        missing = (a["quantity"] == 0) & ~c.has("invalid_quantity")
    elif column == "session_id":
        block = tm.hstack([c.lit("sess-"), _hex12(a["session"])])
        missing = a["session"] < 0
    else:  # an extra column the contract ignores
        values = _EXTRAS[column]
        if plan.format == "csv":
            values = tuple(v.strip('"') if "," not in v else v for v in values)
        block = _pick(values, a["extra"])
    return block, missing


def _hex12(session: np.ndarray) -> np.ndarray:
    """12 hex digits from a bijective scramble of a session number (looks random, stays unique)."""
    x = session.astype(np.uint64) & np.uint64((1 << 48) - 1)
    x = (x * np.uint64(0x9E3779B97F4B)) & np.uint64((1 << 48) - 1)
    x ^= x >> np.uint64(23)
    shifts = np.arange(44, -1, -4, dtype=np.uint64)
    nibbles = (x[:, None] >> shifts) & np.uint64(15)
    return np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles.astype(np.intp)]


_QUOTED = {"event_id", "product_id", "event_type", "session_id"}


def _json_quoted(column: str, plan: EventsFilePlan) -> bool:
    if column == "user_id":
        return not plan.integer_user_ids
    if column == "timestamp":
        return not plan.epoch_numbers
    return column in _QUOTED


def _csv_lines(c: _Chunk, plan: EventsFilePlan, ctx: FileContext, terminator: str) -> np.ndarray:
    parts = []
    for i, column in enumerate(plan.columns):
        block, missing = _column(c, column, plan, ctx)
        block = np.array(block)
        block[missing] = 0
        if column in _REQUIRED_STRINGS:
            blank = np.flatnonzero(missing & (c.a["missing_style"] == 2))
            block = _overwrite(block, blank, _same("  ", len(blank)))
        if i:
            parts.append(c.lit(","))
        parts.append(block)
    parts.append(c.lit(terminator))
    return tm.hstack(parts)


def _json_lines(c: _Chunk, plan: EventsFilePlan, ctx: FileContext, terminator: str) -> np.ndarray:
    style = c.a["missing_style"]
    fragments, present = [], np.ones((c.m, len(plan.columns)), dtype=bool)
    for i, column in enumerate(plan.columns):
        block, missing = _column(c, column, plan, ctx)
        quoted = column in _EXTRAS or _json_quoted(column, plan)
        if quoted and column not in _EXTRAS:
            block = tm.hstack([c.lit('"'), block, c.lit('"')])
        block = np.array(block)
        # A missing value is written as an absent key, null, or (strings only) "".
        string_like = quoted and column not in _EXTRAS and column != "timestamp"
        empty = missing & (style == 2) if string_like else np.zeros(c.m, dtype=bool)
        null = missing & ~empty & (style != 0)
        block = _overwrite(block, np.flatnonzero(null), _same("null", int(null.sum())))
        block = _overwrite(block, np.flatnonzero(empty), _same('""', int(empty.sum())))
        fragment = tm.hstack([c.lit(f', "{plan.column_name(column)}": '), block])
        absent = missing & (style == 0)
        fragment[absent] = 0
        present[:, i] = ~absent
        fragments.append(fragment)
    first = np.argmax(present, axis=1)
    for i, fragment in enumerate(fragments):
        fragment[first == i, :2] = 0
    return tm.hstack([c.lit("{"), *fragments, c.lit("}"), c.lit(terminator)])


def _special_line(
    c: _Chunk, lines: np.ndarray, row: int, plan: EventsFilePlan, terminator: bytes
) -> bytes:
    """A malformed line made from the row's rendered line, or a blank line."""
    p = float(c.param[row])
    variant, fraction = int(p * 3), (p * 3) % 1
    if c.kind[row] == BLANK:
        return (b"", b"   ", b" \t")[variant] + terminator
    body = tm.row_bytes(lines, row)[: -len(terminator)]
    if plan.format == "csv":
        if variant == 0:
            return body + b',"unexpected"' + terminator  # one field too many
        if variant == 1:
            return body.split(b",", 1)[1] + terminator  # one field too few
        return b"###garbage###" + terminator
    if variant == 2:
        return (b"[1, 2]", b'"view"', b"12345")[int(fraction * 3)] + terminator
    cut = 1 + int(fraction * (len(body) - 2))  # a proper prefix of an object never parses
    return body[:cut] + terminator


def _render(
    plan_lines: _Plan, base: dict[str, np.ndarray], plan: EventsFilePlan, ctx: FileContext
) -> bytes:
    terminator = "\r\n" if plan.crlf else "\n"
    pieces = []
    if plan.bom:
        pieces.append(b"\xef\xbb\xbf")
    if plan.format == "csv":
        header = ",".join(plan.column_name(c) for c in plan.columns)
        pieces.append((header + terminator).encode())
    total = len(plan_lines.source)
    for lo in range(0, total, CHUNK_ROWS):
        c = _Chunk(base, plan_lines, lo, min(lo + CHUNK_ROWS, total))
        render = _csv_lines if plan.format == "csv" else _json_lines
        lines = render(c, plan, ctx, terminator)
        special = np.flatnonzero(c.kind >= MALFORMED)
        texts = [_special_line(c, lines, int(r), plan, terminator.encode()) for r in special]
        if texts:
            lines = _overwrite(lines, special, tm.from_bytes(texts))
        pieces.append(tm.compact(lines))
    data = b"".join(pieces)
    if not plan.final_newline and data.endswith(terminator.encode()):
        data = data[: -len(terminator)]
    return data


def _base_attributes(
    rng: np.random.Generator,
    rows: DayActivity,
    plan: EventsFilePlan,
    ctx: FileContext,
    defect: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per base row: the event and every random choice about how it is written."""
    n = len(rows)
    if plan.epoch_numbers:
        form = rng.choice(np.array(timestamps.EPOCH_CODES), n)
    else:
        form = rng.choice(len(timestamps.FORMS), n, p=timestamps.FORM_WEIGHTS)
    unknown = np.zeros(n, dtype=np.int64)
    is_unknown = defect == _CODE["unknown_product"]
    unknown[is_unknown] = ctx.first_unknown_product + np.arange(int(is_unknown.sum()))
    return {
        "ts": rows.ts_us,
        "user": rows.user,
        "product": rows.product,
        "event_type": rows.event_type,
        "quantity": rows.quantity,
        "session": rows.session,
        "defect": defect,
        "unknown_product": unknown,
        "form": form.astype(np.int8),
        "variant": rng.integers(0, 1 << 15, n),
        "type_variant": rng.random(n) < VALID_TYPE_VARIANT_RATE,
        "user_pad": (rng.random(n) < PADDED_USER_RATE).astype(np.int8),
        "missing_style": rng.integers(0, 3, n).astype(np.int8),
        "extra": rng.integers(0, 60, n),
    }


def build_events_file(
    rng: np.random.Generator,
    plan: EventsFilePlan,
    rows: DayActivity,
    mess: MessConfig,
    ctx: FileContext,
) -> tuple[bytes, FileCounts, int, int]:
    """The file's bytes (not yet gzipped), its expected counts, and how many event numbers
    and unknown-product numbers it used. `rows` must be in written order."""
    n = len(rows)
    defect = _defects(rng, n, mess)
    base = _base_attributes(rng, rows, plan, ctx, defect)
    lines = _plan_lines(rng, n, defect, mess, plan.blank_lines, ctx.first_event_number)
    data = _render(lines, base, plan, ctx)

    counts = FileCounts(
        "events",
        plan.format,
        plan.gzip,
        ctx.day,
        has_event_id=plan.has_event_id,
        features=plan.features(),
    )
    counts.rows_in = int((lines.kind != BLANK).sum())
    counts.rows_duplicate = int((lines.kind == DUPLICATE).sum())
    counts.rows_quarantined[Reason.MALFORMED_ROW] = int((lines.kind == MALFORMED).sum())
    for code, kind in enumerate(DEFECTS):
        counts.rows_quarantined[EVENT_FIELD_DEFECTS[kind]] += int((defect == code).sum())
    curated = defect == -1
    counts.rows_curated = int(curated.sum())
    days, per_day = np.unique(rows.ts_us[curated] // timestamps.US_PER_DAY, return_counts=True)
    counts.curated_by_event_date.update(
        {
            timestamps.EPOCH + dt.timedelta(days=int(d)): int(k)
            for d, k in zip(days, per_day, strict=True)
        }
    )
    counts.late_events = int((curated & rows.late).sum())
    counts.check()
    used_numbers = n + counts.rows_quarantined[Reason.MALFORMED_ROW]
    return data, counts, used_numbers, int((defect == _CODE["unknown_product"]).sum())
