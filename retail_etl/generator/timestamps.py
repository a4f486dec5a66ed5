"""Every timestamp form the contract accepts, rendered from UTC microseconds; and invalid ones.

Forms with a zone offset show the same instant in local time, so a row's UTC event date never
depends on the form it is written in. Forms with less precision than microseconds truncate, which
keeps the instant on the same UTC date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_etl.generator import textmatrix as tm

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class TimestampForm:
    """One written shape of a valid timestamp; `weight` is its share of string timestamps."""

    name: str
    weight: float
    example: str


FORMS: tuple[TimestampForm, ...] = (
    TimestampForm("iso_z", 0.40, "2026-11-20T13:45:12Z"),
    TimestampForm("iso_z_millis", 0.10, "2026-11-20T13:45:12.123Z"),
    TimestampForm("iso_z_micros", 0.05, "2026-11-20T13:45:12.123456Z"),
    TimestampForm("iso_z_nanos", 0.02, "2026-11-20T13:45:12.123456789Z"),
    TimestampForm("iso_z_minutes", 0.02, "2026-11-20T13:45Z"),
    TimestampForm("iso_space_z", 0.02, "2026-11-20 13:45:12Z"),
    TimestampForm("iso_offset_colon", 0.06, "2026-11-20T15:45:12.123+02:00"),
    TimestampForm("iso_offset_compact", 0.04, "2026-11-20T08:45:12-0500"),
    TimestampForm("iso_offset_hours", 0.03, "2026-11-20T18:45:12+05"),
    TimestampForm("iso_naive", 0.05, "2026-11-20T13:45:12"),
    TimestampForm("space_utc_micros", 0.04, "2026-11-20 13:45:12.123456 UTC"),
    TimestampForm("space_utc", 0.02, "2026-11-20 13:45:12 UTC"),
    TimestampForm("space_naive", 0.05, "2026-11-20 13:45:12"),
    TimestampForm("us_minutes", 0.03, "11/20/2026 13:45"),
    TimestampForm("us_seconds", 0.03, "11/20/2026 13:45:12"),
    TimestampForm("epoch_seconds", 0.02, "1795182312"),
    TimestampForm("epoch_millis", 0.02, "1795182312123"),
)
FORM_CODE = {form.name: code for code, form in enumerate(FORMS)}
EPOCH_CODES = (FORM_CODE["epoch_seconds"], FORM_CODE["epoch_millis"])
FORM_WEIGHTS = np.array([form.weight for form in FORMS]) / sum(form.weight for form in FORMS)

# Zone offsets in minutes, per offset form (the hour-only form can only show whole hours).
_OFFSETS_COLON = np.array([120, -300, 330, 60, -180, 540, -480, 0, 345, -570])
_OFFSETS_COMPACT = np.array([-300, 120, 330, -480, 60, 0, 600, -240])
_OFFSETS_HOURS = np.array([300, -180, 120, -480, 540, 60, -600, 0])

# Invalid JSON-number timestamps: 1970, 1999, 14 digits, the window's exclusive end (s and ms).
INVALID_EPOCH_NUMBERS = (0, 946_684_799, 99_999_999_999_999, 4_102_444_800, 4_102_444_800_000)


def days_to_civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of days since 1970-01-01, by Arrow's calendar."""
    dates = pa.array(np.asarray(days, dtype=np.int32)).cast(pa.date32())
    # one kernel per field: pc.year_month_day's fields came out wrong with pyarrow 18.1
    year, month, day = (
        f(dates).to_numpy(zero_copy_only=False) for f in (pc.year, pc.month, pc.day)
    )
    return year, month, day


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


class _Clock:
    """Calendar fields of instants, as digit blocks."""

    def __init__(self, ts_us: np.ndarray) -> None:
        self.n = len(ts_us)
        seconds = np.floor_divide(ts_us, US_PER_SECOND)
        self.micros = ts_us - seconds * US_PER_SECOND
        days = np.floor_divide(seconds, 86_400)
        of_day = seconds - days * 86_400
        self.year, self.month, self.day = days_to_civil(days)
        self.hour, self.minute, self.second = of_day // 3600, of_day // 60 % 60, of_day % 60

    def lit(self, text: str) -> np.ndarray:
        return tm.literal(text, self.n)

    def date_iso(self) -> list[np.ndarray]:
        return [
            tm.digits(self.year, 4),
            self.lit("-"),
            tm.digits(self.month, 2),
            self.lit("-"),
            tm.digits(self.day, 2),
        ]

    def date_us(self) -> list[np.ndarray]:
        return [
            tm.digits(self.month, 2),
            self.lit("/"),
            tm.digits(self.day, 2),
            self.lit("/"),
            tm.digits(self.year, 4),
        ]

    def clock(self, seconds: bool = True) -> list[np.ndarray]:
        parts = [tm.digits(self.hour, 2), self.lit(":"), tm.digits(self.minute, 2)]
        if seconds:
            parts += [self.lit(":"), tm.digits(self.second, 2)]
        return parts

    def fraction(self, places: int, nanos: np.ndarray | None = None) -> list[np.ndarray]:
        if places == 3:
            value = self.micros // 1000
        elif places == 6:
            value = self.micros
        else:
            value = self.micros * 1000 + (0 if nanos is None else nanos)
        return [self.lit("."), tm.digits(value, places)]


