"""How much mess the generator injects.

Event kinds are rates (a fraction of the base rows of each events file, rounded per file) so a
dataset keeps the same character at any size; products kinds are counts per products file because
those files are small. Every injected row has exactly one defect, so its expected outcome under
the contract's check order is unique.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from retail_etl.domain.contract import Reason

# Event mess kinds that change one field of a row, mapped to the reason the row must get.
EVENT_FIELD_DEFECTS: dict[str, str] = {
    "missing_user_id": Reason.MISSING_USER_ID,
    "missing_product_id": Reason.MISSING_PRODUCT_ID,
    "missing_event_type": Reason.MISSING_EVENT_TYPE,
    "unknown_event_type": Reason.UNKNOWN_EVENT_TYPE,
    "missing_timestamp": Reason.MISSING_TIMESTAMP,
    "invalid_timestamp": Reason.INVALID_TIMESTAMP,
    "invalid_quantity": Reason.INVALID_QUANTITY,
    "unknown_product": Reason.UNKNOWN_PRODUCT,
}

# Products mess kinds that change one field of an extra copy of a row, with their reason.
PRODUCT_FIELD_DEFECTS: dict[str, str] = {
    "products_missing_product_id": Reason.MISSING_PRODUCT_ID,
    "products_missing_category": Reason.MISSING_CATEGORY,
    "products_missing_price": Reason.MISSING_PRICE,
    "products_invalid_price": Reason.INVALID_PRICE,
    "products_invalid_stock_level": Reason.INVALID_STOCK_LEVEL,
}


@dataclass(frozen=True)
class MessConfig:
    """Defect rates for events files and defect counts for products files.

    Events (fraction of the file's base rows): `malformed_row` and `duplicate` add rows; the
    field defects replace one field of a base row; `late` moves whole sessions 1–3 days back
    (valid rows, not mess).
    Products (rows per products file): each adds a copy of a row of the file with one defect;
    `products_duplicate` adds an earlier valid row with a stale price that the file's own
    later row supersedes.
    """

    missing_user_id: float = 0.003
    missing_product_id: float = 0.003
    missing_event_type: float = 0.002
    unknown_event_type: float = 0.003
    missing_timestamp: float = 0.002
    invalid_timestamp: float = 0.004
    invalid_quantity: float = 0.003
    unknown_product: float = 0.004
    malformed_row: float = 0.003
    duplicate: float = 0.005
    late: float = 0.004

    products_missing_product_id: int = 1
    products_missing_category: int = 1
    products_missing_price: int = 1
    products_invalid_price: int = 2
    products_invalid_stock_level: int = 1
    products_malformed_row: int = 1
    products_duplicate: int = 2

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value < 0:
                raise ValueError(f"MessConfig.{field.name} must be >= 0, got {value}")
        for name in ("malformed_row", "duplicate", "late"):
            if getattr(self, name) > 1:
                raise ValueError(f"MessConfig.{name} is a fraction of rows; at most 1")
        rates = sum(getattr(self, k) for k in EVENT_FIELD_DEFECTS)
        if rates > 0.5:
            raise ValueError(f"event field defect rates add up to {rates:.3f}; at most 0.5")

    @classmethod
    def clean(cls) -> MessConfig:
        """No defects, duplicates or late events: every record is curated."""
        return cls(**{field.name: 0 for field in dataclasses.fields(cls)})

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)
