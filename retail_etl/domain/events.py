"""Clean, deduplicate and enrich an events file, chunk by chunk (docs/data-contract.md §2)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retail_etl.domain import contract as c
from retail_etl.domain.catalog import ProductHistory
from retail_etl.domain.dedup import SeenIds
from retail_etl.domain.errors import FileRejected
from retail_etl.domain.id_hash import hash_column
from retail_etl.domain.mapping import Mapping, mapped_chunks
from retail_etl.domain.money import cents_to_decimal, fits, max_cents, price_to_cents
from retail_etl.domain.profile import Profile
from retail_etl.domain.reading import (
    DEFAULT_BLOCK_BYTES,
    DEFAULT_LIMITS,
    Chunk,
    ReadLimits,
    text_column,
)
from retail_etl.domain.report import FileReport
from retail_etl.domain.timestamps import parse_timestamps

Reason = c.Reason
WANTED = ("event_id", *c.EVENT_REQUIRED[:3], *c.EVENT_TIMESTAMP_ALIASES, "quantity", "session_id")
REQUIRED = (("user_id",), ("product_id",), ("event_type",), c.EVENT_TIMESTAMP_ALIASES)
US_PER_DAY = 86_400_000_000
# Codes index the contract's reasons, then those only a profile with prices on rows can give.
_REASONS = (*c.EVENT_REASONS, *c.OWN_PRICE_REASONS)
_CODES = {reason: i + 1 for i, reason in enumerate(_REASONS)}
_REASON_TEXT = pa.array(_REASONS, type=pa.string())  # code - 1 -> reason
_MAX_PRICE_CENTS = max_cents(c.PRICE)
_QUANTITY = r"^0*[0-9]{1,9}$"  # leading zeros allowed; never more digits than int64 holds


@dataclass
class EventsBatch:
    """One chunk's output: curated events (CURATED_EVENTS), quarantined rows (QUARANTINE) and,
    among those, the unknown_product events parked for later enrichment (PARKED_EVENTS)."""

    curated: pa.Table
    quarantine: pa.Table
    parked: pa.Table
    # events carrying their own price: the product seen on each curated row (product_id,
    # product_name, category, price_cents, event_date), in file order, for the history
    products: pa.Table | None = None


def _hex_ids(h1: np.ndarray, h2: np.ndarray) -> pa.Array:
    """`derived-` + 32 hex digits per row, built from one buffer instead of per-row formatting."""
    words = np.empty((len(h1), 2), dtype=">u8")
    words[:, 0], words[:, 1] = h1, h2
    data = words.tobytes().hex().encode("ascii")
    offsets = np.arange(0, 32 * len(h1) + 1, 32, dtype=np.int32)
    hexes = pa.Array.from_buffers(
        pa.string(), len(h1), [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)]
    )
    return pc.binary_join_element_wise(c.DERIVED_ID_PREFIX, hexes, "")


def _fingerprints(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit SipHash values per string: a 128-bit content fingerprint."""
    objects = values.to_numpy(zero_copy_only=False)
    return (
        pd.util.hash_array(objects, hash_key="retail-etl-ids-1", categorize=False),
        pd.util.hash_array(objects, hash_key="retail-etl-ids-2", categorize=False),
    )


def derive_ids(user, product, event_type, micros: np.ndarray, quantity, session) -> pa.Array:
    """Deterministic ids from cleaned content, so identical rows get identical ids."""
    content = pc.binary_join_element_wise(
        user,
        product,
        event_type,
        pa.array(micros).cast(pa.string()),
        pa.array(quantity).cast(pa.string()),
        pc.fill_null(session, ""),
        "\x1f",
    )
    return _hex_ids(*_fingerprints(content))


def enriched(events: pa.Table, history: ProductHistory, rows: np.ndarray) -> pa.Table:
    """Curated events from cleaned ones (PARKED_EVENTS columns) and their history rows."""
    return _enriched(events, *history.attributes(rows))


def purchases(event_type) -> np.ndarray:
    """Which (cleaned) event types are purchases, the only events with a revenue."""
    return pc.fill_null(pc.equal(event_type, "purchase"), False).to_numpy(zero_copy_only=False)


def revenue_fits(purchase: np.ndarray, quantity: np.ndarray, price_cents: np.ndarray) -> np.ndarray:
    """Which events' revenue (purchases: price x quantity) decimal(14,2) can hold; a price
    in the history always fits decimal(12,2), but 10,000 of one need not fit the revenue."""
    return ~purchase | fits(price_cents * quantity.astype(np.int64), c.REVENUE)


