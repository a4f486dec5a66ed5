"""Vectorised parsing of the contract's timestamp formats into UTC microseconds.

pandas' `format="mixed"` parses element by element and costs most of a naive pipeline's time.
Here each format is matched by one RE2 pass (pyarrow), only over the rows the previous formats
did not match, and the calendar arithmetic is done in numpy, so every range check of the
contract (leap years included) is exact and no row is parsed by Python code.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ISO = (
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[T ](?P<h>\d{2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?"
    r"(?P<z>Z| UTC|[+-]\d{2}(?::?\d{2})?)?$"
)
_US = r"^(?P<mo>\d{2})/(?P<d>\d{2})/(?P<y>\d{4}) (?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?$"
_EPOCH = r"^\d{1,13}$"
# Shapes Arrow's own ISO-8601 cast parses; the field ranges here leave only day-of-month to check.
_CLOCK = (
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[T ]([01]\d|2[0-3]):[0-5]\d"
    r"(:[0-5]\d(\.\d{1,6})?)?"
)
_FAST_ZONED = rf"^{_CLOCK}(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)$"
_FAST_NAIVE = rf"^{_CLOCK}( UTC)?$"
EPOCH_MS_THRESHOLD = 100_000_000_000
WINDOW_START_US = 946_684_800 * 1_000_000  # 2000-01-01T00:00:00Z
WINDOW_END_US = 4_102_444_800 * 1_000_000  # 2100-01-01T00:00:00Z
_US_PER_S = 1_000_000
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _int_field(parts: pa.StructArray, name: str) -> np.ndarray:
    """A regex group as int64; an unmatched optional group ('') reads as 0."""
    text = pc.fill_null(parts.field(name), "")
    text = pc.if_else(pc.equal(text, ""), "0", text)
    return pc.cast(text, pa.int64()).to_numpy(zero_copy_only=False)


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _valid_clock(y, mo, d, h, mi, s) -> np.ndarray:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_ok = (mo >= 1) & (mo <= 12)
    dim = _DAYS_IN_MONTH[np.clip(mo, 0, 12)] + ((mo == 2) & leap)
    return month_ok & (d >= 1) & (d <= dim) & (h <= 23) & (mi <= 59) & (s <= 59)


def _micros(y, mo, d, h, mi, s) -> np.ndarray:
    days = days_from_civil(y, np.clip(mo, 1, 12), d)
    return ((days * 24 + h) * 60 + mi) * 60 * _US_PER_S + s * _US_PER_S


def _parse_iso(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    parts = pc.extract_regex(values, _ISO)
    matched = parts.is_valid().to_numpy(zero_copy_only=False)
    y, mo, d = (_int_field(parts, k) for k in ("y", "mo", "d"))
    h, mi, s = (_int_field(parts, k) for k in ("h", "mi", "s"))
    fraction = pc.utf8_rpad(pc.fill_null(parts.field("f"), ""), 9, "0")
    frac = pc.cast(pc.utf8_slice_codeunits(fraction, 0, 6), pa.int64()).to_numpy(
        zero_copy_only=False
    )
    zone = pc.replace_substring(pc.fill_null(parts.field("z"), ""), ":", "")
    signed = pc.match_substring_regex(zone, r"^[+-]").to_numpy(zero_copy_only=False)
    zh = pc.utf8_slice_codeunits(zone, 1, 3)
    zm = pc.utf8_slice_codeunits(zone, 3, 5)
    zh = pc.cast(pc.if_else(pc.and_(signed, pc.not_equal(zh, "")), zh, "0"), pa.int64())
    zm = pc.cast(pc.if_else(pc.and_(signed, pc.not_equal(zm, "")), zm, "0"), pa.int64())
    zh, zm = zh.to_numpy(zero_copy_only=False), zm.to_numpy(zero_copy_only=False)
    sign = np.where(pc.starts_with(zone, "-").to_numpy(zero_copy_only=False), -1, 1)
    offset_us = sign * (zh * 3600 + zm * 60) * _US_PER_S
    ok = matched & _valid_clock(y, mo, d, h, mi, s) & (zh <= 23) & (zm <= 59)
    return _micros(y, mo, d, h, mi, s) + frac - offset_us, ok


def _parse_us(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    parts = pc.extract_regex(values, _US)
    matched = parts.is_valid().to_numpy(zero_copy_only=False)
    y, mo, d = (_int_field(parts, k) for k in ("y", "mo", "d"))
    h, mi, s = (_int_field(parts, k) for k in ("h", "mi", "s"))
    return _micros(y, mo, d, h, mi, s), matched & _valid_clock(y, mo, d, h, mi, s)


def _parse_epoch(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    matched = pc.fill_null(pc.match_substring_regex(values, _EPOCH), False)
    matched = matched.to_numpy(zero_copy_only=False)
    digits = pc.if_else(matched, values, "0")
    n = pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False)
    return np.where(n < EPOCH_MS_THRESHOLD, n * _US_PER_S, n * 1000), matched


def _day_fits_month(values: pa.Array) -> np.ndarray:
    """For strings shaped YYYY-MM-DD…: whether the day exists in that month.

    Only days 29–31 can be wrong once the shape matched, so only those rows are looked at.
    """

    def number(arr: pa.Array, a: int, b: int) -> np.ndarray:
        piece = pc.utf8_slice_codeunits(arr, a, b)
        return pc.cast(piece, pa.int64()).to_numpy(zero_copy_only=False)

    fits = np.ones(len(values), dtype=bool)
    late = np.flatnonzero(number(values, 8, 10) >= 29)
    if len(late):
        risky = values.take(pa.array(late))
        y, mo, d = number(risky, 0, 4), number(risky, 5, 7), number(risky, 8, 10)
        fits[late] = _valid_clock(y, mo, d, 0, 0, 0)
    return fits


def _parse_fast(values: pa.Array, pattern: str, zoned: bool) -> tuple[np.ndarray, np.ndarray]:
    """The common ISO shapes, parsed by Arrow's cast after the checks it would fail on."""
    ok = pc.fill_null(pc.match_substring_regex(values, pattern), False).to_numpy(
        zero_copy_only=False
    )
    micros = np.zeros(len(values), dtype=np.int64)
    rows = np.flatnonzero(ok)
    if not len(rows):
        return micros, ok
    subset = values.take(pa.array(rows)) if len(rows) < len(values) else values
    fits = _day_fits_month(subset)
    ok[rows[~fits]] = False
    rows, subset = rows[fits], subset.filter(pa.array(fits))
    if not zoned:
        subset = pc.replace_substring(subset, " UTC", "")
    target = pa.timestamp("us", tz="UTC") if zoned else pa.timestamp("us")
    parsed = pc.cast(subset, target).cast(pa.int64())
    micros[rows] = parsed.to_numpy(zero_copy_only=False)
    return micros, ok


def _parse_fast_zoned(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    return _parse_fast(values, _FAST_ZONED, zoned=True)


def _parse_fast_naive(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    return _parse_fast(values, _FAST_NAIVE, zoned=False)


def parse_timestamps(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse trimmed, non-null timestamp strings.

    Returns (microseconds since the epoch, UTC; valid mask). A value is valid when it matches
    a contract format, passes the range checks and lies in [2000-01-01, 2100-01-01).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    n = len(values)
    micros = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    pending = np.arange(n)
    for parse in (_parse_fast_zoned, _parse_epoch, _parse_fast_naive, _parse_us, _parse_iso):
        if not len(pending):
            break
        subset = values if len(pending) == n else values.take(pa.array(pending))
        got, ok = parse(subset)
        micros[pending[ok]] = got[ok]
        valid[pending[ok]] = True
        pending = pending[~ok]
    valid &= (micros >= WINDOW_START_US) & (micros < WINDOW_END_US)
    return micros, valid
