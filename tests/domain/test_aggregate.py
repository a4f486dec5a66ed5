"""The aggregates against an independent DuckDB SQL oracle over the same curated rows."""

import datetime as dt
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_etl.domain import contract as c
from retail_etl.domain.aggregate import compute_aggregates
from retail_etl.domain.id_hash import hash_column
from retail_etl.domain.money import cents_to_decimal

ORACLE = {
    "daily_category_revenue": """
        SELECT event_date, category, CAST(sum(revenue) AS DECIMAL(18,2)) AS revenue,
               count(*) AS purchases, CAST(sum(quantity) AS BIGINT) AS units
        FROM d WHERE event_type = 'purchase' GROUP BY ALL ORDER BY event_date, category""",
    "daily_top_viewed_products": """
        SELECT event_date, CAST(rnk AS INTEGER) AS rank, product_id, product_name, category, views
        FROM (SELECT event_date, product_id, max(product_name) AS product_name,
                     max(category) AS category, count(*) AS views,
                     row_number() OVER (PARTITION BY event_date
                                        ORDER BY count(*) DESC, product_id) AS rnk
              FROM d WHERE event_type = 'view' GROUP BY event_date, product_id)
        WHERE rnk <= 3 ORDER BY event_date, rank""",
    "daily_multi_purchase_users": """
        SELECT event_date, user_id, count(*) AS purchases,
               CAST(sum(revenue) AS DECIMAL(18,2)) AS total_spend
        FROM d WHERE event_type = 'purchase' GROUP BY ALL HAVING count(*) >= 2
        ORDER BY event_date, user_id""",
}
DEDUP = """
    CREATE TEMP TABLE d AS SELECT * EXCLUDE (rn) FROM (
        SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY ingested_at, source_file) AS rn
        FROM events) WHERE rn = 1"""


def oracle(events: pa.Table) -> dict[str, pa.Table]:
    con = duckdb.connect()
    con.register("events", events)
    con.execute(DEDUP)
    return {
        name: con.execute(sql).fetch_arrow_table().cast(c.AGGREGATES[name])
        for name, sql in ORACLE.items()
    }


