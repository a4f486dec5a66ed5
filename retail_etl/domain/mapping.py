"""Apply a source profile to a file's chunks: source columns and values onto contract ones.

The mapping runs between reading and cleaning, so the contract's cleaning (events.py,
products.py) is the only one: a mapped chunk holds contract column names and contract values,
and every check, reason code and count after it is the contract's. What the mapping decides
itself is only what the profile says:

* columns: a contract column from one source column, or from the first non-empty of several;
  constants fill a contract column on every row;
* event types: synonyms onto the contract's four; listed source types, and rows matching an
  `exclude_rows` filter, are removed here and counted as excluded (never quarantined, never
  silently dropped); any other value goes on and is `unknown_event_type`;
* timestamps: the profile's formats (strptime or epoch units) and the zone of naive times,
  converted to UTC with pyarrow's `assume_timezone` and the profile's explicit handling of
  the repeated and the skipped hour around daylight-saving changes; the result is written in
  the contract's ISO form (`…Z`), a value no format matches in a form no contract format
  accepts, so it is `invalid_timestamp`;
* decimal comma prices (`1.234,56` → `1234.56`);
* user ids replaced by HMAC-SHA256(salt, id) when the profile asks for it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_etl.domain import contract as c
from retail_etl.domain.profile import EventsSection, ProductsSection, Profile
from retail_etl.domain.reading import Chunk, ReadLimits, TextFormat, iter_chunks, text_column
from retail_etl.domain.report import FileReport
from retail_etl.domain.timestamps import WINDOW_END_US, WINDOW_START_US, parse_timestamps

_UNPARSED = "?"  # prefixed to a timestamp no format matched: no contract format starts so
# A zone written in the value (ISO `Z`, `±HH[:MM]`, ` UTC`) or an epoch number: not naive.
_ZONED = r"(Z| UTC|[+-]\d{2}(:?\d{2})?)$|^\d{1,13}$"
_EPOCH_UNITS = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
HASH_DIGITS = 32  # hex digits of HMAC-SHA256 kept: 128 bits
_DAY_US = 86_400_000_000


def text_format(profile: Profile | None) -> TextFormat:
    if profile is None:
        return TextFormat()
    f = profile.file
    return TextFormat(f.delimiter, f.quote, f.encoding)


class Mapping:
    """One profile section applied to chunks of one file; `excluded` counts removed rows."""

    def __init__(
        self,
        profile: Profile,
        section: EventsSection | ProductsSection,
        salt: bytes | None = None,
    ) -> None:
        self.profile = profile
        self.section = section
        self.salt = salt
        self.wanted = section.source_columns()
        self.required = section.required_groups()
        self.text = text_format(profile)

    def _column(self, chunk: Chunk, name: str) -> pa.Array | None:
        """The contract column `name` from its source column(s) or constant; None if neither."""
        if name in self.section.constants:
            value = self.section.constants[name]
            return pa.repeat(pa.scalar(value, pa.string()), chunk.num_rows)
        sources = self.section.sources(name)
        if not sources:
            return None
        values = [text_column(chunk, s) for s in sources]
        return values[0] if len(values) == 1 else pc.coalesce(*values)

    def _excluded_rows(self, chunk: Chunk) -> np.ndarray:
        out = np.zeros(chunk.num_rows, dtype=bool)
        for rule in self.section.exclude_rows:
            values = text_column(chunk, rule.column.strip().lower())
            hit = pc.fill_null(pc.match_substring_regex(values, rule.pattern), False)
            out |= hit.to_numpy(zero_copy_only=False)
        return out

    def apply(self, chunk: Chunk) -> tuple[Chunk, int]:
        """The chunk with contract columns, without its excluded rows; and how many those were."""
        columns: dict[str, pa.Array] = {}
        for name in self.section.ALLOWED:
            values = self._column(chunk, name)
            if values is not None:
                columns[name] = values
        excluded = self._excluded_rows(chunk)
        if isinstance(self.section, EventsSection) and "event_type" in columns:
            columns["event_type"], excluded_type = self._event_types(columns["event_type"])
            excluded |= excluded_type
        keep = np.flatnonzero(~excluded)
        if len(keep) < chunk.num_rows:
            take = pa.array(keep, type=pa.int64())
            columns = {n: v.take(take) for n, v in columns.items()}
        if "event_timestamp" in columns:
            columns["event_timestamp"] = self._timestamps(columns["event_timestamp"])
        if self.profile.file.decimal_comma:
            for name in ("unit_price", "price"):
                if name in columns:
                    columns[name] = decimal_comma(columns[name])
        if self.profile.hash_user_ids and "user_id" in columns:
            if self.salt is None:
                raise ValueError("hash_user_ids needs a salt")
            columns["user_id"] = hashed(columns["user_id"], self.salt)
        return chunk.select(keep, columns), int(excluded.sum())

    def _event_types(self, values: pa.Array) -> tuple[pa.Array, np.ndarray]:
        section = self.section
        assert isinstance(section, EventsSection)
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(values))
        excluded = np.zeros(len(values), dtype=bool)
        if section.exclude_event_types:
            listed = pa.array([v.strip().lower() for v in section.exclude_event_types])
            hit = pc.fill_null(pc.is_in(lowered, value_set=listed), False)
            excluded = hit.to_numpy(zero_copy_only=False)
        if not section.event_types:
            return values, excluded
        source = pa.array([v.strip().lower() for v in section.event_types])
        target = pa.array(list(section.event_types.values()), type=pa.string())
        pos = pc.index_in(lowered, value_set=source)
        return pc.coalesce(target.take(pos), values), excluded

    def _timestamps(self, values: pa.Array) -> pa.Array:
        """Contract ISO strings in UTC; the value prefixed with `?` when nothing parses it."""
        ts = self.profile.timestamps
        if not ts.formats and ts.timezone == "UTC":
            return values  # the contract's own formats and meaning: nothing to map
        n = len(values)
        micros = np.zeros(n, dtype=np.int64)
        valid = np.zeros(n, dtype=bool)
        present = values.is_valid().to_numpy(zero_copy_only=False)
        pending = np.flatnonzero(present)
        for fmt in ts.formats:
            if not len(pending):
                break
            subset = values.take(pa.array(pending, type=pa.int64()))
            got, ok = self.parse_format(subset, fmt)
            micros[pending[ok]] = got[ok]
            valid[pending[ok]] = True
            pending = pending[~ok]
        if len(pending):  # the contract's formats; a naive one is in the profile's zone
            subset = values.take(pa.array(pending, type=pa.int64()))
            got, ok = parse_timestamps(subset)
            naive = ~pc.fill_null(pc.match_substring_regex(subset, _ZONED), False).to_numpy(
                zero_copy_only=False
            )
            wall = ok & naive
            if wall.any():
                got[wall] = self._from_wall_clock(got[wall])
            micros[pending[ok]] = got[ok]
            valid[pending[ok]] = True
        utc = pa.array(micros, type=pa.int64()).cast(c.UTC_US)
        iso = pc.binary_join_element_wise(
            pc.strftime(utc, format="%Y-%m-%dT%H:%M:%S"), pa.scalar("Z"), ""
        )
        unparsed = pc.binary_join_element_wise(pa.scalar(_UNPARSED), values, "")
        return pc.if_else(pa.array(valid), iso, unparsed)

    def parse_format(self, values: pa.Array, fmt: str) -> tuple[np.ndarray, np.ndarray]:
        """UTC microseconds of the values one profile format parses, and which it did."""
        if fmt in _EPOCH_UNITS:
            # at most 17 digits of microseconds (and fewer of coarser units): never overflows
            width = {"epoch_s": 11, "epoch_ms": 14, "epoch_us": 17}[fmt]
            digits = pc.fill_null(pc.match_substring_regex(values, rf"^[0-9]{{1,{width}}}$"), False)
            ok = digits.to_numpy(zero_copy_only=False)
            n = pc.cast(pc.if_else(digits, values, "0"), pa.int64()).to_numpy(zero_copy_only=False)
            return _in_window(n * _EPOCH_UNITS[fmt], ok)
        parsed = pc.strptime(values, format=fmt, unit="us", error_is_null=True)
        ok = parsed.is_valid().to_numpy(zero_copy_only=False)
        micros, ok = _in_window(
            parsed.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), ok, _DAY_US
        )
        if parsed.type.tz is None:
            return self._from_wall_clock(micros), ok
        return micros, ok

    def _from_wall_clock(self, micros: np.ndarray) -> np.ndarray:
        """UTC microseconds of wall-clock times in the profile's zone (DST per its rules)."""
        ts = self.profile.timestamps
        if ts.timezone == "UTC":
            return micros
        naive = pa.array(micros, type=pa.int64()).cast(pa.timestamp("us"))
        zoned = pc.assume_timezone(
            naive, ts.timezone, ambiguous=ts.ambiguous, nonexistent=ts.nonexistent
        )
        return zoned.cast(pa.int64()).to_numpy(zero_copy_only=False)


