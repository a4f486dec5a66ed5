"""Vectorised parsing of the contract's timestamp formats into UTC microseconds.

pandas' `format="mixed"` parses element by element and costs most of a naive pipeline's time.
Here each format is matched by one RE2 pass (pyarrow), only over the rows the previous formats
did not match, and Arrow's calendar (its ISO-8601 cast, or strptime on the matched fields) does
the date arithmetic, so every range check of the contract (leap years included) is exact and
no row is parsed by Python code.
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
_READERS = (pc.year, pc.month, pc.day, pc.hour, pc.minute, pc.second)


def _civil_seconds(fields: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the epoch of digit strings (year, month, day[, hour, minute, second]),
    and whether that date and time exist.

    Arrow's strptime reads them and its calendar carries a day the month lacks into the next
    month (2026-02-30 is 03-02) and a 60th second into the next minute, so a time exists
    exactly when the value read gives back every field it was written with.
    """
    fmt = ":".join(("%Y", "%m", "%d", "%H", "%M", "%S")[: len(fields)])
    text = pc.binary_join_element_wise(*fields, ":")
    read = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    ok = read.is_valid().to_numpy(zero_copy_only=False)
    for reader, written in zip(_READERS[: len(fields)], fields, strict=True):
        same = pc.fill_null(pc.equal(reader(read), pc.cast(written, pa.int64())), False)
        ok &= same.to_numpy(zero_copy_only=False)
    seconds = pc.fill_null(read.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    return seconds, ok


def _clock(parts: pa.StructArray) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the epoch of the groups y, mo, d, h, mi and s (seconds optional),
    and whether the row matched and names a time that exists."""
    micros = np.zeros(len(parts), dtype=np.int64)
    ok = np.zeros(len(parts), dtype=bool)
    rows = np.flatnonzero(parts.is_valid().to_numpy(zero_copy_only=False))
    if len(rows):
        found = parts.take(pa.array(rows))
        second = found.field("s")
        fields = [found.field(k) for k in ("y", "mo", "d", "h", "mi")]
        fields.append(pc.if_else(pc.equal(second, ""), "00", second))
        seconds, ok[rows] = _civil_seconds(fields)
        micros[rows] = seconds * _US_PER_S
    return micros, ok


def _parse_iso(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    parts = pc.extract_regex(values, _ISO)
    micros, ok = _clock(parts)
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
    return micros + frac - offset_us, ok & (zh <= 23) & (zm <= 59)


def _parse_us(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    return _clock(pc.extract_regex(values, _US))


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
    fits = np.ones(len(values), dtype=bool)
    day = pc.cast(pc.utf8_slice_codeunits(values, 8, 10), pa.int64())
    late = np.flatnonzero(day.to_numpy(zero_copy_only=False) >= 29)
    if len(late):
        risky = values.take(pa.array(late))
        _, fits[late] = _civil_seconds(
            [pc.utf8_slice_codeunits(risky, a, b) for a, b in ((0, 4), (5, 7), (8, 10))]
        )
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
