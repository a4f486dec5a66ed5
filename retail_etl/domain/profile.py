"""Source profiles: how one shop's own export maps onto the data contract (docs/sources.md).

A profile is data, validated here with pydantic; loading it from YAML is an adapter's job
(`retail_etl/adapters/sources.py`) and applying it to a file's chunks is `domain/mapping.py`.
This module imports neither pyarrow nor anything of AWS, so the CDK app can validate every
profile at synth time.

A file is bound to a profile by its key: `events/source=NAME/…` or `products/source=NAME/…`
use profile NAME; a key without `source=` uses the contract unchanged.
"""

from __future__ import annotations

import codecs
import re
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retail_etl.domain import contract as c

# Contract columns a profile may fill, per kind. Event rows may carry their product's
# attributes: `unit_price` is then the event's own price (docs/sources.md, "Prices on events").
EVENT_COLUMNS = (
    "event_id",
    "user_id",
    "product_id",
    "event_type",
    "event_timestamp",
    "quantity",
    "session_id",
    "unit_price",
    "product_name",
    "category",
)
PRODUCT_COLUMNS = ("product_id", "product_name", "category", "price", "stock_level")
# Encodings whose bytes map one to one onto characters with ASCII line ends, so a file is
# transcoded block by block without ever splitting a character.
ENCODINGS = ("utf-8", "cp1252", "latin-1", "iso-8859-15")
EPOCH_FORMATS = ("epoch_s", "epoch_ms", "epoch_us")
_SOURCE = re.compile(r"(?:^|/)source=([^/]*)/")
NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def source_of(key: str) -> str | None:
    """The `source=NAME` folder of a dropped file's key; None when the key has none."""
    match = _SOURCE.search(key)
    return match.group(1) if match else None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A contract column is taken from one source column, or from the first of several that is
# not empty (e.g. REES46's `category: [category_code, category_id]`).
SourceColumns = str | Annotated[list[str], Field(min_length=1)]


class FileOptions(_Strict):
    """How the bytes are written. JSON Lines files use `encoding` only."""

    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"
    # `1.234,56`: a comma is the decimal separator and dots group thousands
    decimal_comma: bool = False

    @field_validator("delimiter", "quote")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1 or value in "\r\n":
            raise ValueError("must be one character, not a line break")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            name = codecs.lookup(value).name
        except LookupError:
            name = ""
        canonical = {codecs.lookup(e).name: e for e in ENCODINGS}
        if name not in canonical:
            raise ValueError(f"must be one of {', '.join(ENCODINGS)}, got {value!r}")
        return canonical[name]

    @model_validator(mode="after")
    def _distinct(self) -> FileOptions:
        if self.delimiter == self.quote:
            raise ValueError("delimiter and quote must differ")
        return self


class Timestamps(_Strict):
    """How timestamps are written and what zone a naive one is in.

    `formats` are tried in order before the contract's own formats: strptime patterns
    (`%d/%m/%Y %H:%M`; with `%z` the value carries its offset) or `epoch_s`, `epoch_ms`,
    `epoch_us`. A naive time is wall-clock time in `timezone`; across daylight-saving
    changes a repeated hour is resolved by `ambiguous` (`earliest`: the first, summer-time
    occurrence) and a skipped one by `nonexistent` (`latest`: the first instant after the
    gap; `earliest`: the last instant before it).
    """

    formats: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    ambiguous: Literal["earliest", "latest"] = "earliest"
    nonexistent: Literal["earliest", "latest"] = "latest"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/London)"
            ) from exc
        return value

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        for f in value:
            if f not in EPOCH_FORMATS and "%" not in f:
                raise ValueError(f"{f!r} is neither a strptime pattern nor one of {EPOCH_FORMATS}")
        return value


class RowFilter(_Strict):
    """Rows whose source column matches `pattern` (RE2, searched) are excluded and counted."""

    column: str
    pattern: str
    reason: str = ""  # shown in docs and `sources check`; counted as excluded

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        if re.search(r"\(\?<?[=!]|\\[1-9]", value):
            # matched with RE2 (pyarrow), which has no lookaround and no backreferences
            raise ValueError("lookarounds and backreferences are not supported (RE2 syntax)")
        return value


