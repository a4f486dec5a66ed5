import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_etl.domain import dedup
from retail_etl.domain.dedup import SeenIds


def test_first_occurrence_is_kept_within_and_across_chunks():
    seen = SeenIds()
    assert seen.first_occurrences(pa.array(["a", "b", "a", "c"])).tolist() == [
        True,
        True,
        False,
        True,
    ]
    assert seen.first_occurrences(pa.array(["c", "d", "b", "d"])).tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert len(seen) == 4


def test_many_distinct_ids_are_all_new():
    seen = SeenIds()
    ids = [f"e-{i}" for i in range(50_000)]
    assert seen.first_occurrences(pa.array(ids[:30_000])).all()
    assert seen.first_occurrences(pa.array(ids[30_000:])).all()
    assert not seen.first_occurrences(pa.array(ids[::7])).any()


def _oracle(chunks: list[list[str]]) -> list[list[bool]]:
    seen: set[str] = set()
    out = []
    for chunk in chunks:
        marks = []
        for i in chunk:
            marks.append(i not in seen)
            seen.add(i)
        out.append(marks)
    return out


_CHUNKS = st.lists(
    st.lists(st.sampled_from([f"e-{i}" for i in range(40)] + ["", "é", "e-1\x00"]), max_size=30),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(_CHUNKS)
def test_first_occurrences_match_a_set_over_any_chunks(chunks):
    seen = SeenIds()
    got = [seen.first_occurrences(pa.array(c, pa.string())).tolist() for c in chunks]
    assert got == _oracle(chunks)
    assert len(seen) == len({i for c in chunks for i in c})


@settings(max_examples=100, deadline=None)
@given(_CHUNKS)
def test_ids_whose_hashes_collide_are_still_told_apart(chunks):
    """With a hash of the id's length alone, most distinct ids collide: the answer must
    come from comparing the strings."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(
            dedup, "hash_ids", lambda ids: pc.binary_length(ids).to_numpy().astype(np.uint64)
        )
        seen = SeenIds()
        got = [seen.first_occurrences(pa.array(c, pa.string())).tolist() for c in chunks]
    assert got == _oracle(chunks)
