import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from retail_etl.domain.catalog import ProductHistory, day_number
from tests.conftest import history_of


def versions(pid: str, cents: int, name: str = "n") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_id": [pid],
            "product_name": [name],
            "category": ["c"],
            "price_cents": [cents],
            "stock_level": pd.array([3], dtype="Int64"),
        }
    )


def prices(history: ProductHistory, pid: str, days: list[dt.date]) -> list[int | None]:
    rows = history.lookup(pa.array([pid] * len(days)), np.array([day_number(d) for d in days]))
    cents = history.attributes(np.maximum(rows, 0))[2]
    return [int(c) if r >= 0 else None for r, c in zip(rows, cents, strict=True)]


def test_the_later_drop_with_the_same_effective_date_wins():
    history = ProductHistory()
    history.upsert(versions("P1", 100), dt.date(2026, 11, 1), "a", 1)
    history.upsert(versions("P1", 200), dt.date(2026, 11, 1), "b", 2)
    assert len(history) == 1
    assert prices(history, "P1", [dt.date(2026, 11, 1)]) == [200]


def test_lookup_uses_the_version_in_force_and_unknown_products_get_minus_one():
    history = history_of(
        ("P1", "a", "c", 100, dt.date(2026, 11, 3)), ("P1", "b", "c", 300, dt.date(2026, 11, 5))
    )
    days = [dt.date(2026, 11, d) for d in (1, 3, 4, 5, 30)]
    assert prices(history, "P1", days) == [100, 100, 100, 300, 300]
    assert prices(history, "P9", days[:1]) == [None]


def test_history_round_trips_through_its_arrow_table():
    history = history_of(
        ("P2", None, "books", 1250, dt.date(2026, 11, 1)),
        ("P1", "Phone", "electronics", 19999, dt.date(2026, 11, 2)),
    )
    table = history.to_table()
    again = ProductHistory(table)
    assert again.to_table().equals(table)
    assert table["product_id"].to_pylist() == ["P1", "P2"]
    assert table["effective_date"].to_pylist() == [dt.date(2026, 11, 2), dt.date(2026, 11, 1)]


D = [dt.date(2026, 11, d) for d in range(1, 8)]


def test_a_version_changes_the_dates_up_to_the_products_next_version():
    others = history_of(
        ("P1", "a", "c", 100, D[0]),
        ("P1", "b", "c", 200, D[4]),
    )
    # a new version on D[2] governs D[2]..D[3]; D[4] on belongs to the later version
    assert others.dates_affected([("P1", D[2])], D) == set(D[2:4])


def test_the_oldest_version_also_governs_every_earlier_date():
    others = history_of(("P1", "a", "c", 100, D[3]))
    assert others.dates_affected([("P1", D[1])], D) == set(D[:3])
    # a product with no other version: every known date may use it
    assert others.dates_affected([("P9", D[5])], D) == set(D)


def test_only_known_dates_are_affected_and_unknown_products_are_independent():
    others = history_of(("P1", "a", "c", 100, D[0]), ("P2", "b", "c", 5, D[0]))
    known = [D[1], D[5]]
    assert others.dates_affected([("P1", D[4])], known) == {D[5]}
    assert others.dates_affected([("P1", D[4]), ("P2", D[1])], known) == {D[1], D[5]}
    assert others.dates_affected([], known) == set()
    assert others.dates_affected([("P1", D[4])], []) == set()


def test_two_files_with_one_effective_date_apply_in_key_order_whatever_was_read_first():
    rows = [
        history_of(("P1", "z", "c", 300, D[0])).to_table(),
        history_of(("P1", "a", "c", 100, D[0])).to_table(),
    ]
    rows[0] = rows[0].set_column(
        rows[0].schema.get_field_index("source_file"), "source_file", pa.array(["products/b.csv"])
    )
    rows[1] = rows[1].set_column(
        rows[1].schema.get_field_index("source_file"), "source_file", pa.array(["products/a.csv"])
    )
    for order in (rows, rows[::-1]):
        history = ProductHistory(pa.concat_tables(order))
        assert prices(history, "P1", [D[0]]) == [300]  # products/b.csv sorts last