def _in_window(micros: np.ndarray, ok: np.ndarray, margin: int = 0):
    """Values outside the contract's window (a day's margin for wall-clock times, whose
    zone moves them) are not timestamps: zeroed, so no later conversion sees them."""
    ok = ok & (micros >= WINDOW_START_US - margin) & (micros < WINDOW_END_US + margin)
    return np.where(ok, micros, 0), ok


def decimal_comma(values: pa.Array) -> pa.Array:
    """`1.234,56` → `1234.56`: dots (thousands) and spaces go, the comma becomes the point."""
    stripped = pc.replace_substring_regex(values, r"[. ]", "")
    return pc.replace_substring(stripped, ",", ".")


def hashed(values: pa.Array, salt: bytes) -> pa.Array:
    """HMAC-SHA256(salt, id) as 32 hex digits, computed once per distinct id; nulls stay."""
    unique = pc.unique(values)
    digests = [
        None
        if v is None
        else hmac.new(salt, v.encode("utf-8"), hashlib.sha256).hexdigest()[:HASH_DIGITS]
        for v in unique.to_pylist()
    ]
    table = pa.array(digests, type=pa.string())
    return table.take(pc.index_in(values, value_set=unique))


def unused_columns(chunk_names: tuple[str, ...], used: tuple[str, ...]) -> set[str]:
    """The columns a file has that the profile (or the contract) does not read."""
    wanted = set(used)
    return {n for n in chunk_names if n and n not in wanted}


def mapped_chunks(
    stream: BinaryIO,
    key: str,
    mapping: Mapping | None,
    contract: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]],
    report: FileReport,
    block_bytes: int,
    limits: ReadLimits,
) -> Iterator[Chunk]:
    """The file's chunks in contract columns: read as the profile says (or as the contract's
    `(wanted, required)` columns), with its unused columns and excluded rows counted."""
    wanted, required = (mapping.wanted, mapping.required) if mapping else contract
    text = mapping.text if mapping else TextFormat()
    for chunk in iter_chunks(stream, key, wanted, required, block_bytes, limits, text):
        report.unused_columns |= unused_columns(chunk.names, wanted)
        if mapping is not None:
            chunk, excluded = mapping.apply(chunk)
            report.rows_excluded += excluded
            report.rows_in += excluded
        yield chunk
