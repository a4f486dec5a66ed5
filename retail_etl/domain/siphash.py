"""SipHash-2-4 of every value of an Arrow string array at once, with numpy over the array's
buffers: the same 64-bit values as `pandas.util.hash_array(values, hash_key=key,
categorize=False)` (SipHash-2-4 keyed by the key's 16 bytes, then pandas' final mix), which
derived event ids were first computed with, so the ids do not change.

pandas hashes one Python string at a time, holding the GIL (65k contents of 58 bytes: 60 ms
or more, plus 20 ms to make the strings); here each SipHash step runs over every value that
has that many 8-byte words, as numpy operations that release the GIL while they run. Values
are taken longest first, so the values still being compressed are always a prefix.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_INIT = np.array(
    [0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573],
    dtype=np.uint64,
)
# _FIRST_BYTES[n]: the mask that keeps a little-endian word's first n bytes
_FIRST_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)
_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def siphash(values: pa.Array, keys: list[bytes]) -> np.ndarray:
    """One row of hashes per 16-byte key, one column per value (no nulls)."""
    if values.null_count:
        raise ValueError("siphash takes no null values")
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[
        values.offset : values.offset + len(values) + 1
    ].astype(np.int64)
    starts, lengths = offsets[:-1], np.diff(offsets)
    data = np.zeros(int(offsets[-1]) + 8, dtype=np.uint8)  # a word can be read at any end
    if len(values):
        data[: offsets[-1]] = np.frombuffer(values.buffers()[2], dtype=np.uint8)[: offsets[-1]]
    words = np.ndarray((len(data) - 7,), np.dtype("<u8"), data, strides=(1,))

    blocks = lengths // 8
    order = np.argsort(-blocks, kind="stable")
    starts, lengths, blocks = starts[order], lengths[order], blocks[order]
    key_words = np.array(
        [[int.from_bytes(k[:8], "little"), int.from_bytes(k[8:16], "little")] for k in keys],
        dtype=np.uint64,
    )
    state = _State(key_words, len(values))
    for j in range(int(blocks[0]) if len(blocks) else 0):
        count = int(np.count_nonzero(blocks > j))
        state.compress(words[starts[:count] + 8 * j], count)
    tail = lengths - 8 * blocks
    last = (lengths.astype(np.uint64) << np.uint64(56)) | (
        words[starts + 8 * blocks] & _FIRST_BYTES[tail]
    )
    h = state.finish(last)
    h ^= h >> np.uint64(30)
    h *= _MIX[0]
    h ^= h >> np.uint64(27)
    h *= _MIX[1]
    h ^= h >> np.uint64(31)
    out = np.empty_like(h)
    out[:, order] = h
    return out


class _State:
    """SipHash's four state words for every (key, value), updated in place."""

    def __init__(self, key_words: np.ndarray, n: int) -> None:
        k0, k1 = key_words[:, :1], key_words[:, 1:]
        self.v = [np.repeat(k ^ c, n, axis=1) for k, c in zip((k0, k1, k0, k1), _INIT, strict=True)]
        self.tmp = np.empty((len(key_words), n), dtype=np.uint64)

    def compress(self, m: np.ndarray, count: int) -> None:
        """Take one 8-byte word of each of the first `count` values."""
        v0, v3 = self.v[0][:, :count], self.v[3][:, :count]
        v3 ^= m
        self._rounds(2, count)
        v0 ^= m

    def finish(self, last: np.ndarray) -> np.ndarray:
        v0, v1, v2, v3 = self.v
        n = v0.shape[1]
        v3 ^= last
        self._rounds(2, n)
        v0 ^= last
        v2 ^= np.uint64(0xFF)
        self._rounds(4, n)
        return v0 ^ v1 ^ v2 ^ v3

    def _rounds(self, rounds: int, count: int) -> None:
        v0, v1, v2, v3 = (v[:, :count] for v in self.v)
        tmp = self.tmp[:, :count]
        for _ in range(rounds):
            v0 += v1
            _rotl(v1, 13, tmp)
            v1 ^= v0
            _rotl(v0, 32, tmp)
            v2 += v3
            _rotl(v3, 16, tmp)
            v3 ^= v2
            v0 += v3
            _rotl(v3, 21, tmp)
            v3 ^= v0
            v2 += v1
            _rotl(v1, 17, tmp)
            v1 ^= v2
            _rotl(v2, 32, tmp)


def _rotl(x: np.ndarray, bits: int, tmp: np.ndarray) -> None:
    np.left_shift(x, np.uint64(bits), out=tmp)
    np.right_shift(x, np.uint64(64 - bits), out=x)
    np.bitwise_or(x, tmp, out=x)
