"""Clean a products file into the versions it defines (docs/data-contract.md §3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa

from retail_etl.domain import contract as c
from retail_etl.domain.errors import FileRejected
from retail_etl.domain.mapping import Mapping, mapped_chunks
from retail_etl.domain.money import max_cents, price_to_cents
from retail_etl.domain.profile import Profile
from retail_etl.domain.reading import (
    DEFAULT_BLOCK_BYTES,
    DEFAULT_LIMITS,
    ReadLimits,
    text_column,
)
from retail_etl.domain.report import FileReport

Reason = c.Reason
WANTED = ("product_id", "product_name", "category", "price", "stock_level")
REQUIRED = tuple((name,) for name in c.PRODUCT_REQUIRED)
_STOCK = r"^[0-9]{1,18}$"
_MAX_PRICE_CENTS = max_cents(c.PRICE)


@dataclass
class ProductsFile:
    """The accepted versions (last valid row per product wins) and the quarantined rows."""

    versions: pd.DataFrame  # product_id, product_name, category, price_cents, stock_level
    quarantine: pa.Table


def clean_products_file(
    stream: BinaryIO,
    key: str,
    ingested_at_us: int,
    report: FileReport,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    limits: ReadLimits = DEFAULT_LIMITS,
    profile: Profile | None = None,
) -> ProductsFile:
    """Products files are small next to events files, so rows are checked with plain pandas.

    With a source `profile`, each chunk is first mapped onto the contract (`domain/mapping.py`).
    """
    frames, quarantined = [], []
    mapping = None
    if profile is not None:
        if profile.products is None:
            raise FileRejected(
                c.FileError.UNKNOWN_SOURCE,
                f"{key}: source {profile.name!r} has no products section",
            )
        mapping = Mapping(profile, profile.products)
    chunks = mapped_chunks(stream, key, mapping, (WANTED, REQUIRED), report, block_bytes, limits)
    for chunk in chunks:
        df = pd.DataFrame({name: text_column(chunk, name).to_pandas() for name in WANTED}).astype(
            object
        )
        df = df.where(df.notna(), None)
        df["line_number"] = chunk.line_numbers
        df["price_cents"] = [price_to_cents(p) for p in df["price"]]
        too_big = np.array(
            [p is not None and p > _MAX_PRICE_CENTS for p in df["price_cents"]], dtype=bool
        )
        stock_ok = df["stock_level"].isna() | df["stock_level"].str.fullmatch(_STOCK, na=False)
        reason = np.select(
            [
                df["product_id"].isna(),
                df["category"].isna(),
                df["price"].isna(),
                df["price_cents"].isna(),
                too_big,
                ~stock_ok,
            ],
            [
                Reason.MISSING_PRODUCT_ID,
                Reason.MISSING_CATEGORY,
                Reason.MISSING_PRICE,
                Reason.INVALID_PRICE,
                Reason.AMOUNT_OUT_OF_RANGE,
                Reason.INVALID_STOCK_LEVEL,
            ],
            default="",
        )
        bad = reason != ""
        rows = np.flatnonzero(bad)
        raw = chunk.raw_records(rows).to_pylist()
        quarantined.append(
            pd.DataFrame(
                {
                    "line_number": chunk.line_numbers[rows],
                    "reason": reason[bad],
                    "raw_record": raw,
                    "product_id": df["product_id"].to_numpy()[rows],
                }
            )
        )
        if chunk.malformed_lines:
            lines, texts = zip(*chunk.malformed_lines, strict=True)
            quarantined.append(
                pd.DataFrame(
                    {
                        "line_number": list(lines),
                        "reason": Reason.MALFORMED_ROW,
                        "raw_record": list(texts),
                        "product_id": None,
                    }
                )
            )
        report.rows_in += chunk.num_rows + len(chunk.malformed_lines)
        frames.append(df[~bad])
    valid = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=WANTED)
    versions = valid.drop_duplicates("product_id", keep="last")
    report.rows_duplicate += len(valid) - len(versions)
    report.rows_curated += len(versions)
    quarantine = (
        pd.concat(quarantined, ignore_index=True)
        if quarantined
        else pd.DataFrame(columns=["line_number", "reason", "raw_record", "product_id"])
    )
    for reason_code, count in quarantine["reason"].value_counts().items():
        report.rows_quarantined[str(reason_code)] += int(count)
    stock = pd.array(
        [None if s is None else int(s) for s in versions["stock_level"]], dtype="Int64"
    )
    out = pd.DataFrame(
        {
            "product_id": versions["product_id"].to_numpy(),
            "product_name": versions["product_name"].to_numpy(),
            "category": versions["category"].to_numpy(),
            "price_cents": versions["price_cents"].astype("int64").to_numpy(),
            "stock_level": stock,
        }
    )
    return ProductsFile(out, _quarantine_table(quarantine, key, ingested_at_us))


def _quarantine_table(q: pd.DataFrame, key: str, ingested_at_us: int) -> pa.Table:
    n = len(q)
    return pa.table(
        {
            "source_file": pa.repeat(pa.scalar(key, pa.string()), n),
            "line_number": pa.array(q["line_number"].to_numpy(dtype=np.int64)),
            "reason": pa.array(q["reason"].tolist(), type=pa.string()),
            "raw_record": pa.array(q["raw_record"].tolist(), type=pa.string()),
            "product_id": pa.array(q["product_id"].tolist(), type=pa.string()),
            "event_date": pa.nulls(n, pa.date32()),
            "quarantined_at": pa.array(np.full(n, ingested_at_us), type=pa.int64()).cast(c.UTC_US),
        },
        schema=c.QUARANTINE,
    )
