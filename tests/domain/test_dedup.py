import pyarrow as pa

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
