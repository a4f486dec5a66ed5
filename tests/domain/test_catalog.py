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
