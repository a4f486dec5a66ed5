"""The ids' 64-bit hash: every byte of an id reaches it."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_etl.domain.id_hash import hash_column, hash_ids


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=6), st.integers(1, 48).flatmap(lambda n: st.binary(min_size=n)))
def test_every_byte_of_an_id_reaches_its_hash(before, value):
    """An id and each of its one-byte variants never share a hash (a byte the hash skipped
    would let them), wherever the ids sit in the chunk's buffers."""
    flipped = [value[:at] + bytes([value[at] ^ 0x20]) + value[at + 1 :] for at in range(len(value))]
    ids = pa.array([before, value, value, *flipped], pa.binary()).slice(1)
    hashes = hash_ids(ids)
    assert hashes[0] == hashes[1]
    assert not (hashes[2:] == hashes[0]).any()


def test_an_empty_array_has_no_hashes():
    assert len(hash_ids(pa.array([], pa.string()))) == 0


@settings(max_examples=100, deadline=None)
@given(
    st.integers(8, 40).flatmap(
        lambda n: st.lists(st.binary(min_size=n, max_size=n), min_size=1, max_size=20)
    ),
    st.integers(0, 3),
)
def test_ids_of_one_width_hash_as_they_do_among_ids_of_other_widths(ids, skip):
    """Ids that all share one length take the in-place path; ids of mixed lengths take the
    general one: an id gets the same hash either way, wherever its slice starts."""
    skip = min(skip, len(ids) - 1)
    one_width = pa.array([b"yyy", *ids], pa.binary()).slice(1 + skip)
    mixed = pa.array([*ids, b"short"], pa.binary()).slice(skip)
    assert list(hash_ids(one_width)) == list(hash_ids(mixed)[:-1])


# Values stored in every curated file's event_id_hash since 2026-12-03: a change to the
# function would let an event's copies in an old and a new file hash apart and count twice.
PINNED = {
    "e1": 2199023269067,
    "evt-0000001": -8670035055928336241,
    "550e8400-e29b-41d4-a716-446655440000": -4864527703846716755,
    "derived-0123456789abcdef0123456789abcdef": 6351973081523298700,
}


def test_the_stored_hash_of_an_id_never_changes():
    """Mixed widths take the general path, a lone width the in-place one: both pinned."""
    assert dict(zip(PINNED, hash_column(pa.array(list(PINNED))).tolist(), strict=True)) == PINNED
    for value, expected in PINNED.items():
        assert hash_column(pa.chunked_array([[value], [value]])).tolist() == [expected] * 2