def _zone(offset_minutes: np.ndarray, style: str) -> list[np.ndarray]:
    n = len(offset_minutes)
    sign = tm.table(["+", "-"], (offset_minutes < 0).astype(np.int8))
    size = np.abs(offset_minutes)
    hours = tm.digits(size // 60, 2)
    if style == "hours":
        return [sign, hours]
    colon = [tm.literal(":", n)] if style == "colon" else []
    return [sign, hours, *colon, tm.digits(size % 60, 2)]


def _render_form(name: str, ts_us: np.ndarray, variant: np.ndarray) -> np.ndarray:
    if name.startswith("epoch"):
        value = ts_us // US_PER_SECOND if name == "epoch_seconds" else ts_us // 1000
        return tm.digits(value, 13, zero_pad=False)
    offsets = {
        "iso_offset_colon": (_OFFSETS_COLON, "colon"),
        "iso_offset_compact": (_OFFSETS_COMPACT, "compact"),
        "iso_offset_hours": (_OFFSETS_HOURS, "hours"),
    }
    if name in offsets:
        choices, style = offsets[name]
        minutes = choices[variant % len(choices)]
        c = _Clock(ts_us + minutes * 60 * US_PER_SECOND)
        frac = c.fraction(3) if style == "colon" else []
        return tm.hstack([*c.date_iso(), c.lit("T"), *c.clock(), *frac, *_zone(minutes, style)])
    c = _Clock(ts_us)
    t = c.lit("T")
    space = c.lit(" ")
    parts: dict[str, list[np.ndarray]] = {
        "iso_z": [*c.date_iso(), t, *c.clock(), c.lit("Z")],
        "iso_z_millis": [*c.date_iso(), t, *c.clock(), *c.fraction(3), c.lit("Z")],
        "iso_z_micros": [*c.date_iso(), t, *c.clock(), *c.fraction(6), c.lit("Z")],
        "iso_z_nanos": [*c.date_iso(), t, *c.clock(), *c.fraction(9, variant % 1000), c.lit("Z")],
        "iso_z_minutes": [*c.date_iso(), t, *c.clock(seconds=False), c.lit("Z")],
        "iso_space_z": [*c.date_iso(), space, *c.clock(), c.lit("Z")],
        "iso_naive": [*c.date_iso(), t, *c.clock()],
        "space_utc_micros": [*c.date_iso(), space, *c.clock(), *c.fraction(6), c.lit(" UTC")],
        "space_utc": [*c.date_iso(), space, *c.clock(), c.lit(" UTC")],
        "space_naive": [*c.date_iso(), space, *c.clock()],
        "us_minutes": [*c.date_us(), space, *c.clock(seconds=False)],
        "us_seconds": [*c.date_us(), space, *c.clock()],
    }
    return tm.hstack(parts[name])


def render(ts_us: np.ndarray, form: np.ndarray, variant: np.ndarray) -> np.ndarray:
    """Text of each instant in its row's form; `variant` picks offsets and sub-microsecond digits.

    Returns a text matrix (see textmatrix): one row per instant.
    """
    ts_us = np.asarray(ts_us, dtype=np.int64)
    variant = np.asarray(variant, dtype=np.int64)
    blocks = []
    for code in np.unique(form):
        rows = np.flatnonzero(form == code)
        blocks.append((rows, _render_form(FORMS[code].name, ts_us[rows], variant[rows])))
    width = max((b.shape[1] for _, b in blocks), default=1)
    out = np.zeros((len(ts_us), width), dtype=np.uint8)
    for rows, block in blocks:
        out[rows, : block.shape[1]] = block
    return out


def invalid_texts(day: dt.date) -> tuple[str, ...]:
    """Timestamps in no accepted form, out of range, or outside the window; near `day`."""
    y, mm, dd, d = f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}", day.isoformat()
    return (
        f"{y}-13-{dd}T10:00:00Z",
        f"{y}-02-30 10:00:00",
        "yesterday",
        f"11/31/{y} 10:00",
        "1999-12-31T23:59:59Z",
        f"{d}T24:00:00Z",
        f"{d}T12:60:00Z",
        f"{d}T12:30:00+24:00",
        f"{d}T12:30:45+05:60",
        f"{d} 12:30:00 PST",
        f"{y}/{mm}/{dd} 12:30:00",
        "2100-01-01T00:00:00Z",
        "0",
        "99999999999999",
        f"{d}T12:30:00.1234567890Z",
        f"{d}T7:05:00Z",
        "N/A",
        f"{mm}-{dd}-{y} 12:30",
        "2023-02-29T10:00:00Z",
    )
