"""Money as integer cents inside the core, decimal(p,2) at the edges; never binary floats."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pyarrow as pa

_PRICE = re.compile(r"^[0-9]{1,10}(\.[0-9]+)?$")
_CENT = Decimal("0.01")


def price_to_cents(text: str | None) -> int | None:
    """Cents of a contract price string, rounded half-up; None when the text is not a price."""
    if text is None or not _PRICE.match(text):
        return None
    return int(Decimal(text).quantize(_CENT, rounding=ROUND_HALF_UP) * 100)


def cents_to_decimal(cents: np.ndarray, type_: pa.Decimal128Type, valid: np.ndarray | None = None):
    """A decimal128 array with scale 2 whose unscaled values are the given cents.

    A decimal128 stores its unscaled integer as 16 little-endian bytes, so int64 cents become
    decimals exactly and without a per-row Python conversion.
    """
    assert type_.scale == 2
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension into the high word
    validity = None
    null_count = 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int((~valid).sum())
    return pa.Array.from_buffers(
        type_, len(cents), [validity, pa.py_buffer(words.tobytes())], null_count=null_count
    )


def decimal_to_cents(values: pa.Array) -> np.ndarray:
    """Unscaled int64 cents of a scale-2 decimal128 array (nulls read as 0)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    assert values.type.scale == 2
    if values.null_count:
        values = values.fill_null(Decimal(0))
    raw = np.frombuffer(values.buffers()[1], dtype=np.int64)
    return raw[2 * values.offset : 2 * (values.offset + len(values)) : 2].copy()
