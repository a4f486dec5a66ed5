"""Product history with effective dates, and point-in-time lookup for enrichment.

An event on day D uses the newest version effective on or before D, else the product's earliest
version (docs/data-contract.md §3), so yesterday's revenue never changes when today's price does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from retail_etl.domain.contract import PRICE, PRODUCT_HISTORY
from retail_etl.domain.money import cents_to_decimal, decimal_to_cents

EPOCH = dt.date(1970, 1, 1)
_COLUMNS = [
    "product_id",
    "product_name",
    "category",
    "price_cents",
    "stock_level",
    "effective_day",
    "source_file",
    "ingested_at_us",
]


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


class ProductHistory:
    """All versions of all products, one per (product_id, effective date)."""

    def __init__(self, table: pa.Table | None = None) -> None:
        if table is None or table.num_rows == 0:
            self._df = pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in _COLUMNS})
        else:
            self._df = _from_table(table)
        self._snapshots: dict[int, pd.Series] = {}
        self._text: tuple[pa.Array, pa.Array] | None = None  # names and categories, as Arrow

    def __len__(self) -> int:
        return len(self._df)

    def upsert(
        self, versions: pd.DataFrame, effective: dt.date, source_file: str, ingested_at_us: int
    ) -> None:
        """Add a file's products as versions effective from `effective`; a later file with the
        same effective date replaces the earlier one's version of the products it contains."""
        new = versions.assign(
            effective_day=day_number(effective),
            source_file=source_file,
            ingested_at_us=ingested_at_us,
        )[_COLUMNS]
        keep = ~(
            (self._df["effective_day"] == day_number(effective))
            & self._df["product_id"].isin(new["product_id"])
        )
        merged = pd.concat([self._df[keep], new], ignore_index=True)
        self._df = merged.sort_values(["product_id", "effective_day"], kind="stable").reset_index(
            drop=True
        )
        self._snapshots.clear()
        self._text = None

    def dates_affected(
        self, changed: Iterable[tuple[str, dt.date]], known: Iterable[dt.date]
    ) -> set[dt.date]:
        """The `known` dates whose enrichment a version of product p effective on day e can
        change, for each (p, e) in `changed`, when this history holds every other version.

        Version e of p governs the dates from e up to p's next later version, and also every
        date before e when no other version of p is older; so adding, replacing or removing
        it changes those dates only.
        """
        days = np.array(sorted({day_number(d) for d in known}), dtype=np.int64)
        hit = np.zeros(len(days), dtype=bool)
        if not len(days):
            return set()
        by_product = {
            pid: np.sort(group.to_numpy())
            for pid, group in self._df.groupby("product_id")["effective_day"]
        }
        none = np.empty(0, dtype=np.int64)
        for pid, effective in changed:
            e = day_number(effective)
            others = by_product.get(pid, none)
            later = others[others > e]
            lo = 0 if not len(others) or others.min() >= e else np.searchsorted(days, e)
            hi = np.searchsorted(days, later.min()) if len(later) else len(days)
            hit[lo:hi] = True
        return {EPOCH + dt.timedelta(days=int(d)) for d in days[hit]}

    def _snapshot(self, day: int) -> pd.Series:
        """History row number of the version each product uses on `day`, indexed by id."""
        snap = self._snapshots.get(day)
        if snap is None:
            df = self._df
            rows = pd.Series(np.arange(len(df)), index=df.index)
            current = rows[df["effective_day"] <= day].groupby(df["product_id"]).last()
            earliest = rows.groupby(df["product_id"]).first()
            snap = current.combine_first(earliest).astype(np.int64)
            self._snapshots[day] = snap
        return snap

    def lookup(self, product_ids: pa.Array, days: np.ndarray) -> np.ndarray:
        """History row number for each (product, day); -1 when the product is unknown."""
        out = np.full(len(product_ids), -1, dtype=np.int64)
        if not len(self._df) or not len(product_ids):
            return out
        for day in np.unique(days).tolist():
            rows = np.flatnonzero(days == day)
            snap = self._snapshot(int(day))
            ids = product_ids if len(rows) == len(days) else product_ids.take(pa.array(rows))
            pos = pc.index_in(ids, value_set=pa.array(snap.index, type=pa.string()))
            pos = pos.to_numpy(zero_copy_only=False)
            found = ~np.isnan(pos) if pos.dtype.kind == "f" else np.ones(len(pos), dtype=bool)
            out[rows[found]] = snap.to_numpy()[pos[found].astype(np.int64)]
        return out

    def attributes(self, rows: np.ndarray) -> tuple[pa.Array, pa.Array, np.ndarray]:
        """Name, category and price in cents of the given history rows."""
        return (*self.texts(rows), self.price_cents(rows))

    def texts(self, rows: np.ndarray) -> tuple[pa.Array, pa.Array]:
        """Name and category of the given history rows: taken by Arrow from the history's
        text converted once (not string by string for every event)."""
        if self._text is None:
            df = self._df
            self._text = (
                pa.array(df["product_name"], type=pa.string(), from_pandas=True),
                pa.array(df["category"], type=pa.string()),
            )
        names, categories = self._text
        take = pa.array(rows, type=pa.int64())
        return names.take(take), categories.take(take)

    def price_cents(self, rows: np.ndarray) -> np.ndarray:
        """Price in cents of the given history rows; 0 for a row of -1 (product unknown)."""
        prices = self._df["price_cents"].to_numpy()
        if not len(prices):
            return np.zeros(len(rows), dtype=np.int64)
        return np.where(rows >= 0, prices[np.maximum(rows, 0)], 0)

    def own_priced(self, source_files: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Which events carry their own product (their file, an events key, has versions
        here: docs/sources.md): their enrichment is their own row's, never the history's."""
        files = pc.unique(pa.array(self._df["source_file"], type=pa.string()))
        events_files = files.filter(pc.starts_with(files, "events/"))
        if not len(events_files) or not len(source_files):
            return np.zeros(len(source_files), dtype=bool)
        hit = pc.is_in(source_files, value_set=events_files)
        return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)

    def to_table(self) -> pa.Table:
        df = self._df
        return pa.table(
            {
                "product_id": pa.array(df["product_id"], type=pa.string()),
                "product_name": pa.array(df["product_name"], type=pa.string(), from_pandas=True),
                "category": pa.array(df["category"], type=pa.string()),
                "price": cents_to_decimal(df["price_cents"].to_numpy(), PRICE),
                "stock_level": pa.array(df["stock_level"], type=pa.int64(), from_pandas=True),
                "effective_date": pa.array(
                    df["effective_day"].to_numpy(dtype=np.int32), type=pa.int32()
                ).cast(pa.date32()),
                "source_file": pa.array(df["source_file"], type=pa.string()),
                "ingested_at": pa.array(
                    df["ingested_at_us"].to_numpy(dtype=np.int64), type=pa.int64()
                ).cast(PRODUCT_HISTORY.field("ingested_at").type),
            },
            schema=PRODUCT_HISTORY,
        )


def versions_on_event_rows(batches: list[pa.Table]) -> list[tuple[dt.date, pd.DataFrame]]:
    """The product versions an events file's rows carry (`EventsBatch.products`, in file
    order): per event date, the last row of each product, as versions to `upsert` effective
    on that date."""
    if not batches:
        return []
    frame = pa.concat_tables(batches).to_pandas()
    frame = frame.drop_duplicates(["product_id", "event_date"], keep="last")
    out = []
    for day, rows in frame.groupby("event_date", sort=True):
        versions = pd.DataFrame(
            {
                "product_id": rows["product_id"].to_numpy(),
                "product_name": rows["product_name"].to_numpy(),
                "category": rows["category"].to_numpy(),
                "price_cents": rows["price_cents"].to_numpy(dtype="int64"),
                "stock_level": pd.array([None] * len(rows), dtype="Int64"),
            }
        )
        out.append((day, versions))
    return out


def _dtype(column: str) -> str:
    return {
        "price_cents": "int64",
        "stock_level": "Int64",
        "effective_day": "int64",
        "ingested_at_us": "int64",
    }.get(column, "object")


def _from_table(table: pa.Table) -> pd.DataFrame:
    table = table.cast(PRODUCT_HISTORY)
    df = pd.DataFrame(
        {
            "product_id": table["product_id"].to_numpy(zero_copy_only=False),
            "product_name": table["product_name"].to_numpy(zero_copy_only=False),
            "category": table["category"].to_numpy(zero_copy_only=False),
            "price_cents": decimal_to_cents(table["price"]),
            "stock_level": pd.array(table["stock_level"].to_pylist(), dtype="Int64"),
            "effective_day": table["effective_date"].cast(pa.int32()).to_numpy().astype(np.int64),
            "source_file": table["source_file"].to_numpy(zero_copy_only=False),
            "ingested_at_us": table["ingested_at"].cast(pa.int64()).to_numpy(),
        }
    )
    # Files with the same effective date apply in key order: the last key wins (a pure
    # function of the files, whatever order they arrived in).
    df = df.sort_values(["product_id", "effective_day", "source_file"], kind="stable")
    df = df.drop_duplicates(["product_id", "effective_day"], keep="last")
    return df.reset_index(drop=True)