class _Section(_Strict):
    columns: dict[str, SourceColumns] = Field(default_factory=dict)
    constants: dict[str, str] = Field(default_factory=dict)
    exclude_rows: list[RowFilter] = Field(default_factory=list)

    ALLOWED: ClassVar[tuple[str, ...]] = ()
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _columns(self):
        for name in (*self.columns, *self.constants):
            if name not in self.ALLOWED:
                raise ValueError(f"{name!r} is not a contract column; use one of {self.ALLOWED}")
        both = set(self.columns) & set(self.constants)
        if both:
            raise ValueError(f"{sorted(both)} given both as a column and as a constant")
        missing = [n for n in self.REQUIRED if n not in self.columns and n not in self.constants]
        if missing:
            raise ValueError(f"required contract column(s) {missing} neither mapped nor constant")
        return self

    def sources(self, name: str) -> tuple[str, ...]:
        """The source columns (normalized) a contract column is read from, in order."""
        value = self.columns.get(name)
        if value is None:
            return ()
        names = [value] if isinstance(value, str) else value
        return tuple(n.strip().lower() for n in names)

    def source_columns(self) -> tuple[str, ...]:
        """Every source column this section reads (normalized, in order, once each)."""
        names = [n for contract in self.columns for n in self.sources(contract)]
        names += [f.column.strip().lower() for f in self.exclude_rows]
        return tuple(dict.fromkeys(names))

    def required_groups(self) -> tuple[tuple[str, ...], ...]:
        """The source columns a CSV header must hold: one of each required column's."""
        return tuple(self.sources(n) for n in self.REQUIRED if n in self.columns)


class EventsSection(_Section):
    """Events files of the source: columns, constants, event-type vocabulary, exclusions."""

    # source value (trimmed, case-insensitive) -> contract event type
    event_types: dict[str, str] = Field(default_factory=dict)
    # source event types that are not events of the contract: counted as excluded
    exclude_event_types: list[str] = Field(default_factory=list)

    ALLOWED = EVENT_COLUMNS
    REQUIRED = tuple(c.EVENT_REQUIRED)

    @model_validator(mode="after")
    def _vocabulary(self) -> EventsSection:
        for value, target in self.event_types.items():
            if target not in c.EVENT_TYPES:
                raise ValueError(
                    f"event_types[{value!r}] = {target!r} is not one of {c.EVENT_TYPES}"
                )
        overlap = {v.strip().lower() for v in self.event_types} & {
            v.strip().lower() for v in self.exclude_event_types
        }
        if overlap:
            raise ValueError(f"{sorted(overlap)} both mapped and excluded")
        if "event_type" in self.constants and self.constants["event_type"] not in c.EVENT_TYPES:
            raise ValueError(f"constant event_type must be one of {c.EVENT_TYPES}")
        if "unit_price" in self.columns and not (
            "category" in self.columns or "category" in self.constants
        ):
            raise ValueError("events carrying their own unit_price need a category too")
        return self

    @property
    def own_prices(self) -> bool:
        """Whether event rows carry their product's price (then their own unit price)."""
        return "unit_price" in self.columns or "unit_price" in self.constants


class ProductsSection(_Section):
    """Products files of the source."""

    ALLOWED = PRODUCT_COLUMNS
    REQUIRED = tuple(c.PRODUCT_REQUIRED)


class Profile(_Strict):
    """One source: its name (the key's `source=NAME`), file options and mappings."""

    name: str = Field(pattern=NAME)
    description: str = ""
    file: FileOptions = Field(default_factory=FileOptions)
    timestamps: Timestamps = Field(default_factory=Timestamps)
    events: EventsSection | None = None
    products: ProductsSection | None = None
    # user ids replaced by HMAC-SHA256(salt, user_id), the salt from configuration
    hash_user_ids: bool = False

    @model_validator(mode="after")
    def _some_kind(self) -> Profile:
        if self.events is None and self.products is None:
            raise ValueError("a profile needs an `events` or a `products` section (or both)")
        return self

    def section(self, kind: str) -> EventsSection | ProductsSection | None:
        return self.events if kind == "events" else self.products


class ProfileError(ValueError):
    """An invalid profile: the message names the file and every bad key."""


def profile_from_dict(data: object, origin: str) -> Profile:
    """Validate one profile's data; `origin` (its file) is named in every error."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise ProfileError(f"{origin}: a profile is a mapping of keys, got {type(data).__name__}")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            problems.append(f"{origin}: {where}: {err['msg']}")
        raise ProfileError("\n".join(problems)) from None
