"""The three daily aggregates of docs/data-contract.md §4, over curated events.

Grouping runs in Arrow's hash aggregation and money is summed as integer cents, so results are
exact to the cent and identical to the SQL and Spark versions.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_etl.domain import contract as c
from retail_etl.domain.id_hash import hash_ids
from retail_etl.domain.money import cents_to_decimal, decimal_to_cents

# Low-cardinality text read dictionary-encoded: a fraction of the memory, faster grouping.
DICTIONARY_COLUMNS = (
    "event_type",
    "user_id",
    "product_id",
    "product_name",
    "category",
    "source_file",
)
COLUMNS = (
    "event_id",
    "event_type",
    "event_date",
    "user_id",
    "product_id",
    "product_name",
    "category",
    "quantity",
    "revenue",
    "source_file",
)


_HIGH_BIT = np.uint64(1 << 63)


def _may_repeat(ids: pa.ChunkedArray) -> bool:
    """Whether any id may occur twice: a 64-bit polynomial hash of every id, taken eight
    bytes at a time over Arrow's buffers, then sorted. Far less memory than a hash set of the
    strings (about 40 bytes per row instead of 160); a True only sends the ids to the exact
    check, so a hash collision costs time, never correctness. Both cores share the work (numpy
    releases the GIL in each step): chunks (data files) are hashed side by side, and the hashes
    are split by their top bit into two halves, each sorted on its own (equal hashes share the
    bit, so a repeat lies within one half)."""
    chunks = [chunk for chunk in ids.chunks if len(chunk)]
    if not chunks:
        return False
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="id-hash") as pool:
        halves = list(pool.map(_halves, chunks))
        merged = [np.concatenate(half) for half in zip(*halves, strict=True)]
        return any(pool.map(_has_repeat, merged))


def _halves(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    hashes = hash_ids(chunk)
    high = hashes >= _HIGH_BIT
    return hashes[~high], hashes[high]


def _has_repeat(hashes: np.ndarray) -> bool:
    hashes.sort()  # in place: the array is this call's own
    return bool((hashes[1:] == hashes[:-1]).any())


def _drop_repeated(events: pa.Table) -> pa.Table:
    """Keep one copy per event_id: the one from the first source file in key order (never
    arrival order, so the result depends on the files alone). Called once the cheap check
    (`_may_repeat`) has found that ids may repeat.

    Files are deduplicated on their own at ingest, so copies only exist when the same event
    came in two files; the expensive ordering is done for those ids only.
    """
    counts = events.group_by("event_id").aggregate([("event_id", "count")])
    repeated = counts.filter(pc.greater(counts["event_id_count"], 1))["event_id"]
    if not len(repeated):
        return events
    in_repeated = pc.is_in(events["event_id"], value_set=repeated)
    single = events.filter(pc.invert(in_repeated))
    copies = events.filter(in_repeated)
    copies = copies.set_column(
        copies.schema.get_field_index("source_file"), "source_file", _text(copies["source_file"])
    )
    order = pc.sort_indices(
        copies,
        sort_keys=[
            ("event_id", "ascending"),
            ("source_file", "ascending"),
        ],
    )
    copies = copies.take(order)
    ids = copies["event_id"].combine_chunks()
    first = np.ones(len(ids), dtype=bool)
    if len(ids) > 1:
        first[1:] = pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)
    return pa.concat_tables([single.cast(copies.schema), copies.filter(pa.array(first))])


def _with_cents(table: pa.Table) -> pa.Table:
    return table.append_column("revenue_cents", pa.array(decimal_to_cents(table["revenue"])))


def _text(values) -> pa.ChunkedArray:
    """Group keys may arrive dictionary-encoded (cheaper to read); outputs are plain strings."""
    return values.cast(pa.string()) if pa.types.is_dictionary(values.type) else values


def _decoded(table: pa.Table) -> pa.Table:
    """A (small) grouped result with its dictionary columns as plain strings, to sort it."""
    return pa.table({name: _text(table[name]) for name in table.column_names})


def daily_category_revenue(purchases: pa.Table) -> pa.Table:
    grouped = _decoded(
        purchases.group_by(["event_date", "category"]).aggregate(
            [("revenue_cents", "sum"), ("quantity", "count"), ("quantity", "sum")]
        )
    )
    grouped = grouped.sort_by([("event_date", "ascending"), ("category", "ascending")])
    return pa.table(
        {
            "event_date": grouped["event_date"],
            "category": grouped["category"],
            "revenue": cents_to_decimal(grouped["revenue_cents_sum"].to_numpy(), c.MONEY_SUM),
            "purchases": grouped["quantity_count"],
            "units": grouped["quantity_sum"].cast(pa.int64()),
        },
        schema=c.DAILY_CATEGORY_REVENUE,
    )


def daily_top_viewed_products(events: pa.Table) -> pa.Table:
    """Over every event, not the views alone: counting per event type and keeping the views'
    (small) counts costs less than copying the views out first."""
    # Count per (product, name, category) first: those keys may be dictionary-encoded, which
    # max() cannot take; the small result is then folded per product.
    keys = ["event_type", "event_date", "product_id", "product_name", "category"]
    counted = events.select(keys).unify_dictionaries().group_by(keys)
    counted = _decoded(counted.aggregate([("product_id", "count")]))
    counted = counted.filter(pc.equal(counted["event_type"], "view"))
    grouped = counted.group_by(["event_date", "product_id"]).aggregate(
        [("product_id_count", "sum"), ("product_name", "max"), ("category", "max")]
    )
    grouped = grouped.append_column("views", grouped["product_id_count_sum"])
    grouped = grouped.sort_by(
        [("event_date", "ascending"), ("views", "descending"), ("product_id", "ascending")]
    )
    dates = grouped["event_date"].combine_chunks().cast(pa.int32()).to_numpy()
    starts = np.r_[0, np.flatnonzero(np.diff(dates)) + 1] if len(dates) else np.zeros(0, int)
    rank = np.arange(len(dates)) - np.repeat(starts, np.diff(np.r_[starts, len(dates)]))
    keep = rank < c.TOP_VIEWED_LIMIT
    top = grouped.filter(pa.array(keep))
    return pa.table(
        {
            "event_date": top["event_date"],
            "rank": pa.array((rank[keep] + 1).astype(np.int32)),
            "product_id": top["product_id"],
            "product_name": top["product_name_max"],
            "category": top["category_max"],
            "views": top["views"],
        },
        schema=c.DAILY_TOP_VIEWED_PRODUCTS,
    )


def daily_multi_purchase_users(purchases: pa.Table) -> pa.Table:
    grouped = _decoded(
        purchases.group_by(["event_date", "user_id"]).aggregate(
            [("quantity", "count"), ("revenue_cents", "sum")]
        )
    )
    grouped = grouped.filter(pc.greater_equal(grouped["quantity_count"], 2))
    grouped = grouped.sort_by([("event_date", "ascending"), ("user_id", "ascending")])
    return pa.table(
        {
            "event_date": grouped["event_date"],
            "user_id": grouped["user_id"],
            "purchases": grouped["quantity_count"],
            "total_spend": cents_to_decimal(grouped["revenue_cents_sum"].to_numpy(), c.MONEY_SUM),
        },
        schema=c.DAILY_MULTI_PURCHASE_USERS,
    )


def compute_aggregates(events: pa.Table) -> dict[str, pa.Table]:
    """All three aggregates for every event_date present in `events` (curated rows).

    The cross-file repeat check runs beside the aggregates over every row instead of before
    them: an event in two files is rare, so the aggregates are computed again, over the
    deduplicated rows, only when the check finds one (both cores stay busy meanwhile)."""
    events = events.select(list(COLUMNS))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="repeat-check") as check:
        may_repeat = check.submit(_may_repeat, events["event_id"])
        tables = _aggregates(events)
    if may_repeat.result():
        deduplicated = _drop_repeated(events)
        if deduplicated.num_rows < events.num_rows:
            tables = _aggregates(deduplicated)
    return tables


def _aggregates(events: pa.Table) -> dict[str, pa.Table]:
    """The three aggregates over `events` as they are (no repeated event ids)."""
    # Only the columns the purchase aggregates need are copied by the filter (event ids are
    # the largest column and no aggregate needs them once duplicates are gone). Grouping
    # needs one dictionary per column: the small ones are unified, while user ids (a large
    # dictionary in every data file) are decoded for the few purchase rows instead.
    purchases = events.select(["event_date", "category", "user_id", "quantity", "revenue"])
    purchases = purchases.filter(pc.equal(events["event_type"], "purchase"))
    purchases = _with_cents(
        purchases.set_column(2, "user_id", _text(purchases["user_id"])).unify_dictionaries()
    )
    # Arrow's grouping releases the GIL: the three run side by side on two cores
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="aggregate") as pool:
        tables = {
            "daily_category_revenue": pool.submit(daily_category_revenue, purchases),
            "daily_top_viewed_products": pool.submit(daily_top_viewed_products, events),
            "daily_multi_purchase_users": pool.submit(daily_multi_purchase_users, purchases),
        }
        return {name: future.result() for name, future in tables.items()}
