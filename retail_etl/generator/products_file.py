"""A day's products file: the valid rows plus the configured mess, as CSV or JSON Lines.

Products files are small (hundreds to a few thousand rows), so rows are rendered by Python's csv
and json modules. Every defect row is an extra copy of a row of the same file with one field
broken; a superseded row is an earlier valid row of the same product with a stale price, so the
file's own later row must win.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import numpy as np

from retail_etl.domain.contract import Reason
from retail_etl.generator.catalogue import Catalogue, ProductRow
from retail_etl.generator.config import PRODUCT_FIELD_DEFECTS, MessConfig
from retail_etl.generator.layout import ProductsFilePlan, styled
from retail_etl.generator.manifest import FileCounts

_MISSING = None
_INVALID_PRICES = (
    "-5.00",
    "12,50",
    "abc",
    "$19.99",
    "1e3",
    ".99",
    "19.",
    "1.234.567",
    "19.99 USD",
    "free",
)
_INVALID_STOCK_TEXT = ("-3", "12.5", "lots", "1e3", "N/A")
_INVALID_STOCK_NUMBERS = (-3, -1, -250)
_EXTRA_VALUES = {"currency": ("EUR", "EUR", "USD"), "supplier": ("Acme GmbH", "Kito Ltd", None)}

Record = dict[str, object]


def _record(row: ProductRow) -> Record:
    return {
        "product_id": row.product_id,
        "product_name": row.product_name,
        "category": row.category,
        "price": row.price,
        "stock_level": row.stock_level,
    }


def _broken(rng: np.random.Generator, record: Record, kind: str, fmt: str) -> Record:
    """A copy of `record` with the one defect of `kind`."""
    out = dict(record)
    if kind == "products_missing_product_id":
        out["product_id"] = _missing(rng, fmt)
    elif kind == "products_missing_category":
        out["category"] = _missing(rng, fmt)
    elif kind == "products_missing_price":
        out["price"] = _missing(rng, fmt)
    elif kind == "products_invalid_price":
        out["price"] = _INVALID_PRICES[int(rng.integers(len(_INVALID_PRICES)))]
    elif kind == "products_invalid_stock_level":
        values = _INVALID_STOCK_NUMBERS if fmt == "jsonl" else _INVALID_STOCK_TEXT
        out["stock_level"] = values[int(rng.integers(len(values)))]
    return out


def _missing(rng: np.random.Generator, fmt: str) -> object:
    """A missing required string: absent/null, or an empty or blank string."""
    roll = rng.random()
    if roll < 0.6:
        return _MISSING
    return "" if roll < 0.8 or fmt == "jsonl" else "  "


def _csv_line(values: list[object], terminator: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=terminator).writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def _malformed(rng: np.random.Generator, record: Record, plan: ProductsFilePlan) -> str:
    """A line the contract cannot parse, made from a real row."""
    roll = int(rng.integers(3))
    if plan.format == "csv":
        values = [record.get(c) for c in plan.columns]
        if roll == 0:
            values.append("unexpected")
        elif roll == 1:
            values = values[:-1]
        else:
            return "###garbage###"
        return _csv_line(values, "")
    if roll == 2:
        return "[1, 2]"
    text = _json_line(rng, record, plan)
    return text[: int(rng.integers(1, len(text) - 1))]


def _json_line(rng: np.random.Generator, record: Record, plan: ProductsFilePlan) -> str:
    obj: dict[str, object] = {}
    for column in plan.columns:
        value = record.get(column)
        if value is None and rng.random() < 0.5:
            continue  # absent key: missing, like null
        obj[styled(column, plan.header_style)] = value
    return json.dumps(obj, ensure_ascii=False)


def build_products_file(
    rng: np.random.Generator,
    plan: ProductsFilePlan,
    rows: list[ProductRow],
    catalogue: Catalogue,
    mess: MessConfig,
    day: dt.date,
) -> tuple[bytes, FileCounts]:
    """The file's bytes (not yet gzipped) and its expected counts."""
    records: list[Record | str] = [_record(r) for r in rows]
    for record in records:
        for extra, values in _EXTRA_VALUES.items():
            record[extra] = values[int(rng.integers(len(values)))]  # type: ignore[index]
    counts = FileCounts("products", plan.format, plan.gzip, day, features=plan.features())

    superseded = min(mess.products_duplicate, len(rows))
    for i in rng.choice(len(rows), superseded, replace=False) if superseded else []:
        final = next(j for j, r in enumerate(records) if _is_row(r, rows[i]))
        stale = dict(records[final])  # type: ignore[arg-type]
        stale["price"] = catalogue.stale_price(rows[i])
        records.insert(int(rng.integers(0, final + 1)), stale)
    counts.rows_duplicate = superseded

    for kind, reason in PRODUCT_FIELD_DEFECTS.items():
        for _ in range(getattr(mess, kind) if rows else 0):
            source = _record(rows[int(rng.integers(len(rows)))])
            broken = _broken(rng, source, kind, plan.format)
            records.insert(int(rng.integers(0, len(records) + 1)), broken)
            counts.rows_quarantined[reason] += 1
    for _ in range(mess.products_malformed_row if rows else 0):
        line = _malformed(rng, _record(rows[int(rng.integers(len(rows)))]), plan)
        records.insert(int(rng.integers(0, len(records) + 1)), line)
        counts.rows_quarantined[Reason.MALFORMED_ROW] += 1

    counts.rows_in = len(records)
    counts.rows_curated = len(rows)
    counts.check()
    return _render(rng, plan, records), counts


def _is_row(record: Record | str, row: ProductRow) -> bool:
    return (
        isinstance(record, dict)
        and record["product_id"] == row.product_id
        and (record["price"] == row.price)
    )


def _render(rng: np.random.Generator, plan: ProductsFilePlan, records: list) -> bytes:
    terminator = "\r\n" if plan.crlf else "\n"
    out = []
    if plan.format == "csv":
        out.append(_csv_line([styled(c, plan.header_style) for c in plan.columns], terminator))
    for record in records:
        if isinstance(record, str):
            out.append(record + terminator)
        elif plan.format == "csv":
            out.append(_csv_line([record.get(c) for c in plan.columns], terminator))
        else:
            out.append(_json_line(rng, record, plan) + terminator)
    return "".join(out).encode()