def _enriched(events: pa.Table, names, categories, price_cents: np.ndarray) -> pa.Table:
    quantity = events["quantity"].to_numpy().astype(np.int64)
    purchase = purchases(events["event_type"])
    columns = {name: events[name] for name in c.PARKED_EVENTS.names if name != "line_number"}
    columns |= {
        "product_name": names,
        "category": categories,
        "unit_price": cents_to_decimal(price_cents, c.PRICE),
        "revenue": cents_to_decimal(price_cents * quantity, c.REVENUE, valid=purchase),
        c.EVENT_ID_HASH: pa.array(hash_column(events["event_id"])),
    }
    return pa.table({name: columns[name] for name in c.CURATED_EVENTS.names}, c.CURATED_EVENTS)


def release_parked(parked: pa.Table, history: ProductHistory) -> tuple[pa.Table, pa.Table]:
    """Enrich the parked events whose product is now known: (curated, still parked).

    An event whose revenue would not fit decimal(14,2) with the version now known stays
    parked (it is in quarantine already); a later version with a smaller price releases it.
    """
    days = parked["event_date"].cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = history.lookup(parked["product_id"], days)
    known = np.flatnonzero(rows >= 0)
    names, categories, price = history.attributes(rows[known])
    known_parked = parked.take(pa.array(known))
    ok = revenue_fits(
        purchases(known_parked["event_type"]), known_parked["quantity"].to_numpy(), price
    )
    release = np.zeros(len(rows), dtype=bool)
    release[known[ok]] = True
    keep = pa.array(ok)
    curated = _enriched(
        parked.filter(pa.array(release)), names.filter(keep), categories.filter(keep), price[ok]
    )
    return curated, parked.filter(pa.array(~release))


