"""Names and schemas of the data contract (docs/data-contract.md), in one place."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa

EVENT_TYPES = ("view", "add_to_cart", "wishlist", "purchase")

# Input columns, matched case-insensitively after trimming.
EVENT_REQUIRED = ("user_id", "product_id", "event_type", "event_timestamp")
EVENT_TIMESTAMP_ALIASES = ("event_timestamp", "event_time", "timestamp")
EVENT_OPTIONAL = ("event_id", "quantity", "session_id")
PRODUCT_REQUIRED = ("product_id", "category", "price")
PRODUCT_OPTIONAL = ("product_name", "stock_level")

_DROP_DATE = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})(?:/|$)")


def drop_date(key: str) -> dt.date | None:
    """The `dt=YYYY-MM-DD` folder of a dropped file's key (a products file's effective date)."""
    match = _DROP_DATE.search(key)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


MAX_QUANTITY = 10_000
DERIVED_ID_PREFIX = "derived-"


class Reason:
    """Row-level reason codes, in the order the checks run."""

    MALFORMED_ROW = "malformed_row"
    MISSING_USER_ID = "missing_user_id"
    MISSING_PRODUCT_ID = "missing_product_id"
    MISSING_EVENT_TYPE = "missing_event_type"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    MISSING_TIMESTAMP = "missing_timestamp"
    INVALID_TIMESTAMP = "invalid_timestamp"
    INVALID_QUANTITY = "invalid_quantity"
    UNKNOWN_PRODUCT = "unknown_product"
    # a price or a revenue that decimal(12,2) / decimal(14,2) cannot hold
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    MISSING_CATEGORY = "missing_category"
    MISSING_PRICE = "missing_price"
    INVALID_PRICE = "invalid_price"
    INVALID_STOCK_LEVEL = "invalid_stock_level"


EVENT_REASONS = (
    Reason.MALFORMED_ROW,
    Reason.MISSING_USER_ID,
    Reason.MISSING_PRODUCT_ID,
    Reason.MISSING_EVENT_TYPE,
    Reason.UNKNOWN_EVENT_TYPE,
    Reason.MISSING_TIMESTAMP,
    Reason.INVALID_TIMESTAMP,
    Reason.INVALID_QUANTITY,
    Reason.UNKNOWN_PRODUCT,
    Reason.AMOUNT_OUT_OF_RANGE,
)
# Events of a source whose rows carry their product's price (docs/sources.md): the price and
# the category are then checked on the row, after `invalid_quantity`.
OWN_PRICE_REASONS = (Reason.MISSING_PRICE, Reason.INVALID_PRICE, Reason.MISSING_CATEGORY)
PRODUCT_REASONS = (
    Reason.MALFORMED_ROW,
    Reason.MISSING_PRODUCT_ID,
    Reason.MISSING_CATEGORY,
    Reason.MISSING_PRICE,
    Reason.INVALID_PRICE,
    Reason.AMOUNT_OUT_OF_RANGE,
    Reason.INVALID_STOCK_LEVEL,
)


class FileError:
    """Whole-file error codes: the file is rejected and nothing of it is curated."""

    UNSUPPORTED_FORMAT = "unsupported_format"
    EMPTY_FILE = "empty_file"
    MISSING_COLUMNS = "missing_columns"
    INVALID_ENCODING = "invalid_encoding"
    CORRUPT_COMPRESSION = "corrupt_compression"
    UNKNOWN_PREFIX = "unknown_prefix"
    LINE_TOO_LONG = "line_too_long"
    COMPRESSION_BOMB = "compression_bomb"
    INVALID_HEADER = "invalid_header"
    # a `source=NAME` key whose NAME no profile has (or whose profile lacks the file's kind)
    UNKNOWN_SOURCE = "unknown_source"
    # a profile hashes user ids but no salt is configured (docs/sources.md)
    MISSING_HASH_SALT = "missing_hash_salt"


UTC_US = pa.timestamp("us", tz="UTC")
PRICE = pa.decimal128(12, 2)
REVENUE = pa.decimal128(14, 2)
MONEY_SUM = pa.decimal128(18, 2)

EVENT_ID_HASH = "event_id_hash"
CURATED_EVENTS = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("event_ts", UTC_US),
        ("event_date", pa.date32()),
        ("user_id", pa.string()),
        ("product_id", pa.string()),
        ("session_id", pa.string()),
        ("quantity", pa.int32()),
        ("product_name", pa.string()),
        ("category", pa.string()),
        ("unit_price", PRICE),
        ("revenue", REVENUE),
        ("source_file", pa.string()),
        ("ingested_at", UTC_US),
        # event_id's 64-bit hash (`id_hash.hash_column`), computed once when the event is
        # curated: the aggregation's check for an event in two files reads these 8 bytes a
        # row instead of the ids (a third of its time). Null in files written before it.
        (EVENT_ID_HASH, pa.int64()),
    ]
)

QUARANTINE = pa.schema(
    [
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("reason", pa.string()),
        ("raw_record", pa.string()),
        ("product_id", pa.string()),
        ("event_date", pa.date32()),
        ("quarantined_at", UTC_US),
    ]
)

# Events waiting for their product (reason unknown_product), cleaned but not enriched, so a
# later products file can release them into the curated zone.
ENRICHMENT = ("product_name", "category", "unit_price", "revenue")
PARKED_EVENTS = pa.schema(
    [
        f
        for f in CURATED_EVENTS
        if f.name not in ENRICHMENT and f.name not in ("ingested_at", EVENT_ID_HASH)
    ]
    + [pa.field("line_number", pa.int64()), CURATED_EVENTS.field("ingested_at")]
)

PRODUCT_HISTORY = pa.schema(
    [
        ("product_id", pa.string()),
        ("product_name", pa.string()),
        ("category", pa.string()),
        ("price", PRICE),
        ("stock_level", pa.int64()),
        ("effective_date", pa.date32()),
        ("source_file", pa.string()),
        ("ingested_at", UTC_US),
    ]
)

DAILY_CATEGORY_REVENUE = pa.schema(
    [
        ("event_date", pa.date32()),
        ("category", pa.string()),
        ("revenue", MONEY_SUM),
        ("purchases", pa.int64()),
        ("units", pa.int64()),
    ]
)
DAILY_TOP_VIEWED_PRODUCTS = pa.schema(
    [
        ("event_date", pa.date32()),
        ("rank", pa.int32()),
        ("product_id", pa.string()),
        ("product_name", pa.string()),
        ("category", pa.string()),
        ("views", pa.int64()),
    ]
)
DAILY_MULTI_PURCHASE_USERS = pa.schema(
    [
        ("event_date", pa.date32()),
        ("user_id", pa.string()),
        ("purchases", pa.int64()),
        ("total_spend", MONEY_SUM),
    ]
)
AGGREGATES = {
    "daily_category_revenue": DAILY_CATEGORY_REVENUE,
    "daily_top_viewed_products": DAILY_TOP_VIEWED_PRODUCTS,
    "daily_multi_purchase_users": DAILY_MULTI_PURCHASE_USERS,
}
TOP_VIEWED_LIMIT = 3
