"""The three daily aggregates of docs/data-contract.md §4, over curated events.

Grouping runs in Arrow's hash aggregation and money is summed as integer cents, so results are
exact to the cent and identical to the SQL and Spark versions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# Table.group_by's engine, imported with this module rather than by the first grouping: in a
# Lambda's init, not in its first invocation.
import pyarrow.acero
import pyarrow.compute as pc

from retail_etl.domain import contract as c
from retail_etl.domain.id_hash import hash_column
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
    c.EVENT_ID_HASH,
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


# What the aggregates read of each row: the id's stored hash rather than the id (a third of
# the work, measured); the id and `source_file` only when an id may repeat.
SUMMARY_COLUMNS = tuple(name for name in COLUMNS if name not in ("event_id", "source_file"))
_VIEW_KEYS = ["event_type", "event_date", "product_id", "product_name", "category"]
_PURCHASE_COLUMNS = ["event_date", "category", "user_id", "quantity", "revenue"]
_SLICE_ROWS = 1 << 18  # an in-memory table is summarized in parts of this many rows

# Reads one part of the curated events (a data file, a slice of a table): the given columns,
# the low-cardinality ones possibly dictionary-encoded.
Part = Callable[[Sequence[str]], pa.Table]


@dataclass(frozen=True)
class _Summary:
    """What the aggregates need of one part, small whatever the part's size: the hashes of its
    event ids, its view counts per (event_type, event_date, product_id, product_name,
    category), and its purchase rows; text as plain strings, so that parts read with different
    dictionaries combine."""

    hashes: np.ndarray
    counts: pa.Table
    purchases: pa.Table


def _summary(events: pa.Table) -> _Summary:
    counts = _decoded(
        events.select(_VIEW_KEYS)
        .unify_dictionaries()  # a slice or the deduplicated rows may span several
        .group_by(_VIEW_KEYS, use_threads=False)
        .aggregate([("product_id", "count")])
    )
    purchases = events.select(_PURCHASE_COLUMNS)
    purchases = purchases.filter(_equals(events["event_type"], "purchase"))
    purchases = pa.table(
        {
            "event_date": purchases["event_date"],
            "category": _text(purchases["category"]),
            "user_id": _text(purchases["user_id"]),
            "quantity": purchases["quantity"],
            "revenue_cents": pa.array(decimal_to_cents(purchases["revenue"])),
        }
    )
    return _Summary(_hashes(events), counts, purchases)


def _read_summary(read: Part) -> _Summary:
    events = read(SUMMARY_COLUMNS)
    if events[c.EVENT_ID_HASH].null_count:  # a data file written before the column was
        events = events.append_column("event_id", read(["event_id"])["event_id"])
    return _summary(events)


def _equals(values: pa.ChunkedArray, text: str) -> pa.ChunkedArray:
    """`values == text`, comparing a dictionary chunk's indices with the text's index in its
    dictionary: Arrow's own comparison decodes every value first (10x the time, measured)."""
    masks = []
    for chunk in values.chunks:
        if pa.types.is_dictionary(chunk.type):
            at = pc.index(chunk.dictionary, text)  # -1 (no index) when absent
            masks.append(pc.equal(chunk.indices, at.cast(chunk.indices.type)))
        else:
            masks.append(pc.equal(chunk, text))
    return pa.chunked_array(masks, pa.bool_())


def _hashes(events: pa.Table) -> np.ndarray:
    """The rows' event_id hashes: those stored with them, or made from the ids when some
    rows have none (equal either way: the column holds `hash_column` of the id)."""
    stored = events[c.EVENT_ID_HASH]
    if not stored.null_count:
        return stored.to_numpy()
    return hash_column(events["event_id"])


def _may_repeat(hashes: Sequence[np.ndarray]) -> bool:
    """Whether any id may occur twice among all parts: every id's 64-bit hash
    (`event_id_hash`), sorted. Far less memory than a hash set of the strings (8 bytes per row
    instead of about 160); a True only sends the ids to the exact check, so a hash collision
    costs time, never correctness."""
    merged = np.concatenate(hashes)
    merged.sort()  # in place: the array is this call's own
    return bool((merged[1:] == merged[:-1]).any())


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


def _text(values) -> pa.ChunkedArray:
    """Group keys may arrive dictionary-encoded (cheaper to read); outputs are plain strings."""
    return values.cast(pa.string()) if pa.types.is_dictionary(values.type) else values


def _decoded(table: pa.Table) -> pa.Table:
    """A (small) grouped result with its dictionary columns as plain strings, to sort it."""
    return pa.table({name: _text(table[name]) for name in table.column_names})


def daily_category_revenue(purchases: pa.Table) -> pa.Table:
    grouped = _decoded(
        purchases.group_by(["event_date", "category"], use_threads=False).aggregate(
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


def daily_top_viewed_products(counts: pa.Table) -> pa.Table:
    """From the parts' counts per (event_type, event_date, product_id, product_name,
    category): counting per event type and keeping the views' (small) counts costs less than
    copying the views out first. The keys are counted first because max() cannot take the
    dictionary-encoded names; the small result is then folded per product."""
    counted = counts.filter(pc.equal(counts["event_type"], "view"))
    grouped = counted.group_by(["event_date", "product_id"], use_threads=False).aggregate(
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
        purchases.group_by(["event_date", "user_id"], use_threads=False).aggregate(
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
    """All three aggregates for every event_date present in `events` (curated rows, in
    memory), summarized in slices on both cores."""
    return aggregate_parts(
        [
            lambda columns, at=at: events.slice(at, _SLICE_ROWS).select(list(columns))
            for at in range(0, max(events.num_rows, 1), _SLICE_ROWS)
        ]
    )


def aggregate_parts(parts: Sequence[Part]) -> dict[str, pa.Table]:
    """All three aggregates over the curated events that `parts` read, each part (a data
    file) read and summarized by one of two threads (Parquet decoding, Arrow's grouping and
    numpy release the GIL), so only the parts' small summaries are ever held together.

    The cross-file repeat check comes with the summaries: an event in two files is rare, so
    the rows are read whole, deduplicated and summarized again only when it finds one."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="aggregate") as pool:
        summaries = list(pool.map(_read_summary, parts)) or [
            _summary(c.CURATED_EVENTS.empty_table())
        ]
        # the check (a sort) runs beside the three aggregates, redone only if it finds one
        may_repeat = pool.submit(_may_repeat, [s.hashes for s in summaries])
        tables = _aggregates(summaries, pool)
        if may_repeat.result():
            events = pa.concat_tables([read(COLUMNS) for read in parts])
            deduplicated = _drop_repeated(events)
            if deduplicated.num_rows < events.num_rows:
                tables = _aggregates([_summary(deduplicated)], pool)
    return tables


def _aggregates(summaries: list[_Summary], pool: ThreadPoolExecutor) -> dict[str, pa.Table]:
    """The three from the parts' summaries: the largest (users) on the pool, the other two
    meanwhile on this thread (Arrow's grouping and sorting release the GIL)."""
    counts = pa.concat_tables([s.counts for s in summaries])
    purchases = pa.concat_tables([s.purchases for s in summaries])
    users = pool.submit(daily_multi_purchase_users, purchases)
    return {
        "daily_category_revenue": daily_category_revenue(purchases),
        "daily_top_viewed_products": daily_top_viewed_products(counts),
        "daily_multi_purchase_users": users.result(),
    }