class EventsCleaner:
    """Holds what must survive between chunks of one file: the ids already kept."""

    def __init__(
        self,
        key: str,
        history: ProductHistory,
        ingested_at_us: int,
        report: FileReport,
        own_prices: bool = False,
    ) -> None:
        self.key = key
        self.history = history
        self.ingested_at_us = ingested_at_us
        self.report = report
        self.seen = SeenIds()
        # rows carry their product (a profile maps unit_price): enriched with that, not the
        # history, so the event's own price is its unit price
        self.own_prices = own_prices

    def clean(self, chunk: Chunk) -> EventsBatch:
        n = chunk.num_rows
        reason = np.zeros(n, dtype=np.int8)

        def flag(mask: np.ndarray, code: str) -> None:
            reason[(reason == 0) & mask] = _CODES[code]

        def missing(values: pa.Array) -> np.ndarray:
            return values.is_null().to_numpy(zero_copy_only=False)

        user, product = text_column(chunk, "user_id"), text_column(chunk, "product_id")
        event_type = pc.utf8_lower(text_column(chunk, "event_type"))
        stamp = pc.coalesce(*(text_column(chunk, a) for a in c.EVENT_TIMESTAMP_ALIASES))
        quantity_text = text_column(chunk, "quantity")
        flag(missing(user), Reason.MISSING_USER_ID)
        flag(missing(product), Reason.MISSING_PRODUCT_ID)
        flag(missing(event_type), Reason.MISSING_EVENT_TYPE)
        known_type = pc.is_in(event_type, value_set=pa.array(c.EVENT_TYPES))
        flag(~known_type.to_numpy(zero_copy_only=False), Reason.UNKNOWN_EVENT_TYPE)
        flag(missing(stamp), Reason.MISSING_TIMESTAMP)

        micros = np.zeros(n, dtype=np.int64)
        timed = np.flatnonzero(reason == 0)
        if len(timed):
            stamps = stamp if len(timed) == n else stamp.take(pa.array(timed))
            parsed, valid = parse_timestamps(stamps)
            micros[timed] = parsed
            bad_time = np.zeros(n, dtype=bool)
            bad_time[timed[~valid]] = True
            flag(bad_time, Reason.INVALID_TIMESTAMP)
        has_time = (reason == 0).copy()

        digits = pc.fill_null(pc.match_substring_regex(quantity_text, _QUANTITY), False)
        quantity = pc.cast(pc.if_else(digits, quantity_text, "1"), pa.int64()).to_numpy()
        quantity_ok = digits.to_numpy(zero_copy_only=False) & (quantity >= 1)
        quantity_ok &= quantity <= c.MAX_QUANTITY
        quantity_ok |= missing(quantity_text)  # a missing quantity means 1
        flag(~quantity_ok, Reason.INVALID_QUANTITY)
        if self.own_prices:
            price_text = text_column(chunk, "unit_price")
            own_cents, price_ok = _price_cents(price_text)
            flag(missing(price_text), Reason.MISSING_PRICE)
            flag(~price_ok, Reason.INVALID_PRICE)
            flag(own_cents > _MAX_PRICE_CENTS, Reason.AMOUNT_OUT_OF_RANGE)
            flag(missing(text_column(chunk, "category")), Reason.MISSING_CATEGORY)

        ok = np.flatnonzero(reason == 0)
        session = text_column(chunk, "session_id")
        ids = text_column(chunk, "event_id").take(pa.array(ok))
        if ids.null_count:
            at = pa.array(ok)
            derived = derive_ids(
                user.take(at),
                product.take(at),
                event_type.take(at),
                micros[ok],
                quantity[ok],
                session.take(at),
            )
            ids = pc.coalesce(ids, derived)
        first = self.seen.first_occurrences(ids)
        self.report.rows_duplicate += int((~first).sum())

        kept_in_ok = np.flatnonzero(first)  # positions within `ok` (and `ids`)
        kept = ok[kept_in_ok]
        if self.own_prices:
            history_rows = np.zeros(len(kept), dtype=np.int64)
            price = own_cents[kept]
        else:
            history_rows = self.history.lookup(
                product.take(pa.array(kept)), micros[kept] // US_PER_DAY
            )
            price = self.history.price_cents(history_rows)
        known = history_rows >= 0
        reason[kept[~known]] = _CODES[Reason.UNKNOWN_PRODUCT]
        in_range = known & revenue_fits(purchases(event_type)[kept], quantity[kept], price)
        reason[kept[known & ~in_range]] = _CODES[Reason.AMOUNT_OUT_OF_RANGE]

        def cleaned(at: np.ndarray) -> tuple[pa.Table, np.ndarray]:
            """The cleaned events (PARKED_EVENTS) at these positions among the kept rows,
            taken once from the chunk's columns and grouped by event date (file order within
            a date, so each date is one slice); and the positions in that order."""
            days = micros[kept[at]] // US_PER_DAY
            if len(days) > 1 and (np.diff(days) < 0).any():
                order = np.argsort(days, kind="stable")
                at, days = at[order], days[order]
            rows = kept[at]
            take = pa.array(rows)
            table = pa.table(
                {
                    "event_id": ids.take(pa.array(kept_in_ok[at])),
                    "event_type": event_type.take(take),
                    "event_ts": pa.array(micros[rows], type=pa.int64()).cast(c.UTC_US),
                    "event_date": pa.array(days.astype(np.int32)).cast(pa.date32()),
                    "user_id": user.take(take),
                    "product_id": product.take(take),
                    "session_id": session.take(take),
                    "quantity": pa.array(quantity[rows].astype(np.int32)),
                    "source_file": pa.repeat(pa.scalar(self.key, pa.string()), len(rows)),
                    "line_number": pa.array(chunk.line_numbers[rows]),
                    "ingested_at": pa.array(np.full(len(rows), self.ingested_at_us)).cast(c.UTC_US),
                },
                schema=c.PARKED_EVENTS,
            )
            return table, at

        good, at = cleaned(np.flatnonzero(in_range))
        if self.own_prices:
            rows = pa.array(kept[at])
            names = text_column(chunk, "product_name").take(rows)
            categories = text_column(chunk, "category").take(rows)
        else:
            names, categories = self.history.texts(history_rows[at])
        curated = _enriched(good, names, categories, price[at])
        products = None
        if self.own_prices:
            products = pa.table(
                {
                    "product_id": curated["product_id"],
                    "product_name": curated["product_name"],
                    "category": curated["category"],
                    "price_cents": pa.array(price[at], type=pa.int64()),
                    "event_date": curated["event_date"],
                }
            )
        quarantine = self._quarantine(chunk, reason, product, micros, has_time)
        self._count(chunk, reason, curated)
        parked, _ = cleaned(np.flatnonzero(~known))
        return EventsBatch(curated, quarantine, parked, products)

    def _quarantine(self, chunk, reason, product, micros, has_time) -> pa.Table:
        rows = np.flatnonzero(reason != 0)
        codes = reason[rows]
        dated = has_time[rows]
        days = np.where(dated, micros[rows] // US_PER_DAY, 0).astype(np.int32)
        lines = np.concatenate([chunk.line_numbers[rows], [ln for ln, _ in chunk.malformed_lines]])
        n_bad = len(chunk.malformed_lines)
        return pa.table(
            {
                "source_file": pa.repeat(pa.scalar(self.key, pa.string()), len(rows) + n_bad),
                "line_number": pa.array(lines.astype(np.int64)),
                "reason": pa.concat_arrays(
                    [
                        _REASON_TEXT.take(pa.array(codes.astype(np.int64) - 1)),
                        pa.repeat(pa.scalar(Reason.MALFORMED_ROW, pa.string()), n_bad),
                    ]
                ),
                "raw_record": pa.concat_arrays(
                    [
                        chunk.raw_records(rows),
                        pa.array([raw for _, raw in chunk.malformed_lines], type=pa.string()),
                    ]
                ),
                "product_id": pa.concat_arrays(
                    [product.take(pa.array(rows)), pa.nulls(n_bad, pa.string())]
                ),
                "event_date": pa.concat_arrays(
                    [
                        pa.array(days, mask=~dated).cast(pa.date32()),
                        pa.nulls(n_bad, pa.date32()),
                    ]
                ),
                "quarantined_at": pa.array(
                    np.full(len(rows) + n_bad, self.ingested_at_us), type=pa.int64()
                ).cast(c.UTC_US),
            },
            schema=c.QUARANTINE,
        )

    def _count(self, chunk: Chunk, reason: np.ndarray, curated: pa.Table) -> None:
        report = self.report
        report.rows_in += chunk.num_rows + len(chunk.malformed_lines)
        report.rows_curated += curated.num_rows
        if chunk.malformed_lines:
            report.rows_quarantined[Reason.MALFORMED_ROW] += len(chunk.malformed_lines)
        codes, counts = np.unique(reason[reason != 0], return_counts=True)
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
            report.rows_quarantined[_REASONS[code - 1]] += count
        if curated.num_rows:
            dates = pc.unique(curated["event_date"]).to_pylist()
            report.event_dates.update(dates)


def clean_events_file(
    stream: BinaryIO,
    key: str,
    history: ProductHistory,
    ingested_at_us: int,
    report: FileReport,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    limits: ReadLimits = DEFAULT_LIMITS,
    profile: Profile | None = None,
    salt: bytes | None = None,
    on_batch: Callable[[Chunk, EventsBatch], None] | None = None,
) -> Iterator[EventsBatch]:
    """Batches of curated and quarantined rows; `report` is kept up to date as they come.

    With a source `profile`, each chunk is first mapped onto the contract (`domain/mapping.py`);
    the rows it excludes are counted in `report.rows_excluded`. Columns the file has that
    nothing reads are collected in `report.unused_columns`. `on_batch` sees each (mapped)
    chunk with its batch (`sources check` uses it to show the values rejected).

    Raises FileRejected when the file must be rejected as a whole; callers must then discard
    the batches already received (nothing half-written may become visible).
    """
    mapping = events_mapping(key, profile, salt)
    own_prices = bool(mapping and mapping.section.own_prices)
    cleaner = EventsCleaner(key, history, ingested_at_us, report, own_prices)
    chunks = mapped_chunks(stream, key, mapping, (WANTED, REQUIRED), report, block_bytes, limits)
    for chunk in chunks:
        batch = cleaner.clean(chunk)
        if on_batch is not None:
            on_batch(chunk, batch)
        yield batch


def events_mapping(key: str, profile: Profile | None, salt: bytes | None) -> Mapping | None:
    """The mapping of an events file's profile; FileRejected when it cannot be applied."""
    if profile is None:
        return None
    if profile.events is None:
        raise FileRejected(
            c.FileError.UNKNOWN_SOURCE, f"{key}: source {profile.name!r} has no events section"
        )
    if profile.hash_user_ids and not salt:
        raise FileRejected(
            c.FileError.MISSING_HASH_SALT,
            f"{key}: source {profile.name!r} hashes user ids but no salt is configured",
        )
    return Mapping(profile, profile.events, salt)


def _price_cents(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Cents of contract price strings (half-up), computed once per distinct value, and
    whether each present value is a price (a missing one counts as valid here)."""
    unique = pc.unique(values)
    cents = [price_to_cents(v) for v in unique.to_pylist()]
    pos = pc.index_in(values, value_set=unique).to_numpy(zero_copy_only=False)
    pos = np.nan_to_num(pos, nan=0).astype(np.int64) if pos.dtype.kind == "f" else pos
    known = np.array([v is not None for v in cents] or [False], dtype=bool)
    numbers = np.array([0 if v is None else min(v, 1 << 62) for v in cents] or [0], np.int64)
    present = values.is_valid().to_numpy(zero_copy_only=False)
    ok = known[pos] | ~present
    return np.where(known[pos], numbers[pos], 0), ok
