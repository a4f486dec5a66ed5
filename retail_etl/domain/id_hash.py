"""A 64-bit hash of every id of an Arrow string array, over Arrow's buffers with numpy (no
Python object per id, and numpy releases the GIL). Used where ids are compared by hash first
and as strings only when two hashes agree: the repeat check across files (`aggregate.py`) and
the ids a file has already shown (`dedup.py`).

The hash is stored: every curated row keeps its event_id's (`event_id_hash`), and the repeat
check compares hashes of files written on different days. So the function is frozen: a change
would let an id in an old file and in a new one hash apart and count twice. Its values are
pinned by tests/domain/test_id_hash.py; a new function needs a new column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_PRIME = np.uint64(1_099_511_628_211)  # FNV's 64-bit prime, as the polynomial's base
# _FIRST_BYTES[n]: the mask that keeps a little-endian word's first n bytes
_FIRST_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)


def hash_column(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """`hash_ids` of every chunk, as the signed 64-bit integers `event_id_hash` stores."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    hashes = [hash_ids(chunk) for chunk in chunks if len(chunk)]
    return np.concatenate(hashes).view(np.int64) if hashes else np.zeros(0, np.int64)


def hash_ids(chunk: pa.Array) -> np.ndarray:
    """Each id's length, its first eight bytes (fewer for a shorter id, the rest of the word
    masked off), its last eight, and the words between for ids longer than 16 bytes, folded
    as a polynomial. Every byte of an id is covered (the last word may overlap the one before),
    and each step runs over only the ids that need it. `chunk`: string or binary, no nulls."""
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
        chunk.offset : chunk.offset + len(chunk) + 1
    ]
    width = _one_width(offsets)
    if width is not None:
        return _hash_one_width(chunk, offsets, width)
    starts, ends = offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64)
    lengths = ends - starts
    # the data, padded so that an 8-byte word can be read at any id's start
    data = np.zeros(int(offsets[-1]) + 8, dtype=np.uint8)
    if len(chunk):
        data[: offsets[-1]] = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[: offsets[-1]]
    words = np.ndarray((len(data) - 7,), np.dtype("<u8"), data, strides=(1,))
    first = words[starts] & _FIRST_BYTES[np.minimum(lengths, 8)]
    h = lengths.astype(np.uint64) * _PRIME + first
    h = np.where(lengths > 8, h * _PRIME + words[np.maximum(ends - 8, 0)], h)
    rows, at = np.flatnonzero(lengths > 16), 8
    while len(rows):
        h[rows] = h[rows] * _PRIME + words[starts[rows] + at]
        at += 8
        rows = rows[lengths[rows] > at + 8]
    return h


def _one_width(offsets: np.ndarray) -> int | None:
    """The length every id shares, if they all share one of at least eight bytes (generated
    ids, UUIDs: the common case), else None."""
    lengths = np.diff(offsets)
    if len(lengths) and lengths[0] >= 8 and bool((lengths == lengths[0]).all()):
        return int(lengths[0])
    return None


def _hash_one_width(chunk: pa.Array, offsets: np.ndarray, width: int) -> np.ndarray:
    """`hash_ids` when every id is `width` (>= 8) bytes long: the same words, read in place
    through strided views of Arrow's data buffer (no copy, no gather)."""
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
    count, start = len(offsets) - 1, int(offsets[0])

    def word(at: int) -> np.ndarray:
        return np.ndarray((count,), np.dtype("<u8"), data, start + at, (width,))

    # in place: one array for the whole fold, no temporary per step
    h = np.full(count, width * int(_PRIME) % 2**64, dtype=np.uint64)
    h += word(0)
    steps = [width - 8] if width > 8 else []
    steps += range(8, width - 8, 8)  # the words between the first and the last
    for at in steps:
        h *= _PRIME
        h += word(at)
    return h
