"""Money as integer cents inside the core, decimal(p,2) at the edges; never binary floats."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Context, Decimal

import numpy as np
import pyarrow as pa

# Digits are bounded so that no text makes Decimal work hard; a well-formed price too large
# for decimal(12,2) is still a price (`amount_out_of_range`), not `invalid_price`.
_PRICE = re.compile(r"^[0-9]{1,30}(\.[0-9]{1,30})?$")
_CENT = Decimal("0.01")
_WIDE = Context(prec=80)  # 30 + 30 digits never round inside Decimal itself


def max_cents(type_: pa.Decimal128Type) -> int:
    """The largest number of cents a decimal(p,2) column holds: 10**p - 1."""
    assert type_.scale == 2
    return 10**type_.precision - 1


def price_to_cents(text: str | None) -> int | None:
    """Cents of a contract price string, rounded half-up; None when the text is not a price.

    The result may exceed what decimal(12,2) holds: callers check it against `max_cents`.
    """
    if text is None or not _PRICE.match(text):
        return None
    return int(Decimal(text).quantize(_CENT, rounding=ROUND_HALF_UP, context=_WIDE) * 100)


def fits(cents: np.ndarray, type_: pa.Decimal128Type) -> np.ndarray:
    """Which cents values a decimal(p,2) column can hold exactly."""
    limit = max_cents(type_)
    return (cents >= -limit) & (cents <= limit)


def cents_to_decimal(cents: np.ndarray, type_: pa.Decimal128Type, valid: np.ndarray | None = None):
    """A decimal128 array with scale 2 whose unscaled values are the given cents.

    A decimal128 stores its unscaled integer as 16 little-endian bytes, so int64 cents become
    decimals exactly and without a per-row Python conversion. A value the type cannot hold
    raises OverflowError: Parquet stores decimal(14,2) in 6 bytes, so it would otherwise be
    written wrapped (150,000,000.00 x 10,000 became -1,314,749,767,106.56).
    """
    assert type_.scale == 2
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    ok = fits(cents, type_)
    if valid is not None:
        ok |= ~valid
    if not ok.all():
        bad = int(cents[np.flatnonzero(~ok)[0]])
        raise OverflowError(f"{bad} cents do not fit {type_}")
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