def curated_events(n: int, seed: int, duplicates: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    types = rng.choice(list(c.EVENT_TYPES), n, p=[0.6, 0.2, 0.05, 0.15])
    products = rng.zipf(1.5, n) % 40
    cents = (products * 137 % 5000 + 99).astype(np.int64)
    qty = rng.integers(1, 4, n)
    day = rng.integers(0, 3, n)
    micros = (day + 20_758) * 86_400_000_000 + rng.integers(0, 86_400_000_000, n)
    purchase = types == "purchase"
    ids = pa.array([f"e{i}" for i in range(n)], pa.string())
    table = pa.table(
        {
            "event_id": ids,
            "event_type": types,
            "event_ts": pa.array(micros).cast(c.UTC_US),
            "event_date": pa.array((micros // 86_400_000_000).astype(np.int32)).cast(pa.date32()),
            "user_id": [f"U{u}" for u in rng.integers(0, 25, n)],
            "product_id": [f"P{p:03d}" for p in products],
            "session_id": pa.nulls(n, pa.string()),
            "quantity": pa.array(qty.astype(np.int32)),
            "product_name": [f"name {p}" for p in products],
            "category": [f"cat{p % 6}" for p in products],
            "unit_price": cents_to_decimal(cents, c.PRICE),
            "revenue": cents_to_decimal(cents * qty, c.REVENUE, valid=purchase),
            "source_file": ["events/a.csv"] * n,
            "ingested_at": pa.array(np.full(n, 10), type=pa.int64()).cast(c.UTC_US),
            "event_id_hash": hash_column(ids),
        },
        schema=c.CURATED_EVENTS,
    )
    if duplicates:
        # The same events again from a later file, with another price: must not be counted.
        copies = table.slice(0, duplicates)
        copies = copies.set_column(
            copies.schema.get_field_index("revenue"),
            "revenue",
            cents_to_decimal(np.full(duplicates, 777_77), c.REVENUE),
        )
        copies = copies.set_column(
            copies.schema.get_field_index("source_file"),
            "source_file",
            pa.array(["events/b.csv"] * duplicates),
        )
        table = pa.concat_tables([copies, table])
    return table


@pytest.mark.parametrize(("n", "seed", "dups"), [(50, 1, 0), (3000, 2, 0), (5000, 3, 400)])
def test_aggregates_equal_the_duckdb_oracle_exactly(n, seed, dups):
    events = curated_events(n, seed, dups)
    ours = compute_aggregates(events)
    expected = oracle(events)
    for name in c.AGGREGATES:
        assert ours[name].schema == c.AGGREGATES[name]
        assert ours[name].equals(expected[name]), name
    if n >= 1000:
        assert ours["daily_multi_purchase_users"].num_rows > 0


def test_views_ties_are_broken_by_product_id_and_ranks_restart_per_date():
    day1, day2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
    rows = [(day1, "P3")] * 2 + [(day1, "P10")] * 2 + [(day1, "P2")] * 2 + [(day1, "P1")] * 1
    rows += [(day2, "P9")] * 1
    n = len(rows)
    ids = pa.array([f"e{i}" for i in range(n)], pa.string())
    events = pa.table(
        {
            "event_id": ids,
            "event_type": ["view"] * n,
            "event_ts": pa.array([0] * n, type=pa.int64()).cast(c.UTC_US),
            "event_date": pa.array([d for d, _ in rows], type=pa.date32()),
            "user_id": ["U"] * n,
            "product_id": [p for _, p in rows],
            "session_id": pa.nulls(n, pa.string()),
            "quantity": pa.array([1] * n, type=pa.int32()),
            "product_name": ["x"] * n,
            "category": ["c"] * n,
            "unit_price": cents_to_decimal(np.ones(n, dtype=np.int64), c.PRICE),
            "revenue": pa.nulls(n, c.REVENUE),
            "source_file": ["f"] * n,
            "ingested_at": pa.array([0] * n, type=pa.int64()).cast(c.UTC_US),
            "event_id_hash": hash_column(ids),
        },
        schema=c.CURATED_EVENTS,
    )
    top = compute_aggregates(events)["daily_top_viewed_products"]
    assert [(r["event_date"], r["rank"], r["product_id"], r["views"]) for r in top.to_pylist()] == [
        (day1, 1, "P10", 2),  # byte order: "P10" < "P2" < "P3"
        (day1, 2, "P2", 2),
        (day1, 3, "P3", 2),
        (day2, 1, "P9", 1),
    ]


def test_cross_file_copies_keep_the_earliest_ingested_copy():
    events = curated_events(10, 4, duplicates=10)
    purchases = [r for r in events.to_pylist() if r["event_type"] == "purchase"]
    spend = compute_aggregates(events)["daily_category_revenue"]
    total = sum((r["revenue"] for r in spend.to_pylist()), Decimal(0))
    assert total == sum(
        (r["revenue"] for r in purchases if r["source_file"] == "events/a.csv"), Decimal(0)
    )


def test_dictionary_encoded_input_in_chunks_gives_the_same_aggregates():
    from retail_etl.domain.aggregate import DICTIONARY_COLUMNS

    events = curated_events(4000, 9, duplicates=300)
    halves = [events.slice(0, 2000), events.slice(2000)]  # different dictionaries per chunk
    encoded = pa.concat_tables(
        [
            h.select(h.column_names).cast(
                pa.schema(
                    [
                        pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
                        if f.name in DICTIONARY_COLUMNS
                        else f
                        for f in h.schema
                    ]
                )
            )
            for h in halves
        ]
    )
    plain, coded = compute_aggregates(events), compute_aggregates(encoded)
    for name in c.AGGREGATES:
        assert coded[name].equals(plain[name]), name


def test_the_repeat_check_finds_copies_across_parts_of_different_widths():
    from retail_etl.domain.aggregate import _may_repeat

    def may_repeat(*parts: list[str]) -> bool:
        return _may_repeat([hash_column(pa.array(p, pa.string())) for p in parts])

    assert may_repeat(["e1", "e2"], ["e100000", "e1", "x"])
    assert not may_repeat(["e1", "e2"], ["e3", "e100000"])
    assert not may_repeat(["a"], ["a\\x00"])
    assert not may_repeat(["a"], [])


@pytest.mark.parametrize(("files", "unhashed"), [(1, 0), (3, 0), (7, 0), (1, 1), (3, 2)])
def test_events_read_in_parts_give_the_oracles_aggregates(files, unhashed):
    """As the lake's data files are read: each part with its own dictionaries, an event's
    copies in different parts, and the dedup keeping the copy of the first source file.
    The first `unhashed` parts have no event_id_hash (files written before the column): their
    ids are hashed as they are read, and copies between them and hashed parts still found."""
    from retail_etl.domain.aggregate import DICTIONARY_COLUMNS, aggregate_parts

    events = curated_events(6000, 11, duplicates=500)
    encoded = pa.schema(
        pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
        if f.name in DICTIONARY_COLUMNS
        else f
        for f in events.schema
    )
    size = -(-events.num_rows // files)
    tables = [events.slice(at, size).cast(encoded) for at in range(0, events.num_rows, size)]
    at = events.schema.get_field_index(c.EVENT_ID_HASH)
    for i in range(unhashed):
        tables[i] = tables[i].set_column(
            at, c.EVENT_ID_HASH, pa.nulls(tables[i].num_rows, pa.int64())
        )
    parts = [lambda columns, t=t: t.select(list(columns)) for t in tables]
    ours, expected = aggregate_parts(parts), oracle(events)
    for name in c.AGGREGATES:
        assert ours[name].equals(expected[name]), name


def test_no_part_gives_empty_aggregates():
    from retail_etl.domain.aggregate import aggregate_parts

    for name, table in aggregate_parts([]).items():
        assert table.num_rows == 0
        assert table.schema == c.AGGREGATES[name]


def test_the_event_type_test_agrees_with_arrows_on_dictionary_and_plain_chunks():
    from retail_etl.domain.aggregate import _equals

    values = ["view", None, "purchase", "cart", "purchase"]
    encoded = pa.chunked_array(
        [
            pa.array(values).dictionary_encode(),
            pa.array(["view", None]).dictionary_encode(),  # no purchase in its dictionary
        ]
    )
    for chunks in (encoded, pa.chunked_array([values, ["view", None]])):
        expected = pc.equal(chunks.cast(pa.string()), "purchase")
        assert _equals(chunks, "purchase").to_pylist() == expected.to_pylist()
