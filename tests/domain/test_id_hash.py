"""The ids' 64-bit hash: every byte of an id reaches it."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_etl.domain.id_hash import hash_ids


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
