"""Which event ids of a file were already seen, exactly, with Arrow's hash kernels.

A file is read in chunks, so a duplicate can sit in a later chunk than its original. The ids
kept so far are held as Arrow strings: membership is a hash lookup that compares the ids
themselves (exact, no fingerprint), run by Arrow's kernels with the GIL released, and the
state costs about the id's length per distinct id.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class SeenIds:
    """The distinct ids kept so far in a file."""

    def __init__(self) -> None:
        self._kept: list[pa.Array] = []
        self._count = 0

    def first_occurrences(self, ids: pa.Array) -> np.ndarray:
        """Mask of ids seen neither earlier in this array nor before; remembers the new ones."""
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        ids = ids if ids.type == pa.string() else ids.cast(pa.string())  # one type to compare
        if ids.null_count:
            raise ValueError("ids must not be null")
        distinct = pc.unique(ids)  # in order of first appearance
        slot = pc.index_in(ids, value_set=distinct).to_numpy()
        first = np.zeros(len(ids), dtype=bool)
        first[np.unique(slot, return_index=True)[1]] = True
        if self._kept:
            # The kept ids are looked up in this chunk's hash table, not the other way round:
            # building a table of every kept id again for each chunk would cost far more.
            if len(self._kept) > 1:
                self._kept = [pa.concat_arrays(self._kept)]
            seen = np.zeros(len(distinct), dtype=bool)
            seen[pc.index_in(self._kept[0], value_set=distinct).drop_null().to_numpy()] = True
            first &= ~seen[slot]
        new = ids.filter(pa.array(first))
        self._kept.append(new)
        self._count += len(new)
        return first

    def __len__(self) -> int:
        return self._count
