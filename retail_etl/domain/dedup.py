"""Which event ids of a file were already seen, exactly.

A file is read in chunks, so a duplicate can sit in a later chunk than its original. Ids are
compared by their 64-bit hashes first (`id_hash.py`, numpy over Arrow's buffers, outside the
GIL): within a chunk by sorting them, across chunks by a binary search in the sorted runs of
the ids kept so far. Only ids whose hashes agree are compared as strings, so the answer is
exact and a hash collision costs a comparison, never a wrong answer. The state costs the
id's length plus 12 bytes per distinct id.

Before, each chunk looked every kept id up in the chunk's own hash table: the work grew with
the square of the file's length (about 0.5 CPU-s for one file of 1M events, 50k per chunk).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_etl.domain.id_hash import hash_ids


class SeenIds:
    """The distinct ids kept so far in a file: the ids (Arrow strings, in the order kept) and,
    per run, their hashes sorted with their positions among the kept ids. A new run merges
    into the one before it while it is as large (a log-structured merge), so adding n ids sorts
    O(n log n) hashes in all and a lookup searches O(log n) runs."""

    def __init__(self) -> None:
        self._kept: list[pa.Array] = []
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, positions)
        self._count = 0

    def first_occurrences(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Mask of ids seen neither earlier in this array nor before; remembers the new ones."""
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        ids = ids if ids.type == pa.string() else ids.cast(pa.string())  # one type to compare
        if ids.null_count:
            raise ValueError("ids must not be null")
        hashes = hash_ids(ids)
        order = np.argsort(hashes)
        ordered = hashes[order]
        first = _first_in_chunk(ids, order, ordered)
        # the first occurrences by hash: sorted, each search starts where the one before ended
        by_hash = first[order]
        rows, hashes = order[by_hash], ordered[by_hash]
        known = self._known(ids, rows, hashes)
        if known.any():
            first[rows[known]] = False
            rows, hashes = rows[~known], hashes[~known]
        self._add(ids.take(pa.array(rows)), hashes)
        return first

    def _known(self, ids: pa.Array, rows: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """Which of `ids[rows]` (distinct, their `hashes` sorted) are kept already: those
        whose hash a run holds and whose string equals a kept id of that hash."""
        known = np.zeros(len(rows), dtype=bool)
        hits, positions = [], []  # (index into rows, position among the kept ids) pairs
        for run_hashes, run_positions in self._runs:
            lo = np.searchsorted(run_hashes, hashes)
            hit = np.flatnonzero(run_hashes[np.minimum(lo, len(run_hashes) - 1)] == hashes)
            # kept ids with that hash: one, but for a collision
            counts = np.searchsorted(run_hashes, hashes[hit], side="right") - lo[hit]
            hits.append(np.repeat(hit, counts))
            positions.append(run_positions[np.repeat(lo[hit], counts) + _ranks(counts)])
        if hits and sum(len(h) for h in hits):
            hit_at, kept_at = np.concatenate(hits), np.concatenate(positions)
            kept = pa.chunked_array(self._kept, pa.string()).take(pa.array(kept_at))
            same = pc.equal(ids.take(pa.array(rows[hit_at])), kept)
            known[hit_at[same.to_numpy(zero_copy_only=False)]] = True
        return known

    def _add(self, ids: pa.Array, hashes: np.ndarray) -> None:
        """Keep `ids` (distinct, new) as a run of their sorted `hashes`."""
        if not len(ids):
            return
        end = self._count + len(ids)
        positions = np.arange(self._count, end, dtype=np.int32 if end < 2**31 else np.int64)
        self._runs.append((hashes, positions))
        self._kept.append(ids)
        self._count += len(ids)
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= len(self._runs[-1][0]):
            (h1, p1), (h2, p2) = self._runs[-2], self._runs.pop()
            merged = np.concatenate([h1, h2])
            order = np.argsort(merged, kind="stable")  # two sorted runs: a merge
            self._runs[-1] = (merged[order], np.concatenate([p1, p2])[order])

    def __len__(self) -> int:
        return self._count


def _first_in_chunk(ids: pa.Array, order: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Mask of each id's first occurrence in `ids`, from their hashes sorted (`ordered`, the
    rows' `order`): rows sharing a hash with an earlier row are compared with that row as
    strings. A run of equal hashes holding two different ids (a collision) is settled exactly
    by `_exact_first`."""
    n = len(ids)
    first = np.ones(n, dtype=bool)
    if n < 2:
        return first
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    if len(starts) == n:
        return first
    lead = np.minimum.reduceat(order, starts)  # each run's first row
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    later = np.flatnonzero(order != lead[run])
    rows, leaders = order[later], lead[run[later]]
    same = pc.equal(ids.take(pa.array(rows)), ids.take(pa.array(leaders)))
    same = same.to_numpy(zero_copy_only=False)
    first[rows[same]] = False
    collided = np.unique(run[later[~same]])
    if len(collided):
        members = np.sort(order[np.isin(run, collided)])
        first[members] = _exact_first(ids.take(pa.array(members)))
    return first


def _exact_first(ids: pa.Array) -> np.ndarray:
    """Mask of each id's first occurrence, with Arrow's hash kernels on the strings:
    `pc.unique` lists the distinct ids in order of first appearance, so an id's slot in that
    list is new exactly when it exceeds every slot before it."""
    slot = pc.index_in(ids, value_set=pc.unique(ids)).to_numpy()
    first = np.ones(len(ids), dtype=bool)
    if len(ids) > 1:
        first[1:] = slot[1:] > np.maximum.accumulate(slot)[:-1]
    return first


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, …, count - 1 for each count, one after the other ([2, 1] -> [0, 1, 0])."""
    if not len(counts):
        return np.zeros(0, dtype=np.int64)
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
