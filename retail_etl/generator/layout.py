"""Which files a day has and how each one is written (format, columns, header, line ends …).

The first day's files are fixed so that even a one-day dataset shows every file-level variation;
later days draw theirs at random.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

EVENT_COLUMNS = (
    "event_id",
    "user_id",
    "product_id",
    "event_type",
    "timestamp",
    "quantity",
    "session_id",
)
PRODUCT_COLUMNS = ("product_id", "product_name", "category", "price", "stock_level")
TIMESTAMP_NAMES = ("event_timestamp", "event_time", "timestamp")
HEADER_STYLES = ("lower", "upper", "title", "padded")
CSV_EVENT_EXTRAS = ("channel", "user_agent")
JSON_EVENT_EXTRAS = ("channel", "app_version", "context")
PRODUCT_EXTRAS = ("currency", "supplier")


def styled(name: str, style: str) -> str:
    """A column name as a producer wrote it; the contract matches it case-insensitively."""
    if style == "upper":
        return name.upper()
    title = "_".join(part.capitalize() for part in name.split("_"))
    if style == "title":
        return title
    if style == "padded":
        return f" {title} "
    return name


@dataclass(frozen=True)
class EventsFilePlan:
    """How one events file is written. `columns` are logical names in written order, with
    "timestamp" standing for the column named `timestamp_name`."""

    key: str
    format: str  # "csv" or "jsonl"
    gzip: bool
    columns: tuple[str, ...]
    timestamp_name: str
    header_style: str
    crlf: bool = False
    bom: bool = False
    integer_user_ids: bool = False
    epoch_numbers: bool = False
    blank_lines: int = 0
    final_newline: bool = True

    @property
    def has_event_id(self) -> bool:
        return "event_id" in self.columns

    def column_name(self, column: str) -> str:
        name = self.timestamp_name if column == "timestamp" else column
        return styled(name, self.header_style)

    def features(self) -> dict[str, object]:
        return {
            "timestamp_column": self.timestamp_name,
            "header_style": self.header_style,
            "extra_columns": [c for c in self.columns if c not in EVENT_COLUMNS],
            "crlf": self.crlf,
            "bom": self.bom,
            "integer_user_ids": self.integer_user_ids,
            "epoch_numbers": self.epoch_numbers,
            "blank_lines": self.blank_lines,
            "final_newline": self.final_newline,
        }


@dataclass(frozen=True)
class ProductsFilePlan:
    """How one products file is written."""

    key: str
    format: str
    gzip: bool
    columns: tuple[str, ...]
    header_style: str
    crlf: bool = False

    def features(self) -> dict[str, object]:
        return {
            "header_style": self.header_style,
            "extra_columns": [c for c in self.columns if c not in PRODUCT_COLUMNS],
            "crlf": self.crlf,
        }


def _extension(fmt: str, gz: bool) -> str:
    return fmt + (".gz" if gz else "")


def _columns(rng: np.random.Generator, has_event_id: bool, extras: tuple[str, ...]) -> tuple:
    columns = [c for c in EVENT_COLUMNS if has_event_id or c != "event_id"]
    if rng.random() < 0.3:
        columns = [columns[i] for i in rng.permutation(len(columns))]
    return (*columns, *extras)


def _first_day(day: dt.date) -> list[EventsFilePlan]:
    """One file per format, together showing every variation the contract allows."""
    d = day.isoformat()

    def key(part: int, fmt: str, gz: bool) -> str:
        return f"events/dt={d}/events-{d}-part-{part:03d}.{_extension(fmt, gz)}"

    return [
        EventsFilePlan(
            key(0, "csv", False), "csv", False, EVENT_COLUMNS, "event_timestamp", "lower", bom=True
        ),
        EventsFilePlan(
            key(1, "jsonl", False),
            "jsonl",
            False,
            EVENT_COLUMNS,
            "event_time",
            "lower",
            integer_user_ids=True,
            blank_lines=2,
        ),
        EventsFilePlan(
            key(2, "csv", True),
            "csv",
            True,
            (*EVENT_COLUMNS[1:], *CSV_EVENT_EXTRAS),
            "timestamp",
            "padded",
            crlf=True,
            blank_lines=1,
        ),
        EventsFilePlan(
            key(3, "jsonl", True),
            "jsonl",
            True,
            ("session_id", *EVENT_COLUMNS[:-1], *JSON_EVENT_EXTRAS),
            "event_timestamp",
            "upper",
            epoch_numbers=True,
            final_newline=False,
        ),
    ]


def events_plans(rng: np.random.Generator, day_index: int, day: dt.date) -> list[EventsFilePlan]:
    """The events files of a day, in path (= processing) order."""
    if day_index == 0:
        return _first_day(day)
    d = day.isoformat()
    kinds = [("csv", False), ("csv", True), ("jsonl", False), ("jsonl", True)]
    count = int(rng.integers(3, 5))
    chosen = [kinds[i] for i in np.sort(rng.choice(4, count, replace=False))]
    order = rng.permutation(count)
    plans = []
    for part, (fmt, gz) in enumerate(chosen[i] for i in order):
        has_event_id = rng.random() < 0.75
        extras = ()
        if rng.random() < 0.4:
            extras = CSV_EVENT_EXTRAS if fmt == "csv" else JSON_EVENT_EXTRAS
        plans.append(
            EventsFilePlan(
                key=f"events/dt={d}/events-{d}-part-{part:03d}.{_extension(fmt, gz)}",
                format=fmt,
                gzip=gz,
                columns=_columns(rng, has_event_id, extras),
                timestamp_name=str(rng.choice(TIMESTAMP_NAMES, p=[0.6, 0.2, 0.2])),
                header_style=str(rng.choice(HEADER_STYLES, p=[0.6, 0.15, 0.1, 0.15])),
                crlf=fmt == "csv" and rng.random() < 0.3,
                integer_user_ids=fmt == "jsonl" and rng.random() < 0.3,
                epoch_numbers=fmt == "jsonl" and rng.random() < 0.2,
                blank_lines=int(rng.integers(1, 3)) if rng.random() < 0.3 else 0,
                final_newline=rng.random() < 0.85,
            )
        )
    return plans


def products_plan(rng: np.random.Generator, day_index: int, day: dt.date) -> ProductsFilePlan:
    """The day's one products file: CSV and JSON Lines alternate, every 4th day is gzipped."""
    d = day.isoformat()
    fmt = "csv" if day_index % 2 == 0 else "jsonl"
    gz = day_index % 4 == 3
    columns = list(PRODUCT_COLUMNS)
    if day_index > 0 and rng.random() < 0.5:
        columns = [columns[i] for i in rng.permutation(len(columns))]
    if day_index % 3 == 2:
        columns += PRODUCT_EXTRAS
    return ProductsFilePlan(
        key=f"products/dt={d}/products-{d}.{_extension(fmt, gz)}",
        format=fmt,
        gzip=gz,
        columns=tuple(columns),
        header_style="lower" if day_index == 0 else str(rng.choice(HEADER_STYLES)),
        crlf=fmt == "csv" and day_index % 4 == 2,
    )


def file_shares(rng: np.random.Generator, files: int) -> np.ndarray:
    """Unequal shares of the day's sessions per file."""
    return rng.dirichlet(np.full(files, 4.0))
