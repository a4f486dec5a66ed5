"""Which event ids of a file were already seen, exactly, with the state in flat numpy arrays.

A file is read in chunks, so a duplicate can sit in a later chunk than its original. The ids
kept so far are held as one sorted fixed-width byte array: membership is a binary search,
equality is exact (no hash), and the state costs the id's length per distinct id.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def fixed_width(values: pa.Array) -> np.ndarray:
    """The strings as a numpy `S<width>` array, built from Arrow's buffers without Python
    objects. Ids never contain NUL bytes, so the zero padding cannot make two ids equal."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    n = len(values)
    if values.null_count:
        raise ValueError("ids must not be null")
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset :][: n + 1]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8) if n else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    width = max(int(lengths.max()) if n else 1, 1)
    cols = np.arange(width)
    index = offsets[:-1, None] + cols[None, :]
    inside = cols[None, :] < lengths[:, None]
    matrix = np.where(inside, data[np.minimum(index, max(len(data) - 1, 0))], 0).astype(np.uint8)
    return np.ascontiguousarray(matrix).view(f"S{width}").ravel()


class SeenIds:
    """The ids kept so far in a file, sorted."""

    def __init__(self) -> None:
        self._sorted = np.zeros(0, dtype="S1")

    def first_occurrences(self, ids: pa.Array) -> np.ndarray:
        """Mask of ids seen neither earlier in this array nor before; remembers the new ones."""
        keys = fixed_width(ids)
        width = max(keys.dtype.itemsize, self._sorted.dtype.itemsize)
        keys = keys.astype(f"S{width}")
        if self._sorted.dtype.itemsize < width:
            self._sorted = self._sorted.astype(f"S{width}")
        first = np.zeros(len(keys), dtype=bool)
        first[np.unique(keys, return_index=True)[1]] = True
        if len(self._sorted):
            at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
            first &= self._sorted[at] != keys
        new = np.sort(keys[first])
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, new), new)
        return first

    def __len__(self) -> int:
        return len(self._sorted)
